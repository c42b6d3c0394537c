"""The registry service end to end on both backends: time travel by seq and
by time, search, history, signed approvals re-checked by verify, and the
schema migration that builds the registry read models from old events."""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import ledger
from ledger.events import PendingEvent, new_event_id, prepare
from ledger.governance import artifact_digest
from ledger.keys import generate_private_key, key_id, public_key_b64
from ledger.registry_views import RegistryView
from ledger.store import registry_models
from ledger.store.projector import Projector
from ledger.store.read_models import ReadModel

REGISTRY_TABLES = [model.__tablename__ for model in vars(registry_models).values() if hasattr(model, "__tablename__")]


def _version(lg: ledger.Ledger, workdir: Path, model: str, score: float, author: str = "alice") -> int:
    folder = workdir / f"{model}-{score}"
    folder.mkdir(parents=True)
    (folder / "weights.txt").write_text(str(score))
    with lg.start_run(actor=author, capture_environment=False) as run:
        run.log_metric("auc", score)
        run.log_artifact(str(folder), "model")
    return lg.register_model(model, run.run_id, owner="team-risk", actor=author).version


@pytest.fixture
def lg(uri: str, tmp_path: Path) -> ledger.Ledger:
    with ledger.open(uri, artifact_root=tmp_path / "artifacts") as opened:
        opened.claim_admin(actor="carol")
        opened.grant_role("bob", "approver", actor="carol")
        yield opened


def _promote(lg: ledger.Ledger, model: str, version: int) -> None:
    request = lg.request_transition(model, version, "Production", reason="better", actor="alice")
    lg.approve_transition(request.request_id, "ok", actor="bob")


def test_registry_as_of_a_seq_a_time_and_a_datetime(lg: ledger.Ledger, tmp_path: Path) -> None:
    _version(lg, tmp_path, "credit", 0.7)
    _promote(lg, "credit", 1)
    first = lg.head()
    assert first is not None
    _version(lg, tmp_path, "credit", 0.8)
    _promote(lg, "credit", 2)
    assert lg.registry.version_in_stage("credit", "Production") == 2
    assert lg.registry.get_model_version("credit", 1).stage == "Archived"
    then = lg.registry_as_of(first.time)
    assert then.version_in_stage("credit", "Production") == 1
    assert then.get_model_version("credit", 1).stage == "Production"
    with pytest.raises(ledger.NotFoundError, match=r"model 'credit' has no version 2 as of event \d+"):
        then.get_model_version("credit", 2)
    moment = datetime.fromisoformat(first.time.replace("Z", "+00:00"))
    assert lg.registry_as_of(moment).version_in_stage("credit", "Production") == 1
    assert lg.registry_as_of(first.seq).version_in_stage("credit", "Production") == 1
    with pytest.raises(ledger.NotFoundError, match=r"model 'credit' is not registered as of event -1"):
        lg.registry_as_of("2000-01-01T00:00:00Z").version_in_stage("credit", "Production")
    with pytest.raises(ledger.ValidationError, match="is neither a seq nor an RFC 3339 time"):
        lg.registry_as_of("last tuesday")


def test_the_time_search_agrees_with_a_scan(lg: ledger.Ledger, tmp_path: Path) -> None:
    for score in (0.1, 0.2, 0.3):
        _version(lg, tmp_path, "m", score)
    times = [event.time for event in lg.events()]
    probes = [*times, "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z", times[3][:-2] + "0Z"]
    for probe in probes:
        expected = max((i for i, t in enumerate(times) if t <= probe), default=-1)
        assert lg.store.last_seq_at(probe) == expected, probe


def test_search_model_versions(lg: ledger.Ledger, tmp_path: Path) -> None:
    for model, score in (("credit", 0.7), ("credit", 0.8), ("fraud", 0.9)):
        _version(lg, tmp_path, model, score)
    lg.set_model_tags("credit", {"risk_tier": "high"}, 2, actor="alice")
    _promote(lg, "credit", 2)

    def found(expression: str) -> list[tuple[str, int]]:
        return [(v.name, v.version) for v in lg.search_model_versions(expression)]

    assert found("name = 'credit'") == [("credit", 1), ("credit", 2)]
    assert found("stage = 'Production'") == [("credit", 2)]
    assert found("tags.risk_tier = 'high'") == [("credit", 2)]
    assert found("version > 1") == [("credit", 2)]
    assert found("name LIKE 'fr%'") == [("fraud", 1)]
    assert found("name IN ('fraud', 'none')") == [("fraud", 1)]
    assert found("") == [("credit", 1), ("credit", 2), ("fraud", 1)]
    with pytest.raises(ledger.ValidationError, match=r"unknown key 'metrics\.auc'"):
        lg.search_model_versions("metrics.auc > 1")


