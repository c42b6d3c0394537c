"""Replaying the ledger from scratch (``rebuild``) yields exactly the read
models that incremental updates maintained, for random sequences of tracking
calls and data-version registrations, refused ones included, and of
redactions of their events; so does the as-of snapshot at the head. Data
versions as of any seq (a bound on the live tables) equal a replay to it."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

import ledger
from ledger.redaction_rules import REDACTABLE_TYPES
from ledger.store.dataset_projector import DatasetRow, DatasetState
from ledger.store.read_models import ReadModel

keys = st.sampled_from(["a", "b", "loss", "rmse"])
data_versions = st.sampled_from(["loans@v1", "loans@v2", "bureau@1"])
digests = st.sampled_from(["sha256:" + "0" * 64, "sha256:" + "1" * 64])
values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5))
operation = st.one_of(
    st.tuples(st.just("start"), st.sampled_from(["e1", "e2"]), st.booleans()),
    st.tuples(st.just("param"), st.integers(0, 3), keys, st.sampled_from(["1", "2"])),
    st.tuples(
        st.just("metrics"), st.integers(0, 3), st.dictionaries(keys, values, min_size=1, max_size=3), st.integers(0, 3)
    ),
    st.tuples(st.just("tag"), st.integers(0, 3), keys, st.sampled_from(["x", "y"])),
    st.tuples(st.just("input"), st.integers(0, 3), st.sampled_from(["training", "test", None])),
    st.tuples(st.just("end"), st.integers(0, 3), st.sampled_from(["FINISHED", "FAILED", "KILLED"])),
    st.tuples(st.just("data_input"), st.integers(0, 3), data_versions, digests),
    st.tuples(
        st.just("register"),
        data_versions,
        digests,
        st.lists(data_versions, max_size=2),
        st.sampled_from([None, "dedupe"]),
    ),
)
# Redact the payload of one of the last redactable events not yet redacted.
redaction = st.tuples(st.just("redact"), st.integers(0, 5))
ADMIN = "dpo"


def _apply(lg: ledger.Ledger, runs: list[Any], op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "redact":
        erasable = [e.seq for e in lg.events() if e.type in REDACTABLE_TYPES and e.payload is not None]
        if erasable:
            lg.redact(erasable[-1 - op[1] % len(erasable)], reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
        return
    if kind == "start":
        parent = runs[-1].run_id if op[2] and runs else None
        runs.append(lg.start_run(experiment=op[1], parent_run_id=parent, capture_environment=False))
        return
    if kind == "register":
        name, version = op[1].split("@")
        with contextlib.suppress(ledger.ConflictError, ledger.NotFoundError, ledger.ValidationError):
            # Refused calls append nothing; the property covers them too.
            lg.register_dataset_version(name, version, digest=op[2], derived_from=op[3], transform=op[4])
        return
    if not runs:
        return
    run = runs[op[1] % len(runs)]
    try:
        if kind == "param":
            run.log_param(op[2], op[3])
        elif kind == "metrics":
            run.log_metrics(op[2], step=op[3], timestamp=1_700_000_000_000 + op[3])
        elif kind == "tag":
            run.set_tag(op[2], op[3])
        elif kind == "input":
            run.log_input(name="loans", version="v1", digest="sha256:" + "0" * 64, context=op[2])
        elif kind == "data_input":
            name, version = op[2].split("@")
            run.log_input(name=name, version=version, digest=op[3])
        elif kind == "end":
            run.end(op[2])
    except (ledger.ConflictError, ledger.NotFoundError):
        pass  # refused calls append nothing; the property covers them too


def _dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            table.name: sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
            for table in ReadModel.metadata.sorted_tables
        }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=25))
def test_rebuild_equals_incremental(operations: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder, ledger.open(f"sqlite:///{Path(folder) / 'l.db'}") as lg:
        runs: list[Any] = []
        for op in operations:
            _apply(lg, runs, op)
        incremental = _dump(lg.store.engine)
        head = lg.head()
        if head is not None:
            assert _dump(lg.store.read_models_as_of(head.size)) == incremental
        lg.rebuild()
        assert _dump(lg.store.engine) == incremental
        assert lg.verify().ok


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(operation, operation, redaction), min_size=1, max_size=30))
def test_rebuild_equals_incremental_with_redactions(operations: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder, ledger.open(f"sqlite:///{Path(folder) / 'l.db'}") as lg:
        lg.claim_admin(actor=ADMIN)
        runs: list[Any] = []
        for op in [("start", "e1", False), ("start", "e2", True), *operations]:
            _apply(lg, runs, op)
        incremental = _dump(lg.store.engine)
        redactions = lg.redactions()
        assert _dump(lg.store.read_models_as_of(lg.size())) == incremental
        for erased in redactions:  # just after each erased event: shown redacted, never a failure
            _dump(lg.store.read_models_as_of(erased.target_seq + 1))
        lg.rebuild()
        assert _dump(lg.store.engine) == incremental
        report = lg.verify()
        assert report.ok
        assert report.redacted == tuple(r.target_seq for r in redactions)


def _data_versions(engine: Engine, placeholder: str, at: int | None = None) -> list[DatasetRow]:
    """The data versions a read-model database holds (after event ``at``),
    without ``redacted_by``: a replay to a seq holds only the redactions
    before it, though it shows their targets redacted at any seq."""
    raw = engine.raw_connection()
    try:
        return [row._replace(redacted_by=None) for row in DatasetState(raw.cursor(), placeholder, at).versions()]
    finally:
        raw.rollback()
        raw.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(operation, redaction), min_size=1, max_size=20))
def test_data_versions_as_of_a_seq_equal_a_replay_to_it(operations: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder, ledger.open(f"sqlite:///{Path(folder) / 'l.db'}") as lg:
        lg.claim_admin(actor=ADMIN)
        runs: list[Any] = []
        for op in [("start", "e1", False), *operations]:
            _apply(lg, runs, op)
        for seq in range(lg.size()):
            replayed = _data_versions(lg.store.read_models_as_of(seq + 1), "?")
            assert _data_versions(lg.store.engine, "?", seq) == replayed
            assert [(v.name, v.version, v.digest) for v in lg.dataset_versions(as_of=seq)] == [
                (row.name, row.version, row.digest) for row in replayed
            ]
