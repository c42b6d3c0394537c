"""Redaction (DESIGN §6, the right to erasure) end to end, on SQLite and
PostgreSQL: ``lg.redact`` erases a payload in the transaction that appends
its ``ledger.redacted`` event, the chain still verifies, reads show
``[redacted]`` and the redaction, a rebuild and an as-of replay agree with
the live read models, and every rule refuses with its message, appending
nothing and erasing nothing. Then the schema 5 migration, and the
``redact`` and ``event`` commands through click's ``CliRunner``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import ledger
from cli.main import main
from ledger.encoding import canonical_json, payload_digest
from ledger.events import PendingEvent, Prepared, new_event_id
from ledger.redaction_rules import REDACTED, Redaction
from tests.integration.support import stored
from tests.property.test_rebuild import _dump

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "dpo"
PERSONAL = "Jane Roe"
DIGEST = "sha256:" + "ab" * 32
PARAMS, OLD_METRICS, LATEST_METRICS, TAGS, INPUT, DATASET, RETAG = 3, 4, 5, 6, 7, 8, 9
SIZE = 10
TIME = "2026-03-14T10:00:00.000000Z"
REDACTABLE = (
    "run.params_logged, run.metrics_logged, run.tags_set, run.input_logged, dataset.version_registered, model.tags_set"
)


def _build(lg: ledger.Ledger, *, admin: bool = True) -> None:
    """Ten events: an admin (0), a run (1, 2) whose params (3), metrics (4, 5),
    tags (6), input (7) and data version (8) hold personal data, and a later
    tag (9) that replaces one of 6's."""
    if admin:
        lg.claim_admin(actor=ADMIN)
    else:
        lg.append("experiment.created", {"experiment_id": "e0", "name": "other"}, actor="alice")
    lg.append("experiment.created", {"experiment_id": "e1", "name": "credit"}, actor="alice")
    lg.append("run.started", {"run_id": "r1", "experiment_id": "e1"}, actor="alice")
    lg.append("run.params_logged", {"run_id": "r1", "params": {"applicant": PERSONAL, "alpha": "0.1"}}, actor="alice")
    first = [
        {"key": "rmse", "value": 0.5, "step": 1, "timestamp": 1_700_000_000_000},
        {"key": "loss", "value": 0.9, "step": 1, "timestamp": 1_700_000_000_000},
    ]
    lg.append("run.metrics_logged", {"run_id": "r1", "metrics": first}, actor="alice")
    second = [{"key": "rmse", "value": 0.4, "step": 2, "timestamp": 1_700_000_000_001}]
    lg.append("run.metrics_logged", {"run_id": "r1", "metrics": second}, actor="alice")
    lg.append("run.tags_set", {"run_id": "r1", "tags": {"owner": "jane@example.com", "team": "risk"}}, actor="alice")
    source = "s3://bank/jane-roe.parquet"
    data_input = {
        "run_id": "r1",
        "name": "loans",
        "version": "v1",
        "digest": DIGEST,
        "source": source,
        "context": "training",
        "columns": [{"name": "applicant_name", "type": "str"}],
        "num_rows": 10,
    }
    lg.append("run.input_logged", data_input, actor="alice")
    data = {"name": "loans", "version": "v1", "digest": DIGEST, "source": source, "transform": PERSONAL}
    lg.append("dataset.version_registered", data, actor="alice")
    lg.append("run.tags_set", {"run_id": "r1", "tags": {"team": "fraud"}}, actor="alice")
    assert lg.size() == SIZE


@pytest.fixture
def lg(uri: str) -> Any:
    with ledger.open(uri) as opened:
        _build(opened)
        yield opened


def _snapshot(lg: ledger.Ledger) -> tuple[Any, ...]:
    """Everything a refused redaction must leave as it was."""
    return lg.size(), lg.head(), stored(lg.uri, "SELECT seq, body FROM payloads ORDER BY seq"), _dump(lg.store.engine)


def _rebuilds_the_same(lg: ledger.Ledger) -> None:
    """The live read models equal an as-of replay at the head and a rebuild."""
    live = _dump(lg.store.engine)
    assert _dump(lg.store.read_models_as_of(lg.size())) == live
    lg.rebuild()
    assert _dump(lg.store.engine) == live


def _export(lg: ledger.Ledger, path: Path) -> list[dict[str, Any]]:
    with path.open("w", encoding="utf-8", newline="\n") as sink:
        lg.export_jsonl(sink)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- the round trip -----------------------------------------------------------------


