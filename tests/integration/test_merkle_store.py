"""The stored Merkle tree on a real SQLite file and a real PostgreSQL database:
roots and proofs read from ``merkle_nodes`` equal ``ledger.merkle``'s over
the event hashes, for every size and index; the tree is kept in the append
transaction, rebuilt by the schema 4 migration, and append-only."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

import ledger
from ledger import PendingEvent, merkle
from ledger.errors import IntegrityError, NotFoundError, StorageError, ValidationError
from ledger.store import merkle_store

EXPERIMENT = ("experiment.created", {"experiment_id": "e1", "name": "credit-scoring", "tags": {}})
RUN = ("run.started", {"run_id": "r1", "experiment_id": "e1"})
BATCHES = (1, 3, 1, 8, 2, 1, 16, 5, 1, 1, 7, 2, 15)  # with the two singles above: 65 events


def _metric(step: int) -> dict[str, Any]:
    return {"run_id": "r1", "metrics": [{"key": "rmse", "value": 0.5, "step": step, "timestamp": 1764154203123}]}


def _metrics(start: int, count: int) -> list[PendingEvent]:
    return [PendingEvent("run.metrics_logged", _metric(step), "alice") for step in range(start, start + count)]


def _grow(lg: ledger.Ledger, batches: tuple[int, ...] = BATCHES) -> None:
    """Single appends, then batches of uneven sizes (one-event batches included)."""
    lg.append(*EXPERIMENT, actor="alice")
    lg.append(*RUN, actor="alice")
    step = 0
    for size in batches:
        lg.append_many(_metrics(step, size))
        step += size


def _leaves(lg: ledger.Ledger) -> list[bytes]:
    return [bytes.fromhex(event.hash) for event in lg.events()]


def _nodes(uri: str) -> list[tuple[int, int, bytes]]:
    engine = create_engine(uri)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT level, idx, hash FROM merkle_nodes ORDER BY level, idx"))
            return [(int(level), int(idx), bytes(digest)) for level, idx, digest in rows]
    finally:
        engine.dispose()


def _execute(uri: str, sql: str) -> None:
    engine = create_engine(uri)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


@pytest.fixture
def lg(uri: str) -> Iterator[ledger.Ledger]:
    with ledger.open(uri) as opened:
        yield opened


def test_every_root_and_proof_equals_the_pure_functions(lg: ledger.Ledger) -> None:
    _grow(lg)
    leaves = _leaves(lg)
    assert len(leaves) == lg.size() == 2 + sum(BATCHES)
    store = lg.store
    for size in range(len(leaves) + 1):
        root = store.merkle_root(size)
        assert root == merkle.merkle_root(leaves[:size]), size
        for index in range(size):
            proof = store.inclusion_proof(index, size)
            assert proof == merkle.inclusion_proof(leaves[:size], index), (index, size)
            merkle.verify_inclusion(index, size, leaves[index], proof, root)
        for old_size in range(size + 1):
            proof = store.consistency_proof(old_size, size)
            assert proof == merkle.consistency_proof(leaves[:size], old_size), (old_size, size)
            merkle.verify_consistency(old_size, size, store.merkle_root(old_size), root, proof)


def _stored_count(size: int) -> int:
    """Complete subtrees of 8 leaves or more (``merkle_store.MIN_STORED_LEVEL``) in a tree of ``size``."""
    return sum(size >> level for level in range(merkle_store.MIN_STORED_LEVEL, size.bit_length()))


def test_the_tree_has_one_row_per_complete_subtree_of_eight_or_more_leaves(lg: ledger.Ledger, uri: str) -> None:
    _grow(lg)
    leaves = _leaves(lg)
    expected = []
    for level in range(merkle_store.MIN_STORED_LEVEL, len(leaves).bit_length()):
        width = 1 << level
        for idx in range(len(leaves) // width):
            expected.append((level, idx, merkle.merkle_root(leaves[idx * width : (idx + 1) * width])))
    assert _nodes(uri) == expected


def test_hypothesis_sizes_and_indices(lg: ledger.Ledger) -> None:
    _grow(lg, (1, 40, 3, 97, 2, 64, 1, 90))  # 300 events
    leaves = _leaves(lg)
    n = len(leaves)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.integers(1, n).flatmap(lambda size: st.tuples(st.just(size), st.integers(0, size - 1))))
    def check(size_and_index: tuple[int, int]) -> None:
        size, index = size_and_index
        root = lg.merkle_root(size)
        assert root == merkle.merkle_root(leaves[:size])
        proof = lg.inclusion_proof(index, size)
        assert proof == merkle.inclusion_proof(leaves[:size], index)
        merkle.verify_inclusion(index, size, leaves[index], proof, root)
        old_size = index  # any size up to ``size``, 0 included
        proof = lg.consistency_proof(old_size, size)
        assert proof == merkle.consistency_proof(leaves[:size], old_size)
        merkle.verify_consistency(old_size, size, lg.merkle_root(old_size), root, proof)

    check()


def test_defaults_are_the_current_size(lg: ledger.Ledger) -> None:
    assert lg.merkle_root() == merkle.EMPTY_ROOT
    assert lg.consistency_proof(0) == []
    _grow(lg, (5,))
    leaves = _leaves(lg)
    assert lg.merkle_root() == merkle.merkle_root(leaves)
    assert lg.inclusion_proof(3) == merkle.inclusion_proof(leaves, 3)
    assert lg.consistency_proof(3) == merkle.consistency_proof(leaves, 3)


def test_out_of_range_arguments_name_the_range(lg: ledger.Ledger) -> None:
    _grow(lg, (3,))  # 5 events
    with pytest.raises(
        ValidationError, match=r"size 6 is out of range: the ledger has 5 events \(expected 0 <= size <= 5\)"
    ):
        lg.merkle_root(6)
    with pytest.raises(ValidationError, match=r"size -1 is out of range"):
        lg.merkle_root(-1)
    with pytest.raises(
        ValidationError, match=r"seq 5 is out of range: the tree has 5 events \(expected 0 <= seq <= 4\)"
    ):
        lg.inclusion_proof(5)
    with pytest.raises(
        ValidationError, match=r"seq 3 is out of range: the tree has 3 events \(expected 0 <= seq <= 2\)"
    ):
        lg.inclusion_proof(3, 3)
    with pytest.raises(
        ValidationError, match=r"size 0 is out of range: the ledger has 5 events \(expected 1 <= size <= 5\)"
    ):
        lg.inclusion_proof(0, 0)
    with pytest.raises(
        ValidationError, match=r"old_size 4 is out of range: new_size is 3 \(expected 0 <= old_size <= 3\)"
    ):
        lg.consistency_proof(4, 3)
    with pytest.raises(ValidationError, match=r"new_size 9 is out of range: the ledger has 5 events"):
        lg.consistency_proof(1, 9)
    with pytest.raises(ValidationError, match=r"size must be a whole number, got True"):
        lg.merkle_root(True)  # type: ignore[arg-type]


def test_an_empty_ledger_has_no_inclusion_proof(lg: ledger.Ledger) -> None:
    with pytest.raises(ValidationError, match=r"seq 0 is out of range: the tree has 0 events \(no seq is possible\)"):
        lg.inclusion_proof(0)


def test_a_refused_append_leaves_no_nodes(lg: ledger.Ledger, uri: str) -> None:
    _grow(lg, (3,))
    before = _nodes(uri)
    with pytest.raises(NotFoundError, match="run 'nope' does not exist"):
        lg.append_many([*_metrics(10, 2), PendingEvent("run.metrics_logged", {**_metric(1), "run_id": "nope"}, "a")])
    assert _nodes(uri) == before
    lg.append_many(_metrics(20, 4))  # the tree goes on from where the refused batch would have started
    leaves = _leaves(lg)
    assert lg.merkle_root() == merkle.merkle_root(leaves)
    assert len(_nodes(uri)) == _stored_count(len(leaves))


def test_writers_that_interleave_keep_one_tree(uri: str) -> None:
    """Each store remembers the tree's right edge after its own append; another
    writer's append in between must make it read the edge again."""
    with ledger.open(uri) as first, ledger.open(uri) as second:
        first.append(*EXPERIMENT, actor="alice")
        second.append(*RUN, actor="bob")
        writers = itertools.cycle([first, second, second, first, first, first])
        for step in range(30):
            next(writers).append_many(_metrics(step * 3, 1 + step % 3))
        leaves = _leaves(first)
        for size in range(len(leaves) + 1):
            assert first.merkle_root(size) == second.merkle_root(size) == merkle.merkle_root(leaves[:size])
    assert len(_nodes(uri)) == _stored_count(len(leaves))


