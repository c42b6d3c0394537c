"""Tampering with a stored ledger through plain SQL, past the ledger API.

First the database's own guard: with the append-only triggers of DESIGN §3 in
place, raw UPDATE/DELETE on ``events`` and ``payloads`` are refused and the
ledger is unchanged. Then, with the triggers dropped (an attacker with the
database owner's rights), each kind of tampering must be reported by
``Ledger.verify()`` as its first fault, at the right seq, with evidence in the
detail; a payload removed by a ``ledger.redacted`` event is not a fault
(DESIGN §6). Every test runs on a SQLite file and on a PostgreSQL database.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

import ledger
from ledger.encoding import canonical_json, header_row_bytes
from ledger.events import prepare
from ledger.governance import artifact_digest

TARGET = 7  # the event every test tampers with
SIZE = 20

SQLITE_TRIGGERS = (
    "events_no_update",
    "events_no_delete",
    "events_no_replace",
    "payloads_no_update",
    "payloads_no_delete",
    "payloads_no_replace",
    "merkle_nodes_no_update",
    "merkle_nodes_no_delete",
)
PG_TRIGGERS = (  # PostgreSQL: (trigger, table)
    ("events_no_update_delete", "events"),
    ("events_no_truncate", "events"),
    ("payloads_no_update", "payloads"),
    ("payloads_no_truncate", "payloads"),
    ("payloads_guard_delete", "payloads"),
    ("merkle_nodes_no_update_delete", "merkle_nodes"),
    ("merkle_nodes_no_truncate", "merkle_nodes"),
)


# -- plain-SQL access to the ledger's database --------------------------------


def is_postgres(uri: str) -> bool:
    return make_url(uri).get_backend_name() == "postgresql"


def pg_libpq_uri(uri: str) -> str:
    """PostgreSQL only: the URI psycopg takes (``+psycopg`` removed)."""
    return make_url(uri).set(drivername="postgresql").render_as_string(hide_password=False)


class RawDb:
    """An autocommit driver connection to the ledger's database: what an
    attacker (or an auditor) with plain SQL sees, no mlledger code between."""

    def __init__(self, uri: str) -> None:
        self.postgres = is_postgres(uri)
        self.conn: Any
        if self.postgres:
            self.conn = psycopg.connect(pg_libpq_uri(uri), autocommit=True)
            self.error: type[Exception] = psycopg.Error
        else:
            self.conn = sqlite3.connect(make_url(uri).database or "", isolation_level=None)
            self.error = sqlite3.DatabaseError

    def close(self) -> None:
        self.conn.close()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Run one statement (``?`` placeholders on both backends); returns rowcount."""
        cursor = self.conn.execute(sql.replace("?", "%s") if self.postgres else sql, params)
        return cursor.rowcount

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        cursor = self.conn.execute(sql.replace("?", "%s") if self.postgres else sql, params)
        return [tuple(row) for row in cursor.fetchall()]

    def drop_append_only_triggers(self) -> None:
        if self.postgres:
            for trigger, table in PG_TRIGGERS:
                self.execute(f"DROP TRIGGER {trigger} ON {table}")
        else:
            for trigger in SQLITE_TRIGGERS:
                self.execute(f"DROP TRIGGER {trigger}")
        assert self.trigger_names() == set()

    def trigger_names(self) -> set[str]:
        if self.postgres:
            found = self.rows(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
                " AND tgrelid IN ('events'::regclass, 'payloads'::regclass, 'merkle_nodes'::regclass)"
            )
        else:
            found = self.rows("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        return {name for (name,) in found}

    def drop_seq_uniqueness(self) -> None:
        """Make ``events`` accept a second row with the same seq (and id)."""
        if self.postgres:
            self._pg_drop_events_unique_constraints()
        else:
            self._sqlite_rebuild_events_without_constraints()

    def _pg_drop_events_unique_constraints(self) -> None:
        """PostgreSQL only: drop the primary key and unique constraints of events."""
        for (name,) in self.rows(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'events'::regclass AND contype IN ('p', 'u')"
        ):
            self.execute(f'ALTER TABLE events DROP CONSTRAINT "{name}"')
        assert (
            self.rows("SELECT conname FROM pg_constraint WHERE conrelid = 'events'::regclass AND contype IN ('p', 'u')")
            == []
        )

    def _sqlite_rebuild_events_without_constraints(self) -> None:
        """SQLite only: SQLite cannot drop a primary key, so rebuild the table."""
        self.execute("BEGIN")
        self.execute("CREATE TABLE events_loose AS SELECT * FROM events")
        self.execute("DROP TABLE events")
        self.execute("ALTER TABLE events_loose RENAME TO events")
        self.execute("COMMIT")
        assert self.rows("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'") == []


# -- the ledger under attack -----------------------------------------------------


def _history() -> list[tuple[str, dict[str, Any], str]]:
    """Twenty valid events of a small ML project, registry rules included: (type, payload, actor)."""
    digest = "a" * 64
    events: list[tuple[str, dict[str, Any], str]] = [
        ("experiment.created", {"experiment_id": "e1", "name": "credit-scoring"}, "alice"),
        ("actor.role_granted", {"actor": "alice", "role": "admin"}, "alice"),  # the first admin
        ("run.started", {"run_id": "r1", "experiment_id": "e1", "run_name": "baseline"}, "ci-bot"),
        (
            "run.input_logged",
            {
                "run_id": "r1",
                "name": "loans",
                "version": "v1",
                "digest": "sha256:" + digest,
                "context": "training",
                "num_rows": 1000,
            },
            "ci-bot",
        ),
        ("run.params_logged", {"run_id": "r1", "params": {"alpha": "0.1"}}, "ci-bot"),
        (
            "run.metrics_logged",
            {"run_id": "r1", "metrics": [{"key": "auc", "value": 0.81, "step": 1, "timestamp": 1_700_000_000_000}]},
            "ci-bot",
        ),
        ("run.tags_set", {"run_id": "r1", "tags": {"team": "risk"}}, "ci-bot"),
        # seq 7, the target:
        ("run.params_logged", {"run_id": "r1", "params": {"max_depth": "6", "eta": "0.3"}}, "ci-bot"),
        (
            "run.metrics_logged",
            {
                "run_id": "r1",
                "metrics": [
                    {"key": "auc", "value": 0.84, "step": 2, "timestamp": 1_700_000_060_000},
                    {"key": "loss", "value": "NaN", "step": 2, "timestamp": 1_700_000_060_000},
                ],
            },
            "ci-bot",
        ),
        ("run.artifact_logged", {"run_id": "r1", "path": "model.pkl", "sha256": digest, "size": 2048}, "ci-bot"),
        ("run.finished", {"run_id": "r1", "status": "FINISHED"}, "ci-bot"),
        ("actor.role_granted", {"actor": "bob", "role": "approver"}, "alice"),
        ("model.registered", {"name": "credit-model", "owner": "alice"}, "alice"),
        (
            "model.version_created",
            {
                "name": "credit-model",
                "version": 1,
                "run_id": "r1",
                "artifact_path": "model.pkl",
                "artifact_digest": artifact_digest({"model.pkl": digest}),
            },
            "alice",
        ),
        (
            "model.transition_requested",
            {"request_id": "q1", "name": "credit-model", "version": 1, "to_stage": "Staging"},
            "alice",
        ),
        ("model.transition_approved", {"request_id": "q1", "comment": "looks good"}, "bob"),
        (
            "model.stage_changed",
            {"name": "credit-model", "version": 1, "from_stage": "None", "to_stage": "Staging", "request_id": "q1"},
            "bob",
        ),
        ("model.alias_set", {"name": "credit-model", "alias": "champion", "version": 1}, "bob"),
        (
            "model.deployed",
            {"name": "credit-model", "version": 1, "target": "k8s", "environment": "staging"},
            "deploy-bot",
        ),
        ("dataset.version_registered", {"name": "loans", "version": "v1", "digest": "sha256:" + digest}, "alice"),
    ]
    assert len(events) == SIZE
    return events


@dataclass(frozen=True)
class Built:
    uri: str
    events: list[ledger.RecordedEvent]
    report: ledger.VerifyReport


@pytest.fixture
def built(uri: str) -> Built:
    """A closed ledger of 20 intact events, written by single and batch appends."""
    history = _history()
    with ledger.open(uri) as lg:
        for type_, payload, actor in history[:10]:
            lg.append(type_, payload, actor=actor)
        lg.append_many(ledger.PendingEvent(type_, payload, actor) for type_, payload, actor in history[10:])
        events = list(lg.events())
        report = lg.verify()
    assert [e.seq for e in events] == list(range(SIZE))
    assert report.ok, report.faults
    assert (report.events, report.head) == (SIZE, events[-1].hash)
    assert events[TARGET].type == "run.params_logged"
    return Built(uri, events, report)


@pytest.fixture
def raw(built: Built) -> Iterator[RawDb]:
    """Plain SQL on the built ledger (connected after it exists)."""
    db = RawDb(built.uri)
    try:
        yield db
    finally:
        db.close()


def _verify(uri: str) -> ledger.VerifyReport:
    with ledger.open(uri) as lg:
        return lg.verify()


def _first_fault(uri: str) -> ledger.Fault:
    report = _verify(uri)
    assert not report.ok, "verify() found nothing wrong with a tampered ledger"
    return report.faults[0]


# -- the database refuses changes while its triggers stand -----------------------

# op -> (statement, message on SQLite, message on PostgreSQL)
REFUSED = {
    "update-events": (
        f"UPDATE events SET actor = 'mallory' WHERE seq = {TARGET}",
        "events is append-only: UPDATE refused",
        "UPDATE on events refused: the ledger is append-only",
    ),
    "delete-events": (
        f"DELETE FROM events WHERE seq = {TARGET}",
        "events is append-only: DELETE refused",
        "DELETE on events refused: the ledger is append-only",
    ),
    "update-payloads": (
        f"UPDATE payloads SET body = '{{}}' WHERE seq = {TARGET}",
        "payloads are immutable: UPDATE refused",
        "UPDATE on payloads refused: the ledger is append-only",
    ),
    "delete-payloads": (
        f"DELETE FROM payloads WHERE seq = {TARGET}",
        "a payload can only be removed by a redaction event",
        "a payload can only be removed by a redaction event",
    ),
    # Emptying a table: TRUNCATE on PostgreSQL; SQLite has only DELETE without WHERE.
    "wipe-events": (
        "DELETE FROM events | TRUNCATE events",
        "events is append-only: DELETE refused",
        "TRUNCATE on events refused: the ledger is append-only",
    ),
    "wipe-payloads": (
        "DELETE FROM payloads | TRUNCATE payloads",
        "a payload can only be removed by a redaction event",
        "TRUNCATE on payloads refused: the ledger is append-only",
    ),
}


@pytest.mark.parametrize("op", list(REFUSED))
def test_triggers_refuse_raw_changes(built: Built, raw: RawDb, op: str) -> None:
    statement, sqlite_message, pg_message = REFUSED[op]
    if "|" in statement:
        statement = statement.split(" | ")[1 if raw.postgres else 0]
    assert len(raw.trigger_names()) == (len(PG_TRIGGERS) if raw.postgres else len(SQLITE_TRIGGERS))

    with pytest.raises(raw.error) as refused:
        raw.execute(statement)

    assert "mlledger: " in str(refused.value)
    assert (pg_message if raw.postgres else sqlite_message) in str(refused.value)
    with ledger.open(built.uri) as lg:
        assert list(lg.events()) == built.events
        assert lg.verify() == built.report


# -- each kind of tampering is found, first, at the right event ------------------


def test_altered_payload_is_reported(built: Built, raw: RawDb) -> None:
    original = built.events[TARGET]
    forged = canonical_json({"run_id": "r1", "params": {"max_depth": "60", "eta": "0.3"}}).decode()
    raw.drop_append_only_triggers()

    assert raw.execute("UPDATE payloads SET body = ? WHERE seq = ?", (forged, TARGET)) == 1

    with ledger.open(built.uri) as lg:
        assert lg.event(TARGET).payload == {"run_id": "r1", "params": {"max_depth": "60", "eta": "0.3"}}
    report = _verify(built.uri)
    assert [(f.seq, f.kind) for f in report.faults] == [(TARGET, "payload_altered")]
    detail = report.faults[0].detail
    assert original.payload_digest[:12] in detail
    assert hashlib.sha256(forged.encode()).hexdigest()[:12] in detail
    assert report.events == SIZE


def test_altered_header_is_reported(built: Built, raw: RawDb) -> None:
    original = built.events[TARGET]
    raw.drop_append_only_triggers()

    assert raw.execute("UPDATE events SET actor = 'mallory' WHERE seq = ?", (TARGET,)) == 1

    with ledger.open(built.uri) as lg:
        assert lg.event(TARGET).actor == "mallory"
    report = _verify(built.uri)
    assert [(f.seq, f.kind) for f in report.faults] == [(TARGET, "header_altered")]
    recomputed = hashlib.sha256(
        header_row_bytes(
            TARGET,
            1,
            original.id,
            original.type,
            original.schema,
            original.time,
            "mallory",
            original.payload_digest,
            original.prev,
        )
    ).hexdigest()
    detail = report.faults[0].detail
    assert "hash mismatch" in detail
    assert original.hash[:12] in detail
    assert recomputed[:12] in detail


def test_altered_header_with_recomputed_hash_breaks_the_next_link(built: Built, raw: RawDb) -> None:
    original = built.events[TARGET]
    raw.drop_append_only_triggers()
    (row,) = raw.rows(
        "SELECT seq, v, id, type, schema, time, actor, payload_digest, prev FROM events WHERE seq = ?",
        (TARGET,),
    )
    seq, v, id_, type_, schema, time, _actor, digest, prev = row
    forged = header_row_bytes(seq, v, id_, type_, schema, time, "mallory", digest, prev)
    forged_hash = hashlib.sha256(forged).hexdigest()

    changed = raw.execute("UPDATE events SET actor = 'mallory', hash = ? WHERE seq = ?", (forged_hash, seq))
    assert changed == 1

    report = _verify(built.uri)
    # Event 7 is self-consistent now; the chain breaks where event 8 points back to it.
    assert [(f.seq, f.kind) for f in report.faults] == [(TARGET + 1, "broken_link")]
    detail = report.faults[0].detail
    assert original.hash[:12] in detail  # what event 8 says event 7's hash is
    assert forged_hash[:12] in detail  # what event 7's hash is now
    assert str(TARGET) in detail


def test_deleted_event_is_a_gap(built: Built, raw: RawDb) -> None:
    raw.drop_append_only_triggers()

    assert raw.execute("DELETE FROM events WHERE seq = ?", (TARGET,)) == 1
    assert raw.execute("DELETE FROM payloads WHERE seq = ?", (TARGET,)) == 1

    report = _verify(built.uri)
    assert [(f.seq, f.kind) for f in report.faults] == [(TARGET, "gap")]
    detail = report.faults[0].detail
    assert f"{TARGET}..{TARGET}" in detail
    assert "missing" in detail
    assert str(TARGET + 1) in detail
    assert report.events == SIZE - 1


def test_duplicate_seq_is_reported(built: Built, raw: RawDb) -> None:
    raw.drop_append_only_triggers()
    raw.drop_seq_uniqueness()

    assert raw.execute("INSERT INTO events SELECT * FROM events WHERE seq = ?", (TARGET,)) == 1
    assert raw.rows("SELECT count(*) FROM events WHERE seq = ?", (TARGET,)) == [(2,)]

    report = _verify(built.uri)
    assert [(f.seq, f.kind) for f in report.faults] == [(TARGET, "duplicate")]
    assert str(TARGET) in report.faults[0].detail
    assert report.events == SIZE


def test_payload_deleted_without_redaction_is_reported(built: Built, raw: RawDb) -> None:
    raw.drop_append_only_triggers()

    assert raw.execute("DELETE FROM payloads WHERE seq = ?", (TARGET,)) == 1

    report = _verify(built.uri)
    assert [(f.seq, f.kind) for f in report.faults] == [(TARGET, "payload_missing")]
    assert "ledger.redacted" in report.faults[0].detail
    assert report.redacted == ()


def test_payload_removed_by_a_redaction_event_is_not_a_fault(built: Built, raw: RawDb) -> None:
    with ledger.open(built.uri) as lg:
        redaction = lg.redact(TARGET, reason="data subject request DSR-12", legal_basis="GDPR Art. 17", actor="alice")
    assert redaction.seq == SIZE

    # The triggers are all still there: they let the redaction's own
    # transaction delete the row, and refuse any other deletion.
    assert len(raw.trigger_names()) == (len(PG_TRIGGERS) if raw.postgres else len(SQLITE_TRIGGERS))
    assert raw.rows("SELECT seq FROM payloads WHERE seq = ?", (TARGET,)) == []
    with pytest.raises(raw.error, match="only be removed by a redaction event"):
        raw.execute("DELETE FROM payloads WHERE seq = ?", (TARGET + 1,))  # no redaction names this one

    with ledger.open(built.uri) as lg:
        assert lg.event(TARGET).payload is None
        assert lg.event(TARGET).hash == built.events[TARGET].hash
        report = lg.verify()
    assert report.ok, report.faults
    assert report.redacted == (TARGET,)
    assert report.events == SIZE + 1
    assert report.head == redaction.hash


def test_a_redaction_forged_past_the_rules_is_reported(built: Built, raw: RawDb) -> None:
    """The database owner appends a ledger.redacted event past the ledger's
    rules (an import path that skips them) naming the approval, then deletes
    its payload, which the trigger allows once a redaction names it. The chain
    and any checkpoint still hold (appending is a lawful extension), but the
    approval's evidence cannot be redacted by any rule: verify says so."""
    approval = next(e for e in built.events if e.type == "model.transition_approved")
    forged = {
        "target_seq": approval.seq,
        "target_type": approval.type,
        "subject": {"run_id": "r1"},
        "reason": "cleanup",
        "legal_basis": "none",
    }
    with ledger.open(built.uri) as lg:
        lg.store.append(
            [prepare(ledger.PendingEvent("ledger.redacted", forged, "mallory"))], lg._clock, enforce_rules=False
        )
    assert raw.execute("DELETE FROM payloads WHERE seq = ?", (approval.seq,)) == 1

    report = _verify(built.uri)
    assert [(f.seq, f.kind) for f in report.faults] == [(approval.seq, "redaction_invalid")]
    assert "which no rule allows: model.transition_approved payloads cannot be redacted" in report.faults[0].detail


@pytest.mark.parametrize(
    ("actor", "extra", "problem"),
    [
        (
            "mallory",
            {"target_type": "run.params_logged", "subject": {"run_id": "r1", "keys": ["eta", "max_depth"]}},
            "its actor 'mallory' was not an admin then",
        ),
        ("alice", {"target_type": "run.tags_set", "subject": {"run_id": "r1", "keys": ["x"]}}, "names the target as"),
    ],
)
def test_a_redaction_of_a_redactable_type_forged_past_the_rules_is_reported(
    built: Built, raw: RawDb, actor: str, extra: dict[str, Any], problem: str
) -> None:
    """Only INSERT and the trigger-checked DELETE, the application role's own
    grants: a redaction nobody may make (not an admin, or lying about its
    target) erases a param payload, and verify names it."""
    forged = {"target_seq": TARGET, "reason": "cleanup", "legal_basis": "none", **extra}
    with ledger.open(built.uri) as lg:
        prepared = prepare(ledger.PendingEvent("ledger.redacted", forged, actor))
        lg.store.append([prepared], lg._clock, enforce_rules=False)
    assert raw.execute("DELETE FROM payloads WHERE seq = ?", (TARGET,)) == 1  # the triggers allow it

    report = _verify(built.uri)
    assert [(f.seq, f.kind) for f in report.faults] == [(TARGET, "redaction_invalid")]
    assert problem in report.faults[0].detail


# -- the CLI reports it too -------------------------------------------------------


def mlledger_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``mlledger`` command."""
    script = Path(sys.executable).with_name("mlledger")
    command = str(script) if script.exists() else shutil.which("mlledger")
    assert command, "the mlledger console script is not installed"
    return subprocess.run([command, *args], check=False, capture_output=True, text=True, timeout=60)


def test_cli_verify_reports_the_first_fault_and_exits_1(built: Built, raw: RawDb) -> None:
    intact = mlledger_cli("--uri", built.uri, "verify", "--json")
    assert intact.returncode == 0, intact.stderr
    assert json.loads(intact.stdout)["ok"] is True

    raw.drop_append_only_triggers()
    raw.execute("UPDATE events SET actor = 'mallory' WHERE seq = ?", (TARGET,))

    result = mlledger_cli("--uri", built.uri, "verify", "--json")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    out = json.loads(result.stdout)
    assert out["ok"] is False
    assert out["events"] == SIZE
    assert out["faults"][0]["seq"] == TARGET
    assert out["faults"][0]["kind"] == "header_altered"
    assert "hash mismatch" in out["faults"][0]["detail"]

    text = mlledger_cli("--uri", built.uri, "verify")
    assert text.returncode == 1, text.stderr
    assert f"first at event {TARGET}" in text.stdout
    assert f"event {TARGET}: header altered: hash mismatch" in text.stdout