def test_a_redaction_erases_the_payload_and_keeps_the_chain(lg: ledger.Ledger, tmp_path: Path) -> None:
    target = lg.event(PARAMS)
    before_root = lg.merkle_root()
    redaction = lg.redact(PARAMS, reason="erasure request DSR-12", legal_basis="GDPR Art. 17", actor=ADMIN)

    assert (redaction.seq, redaction.type, redaction.actor) == (SIZE, "ledger.redacted", ADMIN)
    assert redaction.payload == {
        "target_seq": PARAMS,
        "target_type": "run.params_logged",
        "subject": {"run_id": "r1", "keys": ["alpha", "applicant"]},
        "reason": "erasure request DSR-12",
        "legal_basis": "GDPR Art. 17",
    }
    # The header, its digest and the chain stay; only the payload row went, in the same append.
    erased = lg.event(PARAMS)
    assert erased.payload is None
    assert (erased.header(), erased.hash) == (target.header(), target.hash)
    assert stored(lg.uri, f"SELECT seq FROM payloads WHERE seq = {PARAMS}") == []
    assert lg.merkle_root(SIZE) == before_root
    assert lg.redaction_of(PARAMS) == Redaction(
        seq=SIZE,
        target_seq=PARAMS,
        target_type="run.params_logged",
        subject={"run_id": "r1", "keys": ["alpha", "applicant"]},
        reason="erasure request DSR-12",
        legal_basis="GDPR Art. 17",
        actor=ADMIN,
        time=redaction.time,
    )
    assert lg.redaction_of(TAGS) is None
    assert [r.target_seq for r in lg.redactions()] == [PARAMS]

    report = lg.verify()
    assert report.ok, report.faults
    assert report.redacted == (PARAMS,)

    run = lg.get_run("r1")
    assert run.params == {"alpha": REDACTED, "applicant": REDACTED}
    assert run.redactions == [
        {
            "target_seq": PARAMS,
            "target_type": "run.params_logged",
            "subject": {"keys": ["alpha", "applicant"], "run_id": "r1"},
            "seq": SIZE,
            "time": redaction.time,
            "actor": ADMIN,
            "reason": "erasure request DSR-12",
            "legal_basis": "GDPR Art. 17",
        }
    ]
    assert run.to_json()["redactions"] == run.redactions
    assert [r.run_id for r in lg.search_runs("credit", filter=f"params.applicant = '{REDACTED}'")] == ["r1"]

    lines = _export(lg, tmp_path / "events.jsonl")
    assert lines[PARAMS]["payload"] is None
    assert lines[PARAMS]["payload_digest"] == target.payload_digest
    assert lines[SIZE]["payload"] == redaction.payload
    checked = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "verify_export.py"), str(tmp_path / "events.jsonl")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout == f"OK: {SIZE + 1} events, head {redaction.hash}\n"

    # The data version (event 8), not redacted here, still names her in its transform.
    kept = {table: rows for table, rows in _dump(lg.store.engine).items() if table != "dataset_versions"}
    assert PERSONAL not in json.dumps(kept)
    _rebuilds_the_same(lg)
    assert lg.get_run("r1").params == {"alpha": REDACTED, "applicant": REDACTED}