def test_migrating_a_schema_3_ledger_builds_the_same_tree(uri: str, tmp_path: Path, monkeypatch: Any) -> None:
    from ledger.store import migrations

    monkeypatch.setattr(migrations, "_TREE_CHUNK", 7)  # several chunks, and a partial last one
    with ledger.open(uri) as lg:
        _grow(lg)
    before = _nodes(uri)
    _execute(uri, "DROP TABLE merkle_nodes")
    _execute(uri, "UPDATE ledger_meta SET value = '3' WHERE key = 'schema_version'")
    with pytest.raises(StorageError, match="has schema version 3, this mlledger uses 6"):
        ledger.open(uri, create=False)
    with ledger.open(uri) as lg:
        assert _nodes(uri) == before
        lg.append_many(_metrics(100, 3))  # and it grows on
        leaves = _leaves(lg)
        assert lg.merkle_root() == merkle.merkle_root(leaves)
    with pytest.raises(DBAPIError, match="append-only"):  # the migration guards the new table too
        _execute(uri, "DELETE FROM merkle_nodes")


def test_a_migration_replaces_a_stale_table(uri: str) -> None:
    """A schema-3 ledger with a merkle_nodes table (left by anything) gets
    it rebuilt from the events, never trusted."""
    with ledger.open(uri) as lg:
        _grow(lg, (4,))
    before = _nodes(uri)
    _execute(uri, "UPDATE ledger_meta SET value = '3' WHERE key = 'schema_version'")
    with ledger.open(uri):
        assert _nodes(uri) == before


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE merkle_nodes SET hash = hash WHERE level = 3 AND idx = 0",
        "DELETE FROM merkle_nodes WHERE level = 3 AND idx = 0",
        "DELETE FROM merkle_nodes",
    ],
)
def test_the_node_table_refuses_changes(lg: ledger.Ledger, uri: str, statement: str) -> None:
    _grow(lg, (8,))
    before = _nodes(uri)
    with pytest.raises(DBAPIError, match="append-only"):
        _execute(uri, statement)
    assert _nodes(uri) == before


