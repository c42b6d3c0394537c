"""The model registry's rules, attacked on a real SQLite file and a real
PostgreSQL database: every refusal through the service and through raw
``Ledger.append`` (which must not bypass a rule) raises the right class with
the words users see and appends nothing (same head, same registry); the
positive cases show each rule lets valid actions through."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import ledger
from ledger import ConflictError, NotFoundError, PendingEvent, PolicyError, ValidationError
from ledger.governance import artifact_digest
from ledger.keys import generate_private_key, key_id, private_key_pem, public_key_b64, sign_approval, verify_approval

MODEL = "credit"


@pytest.fixture
def lg(uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ledger.Ledger]:
    monkeypatch.setenv("MLLEDGER_CAPTURE_ENV", "0")
    with ledger.open(uri, artifact_root=tmp_path / "artifacts") as opened:
        yield opened


# -- helpers -------------------------------------------------------------------


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _run(
    lg: ledger.Ledger,
    *,
    author: str = "alice",
    metrics: dict[str, float] | None = None,
    status: str = "FINISHED",
    files: Sequence[str] = ("model/model.pkl",),
) -> str:
    """A run by ``author`` with ``metrics`` and artifacts at ``files``, ended with ``status``."""
    run = lg.start_run(experiment="registry", actor=author)
    if metrics:
        run.log_metrics(metrics)
    for path in files:
        payload = {"run_id": run.run_id, "path": path, "sha256": _sha(run.run_id + path), "size": 1}
        lg.append("run.artifact_logged", payload, actor=author)
    if status != "RUNNING":
        run.end(status)  # type: ignore[arg-type]
    return run.run_id


def _model(
    lg: ledger.Ledger, rmse: Sequence[float | None] = (3.0,), *, name: str = MODEL, author: str = "alice"
) -> list[str]:
    """Register one version of ``name`` per value of ``rmse`` (None: no metric); the source run ids."""
    runs = []
    for value in rmse:
        run_id = _run(lg, author=author, metrics=None if value is None else {"rmse": value})
        lg.register_model(name, run_id, actor=author)
        runs.append(run_id)
    return runs


def _govern(lg: ledger.Ledger, *approvers: str) -> None:
    """``root`` claims admin and makes ``approvers`` (default bob) approvers."""
    assert lg.claim_admin(actor="root") is True
    for approver in approvers or ("bob",):
        lg.grant_role(approver, "approver", actor="root")


def _no_approvals(lg: ledger.Ledger, name: str = MODEL) -> None:
    lg.set_policy(name, approval_stages=[], actor="root")


def _promote(lg: ledger.Ledger, version: int, *, requester: str = "carol", approver: str = "bob") -> Any:
    """Move ``version`` to Production the governed way."""
    request = lg.request_transition(MODEL, version, "Production", actor=requester)
    return lg.approve_transition(request.request_id, actor=approver)


def _state(lg: ledger.Ledger) -> tuple[Any, int, dict[str, Any]]:
    return lg.head(), lg.size(), lg.registry.snapshot()


@contextmanager
def _refused(lg: ledger.Ledger, error: type[Exception], message: str) -> Iterator[None]:
    """The block raises ``error`` matching ``message`` (a literal) and appends nothing."""
    before = _state(lg)
    with pytest.raises(error, match=re.escape(message)):
        yield
    assert _state(lg) == before


def _stage(lg: ledger.Ledger, version: int, name: str = MODEL) -> str:
    return lg.get_model_version(name, version).stage


def _last(lg: ledger.Ledger, count: int) -> list[Any]:
    size = lg.size()
    return list(lg.events(size - count, size))


def _change(version: int, from_stage: str, to_stage: str, **fields: Any) -> dict[str, Any]:
    """A raw model.stage_changed payload."""
    payload: dict[str, Any] = {
        "name": MODEL,
        "version": version,
        "from_stage": from_stage,
        "to_stage": to_stage,
        "archived_versions": [],
        "reason": None,
        "request_id": None,
        "evidence": None,
    }
    return payload | fields


# -- versions pin their run and artifacts --------------------------------------


def test_a_version_pins_its_run_and_the_digest_of_its_artifacts(lg: ledger.Ledger, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"a")
    (folder / "sub" / "b.bin").write_bytes(b"b")
    (tmp_path / "notes.txt").write_text("not part of the model")
    with lg.start_run(actor="alice") as run:
        run.log_artifact(str(folder), artifact_path="model")
        run.log_artifact(str(tmp_path / "notes.txt"), artifact_path="model2")
    logged = {a["path"]: a["sha256"] for a in lg.get_run(run.run_id).artifacts}
    expected = artifact_digest({p: d for p, d in logged.items() if p.startswith("model/")})

    first = lg.register_model(MODEL, run.run_id, owner="risk-team", actor="alice")
    second = lg.register_model(MODEL, run.run_id, artifact_path="model2", actor="dave")

    assert (first.version, first.run_id, first.artifact_path) == (1, run.run_id, "model")
    assert first.artifact_digest == expected
    assert first.stage == "None" and first.creator == "alice"
    assert second.version == 2 and second.artifact_digest == artifact_digest(
        {"model2/notes.txt": logged["model2/notes.txt"]}
    )
    assert lg.get_model(MODEL).owner == "risk-team" and lg.get_model(MODEL).latest_version == 2
    created = [e for e in lg.events() if e.type == "model.version_created"]
    assert [(e.payload["version"], e.payload["artifact_digest"]) for e in created] == [
        (1, expected),
        (2, second.artifact_digest),
    ]


def test_registration_refusals_append_nothing(lg: ledger.Ledger) -> None:
    lonely = _run(lg, files=("model2/weights.bin",))  # 'model2/…' is not under 'model'
    unfinished = {status: _run(lg, status=status) for status in ("RUNNING", "FAILED", "KILLED")}
    for existing in (False, True):  # a new model (two events planned) and an existing one
        if existing:
            _model(lg)
        with _refused(lg, NotFoundError, "run 'nope' does not exist"):
            lg.register_model(MODEL, "nope", actor="alice")
        with _refused(lg, NotFoundError, f"run {lonely!r} has no artifact at 'model'"):
            lg.register_model(MODEL, lonely, actor="alice")
        for status, run_id in unfinished.items():
            message = (
                f"policy rule 'run_statuses': run {run_id!r} is {status}; model {MODEL!r} registers versions only "
                "from FINISHED runs"
            )
            with _refused(lg, PolicyError, message):
                lg.register_model(MODEL, run_id, actor="alice")
    assert lg.get_model(MODEL).latest_version == 1
    run_id = _run(lg)
    lg.register_model("fraud", run_id, owner="risk", actor="alice")
    assert lg.register_model("fraud", run_id, owner="risk", actor="bob").version == 2  # the same owner is fine
    with _refused(lg, ValidationError, "model 'fraud' is owned by 'risk'; registering a version cannot change that"):
        lg.register_model("fraud", run_id, owner="mallory", actor="mallory")


def test_the_policy_decides_which_run_statuses_may_be_registered(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg)
    policy = lg.set_policy(MODEL, run_statuses=["FINISHED", "FAILED"], actor="root")
    assert policy.run_statuses == ("FINISHED", "FAILED") and policy.approval_stages == ("Production",)
    failed = _run(lg, status="FAILED")
    assert lg.register_model(MODEL, failed, actor="alice").version == 2
    running = _run(lg, status="RUNNING")
    with _refused(
        lg,
        PolicyError,
        f"run {running!r} is RUNNING; model 'credit' registers versions only from FINISHED or FAILED runs",
    ):
        lg.register_model(MODEL, running, actor="alice")
    with _refused(lg, ValidationError, "run_statuses"):
        lg.set_policy(MODEL, run_statuses=["DONE"], actor="root")


def test_forged_version_events_are_refused(lg: ledger.Ledger) -> None:
    (run_id,) = _model(lg)
    running = _run(lg, status="RUNNING")
    good = lg.get_model_version(MODEL, 1)

    def created(**fields: Any) -> dict[str, Any]:
        payload = {
            "name": MODEL,
            "version": 2,
            "run_id": run_id,
            "artifact_path": "model",
            "artifact_digest": good.artifact_digest,
            "description": None,
            "tags": {},
        }
        return payload | fields

    forged = "sha256:" + "0" * 64
    with _refused(
        lg,
        ConflictError,
        f"artifact digest {forged} does not match the artifacts logged by run {run_id!r} at 'model' ({good.artifact_digest})",
    ):
        lg.append("model.version_created", created(artifact_digest=forged), actor="mallory")
    with _refused(lg, ConflictError, "model 'credit': the next version is 2, not 3"):
        lg.append("model.version_created", created(version=3), actor="mallory")
    with _refused(lg, ConflictError, "model 'credit': the next version is 2, not 1"):
        lg.append("model.version_created", created(version=1), actor="mallory")
    with _refused(lg, NotFoundError, "model 'ghost' is not registered"):
        lg.append("model.version_created", created(name="ghost", version=1), actor="mallory")
    with _refused(lg, NotFoundError, "run 'nope' does not exist"):
        lg.append("model.version_created", created(run_id="nope"), actor="mallory")
    with _refused(lg, NotFoundError, f"run {run_id!r} has no artifact at 'elsewhere'"):
        lg.append("model.version_created", created(artifact_path="elsewhere"), actor="mallory")
    with _refused(lg, PolicyError, f"policy rule 'run_statuses': run {running!r} is RUNNING"):
        lg.append("model.version_created", created(run_id=running), actor="mallory")
    with _refused(lg, ConflictError, "model 'credit' is already registered"):
        lg.append("model.registered", {"name": MODEL, "owner": "mallory"}, actor="mallory")
    lg.append("model.version_created", created(), actor="dave")  # the honest event goes through
    assert lg.get_model_version(MODEL, 2).artifact_digest == good.artifact_digest


# -- unknown names, bad arguments, no-op transitions ---------------------------


def test_unknown_names_and_bad_arguments_are_clear_errors(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg, (3.0, 2.0))
    no_model = "model 'nope' is not registered"
    no_version = "model 'credit' has no version 9 (latest: 2)"
    calls: list[tuple[type[Exception], str, Any]] = [
        (NotFoundError, no_model, lambda: lg.transition_stage("nope", 1, "Staging", actor="dave")),
        (NotFoundError, no_version, lambda: lg.transition_stage(MODEL, 9, "Staging", actor="dave")),
        (NotFoundError, no_model, lambda: lg.request_transition("nope", 1, "Production", actor="dave")),
        (NotFoundError, no_version, lambda: lg.request_transition(MODEL, 9, "Production", actor="dave")),
        (NotFoundError, no_model, lambda: lg.promote_if_better("nope", 1, "rmse", actor="dave")),
        (NotFoundError, no_version, lambda: lg.promote_if_better(MODEL, 9, "rmse", actor="dave")),
        (NotFoundError, no_model, lambda: lg.set_alias("nope", "champion", 1, actor="dave")),
        (NotFoundError, no_version, lambda: lg.set_alias(MODEL, "champion", 9, actor="dave")),
        (NotFoundError, no_model, lambda: lg.delete_alias("nope", "champion", actor="dave")),
        (
            NotFoundError,
            "model 'credit' has no alias 'champion'",
            lambda: lg.delete_alias(MODEL, "champion", actor="dave"),
        ),
        (NotFoundError, no_model, lambda: lg.record_deployment("nope", 1, "api", "prod", actor="dave")),
        (NotFoundError, no_version, lambda: lg.record_deployment(MODEL, 9, "api", "prod", actor="dave")),
        (NotFoundError, no_model, lambda: lg.set_model_tags("nope", {"a": "1"}, actor="dave")),
        (NotFoundError, no_version, lambda: lg.set_model_tags(MODEL, {"a": "1"}, version=9, actor="dave")),
        (NotFoundError, "transition request nope does not exist", lambda: lg.approve_transition("nope", actor="bob")),
        (NotFoundError, "transition request nope does not exist", lambda: lg.reject_transition("nope", actor="bob")),
    ]
    for error, message, call in calls:
        with _refused(lg, error, message):
            call()
    with pytest.raises(NotFoundError, match=re.escape(no_version.split(" (", maxsplit=1)[0])):
        lg.get_model_version(MODEL, 9)
    with pytest.raises(NotFoundError, match="model 'credit' has no alias 'champion'"):
        lg.get_version_by_alias(MODEL, "champion")
    with _refused(lg, ValidationError, "unknown stage 'Prod'; expected one of None, Staging, Production, Archived"):
        lg.transition_stage(MODEL, 1, "Prod", actor="dave")
    with _refused(lg, ValidationError, "unknown stage 'production'"):
        lg.request_transition(MODEL, 1, "production", actor="dave")
    for bad in (0, -1, True):
        with _refused(lg, ValidationError, f"a version is a whole number >= 1, got {bad!r}"):
            lg.transition_stage(MODEL, bad, "Staging", actor="dave")
    with _refused(lg, ValidationError, "to_stage"):
        lg.append("model.stage_changed", _change(1, "None", "Prod"), actor="mallory")


def test_a_policy_for_an_unknown_model_is_a_clear_error(lg: ledger.Ledger) -> None:
    """A typo in the model name must not leave the real model ungoverned while the call reports success."""
    _govern(lg)
    _model(lg)
    with _refused(lg, NotFoundError, "model 'credti' is not registered"):
        lg.set_policy("credti", approval_stages=["Staging", "Production"], actor="root")
    raw = {"name": "credti", "approval_stages": ["Production"], "single_holder_stages": ["Production"]}
    with _refused(lg, NotFoundError, "model 'credti' is not registered"):
        lg.append("policy.set", raw, actor="root")


def test_a_transition_to_the_current_stage_or_a_second_pending_request_is_a_conflict(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg, (3.0, 2.0, 1.0))
    with _refused(lg, ConflictError, "version 1 of 'credit' is already in None"):
        lg.transition_stage(MODEL, 1, "None", actor="dave")
    lg.transition_stage(MODEL, 1, "Staging", actor="dave")
    with _refused(lg, ConflictError, "version 1 of 'credit' is already in Staging"):
        lg.transition_stage(MODEL, 1, "Staging", actor="dave")
    with _refused(lg, ConflictError, "version 1 of 'credit' is already in Staging"):
        lg.request_transition(MODEL, 1, "Staging", actor="dave")
    with _refused(lg, ConflictError, "version 1 of 'credit' is already in Staging"):
        lg.append("model.stage_changed", _change(1, "Staging", "Staging"), actor="mallory")
    _promote(lg, 2)
    with _refused(lg, ConflictError, "version 2 of 'credit' is already in Production"):
        lg.promote_if_better(MODEL, 2, "rmse", actor="dave")
    first = lg.request_transition(MODEL, 3, "Production", actor="carol").request_id
    with _refused(lg, ConflictError, f"request {first} to move version 3 of 'credit' to Production is already pending"):
        lg.request_transition(MODEL, 3, "Production", actor="dave")
    raw = {"request_id": first, "name": MODEL, "version": 3, "to_stage": "Staging", "reason": None, "evidence": None}
    with _refused(lg, ConflictError, f"transition request {first} already exists"):
        lg.append("model.transition_requested", raw, actor="dave")
    lg.request_transition(MODEL, 3, "Staging", actor="carol")  # another stage is another request


# -- stages: approval and single-holder hand-over ------------------------------


def test_promoting_into_production_archives_the_previous_holder_in_the_same_event(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg, (3.0, 2.0, 1.0))
    _no_approvals(lg)
    lg.transition_stage(MODEL, 1, "Production", actor="dave")
    before = lg.size()
    assert lg.transition_stage(MODEL, 2, "Production", reason="better", actor="dave").stage == "Production"
    assert lg.size() == before + 1
    (event,) = _last(lg, 1)
    assert event.type == "model.stage_changed"
    assert event.payload["archived_versions"] == [1]
    assert (event.payload["from_stage"], event.payload["to_stage"]) == ("None", "Production")
    assert _stage(lg, 1) == "Archived" and lg.get_model_version(MODEL, 1).stage_since_seq == event.seq
    assert lg.registry.versions_in_stage(MODEL, "Production") == [2]
    assert lg.registry_as_of(event.seq - 1).version_in_stage(MODEL, "Production") == 1
    assert lg.registry_as_of(event.seq - 1).get_model_version(MODEL, 1).stage == "Production"
    summary = lg.model_history(MODEL)[-1].summary
    assert summary == "version 2: None → Production (archived version 1)"
    # Leaving Production needs no approval and archives nobody.
    lg.transition_stage(MODEL, 2, "Staging", actor="dave")
    assert _last(lg, 1)[0].payload["archived_versions"] == []
    assert lg.registry.versions_in_stage(MODEL, "Production") == []


def test_the_policy_decides_which_stages_hold_one_version(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg, (4.0, 3.0, 2.0, 1.0))
    lg.transition_stage(MODEL, 1, "Staging", actor="dave")
    lg.transition_stage(MODEL, 2, "Staging", actor="dave")
    assert sorted(lg.registry.versions_in_stage(MODEL, "Staging")) == [1, 2]  # many by default
    lg.set_policy(MODEL, single_holder_stages=["Production", "Staging"], approval_stages=[], actor="root")
    lg.transition_stage(MODEL, 3, "Staging", actor="dave")
    assert _last(lg, 1)[0].payload["archived_versions"] == [1, 2]
    assert [_stage(lg, v) for v in (1, 2, 3)] == ["Archived", "Archived", "Staging"]
    lg.set_policy(MODEL, single_holder_stages=[], actor="root")
    lg.transition_stage(MODEL, 3, "Production", actor="dave")
    lg.transition_stage(MODEL, 4, "Production", actor="dave")
    assert _last(lg, 1)[0].payload["archived_versions"] == []
    assert lg.registry.versions_in_stage(MODEL, "Production") == [4, 3]


def test_production_needs_an_approved_request_and_a_forged_stage_change_cannot_skip_it(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg, (3.0, 2.0))
    message = (
        "policy rule 'approval_required': moving 'credit' to Production needs an approved transition request "
        "(request_transition, then an approver approves it)"
    )
    with _refused(lg, PolicyError, message):
        lg.transition_stage(MODEL, 1, "Production", actor="alice")
    assert lg.transition_stage(MODEL, 1, "Staging", actor="alice").stage == "Staging"  # Staging needs none
    with _refused(lg, PolicyError, message):
        lg.transition_stage(MODEL, 1, "Production", actor="alice")
    # Raw appends cannot skip the approval either.
    with _refused(lg, PolicyError, "policy rule 'approval_required': moving 'credit' to Production needs an approved"):
        lg.append("model.stage_changed", _change(1, "Staging", "Production"), actor="bob")
    with _refused(lg, NotFoundError, "transition request made-up does not exist"):
        lg.append("model.stage_changed", _change(1, "Staging", "Production", request_id="made-up"), actor="bob")
    pending = lg.request_transition(MODEL, 1, "Production", actor="carol").request_id
    with _refused(
        lg, PolicyError, f"policy rule 'approval_required': transition request {pending} is pending, not approved"
    ):
        lg.append("model.stage_changed", _change(1, "Staging", "Production", request_id=pending), actor="carol")
    lg.reject_transition(pending, actor="bob")
    with _refused(lg, PolicyError, f"transition request {pending} is rejected, not approved"):
        lg.append("model.stage_changed", _change(1, "Staging", "Production", request_id=pending), actor="carol")
    # A request decides nothing about other stages either: it must be approved wherever it is named.
    staging = lg.request_transition(MODEL, 2, "Staging", actor="carol").request_id
    with _refused(lg, PolicyError, f"transition request {staging} is pending, not approved"):
        lg.append("model.stage_changed", _change(2, "None", "Staging", request_id=staging), actor="carol")


def test_a_forged_stage_change_cannot_reuse_an_approved_request(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg, (3.0, 2.0))
    done = _promote(lg, 1)
    assert done.executed_seq is not None
    with _refused(
        lg, ConflictError, f"transition request {done.request_id} is for version 1 of 'credit' to Production"
    ):
        lg.append(
            "model.stage_changed",
            _change(2, "None", "Production", archived_versions=[1], request_id=done.request_id),
            actor="carol",
        )
    lg.transition_stage(MODEL, 1, "Staging", actor="dave")
    with _refused(
        lg, ConflictError, f"transition request {done.request_id} was already carried out (event {done.executed_seq})"
    ):
        lg.append("model.stage_changed", _change(1, "Staging", "Production", request_id=done.request_id), actor="carol")


def test_a_forged_stage_change_must_name_the_real_from_stage_and_archived_versions(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg, (3.0, 2.0, 1.0))
    _no_approvals(lg)
    lg.transition_stage(MODEL, 1, "Production", actor="dave")
    with _refused(lg, ConflictError, "version 2 of 'credit' is in None, not Staging"):
        lg.append("model.stage_changed", _change(2, "Staging", "Production", archived_versions=[1]), actor="mallory")
    with _refused(
        lg, ConflictError, "moving version 2 of 'credit' to Production must archive versions [1], the event names []"
    ):
        lg.append("model.stage_changed", _change(2, "None", "Production"), actor="mallory")
    with _refused(lg, ConflictError, "must archive versions [1], the event names [1, 3]"):
        lg.append("model.stage_changed", _change(2, "None", "Production", archived_versions=[1, 3]), actor="mallory")
    with _refused(lg, ConflictError, "must archive versions [1], the event names [1, 1]"):
        lg.append("model.stage_changed", _change(2, "None", "Production", archived_versions=[1, 1]), actor="mallory")
    with _refused(
        lg, ConflictError, "moving version 2 of 'credit' to Staging must archive versions [], the event names [1]"
    ):
        lg.append("model.stage_changed", _change(2, "None", "Staging", archived_versions=[1]), actor="mallory")
    with _refused(lg, NotFoundError, "model 'credit' has no version 7 (latest: 3)"):
        lg.append("model.stage_changed", _change(7, "None", "Staging"), actor="mallory")
    lg.append("model.stage_changed", _change(2, "None", "Production", archived_versions=[1]), actor="dave")
    assert [_stage(lg, v) for v in (1, 2, 3)] == ["Archived", "Production", "None"]


# -- requests and approvals ----------------------------------------------------


def test_an_approval_by_another_approver_moves_the_version_and_archives_the_holder(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg, (3.0, 2.0))
    first = _promote(lg, 1)
    assert first.status == "approved" and first.decided_by == "bob" and _stage(lg, 1) == "Production"
    request = lg.request_transition(MODEL, 2, "Production", reason="lower rmse", actor="carol")
    assert request.status == "pending" and request.requester == "carol" and _stage(lg, 2) == "None"
    before = lg.size()
    done = lg.approve_transition(request.request_id, comment="ok", actor="bob")
    approved, changed = _last(lg, 2)
    assert lg.size() == before + 2 and changed.seq == approved.seq + 1
    assert approved.type == "model.transition_approved" and approved.payload["request_id"] == request.request_id
    assert changed.type == "model.stage_changed" and changed.actor == "bob"
    assert changed.payload["archived_versions"] == [1]
    assert changed.payload["request_id"] == request.request_id and changed.payload["reason"] == "lower rmse"
    assert (done.status, done.decided_by, done.decided_seq, done.executed_seq, done.comment) == (
        "approved",
        "bob",
        approved.seq,
        changed.seq,
        "ok",
    )
    assert _stage(lg, 2) == "Production" and _stage(lg, 1) == "Archived"
    assert lg.registry_as_of(approved.seq).version_in_stage(MODEL, "Production") == 1


def test_approving_needs_the_approver_role(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg)
    request_id = lg.request_transition(MODEL, 1, "Production", actor="carol").request_id
    message = f"policy rule 'approver_role': 'mallory' does not hold the 'approver' role needed to approve request {request_id}"
    with _refused(lg, PolicyError, message):
        lg.approve_transition(request_id, actor="mallory")
    with _refused(lg, PolicyError, message):
        lg.append("model.transition_approved", {"request_id": request_id}, actor="mallory")
    with _refused(lg, PolicyError, "policy rule 'approver_role': 'root' does not hold the 'approver' role"):
        lg.approve_transition(request_id, actor="root")  # admin is not approver
    lg.revoke_role("bob", "approver", actor="root")
    with _refused(lg, PolicyError, "policy rule 'approver_role': 'bob' does not hold the 'approver' role"):
        lg.approve_transition(request_id, actor="bob")


def test_four_eyes_refuses_the_requester_and_the_author_of_the_source_run(lg: ledger.Ledger) -> None:
    _govern(lg, "bob", "erin")
    _model(lg)
    request_id = lg.request_transition(MODEL, 1, "Staging", actor="bob").request_id
    message = f"policy rule 'four_eyes': 'bob' requested transition {request_id} and cannot also approve it"
    with _refused(lg, PolicyError, message):
        lg.approve_transition(request_id, actor="bob")
    with _refused(lg, PolicyError, message):
        lg.append("model.transition_approved", {"request_id": request_id}, actor="bob")
    assert lg.approve_transition(request_id, actor="erin").status == "approved"  # another approver may
    # The author of the version's source run may not approve either.
    lg.grant_role("alice", "approver", actor="root")
    request_id = lg.request_transition(MODEL, 1, "Production", actor="carol").request_id
    message = (
        f"policy rule 'four_eyes': 'alice' authored the source run of the version in request {request_id} "
        "and cannot approve it"
    )
    with _refused(lg, PolicyError, message):
        lg.approve_transition(request_id, actor="alice")
    with _refused(lg, PolicyError, message):
        lg.append("model.transition_approved", {"request_id": request_id}, actor="alice")
    assert lg.approve_transition(request_id, actor="bob").executed_seq is not None


def test_without_four_eyes_the_requester_may_approve_but_still_needs_the_role(lg: ledger.Ledger) -> None:
    _govern(lg, "alice")
    _model(lg, author="alice")
    lg.set_policy(MODEL, four_eyes=False, actor="root")
    mine = lg.request_transition(MODEL, 1, "Production", actor="mallory").request_id
    with _refused(lg, PolicyError, "policy rule 'approver_role': 'mallory' does not hold the 'approver' role"):
        lg.approve_transition(mine, actor="mallory")
    lg.reject_transition(mine, actor="mallory")
    request_id = lg.request_transition(MODEL, 1, "Production", actor="alice").request_id
    assert lg.approve_transition(request_id, actor="alice").decided_by == "alice"
    assert _stage(lg, 1) == "Production"


def test_a_decided_request_cannot_be_decided_again(lg: ledger.Ledger) -> None:
    _govern(lg, "bob", "erin")
    _model(lg, (3.0, 2.0))
    approved = _promote(lg, 1)
    again = f"transition request {approved.request_id} was already approved by bob (event {approved.decided_seq})"
    with _refused(lg, ConflictError, again):
        lg.approve_transition(approved.request_id, actor="erin")
    with _refused(lg, ConflictError, again):
        lg.append("model.transition_approved", {"request_id": approved.request_id}, actor="erin")
    with _refused(lg, ConflictError, again):
        lg.reject_transition(approved.request_id, actor="erin")
    rejected = lg.reject_transition(
        lg.request_transition(MODEL, 2, "Production", actor="carol").request_id, actor="carol"
    )
    assert rejected.status == "rejected" and rejected.decided_by == "carol"
    was_rejected = (
        f"transition request {rejected.request_id} was already rejected by carol (event {rejected.decided_seq})"
    )
    with _refused(lg, ConflictError, was_rejected):
        lg.approve_transition(rejected.request_id, actor="bob")
    with _refused(lg, ConflictError, was_rejected):
        lg.reject_transition(rejected.request_id, actor="bob")
    assert _stage(lg, 2) == "None"


def test_the_requester_may_withdraw_a_request_but_a_stranger_may_not_reject_it(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg)
    request_id = lg.request_transition(MODEL, 1, "Production", actor="carol").request_id
    message = (
        f"policy rule 'approver_role': 'mallory' neither holds the 'approver' role nor made request {request_id}, "
        "so cannot reject it"
    )
    with _refused(lg, PolicyError, message):
        lg.reject_transition(request_id, actor="mallory")
    with _refused(lg, PolicyError, message):
        lg.append("model.transition_rejected", {"request_id": request_id}, actor="mallory")
    withdrawn = lg.reject_transition(request_id, comment="not yet", actor="carol")
    assert (withdrawn.status, withdrawn.decided_by, withdrawn.comment, withdrawn.executed_seq) == (
        "rejected",
        "carol",
        "not yet",
        None,
    )
    assert _stage(lg, 1) == "None"
    again = lg.request_transition(MODEL, 1, "Production", actor="carol").request_id  # no longer pending
    assert lg.reject_transition(again, actor="bob").decided_by == "bob"  # an approver may reject


def test_a_refused_stage_change_takes_its_approval_with_it(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg)
    request_id = lg.request_transition(MODEL, 1, "Staging", actor="carol").request_id
    lg.transition_stage(MODEL, 1, "Staging", actor="dave")  # done meanwhile, directly
    with _refused(lg, ConflictError, "version 1 of 'credit' is already in Staging"):
        lg.approve_transition(request_id, actor="bob")
    assert lg.registry.request(request_id).status == "pending"


def test_an_approval_appended_alone_does_not_leave_an_approved_request_for_anyone_to_execute(lg: ledger.Ledger) -> None:
    """An approval carries out its transition in the same transaction: a raw
    approval without its stage change would leave an approved request that
    anyone (here mallory, who holds no role) could carry out later."""
    _govern(lg)
    _model(lg)
    request_id = lg.request_transition(MODEL, 1, "Production", actor="carol").request_id
    before = _state(lg)
    refused: Exception | None = None
    try:
        lg.append("model.transition_approved", {"request_id": request_id}, actor="bob")
    except (PolicyError, ConflictError) as error:
        refused = error
    if refused is None:
        lg.append("model.stage_changed", _change(1, "None", "Production", request_id=request_id), actor="mallory")
        pytest.fail(
            f"a raw approval of {request_id} was accepted without its stage change, and then 'mallory' "
            f"(no role) carried it out: version 1 is now {_stage(lg, 1)}"
        )
    assert request_id in str(refused)
    assert _state(lg) == before


# -- signed approvals ----------------------------------------------------------


def test_registering_keys(lg: ledger.Ledger) -> None:
    _govern(lg)
    key = generate_private_key()
    public = public_key_b64(key)
    kid = lg.register_key(public, actor="bob")
    assert kid == key_id("bob", public) and re.fullmatch(r"[0-9a-f]{8}", kid)
    assert lg.registry.keys("bob") == {kid: public}
    with _refused(lg, ConflictError, f"'bob' already registered key {kid}"):
        lg.register_key(key, actor="bob")
    other = generate_private_key()
    with _refused(
        lg, PolicyError, "policy rule 'admin_only': only an admin can register a key for 'bob'; 'mallory' is not one"
    ):
        lg.register_key(other, owner="bob", actor="mallory")
    with _refused(lg, PolicyError, "only an admin can register a key for 'bob'; 'mallory' is not one"):
        lg.append("actor.key_registered", {"actor": "bob", "public_key": public_key_b64(other)}, actor="mallory")
    with _refused(lg, ValidationError, "public_key"):
        lg.register_key("not-a-key", actor="bob")
    assert lg.registry.keys("bob") == {kid: public}
    assert lg.register_key(other.public_key(), owner="bob", actor="root") == key_id("bob", public_key_b64(other))
    assert len(lg.registry.keys("bob")) == 2


def test_a_signed_approval_signs_the_request_event_hash(lg: ledger.Ledger, tmp_path: Path) -> None:
    _govern(lg)
    _model(lg, (3.0, 2.0))
    lg.set_policy(MODEL, signed_approvals=True, actor="root")
    key = generate_private_key()
    kid = lg.register_key(key, actor="bob")
    request = lg.request_transition(MODEL, 1, "Production", actor="carol")
    done = lg.approve_transition(request.request_id, actor="bob", signing_key=private_key_pem(key))
    assert done.status == "approved" and done.key_id == kid and done.signature is not None
    assert verify_approval(public_key_b64(key), lg.event(request.seq).hash, done.signature)
    assert _stage(lg, 1) == "Production"
    assert "signed with key " + kid in lg.model_history(MODEL)[-2].summary
    pem = tmp_path / "bob.pem"  # a key file works too
    pem.write_bytes(private_key_pem(key))
    second = lg.request_transition(MODEL, 2, "Production", actor="carol").request_id
    assert lg.approve_transition(second, actor="bob", signing_key=pem).key_id == kid
    assert [_stage(lg, 1), _stage(lg, 2)] == ["Archived", "Production"]


def test_an_unsigned_approval_or_one_signed_with_an_unregistered_key_is_refused(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg)
    lg.set_policy(MODEL, signed_approvals=True, actor="root")
    bobs, erins, stray = generate_private_key(), generate_private_key(), generate_private_key()
    lg.register_key(bobs, actor="bob")
    request_id = lg.request_transition(MODEL, 1, "Production", actor="carol").request_id
    message = (
        f"policy rule 'signed_approvals': request {request_id} needs a signed approval (approve with a signing key)"
    )
    with _refused(lg, PolicyError, message):
        lg.approve_transition(request_id, actor="bob")
    with _refused(lg, PolicyError, message):
        lg.append("model.transition_approved", {"request_id": request_id}, actor="bob")
    both = "a signed approval names both its signature and its key_id, an unsigned one neither"
    with _refused(lg, ValidationError, both):  # a key id without a signature is no signature
        lg.append("model.transition_approved", {"request_id": request_id, "key_id": "0badc0de"}, actor="bob")
    lg.grant_role("erin", "approver", actor="root")
    lg.register_key(erins, actor="erin")
    for policy_requires in (False, True):  # an optional signature must verify too
        lg.set_policy(MODEL, signed_approvals=policy_requires, actor="root")
        stray_id = key_id("bob", public_key_b64(stray))
        with _refused(lg, PolicyError, f"policy rule 'signed_approvals': 'bob' has no registered key {stray_id}"):
            lg.approve_transition(request_id, actor="bob", signing_key=stray)
        erins_as_bob = key_id("bob", public_key_b64(erins))  # erin's key is not bob's
        with _refused(lg, PolicyError, f"'bob' has no registered key {erins_as_bob}"):
            lg.approve_transition(request_id, actor="bob", signing_key=erins)
    assert lg.approve_transition(request_id, actor="bob", signing_key=bobs).status == "approved"


def test_forged_signatures_and_unreadable_keys_are_refused(lg: ledger.Ledger, tmp_path: Path) -> None:
    _govern(lg)
    _model(lg, (3.0, 2.0))
    lg.set_policy(MODEL, signed_approvals=True, actor="root")
    bobs, stray = generate_private_key(), generate_private_key()
    kid = lg.register_key(bobs, actor="bob")
    request = lg.request_transition(MODEL, 1, "Production", actor="carol")
    other = lg.request_transition(MODEL, 2, "Production", actor="carol")
    request_hash = lg.event(request.seq).hash

    def approval(signature: str | None, key: str | None) -> dict[str, Any]:
        return {"request_id": request.request_id, "comment": None, "signature": signature, "key_id": key}

    does_not_verify = (
        f"policy rule 'signed_approvals': the signature does not verify with 'bob''s key {kid} over request "
        f"{request.request_id} (event {request.seq})"
    )
    with _refused(lg, PolicyError, does_not_verify):  # someone else's key under bob's key id
        lg.append("model.transition_approved", approval(sign_approval(stray, request_hash), kid), actor="bob")
    with _refused(lg, PolicyError, does_not_verify):  # bob's signature of another request
        lg.append(
            "model.transition_approved", approval(sign_approval(bobs, lg.event(other.seq).hash), kid), actor="bob"
        )
    with _refused(lg, PolicyError, "policy rule 'signed_approvals': 'bob' has no registered key 0badc0de"):
        lg.append("model.transition_approved", approval(sign_approval(bobs, request_hash), "0badc0de"), actor="bob")
    with _refused(lg, ValidationError, "a signed approval names both its signature and its key_id"):
        lg.append("model.transition_approved", approval(sign_approval(bobs, request_hash), None), actor="bob")
    with _refused(lg, ValidationError, "signature"):
        lg.append("model.transition_approved", approval("not base64", kid), actor="bob")
    # mallory replays bob's valid signature under her own name: the key id is bob's, not hers.
    lg.grant_role("mallory", "approver", actor="root")
    with _refused(lg, PolicyError, f"'mallory' has no registered key {kid}"):
        lg.append("model.transition_approved", approval(sign_approval(bobs, request_hash), kid), actor="mallory")
    with _refused(lg, ValidationError, "cannot read the signing key"):
        lg.approve_transition(request.request_id, actor="bob", signing_key=tmp_path / "missing.pem")
    with _refused(lg, ValidationError, "not an unencrypted Ed25519 private key in PEM"):
        lg.approve_transition(request.request_id, actor="bob", signing_key=b"garbage")


# -- roles and policies --------------------------------------------------------


def test_the_first_admin_is_claimed_only_on_a_ledger_without_one(lg: ledger.Ledger) -> None:
    # Without an admin, only the bootstrap (an actor granting admin to itself) is allowed.
    with _refused(lg, PolicyError, "policy rule 'admin_only': only an admin can grant roles; 'mallory' is not one"):
        lg.append("actor.role_granted", {"actor": "eve", "role": "admin"}, actor="mallory")
    with _refused(lg, PolicyError, "only an admin can grant roles; 'mallory' is not one"):
        lg.grant_role("mallory", "approver", actor="mallory")
    assert lg.claim_admin(actor="root") is True
    assert lg.registry.roles() == {"root": ["admin"]}
    before = _state(lg)
    assert lg.claim_admin(actor="mallory") is False
    assert lg.claim_admin(actor="root") is False
    assert _state(lg) == before
    with _refused(lg, PolicyError, "policy rule 'admin_only': only an admin can grant roles; 'mallory' is not one"):
        lg.append("actor.role_granted", {"actor": "mallory", "role": "admin"}, actor="mallory")


def test_only_admins_grant_and_revoke_roles(lg: ledger.Ledger) -> None:
    _govern(lg)
    message = "policy rule 'admin_only': only an admin can grant roles; 'bob' is not one"
    with _refused(lg, PolicyError, message):
        lg.grant_role("mallory", "approver", actor="bob")
    with _refused(lg, PolicyError, message):
        lg.append("actor.role_granted", {"actor": "mallory", "role": "admin"}, actor="bob")
    with _refused(lg, ValidationError, "unknown role 'superuser'; expected one of admin, approver"):
        lg.grant_role("bob", "superuser", actor="root")
    with _refused(lg, ConflictError, "'bob' already holds the 'approver' role"):
        lg.grant_role("bob", "approver", actor="root")
    lg.grant_role("bob", "admin", actor="root")
    lg.grant_role("carol", "approver", actor="bob")  # a new admin grants
    assert lg.registry.roles() == {"bob": ["admin", "approver"], "carol": ["approver"], "root": ["admin"]}
    lg.revoke_role("bob", "admin", actor="root")
    with _refused(lg, PolicyError, "policy rule 'admin_only': only an admin can revoke roles; 'bob' is not one"):
        lg.revoke_role("bob", "approver", actor="bob")
    with _refused(lg, PolicyError, "only an admin can revoke roles; 'mallory' is not one"):
        lg.append("actor.role_revoked", {"actor": "root", "role": "admin"}, actor="mallory")
    with _refused(lg, NotFoundError, "'dave' does not hold the 'approver' role"):
        lg.revoke_role("dave", "approver", actor="root")
    with _refused(lg, ValidationError, "unknown role 'owner'"):
        lg.revoke_role("bob", "owner", actor="root")
    last = "policy rule 'last_admin': 'root' is the last admin; grant admin to someone else first"
    with _refused(lg, PolicyError, last):
        lg.revoke_role("root", "admin", actor="root")
    with _refused(lg, PolicyError, last):
        lg.append("actor.role_revoked", {"actor": "root", "role": "admin"}, actor="root")
    lg.grant_role("erin", "admin", actor="root")
    lg.revoke_role("root", "admin", actor="root")  # no longer the last
    with _refused(lg, PolicyError, "only an admin can grant roles; 'root' is not one"):
        lg.grant_role("root", "admin", actor="root")
    with _refused(lg, PolicyError, "policy rule 'last_admin': 'erin' is the last admin"):
        lg.revoke_role("erin", "admin", actor="erin")
    lg.revoke_role("bob", "approver", actor="erin")
    assert lg.registry.roles() == {"carol": ["approver"], "erin": ["admin"]}


def test_only_admins_set_policies_and_a_policy_is_per_model(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg)
    _model(lg, name="fraud")
    message = "policy rule 'admin_only': only an admin can set a model's policy; 'bob' is not one"
    with _refused(lg, PolicyError, message):
        lg.set_policy(MODEL, approval_stages=[], actor="bob")
    raw = {"name": MODEL, "approval_stages": [], "single_holder_stages": ["Production"], "four_eyes": False}
    with _refused(lg, PolicyError, message):
        lg.append("policy.set", raw, actor="bob")
    with _refused(lg, ValidationError, "approval_stages"):
        lg.set_policy(MODEL, approval_stages=["Prod"], actor="root")
    policy = lg.set_policy(MODEL, approval_stages=["Staging", "Production"], actor="root")
    assert policy.approval_stages == ("Staging", "Production") and policy.four_eyes and not policy.signed_approvals
    assert lg.set_policy(MODEL, four_eyes=False, actor="root").approval_stages == ("Staging", "Production")
    with _refused(lg, PolicyError, "policy rule 'approval_required': moving 'credit' to Staging needs an approved"):
        lg.transition_stage(MODEL, 1, "Staging", actor="dave")
    lg.transition_stage("fraud", 1, "Staging", actor="dave")  # the other model keeps the default
    assert lg.registry.policy("fraud").approval_stages == ("Production",)
    assert lg.get_model(MODEL).policy["four_eyes"] is False


# -- promote_if_better ---------------------------------------------------------


def test_a_win_that_needs_approval_becomes_a_request_carrying_the_comparison(lg: ledger.Ledger) -> None:
    _govern(lg, "bob", "erin")
    runs = _model(lg, (3.0, 2.0))
    _promote(lg, 1)
    before = lg.size()
    decision = lg.promote_if_better(MODEL, 2, "rmse", mode="min", min_delta=0.5, actor="erin")
    evaluated, requested = _last(lg, 2)
    assert lg.size() == before + 2
    assert (decision.outcome, decision.won, decision.champion) == ("requested", True, 1)
    assert (decision.candidate_value, decision.champion_value, decision.seq) == (2.0, 3.0, evaluated.seq)
    assert evaluated.type == "model.promotion_evaluated"
    assert evaluated.payload["outcome"] == "won"
    assert (evaluated.payload["candidate_run_id"], evaluated.payload["champion_run_id"]) == (runs[1], runs[0])
    assert requested.type == "model.transition_requested"
    assert requested.payload["request_id"] == decision.request_id and requested.actor == "erin"
    evidence = lg.registry.request(decision.request_id).evidence
    assert evidence == {
        "metric": "rmse",
        "mode": "min",
        "min_delta": 0.5,
        "candidate_value": 2.0,
        "champion": 1,
        "champion_value": 3.0,
        "evaluation_event": evaluated.id,
    }
    assert _stage(lg, 2) == "None"
    with _refused(lg, PolicyError, "policy rule 'four_eyes': 'erin' requested transition"):
        lg.approve_transition(decision.request_id, actor="erin")
    lg.approve_transition(decision.request_id, actor="bob")
    changed = _last(lg, 1)[0]
    assert changed.payload["archived_versions"] == [1] and changed.payload["evidence"] == evidence
    assert [_stage(lg, 1), _stage(lg, 2)] == ["Archived", "Production"]


def test_a_win_without_approval_promotes_in_the_same_transaction(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg, (0.7, 0.9))
    _no_approvals(lg)
    first = lg.promote_if_better(MODEL, 1, "rmse", mode="max", actor="dave")
    assert (first.outcome, first.champion, first.champion_value) == ("promoted", None, None)
    decision = lg.promote_if_better(MODEL, 2, "rmse", mode="max", actor="dave")
    evaluated, changed = _last(lg, 2)
    assert decision.outcome == "promoted" and decision.request_id is None and decision.seq == evaluated.seq
    assert changed.type == "model.stage_changed" and changed.seq == evaluated.seq + 1
    assert (
        changed.payload["archived_versions"] == [1] and changed.payload["evidence"]["evaluation_event"] == evaluated.id
    )
    assert [_stage(lg, 1), _stage(lg, 2)] == ["Archived", "Production"]


def test_a_loss_is_recorded_and_moves_nothing(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg, (2.0, 1.95, 2.5))
    _promote(lg, 1)
    for candidate, mode, min_delta in ((2, "min", 0.1), (3, "min", 0.0), (2, "max", 0.0)):
        before = lg.registry.snapshot()["models"][MODEL]["versions"]
        decision = lg.promote_if_better(MODEL, candidate, "rmse", mode=mode, min_delta=min_delta, actor="dave")
        (event,) = _last(lg, 1)
        assert (decision.outcome, decision.won, decision.request_id) == ("kept", False, None)
        assert event.type == "model.promotion_evaluated" and event.payload["outcome"] == "lost"
        assert lg.registry.snapshot()["models"][MODEL]["versions"] == before
    assert "vs version 1 rmse=2 (max, min_delta 0): lost" in lg.model_history(MODEL)[-1].summary


def test_promote_if_better_refuses_what_it_cannot_compare(lg: ledger.Ledger) -> None:
    _govern(lg)
    runs = _model(lg, (3.0, None, 2.0))
    nan_run = _run(lg, metrics={"rmse": float("nan")})
    lg.register_model(MODEL, nan_run, actor="alice")
    with _refused(lg, ValidationError, f"candidate version 2 of 'credit': its run {runs[1]} has no metric 'rmse'"):
        lg.promote_if_better(MODEL, 2, "rmse", actor="dave")
    with _refused(lg, ValidationError, f"candidate version 4 of 'credit': its run {nan_run} has NaN for metric 'rmse'"):
        lg.promote_if_better(MODEL, 4, "rmse", actor="dave")
    with _refused(lg, ValidationError, "mode must be 'min' or 'max', got 'lowest'"):
        lg.promote_if_better(MODEL, 3, "rmse", mode="lowest", actor="dave")
    with _refused(lg, ValidationError, "min_delta must be a number >= 0, got -0.1"):
        lg.promote_if_better(MODEL, 3, "rmse", min_delta=-0.1, actor="dave")
    with _refused(lg, ValidationError, "min_delta must be a number >= 0, got nan"):
        lg.promote_if_better(MODEL, 3, "rmse", min_delta=float("nan"), actor="dave")
    pending = lg.request_transition(MODEL, 3, "Production", actor="carol").request_id
    with _refused(
        lg, ConflictError, f"request {pending} to move version 3 of 'credit' to Production is already pending"
    ):
        lg.promote_if_better(MODEL, 3, "rmse", actor="dave")  # the comparison goes with the refused request
    _no_approvals(lg)
    lg.transition_stage(MODEL, 2, "Production", actor="dave")
    with _refused(lg, ValidationError, f"champion version 2 of 'credit': its run {runs[1]} has no metric 'rmse'"):
        lg.promote_if_better(MODEL, 3, "rmse", actor="dave")


def test_forged_promotion_evaluations_must_match_the_metrics(lg: ledger.Ledger) -> None:
    _govern(lg)
    runs = _model(lg, (3.0, 2.0, 1.0))
    _promote(lg, 1)
    honest = {
        "name": MODEL,
        "candidate": 2,
        "candidate_run_id": runs[1],
        "candidate_value": 2.0,
        "champion": 1,
        "champion_run_id": runs[0],
        "champion_value": 3.0,
        "metric": "rmse",
        "mode": "min",
        "min_delta": 0.0,
        "to_stage": "Production",
        "outcome": "won",
    }
    prefix = "promotion evidence for 'credit' does not match the ledger: "
    forgeries = [
        ({"candidate_value": 0.5}, "candidate_value 0.5 (ledger: 2.0)"),
        ({"champion_value": 9.0}, "champion_value 9.0 (ledger: 3.0)"),
        ({"champion": None, "champion_run_id": None, "champion_value": None}, "champion None (ledger: 1)"),
        ({"candidate_run_id": runs[2]}, f"candidate_run_id {runs[2]!r} (ledger: {runs[1]!r})"),
        ({"min_delta": 5.0, "outcome": "won"}, "outcome 'won' (ledger: 'lost')"),
        ({"mode": "max", "outcome": "won"}, "outcome 'won' (ledger: 'lost')"),
        ({"outcome": "lost"}, "outcome 'lost' (ledger: 'won')"),
    ]
    for fields, detail in forgeries:
        with _refused(lg, ConflictError, prefix + detail):
            lg.append("model.promotion_evaluated", honest | fields, actor="mallory")
    with _refused(lg, NotFoundError, "model 'credit' has no version 9 (latest: 3)"):
        lg.append("model.promotion_evaluated", honest | {"candidate": 9}, actor="mallory")
    lg.append("model.promotion_evaluated", honest, actor="dave")  # the true comparison goes through
    assert lg.model_history(MODEL)[-1].type == "model.promotion_evaluated"


def test_a_forged_win_over_a_champion_without_the_metric_is_refused(lg: ledger.Ledger) -> None:
    _govern(lg)
    runs = _model(lg, (None, 2.0))
    _promote(lg, 1)
    forged = {
        "name": MODEL,
        "candidate": 2,
        "candidate_run_id": runs[1],
        "candidate_value": 2.0,
        "champion": 1,
        "champion_run_id": runs[0],
        "champion_value": None,
        "metric": "rmse",
        "mode": "min",
        "min_delta": 0.0,
        "to_stage": "Production",
        "outcome": "won",
    }
    message = f"champion version 1 of 'credit': its run {runs[0]} has no metric 'rmse'"
    with _refused(lg, ValidationError, message):  # what promote_if_better itself says
        lg.promote_if_better(MODEL, 2, "rmse", actor="dave")
    with _refused(lg, ValidationError, message):
        lg.append("model.promotion_evaluated", forged, actor="mallory")


def test_a_forged_request_cannot_cite_a_comparison_the_ledger_does_not_hold(lg: ledger.Ledger) -> None:
    """The evidence of a request made by promote_if_better names its
    model.promotion_evaluated event; a request citing an evaluation with
    other values (here: a lost comparison dressed up as a win) is forged."""
    _govern(lg)
    _model(lg, (3.0, 2.0))
    _promote(lg, 1)
    lost = lg.promote_if_better(MODEL, 2, "rmse", min_delta=5.0, actor="dave")
    assert lost.outcome == "kept"
    evidence = {
        "metric": "rmse",
        "mode": "min",
        "min_delta": 0.0,
        "candidate_value": 0.1,
        "champion": 1,
        "champion_value": 3.0,
        "evaluation_event": lg.event(lost.seq).id,
    }
    raw = {
        "request_id": "forged-request",
        "name": MODEL,
        "version": 2,
        "to_stage": "Production",
        "reason": "promote_if_better: rmse 0.1 vs 3.0",
        "evidence": evidence,
    }
    with _refused(lg, ConflictError, "the evidence does not match the comparison it cites"):
        lg.append("model.transition_requested", raw, actor="mallory")
    unknown = "0192e3a4-0000-7000-8000-000000000000"
    raw["evidence"] = {**evidence, "evaluation_event": unknown}
    with _refused(lg, NotFoundError, f"the evidence cites event {unknown}, which is no promotion evaluation"):
        lg.append("model.transition_requested", raw, actor="mallory")


# -- aliases and deployments ---------------------------------------------------


def test_aliases_point_at_versions_and_reserved_names_are_refused(lg: ledger.Ledger) -> None:
    _model(lg, (3.0, 2.0))
    lg.set_alias(MODEL, "champion", 1, actor="dave")
    assert lg.get_version_by_alias(MODEL, "champion").version == 1
    lg.set_alias(MODEL, "champion", 2, actor="dave")
    assert lg.get_version_by_alias(MODEL, "champion").version == 2
    assert lg.get_model_version(MODEL, 2).aliases == ("champion",) and lg.get_model_version(MODEL, 1).aliases == ()
    with _refused(lg, ConflictError, "alias 'champion' of 'credit' already points to version 2"):
        lg.set_alias(MODEL, "champion", 2, actor="dave")
    for reserved in ("latest", "Latest", "v1", "V12", "v0"):
        message = f"alias {reserved!r} is reserved ('latest' and 'v<number>' name versions)"
        with _refused(lg, ValidationError, message):
            lg.set_alias(MODEL, reserved, 1, actor="dave")
        with _refused(lg, ValidationError, message):
            lg.append("model.alias_set", {"name": MODEL, "alias": reserved, "version": 1}, actor="mallory")
    for allowed in ("v1beta", "latest-good", "version1"):
        lg.set_alias(MODEL, allowed, 1, actor="dave")
    lg.delete_alias(MODEL, "champion", actor="dave")
    with pytest.raises(NotFoundError, match="model 'credit' has no alias 'champion'"):
        lg.get_version_by_alias(MODEL, "champion")
    with _refused(lg, NotFoundError, "model 'credit' has no alias 'champion'"):
        lg.delete_alias(MODEL, "champion", actor="dave")
    with _refused(lg, ValidationError, "a version is a whole number >= 1, got 0"):
        lg.set_alias(MODEL, "champion", 0, actor="dave")
    assert lg.registry.aliases(MODEL) == {"latest-good": 1, "v1beta": 1, "version1": 1}


def test_deploying_an_archived_version_is_refused(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg, (3.0, 2.0))
    _promote(lg, 1)
    lg.record_deployment(MODEL, 1, "scoring-api", "prod", actor="ops")
    _promote(lg, 2)
    assert _stage(lg, 1) == "Archived"
    message = "version 1 of 'credit' is Archived: move it to a live stage before deploying it"
    with _refused(lg, ConflictError, message):
        lg.record_deployment(MODEL, 1, "scoring-api", "canary", actor="ops")
    raw = {"name": MODEL, "version": 1, "target": "scoring-api", "environment": "canary"}
    with _refused(lg, ConflictError, message):
        lg.append("model.deployed", raw, actor="mallory")
    lg.record_deployment(MODEL, 2, "scoring-api", "prod", actor="ops")
    assert lg.registry.deployment("scoring-api", "prod") == (MODEL, 2)
    deployments = lg.registry.deployments(MODEL)
    assert [(d.version, d.live) for d in deployments] == [(1, False), (2, True)]


# -- replay --------------------------------------------------------------------


def test_the_service_events_appended_raw_in_one_batch_are_accepted_and_replay_the_same(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg, (3.0, 2.0))
    _promote(lg, 1)
    request_id = lg.request_transition(MODEL, 2, "Production", actor="carol").request_id
    lg.append_many(
        [
            ledger.PendingEvent("model.transition_approved", {"request_id": request_id}, "bob"),
            ledger.PendingEvent(
                "model.stage_changed",
                _change(2, "None", "Production", archived_versions=[1], request_id=request_id),
                "bob",
            ),
        ]
    )
    lg.set_alias(MODEL, "champion", 2, actor="dave")
    lg.record_deployment(MODEL, 2, "scoring-api", "prod", actor="ops")
    assert [_stage(lg, 1), _stage(lg, 2)] == ["Archived", "Production"]
    before = lg.registry.snapshot()
    lg.rebuild()
    assert lg.registry.snapshot() == before
    assert lg.verify().ok


# -- found in review: evidence, keys, policies, adjacency ----------------------


def test_stale_or_uncited_comparison_evidence_is_refused(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg, (3.0, 2.0, 1.0))
    _promote(lg, 1)
    won = lg.promote_if_better(MODEL, 2, "rmse", actor="dave")  # 2.0 beats 1's 3.0: a request
    assert won.outcome == "requested"
    citing = lg.registry.request(str(won.request_id)).evidence
    assert citing is not None
    _promote(lg, 3)  # meanwhile version 3 (1.0) takes Production
    raw = {"request_id": "again", "name": MODEL, "version": 2, "to_stage": "Production", "reason": None}
    with _refused(lg, ConflictError, "was against version 1, but Production is held by version 3 now: compare again"):
        lg.append("model.transition_requested", {**raw, "evidence": citing}, actor="dave")
    with _refused(lg, ConflictError, "was against version 1, but Production is held by version 3 now"):
        lg.approve_transition(str(won.request_id), actor="bob")
    made_up = {"metric": "rmse", "candidate_value": 0.1, "champion": 3, "champion_value": 1.0}
    with _refused(lg, ConflictError, "evidence with comparison values must cite the model.promotion_evaluated"):
        lg.request_transition(MODEL, 2, "Production", evidence=made_up, actor="dave")
    lg.request_transition(MODEL, 2, "Staging", evidence={"ticket": "RISK-42"}, actor="dave")  # other evidence is free


def test_the_stage_change_carrying_out_a_request_is_the_next_event_and_carries_its_reason(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg, (3.0,))
    request = lg.request_transition(MODEL, 1, "Production", reason="quarterly", actor="carol")
    approval = PendingEvent("model.transition_approved", {"request_id": request.request_id}, "bob")
    change = PendingEvent("model.stage_changed", _change(1, "None", "Production", request_id=request.request_id), "bob")
    tag = PendingEvent("model.tags_set", {"name": MODEL, "version": 1, "tags": {"k": "v"}}, "bob")
    with _refused(lg, ConflictError, f"the stage change carrying out request {request.request_id} must carry its"):
        lg.append_many([approval, change])  # reason None, not "quarterly"
    honest = PendingEvent(
        "model.stage_changed",
        _change(1, "None", "Production", request_id=request.request_id, reason="quarterly"),
        "bob",
    )
    with _refused(lg, PolicyError, "only the stage change right after an approval, by the approver, carries it out"):
        lg.append_many([approval, tag, honest])
    lg.append_many([approval, honest])
    assert _stage(lg, 1) == "Production"


def test_a_second_key_needs_an_admin(lg: ledger.Ledger) -> None:
    _govern(lg)
    first = lg.register_key(generate_private_key(), actor="bob")
    second = generate_private_key()
    with _refused(
        lg, PolicyError, f"policy rule 'admin_only': only an admin can add a key for 'bob', who already has key {first}"
    ):
        lg.register_key(second, actor="bob")
    lg.register_key(second, owner="bob", actor="root")
    assert sorted(lg.registry.keys("bob")) == sorted([first, key_id("bob", public_key_b64(second))])


def test_policies_name_each_stage_once_and_only_staging_or_production_hold_one_version(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg, (3.0,))
    with _refused(lg, ValidationError, "only Staging and Production can hold a single version, not None"):
        lg.set_policy(MODEL, single_holder_stages=["Production", "None"], actor="root")
    with _refused(lg, ValidationError, "policy approval_stages lists a value twice: ['Production', 'Production']"):
        lg.set_policy(MODEL, approval_stages=["Production", "Production"], actor="root")


def test_promote_if_better_refuses_infinite_values_and_non_promotion_stages(lg: ledger.Ledger) -> None:
    _govern(lg)
    _model(lg, (3.0, math.inf))
    _promote(lg, 1)
    with _refused(lg, ValidationError, "candidate version 2 of 'credit': its run "):
        lg.promote_if_better(MODEL, 2, "rmse", actor="dave")
    with _refused(lg, ValidationError, "promote_if_better promotes to Staging or Production, not 'Archived'"):
        lg.promote_if_better(MODEL, 1, "rmse", to_stage="Archived", actor="dave")