def test_the_erased_text_is_gone_from_the_sqlite_file(sqlite_uri: str) -> None:
    """Deleted rows stay readable in a SQLite file's free pages and its WAL
    unless the deletion overwrites them: a redaction does."""
    with ledger.open(sqlite_uri) as lg:
        _build(lg)
        lg.redact(PARAMS, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
        lg.redact(DATASET, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
        lg.redact(TAGS, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
        lg.redact(INPUT, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
        database = Path(make_url(sqlite_uri).database or "")
        files = [database, database.with_name(database.name + "-wal")]
        stored = b"".join(path.read_bytes() for path in files if path.exists())
    assert PERSONAL.encode() not in stored
    assert b"jane" not in stored.lower()


def test_every_redactable_tracking_type_reads_as_redacted(lg: ledger.Ledger) -> None:
    for seq in (LATEST_METRICS, TAGS, INPUT, DATASET):
        lg.redact(seq, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
    run = lg.get_run("r1")
    # The latest rmse (step 2) is gone: the latest is what remains, step 1.
    assert run.metrics == {"loss": 0.9, "rmse": 0.5}
    assert [(m.value, m.step) for m in lg.get_metric_history("r1", "rmse")] == [(0.5, 1)]
    # Event 6 wrote owner's current value; team's is event 9's.
    assert run.tags == {"owner": REDACTED, "team": "fraud"}
    assert run.inputs == [
        {
            "name": REDACTED,
            "version": REDACTED,
            "digest": REDACTED,
            "source": None,
            "context": None,
            "num_rows": None,
            "schema": None,
            "seq": INPUT,
        }
    ]
    # The data version belongs to no run: it is not among the run's redactions.
    assert [(r["target_seq"], r["target_type"], r["subject"]) for r in run.redactions] == [
        (LATEST_METRICS, "run.metrics_logged", {"keys": ["rmse"], "run_id": "r1"}),
        (TAGS, "run.tags_set", {"keys": ["owner", "team"], "run_id": "r1"}),
        (INPUT, "run.input_logged", {"run_id": "r1"}),
    ]
    dataset = lg.redaction_of(DATASET)
    assert dataset is not None
    assert (dataset.target_type, dataset.subject) == ("dataset.version_registered", {"name": "loans", "version": "v1"})
    # The data version keeps its name and version; the rest is gone.
    data = lg.dataset_version("loans", "v1")
    assert (data.digest, data.source, data.transform, data.columns, data.num_rows) == (REDACTED, None, None, None, None)
    assert (data.seq, data.redacted_by) == (DATASET, SIZE + 3)
    assert lg.verify().redacted == (LATEST_METRICS, TAGS, INPUT, DATASET)
    stored = json.dumps(_dump(lg.store.engine))
    assert "jane@example.com" not in stored
    assert "jane-roe.parquet" not in stored
    assert PERSONAL not in json.dumps(_dump(lg.store.engine)["dataset_versions"])
    _rebuilds_the_same(lg)


def test_the_past_reads_as_redacted_too(lg: ledger.Ledger) -> None:
    """As of a moment before a redaction the erased payload cannot be shown
    as it was: an as-of read shows it redacted, and never fails."""
    for seq in (PARAMS, LATEST_METRICS, TAGS, INPUT):
        lg.redact(seq, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
    at_params = lg.get_run("r1", as_of=PARAMS)
    assert at_params.params == {"alpha": REDACTED, "applicant": REDACTED}
    assert at_params.redactions == []  # not redacted yet, then
    at_metrics = lg.get_run("r1", as_of=LATEST_METRICS)
    assert at_metrics.metrics == {"loss": 0.9, "rmse": 0.5}
    assert [m.value for m in lg.get_metric_history("r1", "rmse", as_of=LATEST_METRICS)] == [0.5]
    # As of 6, both of its tags were current: both read as redacted.
    assert lg.get_run("r1", as_of=TAGS).tags == {"owner": REDACTED, "team": REDACTED}
    assert lg.get_run("r1", as_of=RETAG).tags == {"owner": REDACTED, "team": "fraud"}
    assert lg.get_run("r1", as_of=INPUT).inputs[0]["name"] == REDACTED
    for seq in range(lg.size()):
        lg.store.read_models_as_of(seq + 1).dispose()  # every moment replays
    assert len(lg.get_run("r1", as_of=SIZE + 1).redactions) == 2


def test_metrics_recompute_from_what_remains(lg: ledger.Ledger) -> None:
    lg.redact(OLD_METRICS, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
    assert lg.get_run("r1").metrics == {"rmse": 0.4}  # loss had only event 4's point
    lg.redact(LATEST_METRICS, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
    assert lg.get_run("r1").metrics == {}
    assert lg.get_metric_history("r1", "rmse") == []
    _rebuilds_the_same(lg)


def test_a_param_logged_again_after_its_redaction_is_refused(lg: ledger.Ledger) -> None:
    lg.append("run.params_logged", {"run_id": "r1", "params": {"applicant": PERSONAL, "beta": "2"}}, actor="alice")
    lg.redact(PARAMS, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
    # Event 10 repeated the first value, so it changed nothing and keeps it.
    assert lg.get_run("r1").params == {"alpha": REDACTED, "applicant": REDACTED, "beta": "2"}
    with pytest.raises(ledger.ConflictError, match=r"param 'applicant' of run 'r1' is already '\[redacted\]'"):
        lg.append("run.params_logged", {"run_id": "r1", "params": {"applicant": "John Doe"}}, actor="alice")
    _rebuilds_the_same(lg)
    lg.redact(SIZE, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
    assert lg.get_run("r1").params == {"alpha": REDACTED, "applicant": REDACTED, "beta": REDACTED}
    _rebuilds_the_same(lg)


def test_a_raw_append_redacts_exactly_like_redact(uri: str, tmp_path: Path) -> None:
    payload = {
        "target_seq": TAGS,
        "target_type": "run.tags_set",
        "subject": {"run_id": "r1", "keys": ["owner", "team"]},
        "reason": "erasure",
        "legal_basis": "GDPR Art. 17",
    }
    touched = ("run_params", "run_tags", "metric_history", "latest_metrics", "run_inputs", "redactions")
    with ledger.open(uri, clock=lambda: TIME) as lg:
        _build(lg)
        lg.append("ledger.redacted", payload, actor=ADMIN)
        raw = {table: rows for table, rows in _dump(lg.store.engine).items() if table in touched}
        assert lg.event(TAGS).payload is None
        assert lg.verify().redacted == (TAGS,)
    with ledger.open(f"sqlite:///{tmp_path / 'other.db'}", clock=lambda: TIME) as lg:
        _build(lg)
        lg.redact(TAGS, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
        assert raw == {table: rows for table, rows in _dump(lg.store.engine).items() if table in touched}


# -- the rules: each refusal appends nothing and erases nothing ------------------------


def _refused(lg: ledger.Ledger, error: type[Exception], message: str, call: Any) -> None:
    before = _snapshot(lg)
    with pytest.raises(error) as caught:
        call()
    assert str(caught.value) == message
    assert _snapshot(lg) == before


@pytest.mark.parametrize(
    ("seq", "actor", "error", "message"),
    [
        (99, ADMIN, ledger.NotFoundError, "redaction: event 99 does not exist (the ledger has 10 events)"),
        (SIZE, ADMIN, ledger.NotFoundError, "redaction: event 10 does not exist (the ledger has 10 events)"),
        (
            2,
            ADMIN,
            ledger.PolicyError,
            "policy rule 'redactable_types': event 2 (run.started) cannot be redacted: the ledger needs its payload "
            f"to enforce its rules and rebuild its state; redactable types: {REDACTABLE}",
        ),
        (
            0,
            ADMIN,
            ledger.PolicyError,
            "policy rule 'redactable_types': event 0 (actor.role_granted) cannot be redacted: the ledger needs its "
            f"payload to enforce its rules and rebuild its state; redactable types: {REDACTABLE}",
        ),
        (
            PARAMS,
            "mallory",
            ledger.PolicyError,
            "policy rule 'admin_only': only an admin can redact events; 'mallory' is not one",
        ),
    ],
)
def test_refused_redactions(lg: ledger.Ledger, seq: int, actor: str, error: type[Exception], message: str) -> None:
    _refused(lg, error, message, lambda: lg.redact(seq, reason="erasure", legal_basis="GDPR Art. 17", actor=actor))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"seq": -1}, "redaction: the event to redact is a seq (a whole number >= 0), got -1"),
        ({"seq": True}, "redaction: the event to redact is a seq (a whole number >= 0), got True"),
        ({"reason": ""}, "redaction: reason is empty: say why the payload is erased, e.g. 'erasure request DSR-12'"),
        ({"reason": "  "}, "redaction: reason is empty: say why the payload is erased, e.g. 'erasure request DSR-12'"),
        ({"legal_basis": ""}, "redaction: legal_basis is empty: name what requires the erasure, e.g. 'GDPR Art. 17'"),
    ],
)
def test_bad_arguments_are_refused(lg: ledger.Ledger, arguments: dict[str, Any], message: str) -> None:
    call = {"seq": PARAMS, "reason": "erasure", "legal_basis": "GDPR Art. 17", "actor": ADMIN, **arguments}
    seq = call.pop("seq")
    _refused(lg, ledger.ValidationError, message, lambda: lg.redact(seq, **call))


def test_an_event_is_redacted_once_and_a_redaction_never(lg: ledger.Ledger) -> None:
    lg.redact(PARAMS, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
    again = lambda: lg.redact(PARAMS, reason="again", legal_basis="GDPR Art. 17", actor=ADMIN)  # noqa: E731
    _refused(lg, ledger.ConflictError, "event 3 is already redacted by event 10", again)
    _refused(
        lg,
        ledger.PolicyError,
        "policy rule 'redactable_types': event 10 is a ledger.redacted event, the record of an erasure: "
        "it cannot be redacted",
        lambda: lg.redact(SIZE, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN),
    )


def test_without_an_admin_the_message_says_how_to_get_one(uri: str) -> None:
    with ledger.open(uri) as lg:
        _build(lg, admin=False)
        _refused(
            lg,
            ledger.PolicyError,
            "policy rule 'admin_only': only an admin can redact events; 'alice' is not one, and the ledger has no "
            "admin yet (`mlledger init` makes the actor running it the first admin; in Python, lg.claim_admin())",
            lambda: lg.redact(PARAMS, reason="erasure", legal_basis="GDPR Art. 17", actor="alice"),
        )


def _raw_redaction(**changes: Any) -> dict[str, Any]:
    return {
        "target_seq": PARAMS,
        "target_type": "run.params_logged",
        "subject": {"run_id": "r1", "keys": ["alpha", "applicant"]},
        "reason": "erasure",
        "legal_basis": "GDPR Art. 17",
        **changes,
    }


@pytest.mark.parametrize(
    ("payload", "error", "message"),
    [
        (
            _raw_redaction(target_type="run.tags_set"),
            ledger.ConflictError,
            "redaction of event 3: target_type 'run.tags_set' does not match the event's type, run.params_logged",
        ),
        (
            _raw_redaction(subject={"run_id": "r1", "keys": ["alpha"]}),
            ledger.ConflictError,
            'redaction of event 3: subject {"keys":["alpha"],"run_id":"r1"} does not match the event\'s payload '
            '(expected {"keys":["alpha","applicant"],"run_id":"r1"})',
        ),
        (
            _raw_redaction(subject={"run_id": "r2", "keys": ["alpha", "applicant"]}),
            ledger.ConflictError,
            'redaction of event 3: subject {"keys":["alpha","applicant"],"run_id":"r2"} does not match the event\'s '
            'payload (expected {"keys":["alpha","applicant"],"run_id":"r1"})',
        ),
        (
            _raw_redaction(target_seq=SIZE),
            ledger.NotFoundError,
            "redaction: event 10 does not exist (the ledger has 10 events)",
        ),
    ],
)
def test_a_raw_append_cannot_lie_about_its_target(
    lg: ledger.Ledger, payload: dict[str, Any], error: type[Exception], message: str
) -> None:
    _refused(lg, error, message, lambda: lg.append("ledger.redacted", payload, actor=ADMIN))


def test_a_raw_append_needs_a_reason_and_the_new_fields(lg: ledger.Ledger) -> None:
    with pytest.raises(
        ledger.ValidationError, match=r"\(ledger.redacted\): reason: String should have at least 1 char"
    ):
        lg.append("ledger.redacted", _raw_redaction(reason=""), actor=ADMIN)
    old_style = {"target_seq": PARAMS, "reason": "erasure", "legal_basis": "GDPR Art. 17"}
    with pytest.raises(ledger.ValidationError, match=r"\(ledger.redacted\): target_type: Field required"):
        lg.append("ledger.redacted", old_style, actor=ADMIN)
    assert lg.size() == SIZE


def test_a_payload_deleted_by_hand_cannot_be_redacted_and_is_reported(uri: str) -> None:
    with ledger.open(uri) as lg:
        _build(lg)
    engine = create_engine(uri)
    with engine.begin() as conn:  # an attacker with the owner's rights drops the guard
        if make_url(uri).get_backend_name() == "postgresql":
            conn.execute(text("DROP TRIGGER payloads_guard_delete ON payloads"))
        else:
            conn.execute(text("DROP TRIGGER payloads_no_delete"))
        conn.execute(text(f"DELETE FROM payloads WHERE seq = {PARAMS}"))
    engine.dispose()
    with ledger.open(uri) as lg:
        report = lg.verify()
        assert [(f.seq, f.kind) for f in report.faults] == [(PARAMS, "payload_missing")]
        assert lg.redaction_of(PARAMS) is None
        _refused(
            lg,
            ledger.IntegrityError,
            "redaction: event 3 has no payload row and no redaction names it: the database was altered outside "
            "mlledger (run `mlledger verify`)",
            lambda: lg.redact(PARAMS, reason="cover-up", legal_basis="none", actor=ADMIN),
        )
    result = _cli(uri, "verify")
    assert result.exit_code == 1
    assert "event 3: payload missing: the payload row is gone and no ledger.redacted event names it" in result.stdout
    result = _cli(uri, "event", str(PARAMS))
    assert result.exit_code == 1
    assert result.stdout.endswith("payload: missing, and no ledger.redacted event names it: the ledger was altered\n")


# -- registry: model tags, and metrics a promotion compared ----------------------------------


def _model_version(lg: ledger.Ledger, workdir: Path, auc: float, author: str = "alice") -> int:
    folder = workdir / f"model-{auc}"
    folder.mkdir(parents=True)
    (folder / "weights.txt").write_text(str(auc))
    with lg.start_run(experiment="credit", actor=author, capture_environment=False) as run:
        run.log_metric("auc", auc)
        run.log_metric("latency", 3.0)
        run.log_artifact(str(folder), "model")
    return lg.register_model("credit-model", run.run_id, owner="risk", actor=author).version


def test_model_tags_are_redactable(uri: str, tmp_path: Path) -> None:
    with ledger.open(uri, artifact_root=tmp_path / "artifacts") as lg:
        lg.claim_admin(actor=ADMIN)
        _model_version(lg, tmp_path, 0.8)
        lg.set_model_tags("credit-model", {"reviewer": PERSONAL, "risk": "high"}, version=1, actor="alice")
        version_tags = lg.size() - 1
        lg.set_model_tags("credit-model", {"risk": "low"}, version=1, actor="alice")
        lg.set_model_tags("credit-model", {"contact": PERSONAL}, actor="alice")
        model_tags = lg.size() - 1
        redaction = lg.redact(version_tags, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
        assert redaction.payload is not None
        assert redaction.payload["subject"] == {"name": "credit-model", "version": 1, "keys": ["reviewer", "risk"]}
        lg.redact(model_tags, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
        assert lg.get_model_version("credit-model", 1).tags == {"reviewer": REDACTED, "risk": "low"}
        assert lg.get_model("credit-model").tags == {"contact": REDACTED}
        assert [v.version for v in lg.search_model_versions(f"tags.reviewer = '{REDACTED}'")] == [1]
        summaries = [entry.summary for entry in lg.model_history("credit-model") if entry.seq == version_tags]
        assert summaries == ["tags set on version 1: reviewer, risk"]
        assert lg.verify().redacted == (version_tags, model_tags)
        assert PERSONAL not in json.dumps(_dump(lg.store.engine))
        before = lg.registry.snapshot()
        _rebuilds_the_same(lg)
        assert lg.registry.snapshot() == before
        assert lg.registry_as_of(version_tags).get_model_version("credit-model", 1).tags == {
            "reviewer": REDACTED,
            "risk": REDACTED,
        }


def test_metrics_a_promotion_compared_are_kept(uri: str, tmp_path: Path) -> None:
    with ledger.open(uri, artifact_root=tmp_path / "artifacts") as lg:
        lg.claim_admin(actor=ADMIN)
        _model_version(lg, tmp_path, 0.8)
        metrics = [e.seq for e in lg.events() if e.type == "run.metrics_logged"]
        decision = lg.promote_if_better("credit-model", 1, metric="auc", mode="max", to_stage="Staging", actor="alice")
        assert decision.outcome == "promoted"
        evaluation = next(e.seq for e in lg.events() if e.type == "model.promotion_evaluated")
        run_id = lg.get_model_version("credit-model", 1).run_id
        _refused(
            lg,
            ledger.PolicyError,
            f"policy rule 'compared_metrics': event {metrics[0]} logged metric 'auc' of run {run_id}, which "
            f"promote_if_better compared in event {evaluation} (model 'credit-model'): the evidence of a promotion "
            "decision cannot be redacted",
            lambda: lg.redact(metrics[0], reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN),
        )
        lg.redact(metrics[1], reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)  # latency: never compared
        assert lg.get_run(run_id).metrics == {"auc": 0.8}
        before = lg.registry.snapshot()
        _rebuilds_the_same(lg)
        assert lg.registry.snapshot() == before


# -- the schema 5 migration -----------------------------------------------------------------


def _legacy_redaction(lg: ledger.Ledger, target: int) -> None:
    """A ``ledger.redacted`` event as schema version 1 wrote it (no
    target_type, no subject), appended raw before redaction had rules, its
    target's payload row then deleted by hand (the trigger allowed it)."""
    payload = {"target_seq": target, "reason": "old erasure", "legal_basis": "GDPR Art. 17"}
    jcs = canonical_json(payload)
    old = Prepared(new_event_id(), "ledger.redacted", 1, ADMIN, payload, jcs, payload_digest(jcs))
    lg.store.append([old], lg._clock, enforce_rules=False)
    engine = create_engine(lg.uri)
    with engine.begin() as conn:
        conn.execute(text(f"DELETE FROM payloads WHERE seq = {target}"))
    engine.dispose()


def test_migrating_a_schema_4_ledger(uri: str) -> None:
    with ledger.open(uri) as lg:
        _build(lg)
        lg.redact(PARAMS, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
        _legacy_redaction(lg, TAGS)  # 11
        # Before this version, the live read models kept the erased tags.
        assert lg.get_run("r1").tags == {"owner": "jane@example.com", "team": "fraud"}
    engine = create_engine(uri)
    with engine.begin() as conn:  # back to schema 4: no redactions table
        conn.execute(text("DROP TABLE redactions"))
        conn.execute(text("UPDATE ledger_meta SET value = '4' WHERE key = 'schema_version'"))
    engine.dispose()
    with pytest.raises(ledger.StorageError, match="has schema version 4, this mlledger uses 6"):
        ledger.open(uri, create=False)
    with ledger.open(uri) as lg:
        run = lg.get_run("r1")
        assert run.params == {"alpha": REDACTED, "applicant": REDACTED}
        # The old redaction recorded no subject: its tags are left out, not shown.
        assert run.tags == {"team": "fraud"}
        assert [r["target_seq"] for r in run.redactions] == [PARAMS]
        assert [(r.target_seq, r.target_type, r.subject) for r in lg.redactions()] == [
            (PARAMS, "run.params_logged", {"run_id": "r1", "keys": ["alpha", "applicant"]}),
            (TAGS, "run.tags_set", None),
        ]
        assert stored(uri, "SELECT target_seq, seq, subject FROM redactions ORDER BY target_seq") == [
            (PARAMS, SIZE, '{"keys":["alpha","applicant"],"run_id":"r1"}'),
            (TAGS, SIZE + 1, None),
        ]
        assert lg.verify().redacted == (PARAMS, TAGS)
        _rebuilds_the_same(lg)
        with pytest.raises(ledger.ConflictError, match=r"^event 6 is already redacted by event 11$"):
            lg.redact(TAGS, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)


def test_migrating_a_schema_4_ledger_without_redactions_keeps_its_read_models(uri: str) -> None:
    with ledger.open(uri) as lg:
        _build(lg)
        before = _dump(lg.store.engine)
    engine = create_engine(uri)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE redactions"))
        conn.execute(text("UPDATE ledger_meta SET value = '4' WHERE key = 'schema_version'"))
    engine.dispose()
    with ledger.open(uri) as lg:
        assert _dump(lg.store.engine) == before
        assert stored(uri, "SELECT value FROM ledger_meta WHERE key = 'schema_version'") == [("6",)]


# -- the command line -------------------------------------------------------------------


def _cli(uri: str, *args: str, stdin: str | None = None) -> Result:
    result = CliRunner().invoke(main, ["--uri", uri, *args], input=stdin, prog_name="mlledger")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def test_cli_redact_and_event(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLLEDGER_ACTOR", ADMIN)
    with ledger.open(uri) as lg:
        _build(lg)
    args = ("redact", str(PARAMS), "--reason", "erasure request DSR-12", "--legal-basis", "GDPR Art. 17")

    declined = _cli(uri, *args, stdin="n\n")
    assert declined.exit_code == 1
    assert "Erase the payload of event 3 (run.params_logged by alice at " in declined.stderr
    assert "Aborted!" in declined.stderr
    with ledger.open(uri) as lg:
        assert lg.size() == SIZE and lg.event(PARAMS).payload is not None

    confirmed = _cli(uri, *args, stdin="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert confirmed.stdout == "redacted event 3 by event 10\n"

    refused = _cli(uri, "redact", "2", "--reason", "r", "--legal-basis", "l", "--yes")
    assert refused.exit_code == 2
    assert refused.stdout == ""
    assert refused.stderr == (
        "mlledger: error: policy rule 'redactable_types': event 2 (run.started) cannot be redacted: the ledger "
        f"needs its payload to enforce its rules and rebuild its state; redactable types: {REDACTABLE}\n"
    )
    again = _cli(uri, *args, "--yes")
    assert (again.exit_code, again.stderr) == (2, "mlledger: error: event 3 is already redacted by event 10\n")
    with ledger.open(uri) as lg:
        redaction = lg.event(SIZE)
        assert lg.size() == SIZE + 1

    shown = _cli(uri, "event", str(PARAMS))
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0] == "event 3"
    assert "  type: run.params_logged" in lines
    assert "  actor: alice" in lines
    assert lines[-1] == (
        f"payload: redacted by event 10 on {redaction.time} by {ADMIN} "
        "(reason: erasure request DSR-12, legal basis: GDPR Art. 17)"
    )
    document = json.loads(_cli(uri, "event", str(PARAMS), "--json").stdout)
    assert document["payload"] is None
    assert document["type"] == "run.params_logged"
    assert document["redaction"] == {
        "seq": SIZE,
        "target_seq": PARAMS,
        "target_type": "run.params_logged",
        "subject": {"run_id": "r1", "keys": ["alpha", "applicant"]},
        "reason": "erasure request DSR-12",
        "legal_basis": "GDPR Art. 17",
        "actor": ADMIN,
        "time": redaction.time,
    }
    tags = json.loads(_cli(uri, "event", str(TAGS), "--json").stdout)
    assert tags["payload"] == {"run_id": "r1", "tags": {"owner": "jane@example.com", "team": "risk"}}
    assert tags["redaction"] is None
    assert '"owner": "jane@example.com"' in _cli(uri, "event", str(TAGS)).stdout
    missing = _cli(uri, "event", "99")
    assert (missing.exit_code, missing.stderr) == (2, "mlledger: error: event 99 does not exist\n")

    verified = _cli(uri, "verify")
    assert verified.exit_code == 0
    assert verified.stdout.startswith("ok: 11 events intact, 1 redacted payloads")
    shown_run = _cli(uri, "runs", "show", "r1")
    assert "  applicant: [redacted]" in shown_run.stdout
    assert '"target_seq": 3' in shown_run.stdout


def test_cli_redact_without_an_admin(sqlite_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLLEDGER_ACTOR", "alice")
    with ledger.open(sqlite_uri) as lg:
        _build(lg, admin=False)
    result = _cli(sqlite_uri, "redact", str(PARAMS), "--reason", "r", "--legal-basis", "l", "--yes")
    assert result.exit_code == 2
    assert "the ledger has no admin yet (`mlledger init` makes the actor running it the first admin" in result.stderr
    assert _cli(sqlite_uri, "init").exit_code == 0  # alice becomes the admin
    result = _cli(sqlite_uri, "redact", str(PARAMS), "--reason", "r", "--legal-basis", "l", "--yes")
    assert result.stdout == "redacted event 3 by event 11\n"


def _head(uri: str) -> tuple[int, str | None]:
    with ledger.open(uri) as lg:
        head = lg.head()
        return lg.size(), None if head is None else head.hash


def _data_version_note(name: str, seq: int) -> str:
    return (
        f"note: data version {name} (event {seq}) also names this data; redact it too if its source or schema is "
        f"personal data (its name and version stay either way): mlledger redact {seq} --reason 'erasure request "
        "DSR-12' --legal-basis 'GDPR Art. 17'\n"
    )


def test_cli_redact_an_input_notes_the_data_version_that_names_it(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's input and the registration of its data version may hold the
    same facts (``log_input`` registers an unregistered version from them):
    redacting the input says so, after the redaction, on stderr."""
    monkeypatch.setenv("MLLEDGER_ACTOR", ADMIN)
    monkeypatch.setenv("MLLEDGER_CAPTURE_ENV", "0")
    with ledger.open(uri) as lg:
        _build(lg)  # input 7 of loans@v1, which event 8 registers with the same facts
        with lg.start_run(actor="alice") as run:
            run.log_input("applicants", "2026-03", DIGEST, source="s3://bank/jane-roe/2026-03.parquet")
            logged = lg.size() - 1  # registered by logged - 1, in the same batch
            run.log_input("applicants", "2026-03", DIGEST, context="test")
            linked = lg.size() - 1
            lg.append("run.input_logged", {"run_id": run.run_id, "name": "never", "version": "1", "digest": DIGEST})
            unregistered = lg.size() - 1
    args = ("--reason", "erasure request DSR-12", "--legal-basis", "GDPR Art. 17", "--yes")

    size, head = _head(uri)
    refused = _cli(uri, "redact", str(logged), *args, "--actor", "mallory")
    assert (refused.exit_code, refused.stdout) == (2, "")
    assert refused.stderr == (
        "mlledger: error: policy rule 'admin_only': only an admin can redact events; 'mallory' is not one\n"
    )
    assert _head(uri) == (size, head)

    redacted = _cli(uri, "redact", str(logged), *args)
    assert (redacted.exit_code, redacted.stdout) == (0, f"redacted event {logged} by event {size}\n")
    assert redacted.stderr == _data_version_note("applicants@2026-03", logged - 1)
    with ledger.open(uri) as lg:
        assert lg.size() == size + 1 and lg.event(logged).payload is None
        # The note is advice: the registration keeps its facts until someone redacts it.
        assert lg.dataset_version("applicants", "2026-03").source == "s3://bank/jane-roe/2026-03.parquet"

    # Any registration of the input's version, not only one of the same batch.
    redacted = _cli(uri, "redact", str(INPUT), *args)
    assert (redacted.exit_code, redacted.stderr) == (0, _data_version_note("loans@v1", DATASET))
    # No note for a registration's own redaction, for an input whose
    # registration is redacted, or for an input of a version registered nowhere.
    for seq in (DATASET, logged - 1, linked, unregistered):
        redacted = _cli(uri, "redact", str(seq), *args)
        assert (redacted.exit_code, redacted.stderr) == (0, ""), redacted.output
    assert _head(uri)[0] == size + 6


def test_pending_events_in_one_batch(lg: ledger.Ledger) -> None:
    """A redaction may erase an event appended in the same batch (its metric
    rows, buffered by the projector, are written before it runs)."""
    metrics = {"run_id": "r1", "metrics": [{"key": "rmse", "value": 0.1, "step": 9, "timestamp": 1}]}
    redaction = {
        "target_seq": SIZE,
        "target_type": "run.metrics_logged",
        "subject": {"run_id": "r1", "keys": ["rmse"]},
        "reason": "erasure",
        "legal_basis": "GDPR Art. 17",
    }
    lg.append_many(
        [PendingEvent("run.metrics_logged", metrics, "alice"), PendingEvent("ledger.redacted", redaction, ADMIN)]
    )
    assert lg.get_run("r1").metrics == {"loss": 0.9, "rmse": 0.4}
    assert lg.event(SIZE).payload is None
    assert lg.verify().redacted == (SIZE,)
    _rebuilds_the_same(lg)