@pytest.mark.postgres
def test_the_node_table_refuses_truncate(pg_uri: str) -> None:
    with ledger.open(pg_uri) as lg:
        _grow(lg, (8,))
    before = _nodes(pg_uri)
    with pytest.raises(DBAPIError, match="TRUNCATE on merkle_nodes refused"):
        _execute(pg_uri, "TRUNCATE merkle_nodes")
    assert _nodes(pg_uri) == before


def test_a_missing_node_is_reported_not_guessed(sqlite_uri: str) -> None:
    with ledger.open(sqlite_uri) as lg:
        _grow(lg, (6,))  # 8 events: the root is the single node (3, 0)
        _execute(sqlite_uri, "DROP TRIGGER merkle_nodes_no_delete")
        _execute(sqlite_uri, "DELETE FROM merkle_nodes WHERE level = 3")
        with pytest.raises(IntegrityError, match=r"the root of size 8: merkle_nodes lacks 1 of the 1 subtree hashes"):
            lg.merkle_root()
    with ledger.open(sqlite_uri) as lg:  # a new store reads the tree's right edge from the table
        with pytest.raises(IntegrityError, match=r"right edge of the tree of size 8.*first: level 3, index 0"):
            lg.append("experiment.created", {"experiment_id": "e2", "name": "x", "tags": {}}, actor="alice")
        assert lg.size() == 8
