"""Tampering and misuse cases found in review, each kept as a regression test:
SQLite's INSERT OR REPLACE slipping past the DELETE triggers, values of the
wrong storage class, rows outside the chain, redactions that come too early,
and bad arguments that must be LedgerErrors rather than tracebacks."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import ledger
from ledger import PendingEvent
from ledger.events import prepare


def _start_run(lg: ledger.Ledger, actor: str = "alice") -> None:
    """Events 0 and 1: experiment e1 and run r1 in it, so r1 can be logged into."""
    lg.append("experiment.created", {"experiment_id": "e1", "name": "e1"}, actor=actor)
    lg.append("run.started", {"run_id": "r1", "experiment_id": "e1"}, actor=actor)


def _fill(uri: str, n: int = 10) -> None:
    """``n`` events: the run started (0, 1), then params logged into it (2..n-1)."""
    with ledger.open(uri) as lg:
        _start_run(lg)
        lg.append_many(
            PendingEvent("run.params_logged", {"run_id": "r1", "params": {f"p{i}": str(i)}}, "alice")
            for i in range(2, n)
        )
        assert lg.size() == n


# The hashed columns of events, named: the table has more (db_user, filled by the database).
HEADER = "seq, v, id, type, schema, time, actor, payload_digest, prev, hash"


def _sqlite(uri: str) -> sqlite3.Connection:
    return sqlite3.connect(make_url(uri).database or "", isolation_level=None)


def _verify(uri: str) -> ledger.VerifyReport:
    with ledger.open(uri) as lg:
        return lg.verify(workers=1)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "INSERT OR REPLACE INTO payloads (seq, body) VALUES (3, '{}')",
            "payloads (mlledger: append-only, no REPLACE)",
        ),
        (
            "INSERT OR REPLACE INTO events SELECT * FROM events WHERE seq = 3",
            "events (mlledger: append-only, no REPLACE)",
        ),
        (
            f"REPLACE INTO events ({HEADER}) SELECT 99, v, id, type, schema, time, actor, payload_digest, prev, hash "
            "FROM events WHERE seq = 3",
            "events (mlledger: append-only, no REPLACE)",
        ),
    ],
)
def test_sqlite_replace_cannot_slip_past_the_triggers(sqlite_uri: str, sql: str, message: str) -> None:
    _fill(sqlite_uri)
    before = _verify(sqlite_uri)
    conn = _sqlite(sqlite_uri)
    with pytest.raises(sqlite3.IntegrityError, match=re.escape(message)):
        conn.execute(sql)
    conn.close()
    assert _verify(sqlite_uri) == before
    assert before.ok


def test_a_blob_payload_is_a_payload_fault_not_a_crash(sqlite_uri: str) -> None:
    _fill(sqlite_uri)
    conn = _sqlite(sqlite_uri)
    conn.execute("DROP TRIGGER payloads_no_update")
    conn.execute("UPDATE payloads SET body = CAST(body AS BLOB) || x'00' WHERE seq = 4")
    conn.close()
    report = _verify(sqlite_uri)
    assert [(f.seq, f.kind) for f in report.faults] == [(4, "payload_altered")]


def test_invalid_utf8_is_an_integrity_failure(sqlite_uri: str) -> None:
    _fill(sqlite_uri)
    conn = _sqlite(sqlite_uri)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("UPDATE events SET actor = CAST(x'ff61' AS TEXT) WHERE seq = 4")
    conn.close()
    with pytest.raises(
        ledger.IntegrityError, match="stored text is not valid UTF-8 in the first rows: the database was altered"
    ):
        _verify(sqlite_uri)
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "--uri", sqlite_uri, "verify"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "mlledger: error: stored text is not valid UTF-8" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_row_below_seq_0_is_refused_and_else_reported(sqlite_uri: str) -> None:
    _fill(sqlite_uri)
    conn = _sqlite(sqlite_uri)
    copy = (
        f"INSERT INTO events ({HEADER}) SELECT -1, v, 'x' || id, type, schema, time, actor, payload_digest, prev, hash "
        "FROM events WHERE seq = 0"
    )
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed: events_seq_from_zero"):
        conn.execute(copy)
    conn.execute("PRAGMA ignore_check_constraints = ON")
    conn.execute(copy)
    conn.close()
    with ledger.open(sqlite_uri) as lg:
        for report in (lg.verify(workers=1), lg.verify(workers=2)):
            assert [(f.seq, f.kind) for f in report.faults] == [(-1, "duplicate")]
            assert "outside the chain, which starts at 0" in report.faults[0].detail


def test_an_early_redaction_does_not_hide_a_later_valid_one(uri: str) -> None:
    with ledger.open(uri) as lg:
        _start_run(lg, actor="a")  # 0, 1
        lg.append("run.params_logged", {"run_id": "r1", "params": {"a": "1"}}, actor="a")  # 2
        # 3 names seq 5 before it exists. The ledger refuses it, so it comes in
        # as an import would, past the rules: it cannot redact seq 5.
        early = {
            "target_seq": 5,
            "target_type": "run.params_logged",
            "subject": {"run_id": "r1", "keys": ["c"]},
            "reason": "too early",
            "legal_basis": "none",
        }
        with pytest.raises(
            ledger.NotFoundError, match=r"^redaction: event 5 does not exist \(the ledger has 3 events\)$"
        ):
            lg.append("ledger.redacted", early, actor="a")
        lg.store.append([prepare(PendingEvent("ledger.redacted", early, "a"))], lg._clock, enforce_rules=False)
        lg.append("run.params_logged", {"run_id": "r1", "params": {"b": "2"}}, actor="a")  # 4
        assert lg.append("run.params_logged", {"run_id": "r1", "params": {"c": "3"}}, actor="a").seq == 5
    engine = create_engine(uri)
    with pytest.raises(Exception, match="a payload can only be removed by a redaction event"), engine.begin() as conn:
        conn.execute(text("DELETE FROM payloads WHERE seq = 5"))
    engine.dispose()
    with ledger.open(uri) as lg:
        lg.claim_admin(actor="dpo")
        assert lg.redact(5, reason="GDPR art. 17", legal_basis="erasure", actor="dpo").seq == 7
        assert lg.event(5).payload is None
    report = _verify(uri)
    assert report.ok
    assert report.redacted == (5,)


def test_bad_arguments_are_ledger_errors(sqlite_uri: str) -> None:
    with ledger.open(sqlite_uri) as lg:
        with pytest.raises(ledger.ValidationError, match="append_many takes PendingEvent items, got dict"):
            lg.append_many([{"type": "run.tags_set"}])  # type: ignore[list-item]
        with pytest.raises(ledger.ValidationError, match="actor must be a non-empty string"):
            lg.append("run.tags_set", {"run_id": "r", "tags": {}}, actor="")
        with pytest.raises(ledger.ValidationError, match="event id '' is not a lowercase hyphenated UUID"):
            lg.append("run.tags_set", {"run_id": "r", "tags": {}}, actor="a", id="")
        assert lg.size() == 0


def test_export_to_stdout_is_utf8_whatever_the_locale(sqlite_uri: str) -> None:
    with ledger.open(sqlite_uri) as lg:
        _start_run(lg, actor="zoë")
        lg.append("run.tags_set", {"run_id": "r1", "tags": {"price": "10 €", "emoji": "\U0001f600"}}, actor="zoë")
    env = {**os.environ, "PYTHONIOENCODING": "latin-1"}
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "--uri", sqlite_uri, "export"], capture_output=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.decode("utf-8")
    assert len(line.splitlines()) == 3
    assert "10 €" in line and "\U0001f600" in line and "zoë" in line
    assert line.endswith("}\n") and "\r" not in line


@pytest.mark.postgres
def test_init_never_prints_a_password(pg_uri: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "--uri", pg_uri, "init"], capture_output=True, text=True, check=False
    )
    url = make_url(pg_uri)
    assert result.returncode == 0, result.stderr
    assert f"{url.username}:***@" in result.stdout
    assert f":{url.password}@" not in result.stdout
