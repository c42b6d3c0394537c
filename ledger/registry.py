"""The model registry service: register versions, move them between stages
under the model's governance policy, set aliases, record deployments, and
read the registry now or as of any moment.

Owns: turning each registry call into the events it means. Every command is
a *plan*: a function run under the ledger's append lock that reads the state
its events depend on (the next version number, the current holder of a
stage, the request being approved) and returns them; the store then checks
the rules (``ledger.store.registry_projector``) and appends them in the same
transaction. So two processes promoting different versions at once are
serialised, and a refused call appends nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import ConflictError, NotFoundError, ValidationError
from ledger.events import PendingEvent, RecordedEvent, prepare, recorded
from ledger.governance import (
    STAGES,
    Policy,
    artifact_digest,
    check_promotion_stage,
    is_better,
)
from ledger.keys import key_id, private_key_from_bytes, public_key_b64, sign_approval
from ledger.registry_search import parse_version_filter, search_versions_query
from ledger.registry_views import (
    HistoryEntry,
    ModelVersionView,
    ModelView,
    PromotionDecision,
    RegistryView,
    TransitionRequestView,
)
from ledger.store.registry_state import RegistryState

if TYPE_CHECKING:
    from ledger.events import Sealed
    from ledger.store import EventStore

__all__ = ["RegistryCommands"]

RegistryPlan = Callable[[RegistryState], Sequence[PendingEvent]]
SigningKey = Ed25519PrivateKey | bytes | str | Path


def _check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise ValidationError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    return stage


def _check_version(version: int) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValidationError(f"a version is a whole number >= 1, got {version!r}")
    return version


def load_signing_key(key: SigningKey) -> Ed25519PrivateKey:
    """A private key object, PEM or raw bytes, or a path to a PEM file."""
    if isinstance(key, Ed25519PrivateKey):
        return key
    if isinstance(key, bytes):
        return private_key_from_bytes(key)
    if isinstance(key, str) and key.lstrip().startswith("-----BEGIN"):
        return private_key_from_bytes(key.encode("ascii"))
    try:
        data = Path(key).read_bytes()
    except OSError as e:
        raise ValidationError(f"cannot read the signing key {str(key)!r}: {e.strerror}") from e
    return private_key_from_bytes(data)


class RegistryCommands:
    """The registry half of ``Ledger`` (a mixin: it needs ``store``,
    ``max_payload_bytes``, ``_clock``, ``_who`` and ``_append_sealed``)."""

    store: EventStore
    max_payload_bytes: int
    _clock: Callable[[], str]

    def _who(self, actor: str | None) -> str:
        raise NotImplementedError

    def _seq_of(self, moment: int | str | datetime) -> int:
        raise NotImplementedError

    if TYPE_CHECKING:  # CheckpointCommands's, later in Ledger's bases

        def _append_sealed(self, batch: Any) -> list[Sealed]: ...

    def _placeholder(self) -> str:
        return "%s" if self.store.engine.dialect.name == "postgresql" else "?"

    def _run_plan(self, plan: RegistryPlan) -> list[RecordedEvent]:
        """Run ``plan`` under the append lock and append what it returns."""
        placeholder = self._placeholder()
        built: list[PendingEvent] = []

        def build(cursor: Any) -> list[Any]:
            built[:] = plan(RegistryState(cursor, placeholder))
            return [prepare(event, max_payload_bytes=self.max_payload_bytes) for event in built]

        sealed = self._append_sealed(build)
        payloads = {event.id: event.payload for event in built}
        return [recorded(s, payloads.get(s.id)) for s in sealed]

    @property
    def registry(self) -> RegistryView:
        """The registry now."""
        return RegistryView(self.store.engine, self._placeholder())

    def registry_as_of(self, moment: int | str | datetime) -> RegistryView:
        """The registry after the last event at or before ``moment`` (a seq,
        an RFC 3339 time or a datetime): e.g.
        ``registry_as_of("2026-03-14T10:00:00Z").version_in_stage("credit-model", "Production")``."""
        return RegistryView(self.store.engine, self._placeholder(), self._seq_of(moment))

    # -- versions ------------------------------------------------------------

    def register_model(
        self,
        name: str,
        run_id: str,
        artifact_path: str = "model",
        description: str | None = None,
        tags: dict[str, str] | None = None,
        owner: str | None = None,
        *,
        actor: str | None = None,
    ) -> ModelVersionView:
        """Register the run's artifacts at ``artifact_path`` as the model's
        next version (1, 2, 3, ...), pinning the run and the SHA-256 of those
        artifacts; the first call registers the model (with ``owner``)."""
        who = self._who(actor)

        def plan(state: RegistryState) -> list[PendingEvent]:
            events = []
            model = state.model(name)
            if model is None:
                payload: dict[str, Any] = {"name": name, "owner": owner, "description": None, "tags": {}}
                events.append(PendingEvent("model.registered", payload, who))
            elif owner is not None and owner != model.owner:
                raise ValidationError(
                    f"model {name!r} is owned by {model.owner!r}; registering a version cannot change that"
                )
            if state.run(run_id) is None:
                raise NotFoundError(f"run {run_id!r} does not exist")
            entries = state.run_artifacts(run_id, artifact_path)
            if not entries:
                raise NotFoundError(f"run {run_id!r} has no artifact at {artifact_path!r}")
            version = state.latest_version(name) + 1
            payload = {
                "name": name,
                "version": version,
                "run_id": run_id,
                "artifact_path": artifact_path,
                "artifact_digest": artifact_digest(entries),
                "description": description,
                "tags": tags or {},
            }
            events.append(PendingEvent("model.version_created", payload, who))
            return events

        event = self._run_plan(plan)[-1]
        return self.registry.get_model_version(name, event.payload["version"])  # type: ignore[index]

    def get_model_version(self, name: str, version: int) -> ModelVersionView:
        return self.registry.get_model_version(name, version)

    def get_model(self, name: str) -> ModelView:
        return self.registry.get_model(name)

    def list_models(self) -> list[ModelView]:
        return self.registry.list_models()

    def search_model_versions(self, filter: str = "", max_results: int = 1000) -> list[ModelVersionView]:
        """Versions matching an MLflow-style filter, e.g. ``"name = 'credit-model'"``,
        ``"name = 'm' and stage = 'Production'"``, ``"tags.risk_tier = 'high'"``, ``"version > 3"``."""
        query = search_versions_query(parse_version_filter(filter), max_results=max_results)
        with self.store.engine.connect() as conn:
            keys = [(row[0], int(row[1])) for row in conn.execute(query)]
        view = self.registry
        return [view.get_model_version(name, version) for name, version in keys]

    def set_model_tags(
        self, name: str, tags: dict[str, str], version: int | None = None, *, actor: str | None = None
    ) -> None:
        """Set tags on the model (``version`` None) or on one version; earlier values stay in the history."""
        payload = {"name": name, "version": version, "tags": tags}
        self._run_plan(lambda state: [PendingEvent("model.tags_set", payload, self._who(actor))])

    # -- stages --------------------------------------------------------------

    def transition_stage(
        self, name: str, version: int, stage: str, reason: str | None = None, *, actor: str | None = None
    ) -> ModelVersionView:
        """Move a version to ``stage`` directly (stages the policy says need
        approval refuse this: use ``request_transition``). Moving into a
        single-holder stage archives its previous holder in the same event."""
        _check_stage(stage)
        _check_version(version)
        who = self._who(actor)

        def plan(state: RegistryState) -> list[PendingEvent]:
            current = state.require_stage(name, version)
            payload = {
                "name": name,
                "version": version,
                "from_stage": current,
                "to_stage": stage,
                "archived_versions": state.handover(name, version, stage),
                "reason": reason,
                "request_id": None,
                "evidence": None,
            }
            return [PendingEvent("model.stage_changed", payload, who)]

        self._run_plan(plan)
        return self.registry.get_model_version(name, version)

    def request_transition(
        self,
        name: str,
        version: int,
        stage: str,
        reason: str | None = None,
        *,
        evidence: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> TransitionRequestView:
        """Ask for a version to move to ``stage``; an approver's approval carries it out."""
        _check_stage(stage)
        _check_version(version)
        payload = {
            "request_id": str(uuid.uuid4()),
            "name": name,
            "version": version,
            "to_stage": stage,
            "reason": reason,
            "evidence": evidence,
        }
        self._run_plan(lambda state: [PendingEvent("model.transition_requested", payload, self._who(actor))])
        return self.registry.request(str(payload["request_id"]))

    def approve_transition(
        self,
        request_id: str,
        comment: str | None = None,
        *,
        actor: str | None = None,
        signing_key: SigningKey | None = None,
    ) -> TransitionRequestView:
        """Approve a pending request and, in the same transaction, carry out
        the transition. The policy decides who may approve (the ``approver``
        role; four-eyes: neither the requester nor the source run's author)
        and whether the approval must be signed; ``signing_key`` signs the
        request's event hash with the approver's registered Ed25519 key."""
        who = self._who(actor)
        key = None if signing_key is None else load_signing_key(signing_key)

        def plan(state: RegistryState) -> list[PendingEvent]:
            request = state.request(request_id)
            if request is None:
                raise NotFoundError(f"transition request {request_id} does not exist")
            signature = kid = None
            if key is not None:
                signature = sign_approval(key, state.event_hash(request["seq"]) or "")
                kid = key_id(who, public_key_b64(key))
            approval = {"request_id": request_id, "comment": comment, "signature": signature, "key_id": kid}
            name, version, to_stage = request["name"], request["version"], request["to_stage"]
            change = {
                "name": name,
                "version": version,
                "from_stage": state.stage(name, version) or "None",
                "to_stage": to_stage,
                "archived_versions": state.handover(name, version, to_stage),
                "reason": request["reason"],
                "request_id": request_id,
                "evidence": request["evidence"],
            }
            return [
                PendingEvent("model.transition_approved", approval, who),
                PendingEvent("model.stage_changed", change, who),
            ]

        self._run_plan(plan)
        return self.registry.request(request_id)

    def reject_transition(
        self, request_id: str, comment: str | None = None, *, actor: str | None = None
    ) -> TransitionRequestView:
        """Reject a pending request (an approver, or its requester withdrawing it)."""
        payload = {"request_id": request_id, "comment": comment}
        self._run_plan(lambda state: [PendingEvent("model.transition_rejected", payload, self._who(actor))])
        return self.registry.request(request_id)

    def promote_if_better(
        self,
        name: str,
        candidate: int,
        metric: str,
        mode: str = "min",
        min_delta: float = 0.0,
        to_stage: str = "Production",
        reason: str | None = None,
        *,
        actor: str | None = None,
    ) -> PromotionDecision:
        """Compare the candidate's ``metric`` with the current holder of
        ``to_stage`` (each from its source run's latest value) and promote the
        candidate only if it is better by more than ``min_delta``. The
        comparison is recorded either way (``model.promotion_evaluated``).
        Where the stage needs approval, a win becomes a transition request
        carrying the comparison as evidence (``decision.request_id``)."""
        check_promotion_stage(to_stage)
        _check_version(candidate)
        is_better(mode, float(min_delta), 0.0, None)  # validates mode and min_delta
        who = self._who(actor)
        outcome: dict[str, Any] = {}

        def plan(state: RegistryState) -> list[PendingEvent]:
            if state.require_stage(name, candidate) == to_stage:
                raise ConflictError(f"version {candidate} of {name!r} is already in {to_stage}")
            champion = state.holder(name, to_stage)
            candidate_run, candidate_value = state.compared("candidate", name, candidate, metric)
            champion_run, champion_value = (
                state.compared("champion", name, champion, metric) if champion else (None, None)
            )
            won = is_better(mode, float(min_delta), candidate_value, champion_value)
            evaluation = PendingEvent(
                "model.promotion_evaluated",
                {
                    "name": name,
                    "candidate": candidate,
                    "candidate_run_id": candidate_run,
                    "candidate_value": candidate_value,
                    "champion": champion,
                    "champion_run_id": champion_run,
                    "champion_value": champion_value,
                    "metric": metric,
                    "mode": mode,
                    "min_delta": float(min_delta),
                    "to_stage": to_stage,
                    "outcome": "won" if won else "lost",
                },
                who,
            )
            outcome.update(evaluation.payload, request_id=None, kind="kept")
            if not won:
                return [evaluation]
            evidence = {
                key: evaluation.payload[key]
                for key in ("metric", "mode", "min_delta", "candidate_value", "champion", "champion_value")
            } | {"evaluation_event": evaluation.id}
            held = "no champion" if champion is None else f"{champion_value:.6g} (version {champion})"
            why = reason or f"promote_if_better: {metric} {candidate_value:.6g} (version {candidate}) vs {held}"
            if to_stage in state.policy(name).approval_stages:
                request_id = str(uuid.uuid4())
                outcome.update(request_id=request_id, kind="requested")
                request = {
                    "request_id": request_id,
                    "name": name,
                    "version": candidate,
                    "to_stage": to_stage,
                    "reason": why,
                    "evidence": evidence,
                }
                return [evaluation, PendingEvent("model.transition_requested", request, who)]
            outcome.update(kind="promoted")
            change = {
                "name": name,
                "version": candidate,
                "from_stage": state.stage(name, candidate),
                "to_stage": to_stage,
                "archived_versions": state.handover(name, candidate, to_stage),
                "reason": why,
                "request_id": None,
                "evidence": evidence,
            }
            return [evaluation, PendingEvent("model.stage_changed", change, who)]

        events = self._run_plan(plan)
        return PromotionDecision(
            name=name,
            candidate=candidate,
            champion=outcome["champion"],
            metric=metric,
            mode=mode,
            min_delta=float(min_delta),
            candidate_value=outcome["candidate_value"],
            champion_value=outcome["champion_value"],
            to_stage=to_stage,
            outcome=outcome["kind"],
            request_id=outcome["request_id"],
            seq=events[0].seq,
        )

    # -- aliases, deployments, history ---------------------------------------

    def set_alias(self, name: str, alias: str, version: int, *, actor: str | None = None) -> None:
        """Point ``alias`` at ``version`` (moving it if it pointed elsewhere)."""
        payload = {"name": name, "alias": alias, "version": _check_version(version)}
        self._run_plan(lambda state: [PendingEvent("model.alias_set", payload, self._who(actor))])

    def delete_alias(self, name: str, alias: str, *, actor: str | None = None) -> None:
        payload = {"name": name, "alias": alias}
        self._run_plan(lambda state: [PendingEvent("model.alias_removed", payload, self._who(actor))])

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersionView:
        return self.registry.get_version_by_alias(name, alias)

    def record_deployment(
        self, name: str, version: int, target: str, environment: str, *, actor: str | None = None
    ) -> None:
        """Record that ``version`` now serves on ``target`` in ``environment``
        (replacing whatever served there)."""
        payload = {"name": name, "version": _check_version(version), "target": target, "environment": environment}
        self._run_plan(lambda state: [PendingEvent("model.deployed", payload, self._who(actor))])

    def model_history(self, name: str) -> list[HistoryEntry]:
        """Every stage, alias, approval, promotion, deployment, tag and policy
        change of the model: seq, time, actor, summary, reason."""
        return self.registry.history(name)

    # -- governance ----------------------------------------------------------

    def grant_role(self, grantee: str, role: str, *, actor: str | None = None) -> None:
        """Give ``grantee`` a role (``admin`` or ``approver``); only admins grant."""
        payload = {"actor": grantee, "role": role}
        self._run_plan(lambda state: [PendingEvent("actor.role_granted", payload, self._who(actor))])

    def revoke_role(self, grantee: str, role: str, *, actor: str | None = None) -> None:
        payload = {"actor": grantee, "role": role}
        self._run_plan(lambda state: [PendingEvent("actor.role_revoked", payload, self._who(actor))])

    def claim_admin(self, *, actor: str | None = None) -> bool:
        """Make ``actor`` the first admin of a ledger that has none (what
        ``mlledger init`` does); False when the ledger already has an admin."""
        who = self._who(actor)

        def plan(state: RegistryState) -> list[PendingEvent]:
            if state.role_holders("admin"):
                return []
            return [PendingEvent("actor.role_granted", {"actor": who, "role": "admin"}, who)]

        return bool(self._run_plan(plan))

    def register_key(
        self,
        public_key: str | Ed25519PublicKey | Ed25519PrivateKey,
        *,
        owner: str | None = None,
        actor: str | None = None,
    ) -> str:
        """Register an Ed25519 public key (base64, or a key object) that
        ``owner`` (default: the actor) signs approvals with; returns its key id."""
        who = self._who(actor)
        text = public_key if isinstance(public_key, str) else public_key_b64(public_key)
        holder = owner or who
        payload = {"actor": holder, "algorithm": "ed25519", "public_key": text}
        self._run_plan(lambda state: [PendingEvent("actor.key_registered", payload, who)])
        return key_id(holder, text)

    def set_policy(
        self,
        name: str,
        *,
        approval_stages: Sequence[str] | None = None,
        single_holder_stages: Sequence[str] | None = None,
        four_eyes: bool | None = None,
        signed_approvals: bool | None = None,
        run_statuses: Sequence[str] | None = None,
        actor: str | None = None,
    ) -> Policy:
        """Change a model's governance policy (admins only); fields left out keep their value."""
        who = self._who(actor)

        def plan(state: RegistryState) -> list[PendingEvent]:
            current = state.policy(name)
            payload = {
                "name": name,
                "approval_stages": list(current.approval_stages if approval_stages is None else approval_stages),
                "single_holder_stages": list(
                    current.single_holder_stages if single_holder_stages is None else single_holder_stages
                ),
                "four_eyes": current.four_eyes if four_eyes is None else four_eyes,
                "signed_approvals": current.signed_approvals if signed_approvals is None else signed_approvals,
                "run_statuses": list(current.run_statuses if run_statuses is None else run_statuses),
            }
            return [PendingEvent("policy.set", payload, who)]

        self._run_plan(plan)
        return self.registry.policy(name)
