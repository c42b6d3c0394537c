"""The stored tree's arithmetic without a server: nodes grown batch by batch
into an in-memory SQLite table answer every root and proof exactly as
``ledger.merkle`` does over the same leaves, and the migration's one-pass
build writes the same rows as incremental appends."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle
from ledger.store import merkle_store

batch_lists = st.lists(st.integers(1, 40), min_size=1, max_size=10)


def _leaves(count: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(count)]


def _grown(batches: list[int]) -> tuple[sqlite3.Cursor, list[bytes]]:
    """Fresh in-memory tables (nodes, and the events leaves are read from) grown by ``batches``, and the leaves."""
    cursor = sqlite3.connect(":memory:").cursor()
    cursor.execute("CREATE TABLE merkle_nodes (level INTEGER, idx INTEGER, hash BLOB, PRIMARY KEY (level, idx))")
    cursor.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, hash TEXT)")  # leaves are read from here
    leaves = _leaves(sum(batches))
    size = 0
    for batch in batches:
        edge = merkle_store.read_edge(cursor, "?", size)  # as a store that did not make the last append
        rows = merkle_store.grow(size, edge, leaves[size : size + batch])
        cursor.executemany("INSERT INTO merkle_nodes VALUES (?, ?, ?)", rows)
        cursor.executemany(
            "INSERT INTO events VALUES (?, ?)", [(seq, leaves[seq].hex()) for seq in range(size, size + batch)]
        )
        size += batch
        assert edge == merkle_store.read_edge(cursor, "?", size)  # grow leaves the new right edge
    return cursor, leaves


@settings(max_examples=200, deadline=None)
@given(batches=batch_lists, data=st.data())
def test_stored_roots_and_proofs_equal_the_pure_ones(batches: list[int], data: st.DataObject) -> None:
    cursor, leaves = _grown(batches)
    size = data.draw(st.integers(0, len(leaves)), label="size")
    assert merkle_store.root(cursor, "?", size) == merkle.merkle_root(leaves[:size])
    old_size = data.draw(st.integers(0, size), label="old_size")
    expected = merkle.consistency_proof(leaves[:size], old_size)
    assert merkle_store.consistency_proof(cursor, "?", old_size, size) == expected
    if size:
        index = data.draw(st.integers(0, size - 1), label="index")
        assert merkle_store.inclusion_proof(cursor, "?", index, size) == merkle.inclusion_proof(leaves[:size], index)


@settings(max_examples=100, deadline=None)
@given(batches=batch_lists, chunk=st.integers(1, 50))
def test_the_one_pass_build_writes_the_incremental_rows(batches: list[int], chunk: int) -> None:
    cursor, leaves = _grown(batches)
    built = sorted(row for rows in merkle_store.tree_rows(iter(leaves), chunk) for row in rows)
    assert built == sorted(cursor.execute("SELECT level, idx, hash FROM merkle_nodes"))


@pytest.mark.parametrize("size", [1, 2, 3, 1023, 1024, 1025, 1_000_000, 2**40 - 1])
def test_a_proof_reads_logarithmically_many_nodes(size: int) -> None:
    bound = 2 * size.bit_length()
    assert len(merkle_store.right_edge(size)) == size.bit_count()
    for index in {0, size // 3, size - 1}:
        keys = [key for r in merkle_store.path_ranges(index, size) for key in merkle_store._complete_subtrees(*r)]
        assert len(keys) <= bound
    for old_size in {1, size // 2, size - 1}:
        ranges = merkle_store.consistency_ranges(old_size, size)
        keys = [key for r in ranges for key in merkle_store._complete_subtrees(*r)]
        assert len(keys) <= bound
