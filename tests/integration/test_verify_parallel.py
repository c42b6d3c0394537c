"""Verification split across worker processes gives the one-pass result, on
both backends, intact or tampered (through raw SQL with the triggers off)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

import ledger
import ledger.api
from ledger import PendingEvent

DROP_TRIGGERS = {
    "sqlite": ["DROP TRIGGER events_no_update", "DROP TRIGGER payloads_no_update"],
    "postgresql": ["DROP TRIGGER events_no_update_delete ON events", "DROP TRIGGER payloads_no_update ON payloads"],
}


def _fill(lg: ledger.Ledger, n: int) -> None:
    """``n`` events: experiment e1 and run r1 started (0, 1), then params logged into r1 (2..n-1)."""
    lg.append("experiment.created", {"experiment_id": "e1", "name": "e1"}, actor="alice")
    lg.append("run.started", {"run_id": "r1", "experiment_id": "e1"}, actor="alice")
    lg.append_many(
        PendingEvent("run.params_logged", {"run_id": "r1", "params": {f"p{i}": str(i)}}, "alice") for i in range(2, n)
    )
    assert lg.size() == n


def _tamper(uri: str, *statements: str) -> None:
    engine = create_engine(uri)
    with engine.begin() as conn:
        for statement in [*DROP_TRIGGERS[engine.dialect.name], *statements]:
            conn.execute(text(statement))
    engine.dispose()


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger.api, "_MIN_RANGE", 7)


@pytest.mark.usefixtures("small_ranges")
def test_parallel_verify_of_an_intact_ledger(uri: str) -> None:
    with ledger.open(uri) as lg:
        _fill(lg, 100)
        one, two = lg.verify(workers=1), lg.verify(workers=2)
        seen: list[int] = []
        lg.verify(workers=2, progress=seen.append)
    assert one.ok and two == one and two.events == 100
    assert seen[-1] == 100 and seen == sorted(seen)


@pytest.mark.usefixtures("small_ranges")
def test_parallel_verify_finds_what_one_pass_finds(uri: str) -> None:
    with ledger.open(uri) as lg:
        _fill(lg, 60)
    # seq 7 and 14 start ranges of 7 events: tamper right at those boundaries.
    _tamper(
        uri,
        "UPDATE events SET actor = 'mallory' WHERE seq = 7",
        "UPDATE payloads SET body = '{}' WHERE seq = 14",
        "UPDATE events SET prev = 'ff' WHERE seq = 30",
    )
    with ledger.open(uri) as lg:
        one, two = lg.verify(workers=1), lg.verify(workers=2)
    assert two == one
    assert [(f.seq, f.kind) for f in one.faults] == [
        (7, "header_altered"),
        (14, "payload_altered"),
        (30, "header_altered"),
        (30, "broken_link"),
    ]


def test_workers_setting_must_be_a_number(sqlite_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLLEDGER_VERIFY_WORKERS", "many")
    with ledger.open(sqlite_uri) as lg:
        _fill(lg, 3)
        with pytest.raises(ledger.ValidationError, match="MLLEDGER_VERIFY_WORKERS='many' is not a whole number"):
            lg.verify()
