"""The event store contract, run against a real SQLite file and a real
PostgreSQL database: append, read back, batches, idempotency, and bad input
that changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

import ledger
from ledger import PendingEvent
from ledger.encoding import GENESIS_PREV
from ledger.errors import ConflictError, NotFoundError, SchemaVersionError, StorageError, ValidationError

PARAMS = ("experiment.created", {"experiment_id": "e1", "name": "credit-scoring", "tags": {}})
RUN = ("run.started", {"run_id": "r1", "experiment_id": "e1"})


def _metric(step: int, value: Any = 0.5) -> dict[str, Any]:
    return {"run_id": "r1", "metrics": [{"key": "rmse", "value": value, "step": step, "timestamp": 1764154203123}]}


@pytest.fixture
def lg(uri: str) -> Any:
    with ledger.open(uri) as opened:
        yield opened


def test_new_ledger_is_empty_and_intact(lg: ledger.Ledger) -> None:
    assert lg.size() == 0 and lg.head() is None
    report = lg.verify()
    assert report.ok and report.events == 0


def test_append_assigns_seq_links_and_reads_back(lg: ledger.Ledger) -> None:
    first = lg.append(*PARAMS, actor="alice")
    lg.append(*RUN, actor="alice")
    third = lg.append("run.metrics_logged", _metric(1, "NaN"), actor="bob")
    assert (first.seq, first.prev) == (0, GENESIS_PREV)
    assert (third.seq, third.prev) == (2, lg.event(1).hash)
    assert lg.event(2) == third
    assert lg.event(2).payload == {
        "run_id": "r1",
        "metrics": [{"key": "rmse", "value": "NaN", "step": 1, "timestamp": 1764154203123}],
    }
    assert [e.seq for e in lg.events()] == [0, 1, 2]
    head = lg.head()
    assert head is not None and (head.seq, head.hash) == (2, third.hash)
    assert third.time >= first.time


def test_batch_gets_consecutive_seqs_in_one_chain(lg: ledger.Ledger) -> None:
    lg.append(*PARAMS, actor="alice")
    lg.append(*RUN, actor="alice")
    batch = lg.append_many([PendingEvent("run.metrics_logged", _metric(i), "alice") for i in range(100)])
    assert [e.seq for e in batch] == list(range(2, 102))
    assert all(b.prev == a.hash for a, b in zip(batch, batch[1:], strict=False))
    assert lg.verify().ok and lg.size() == 102


def test_retried_append_with_same_id_is_idempotent(lg: ledger.Ledger) -> None:
    event = lg.append(*PARAMS, actor="alice")
    again = lg.append(*PARAMS, actor="alice", id=event.id)
    assert again.seq == event.seq and again.hash == event.hash
    lg.append(*RUN, actor="alice")
    batch = [PendingEvent("run.metrics_logged", _metric(i), "alice") for i in range(3)]
    stored = lg.append_many(batch)
    assert [e.hash for e in lg.append_many(batch)] == [e.hash for e in stored]
    assert lg.size() == 5 and lg.verify().ok


def test_reused_id_with_different_content_is_a_conflict(lg: ledger.Ledger) -> None:
    event = lg.append(*PARAMS, actor="alice")
    with pytest.raises(
        ConflictError,
        match=rf"event id {event.id} is already used by event 0 \(experiment.created by alice\) with different content",
    ):
        lg.append("experiment.created", {"experiment_id": "e2", "name": "other"}, actor="alice", id=event.id)
    fresh = PendingEvent(*PARAMS, actor="alice")
    with pytest.raises(ConflictError, match="batch mixes new events with 1 already in the ledger"):
        lg.append_many([fresh, PendingEvent(*PARAMS, actor="alice", id=event.id)])
    assert lg.size() == 1


def test_duplicate_ids_within_a_batch_are_refused(lg: ledger.Ledger) -> None:
    event = PendingEvent(*PARAMS, actor="alice")
    with pytest.raises(ValidationError, match=rf"event id {event.id} appears twice in one batch"):
        lg.append_many([event, event])
    assert lg.size() == 0


BAD_INPUTS = [
    ("unknown type", "run.unknown", {"run_id": "r1"}, "unknown event type 'run.unknown'"),
    (
        "wrong field type",
        "run.params_logged",
        {"run_id": ["r1"], "params": {}},
        "run_id: Input should be a valid string",
    ),
    ("NaN number", "run.metrics_logged", _metric(0, float("nan")), "metrics.0.value"),
    ("Infinity number", "run.metrics_logged", _metric(0, float("-inf")), "metrics.0.value"),
    (
        "integer beyond 2**53-1",
        "run.metrics_logged",
        {**_metric(0), "metrics": [{**_metric(0)["metrics"][0], "step": 2**53}]},
        "outside the I-JSON range",
    ),
    (
        "oversized payload",
        "run.params_logged",
        {"run_id": "r1", "params": {"blob": "x" * (1024 * 1024)}},
        "the limit is 1048576",
    ),
    ("non-UTF-8 text", "run.tags_set", {"run_id": "r1", "tags": {"note": "caf\udce9"}}, "not valid UTF-8"),
]


@pytest.mark.parametrize(("case", "event_type", "payload", "message"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_raises_and_appends_nothing(
    lg: ledger.Ledger, case: str, event_type: str, payload: Any, message: str
) -> None:
    lg.append(*PARAMS, actor="alice")
    before = lg.head()
    with pytest.raises(ValidationError, match=message):
        lg.append(event_type, payload, actor="alice")
    good = [PendingEvent("run.metrics_logged", _metric(i), "alice") for i in range(5)]
    with pytest.raises(ValidationError, match=message):
        lg.append_many([*good, PendingEvent(event_type, payload, "alice")])
    assert lg.head() == before and lg.size() == 1
    assert lg.verify().ok


def test_size_limit_is_configurable(uri: str) -> None:
    with ledger.open(uri, max_payload_bytes=100) as small:
        with pytest.raises(ValidationError, match="the limit is 100"):
            small.append("run.params_logged", {"run_id": "r1", "params": {"blob": "x" * 100}}, actor="a")
        assert small.size() == 0


def test_actor_defaults_to_environment(lg: ledger.Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLLEDGER_ACTOR", "ci-bot")
    assert lg.append(*PARAMS).actor == "ci-bot"


def test_reading_a_missing_seq_is_not_found(lg: ledger.Ledger) -> None:
    with pytest.raises(NotFoundError, match="event 3 does not exist"):
        lg.event(3)


def test_open_without_create_needs_an_existing_ledger(uri: str, tmp_path: Any) -> None:
    missing = f"sqlite:///{tmp_path / 'nope' / 'ledger.db'}"
    with pytest.raises(NotFoundError, match=r"no ledger at .*nope/ledger.db: run `mlledger init` to create one"):
        ledger.open(missing, create=False)
    assert not (tmp_path / "nope").exists()
    ledger.open(uri).close()
    with ledger.open(uri, create=False) as reopened:
        assert reopened.size() == 0
        assert len(reopened.ledger_id) == 36


def test_a_newer_schema_is_refused(uri: str) -> None:
    from sqlalchemy import create_engine, text

    ledger.open(uri).close()
    engine = create_engine(uri)
    with engine.begin() as conn:
        conn.execute(text("UPDATE ledger_meta SET value = '99' WHERE key = 'schema_version'"))
    engine.dispose()
    with pytest.raises(
        SchemaVersionError, match="the ledger's schema is version 99, this mlledger knows up to 6: upgrade mlledger"
    ):
        ledger.open(uri)
    with pytest.raises(SchemaVersionError, match="version 99"):
        ledger.open(uri, create=False)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("mysql://u@h/db", "unsupported database 'mysql'"),
        ("not a uri", "not a database URI: 'not a uri'"),
        ("sqlite://", "an in-memory SQLite ledger would vanish with the process"),
    ],
)
def test_bad_uris_are_clear_errors(uri: str, message: str) -> None:
    with pytest.raises(StorageError, match=message):
        ledger.open(uri)


def test_unreachable_postgres_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match=r"cannot open the ledger at postgresql\+psycopg://u:\*\*\*@127.0.0.1:1/db"):
        ledger.open("postgresql+psycopg://u:secret@127.0.0.1:1/db")