def test_model_history_lists_every_change_in_order(lg: ledger.Ledger, tmp_path: Path) -> None:
    _version(lg, tmp_path, "credit", 0.7)
    lg.transition_stage("credit", 1, "Staging", reason="validation", actor="alice")
    _promote(lg, "credit", 1)
    lg.set_alias("credit", "champion", 1, actor="alice")
    lg.record_deployment("credit", 1, "scoring-api", "prod", actor="dave")
    history = lg.model_history("credit")
    assert [h.type for h in history] == [
        "model.registered",
        "model.version_created",
        "model.stage_changed",
        "model.transition_requested",
        "model.transition_approved",
        "model.stage_changed",
        "model.alias_set",
        "model.deployed",
    ]
    assert [h.seq for h in history] == sorted(h.seq for h in history)
    assert history[2].reason == "validation" and history[2].summary == "version 1: None → Staging"
    assert history[5].actor == "bob" and "Staging → Production via request" in history[5].summary
    assert history[7].summary == "version 1 deployed to scoring-api (prod)"
    assert lg.registry.deployment("scoring-api", "prod") == ("credit", 1)


def test_signed_approvals_are_checked_again_by_verify(lg: ledger.Ledger, tmp_path: Path) -> None:
    key = generate_private_key()
    assert lg.register_key(key, actor="bob") == key_id("bob", public_key_b64(key))
    _version(lg, tmp_path, "credit", 0.7)
    lg.set_policy("credit", signed_approvals=True, actor="carol")
    request = lg.request_transition("credit", 1, "Production", actor="alice")
    approved = lg.approve_transition(request.request_id, "signed", actor="bob", signing_key=key)
    assert (
        approved.status == "approved" and approved.signature and approved.key_id == key_id("bob", public_key_b64(key))
    )
    report = lg.verify()
    assert report.ok and report.signatures == 1

    # A forged approval, written past the rules (as someone with database
    # access could): the chain is intact, the signature is not.
    _version(lg, tmp_path, "credit", 0.8)
    second = lg.request_transition("credit", 2, "Production", actor="alice")
    bogus = base64.b64encode(key.sign(b"something else")).decode()
    payload = {"request_id": second.request_id, "comment": None, "signature": bogus, "key_id": approved.key_id}
    forged = prepare(PendingEvent("model.transition_approved", payload, "bob", new_event_id()))
    lg.store.append([forged], lg._clock, enforce_rules=False)
    report = lg.verify()
    assert not report.ok
    head = lg.head()
    assert head is not None
    assert [(f.seq, f.kind) for f in report.faults] == [(head.seq, "signature_invalid")]
    assert "does not verify over request" in report.faults[0].detail


def test_migrating_a_schema_2_ledger_builds_the_registry_from_its_events(uri: str, tmp_path: Path) -> None:
    with ledger.open(uri, artifact_root=tmp_path / "artifacts") as lg:
        lg.claim_admin(actor="carol")
        lg.grant_role("bob", "approver", actor="carol")
        _version(lg, tmp_path, "credit", 0.7)
        _promote(lg, "credit", 1)
        before = lg.registry.snapshot()
    engine = create_engine(uri)
    with engine.begin() as conn:  # back to schema 2: no registry tables
        for table in REGISTRY_TABLES:
            conn.execute(text(f"DROP TABLE {table}"))
        conn.execute(text("UPDATE ledger_meta SET value = '2' WHERE key = 'schema_version'"))
    engine.dispose()
    with pytest.raises(ledger.StorageError, match="has schema version 2, this mlledger uses 6"):
        ledger.open(uri, create=False)
    with ledger.open(uri, artifact_root=tmp_path / "artifacts") as lg:
        assert lg.registry.snapshot() == before
        assert lg.verify().ok


def test_a_replay_fills_in_fields_older_payloads_lack() -> None:
    """Events stored before a field existed (here: no ``evidence``,
    ``description`` or ``tags``) replay with the field's default, as a
    migration or rebuild of an older ledger does."""
    engine = create_engine("sqlite://")
    ReadModel.metadata.create_all(engine)
    raw = engine.raw_connection()
    cursor = raw.cursor()
    cursor.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, db_user TEXT, hash TEXT, id TEXT)")
    digest = "ab" * 32
    time = "2026-01-01T00:00:00Z"
    legacy = [
        ("experiment.created", {"experiment_id": "e1", "name": "e", "tags": {}}),
        (
            "run.started",
            {
                "run_id": "r1",
                "experiment_id": "e1",
                "run_name": None,
                "parent_run_id": None,
                "tags": {},
                "environment": None,
            },
        ),
        ("run.artifact_logged", {"run_id": "r1", "path": "model/m.pkl", "sha256": digest, "size": 1}),
        ("run.finished", {"run_id": "r1", "status": "FINISHED"}),
        ("model.registered", {"name": "m", "owner": None}),
        (
            "model.version_created",
            {
                "name": "m",
                "version": 1,
                "run_id": "r1",
                "artifact_path": "model",
                "artifact_digest": artifact_digest({"model/m.pkl": digest}),
            },
        ),
        ("model.transition_requested", {"request_id": "q1", "name": "m", "version": 1, "to_stage": "Staging"}),
    ]
    for seq, _ in enumerate(legacy):
        cursor.execute("INSERT INTO events (seq, db_user, hash, id) VALUES (?, NULL, ?, ?)", (seq, "0" * 64, str(seq)))
    events = [(seq, kind, time, "alice", payload) for seq, (kind, payload) in enumerate(legacy)]
    assert Projector("?").apply(cursor, events, strict=False) == 0  # nothing skipped
    raw.commit()
    view = RegistryView(engine, "?")
    assert view.get_model_version("m", 1).run_id == "r1"
    assert [(r.request_id, r.status, r.evidence) for r in view.requests("m")] == [("q1", "pending", None)]
