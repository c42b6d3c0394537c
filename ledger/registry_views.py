"""What the registry looks like, now or as of any ``seq``: typed views read
from the registry read models.

Owns: the value types the registry API returns (``ModelVersionView``,
``TransitionRequestView``, ``HistoryEntry``, ...), the one-line summary of
each registry event, and ``RegistryView``, which answers every registry
question bounded by a ``seq`` through ``RegistryState`` (an indexed lookup
in the interval tables, never a replay).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine

from ledger.errors import NotFoundError
from ledger.governance import Policy
from ledger.store.registry_state import RegistryState

__all__ = [
    "DeploymentView",
    "HistoryEntry",
    "ModelVersionView",
    "ModelView",
    "PromotionDecision",
    "RegistryView",
    "TransitionRequestView",
    "summarize",
]

_STAGE_EVENTS = ("model.version_created", "model.stage_changed", "model.alias_set", "model.alias_removed")


@dataclass(frozen=True, slots=True)
class ModelView:
    name: str
    owner: str | None
    description: str | None
    tags: dict[str, str]
    creator: str
    time: str
    seq: int
    latest_version: int
    policy: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ModelVersionView:
    """A registered version: what it was pinned to, and its stage and aliases then."""

    name: str
    version: int
    run_id: str
    artifact_path: str
    artifact_digest: str
    description: str | None
    tags: dict[str, str]
    creator: str
    time: str
    seq: int
    stage: str
    stage_since_seq: int
    aliases: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        result = asdict(self)
        result["aliases"] = list(self.aliases)
        return result


@dataclass(frozen=True, slots=True)
class TransitionRequestView:
    request_id: str
    name: str
    version: int
    to_stage: str
    reason: str | None
    evidence: dict[str, Any] | None
    requester: str
    time: str
    seq: int
    status: str  # pending, approved, rejected
    decided_by: str | None
    decided_time: str | None
    decided_seq: int | None
    comment: str | None
    signature: str | None
    key_id: str | None
    executed_seq: int | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class DeploymentView:
    seq: int
    name: str
    version: int
    target: str
    environment: str
    actor: str
    time: str
    replaced_seq: int | None
    live: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One registry event of a model, as ``model_history`` lists it."""

    seq: int
    time: str
    actor: str
    type: str
    version: int | None
    summary: str
    reason: str | None
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def touches_stage(self, version: int) -> bool:
        """A registration, stage change or alias change of ``version``, or a
        stage change that archived it."""
        if self.type not in _STAGE_EVENTS:
            return False
        return self.version == version or version in self.detail.get("archived_versions", ())

    def compares(self, version: int) -> bool:
        """A ``promote_if_better`` comparison with ``version`` as candidate or champion."""
        return self.type == "model.promotion_evaluated" and version in (self.version, self.detail.get("champion"))


@dataclass(frozen=True, slots=True)
class PromotionDecision:
    """The outcome of ``promote_if_better``: ``promoted`` (moved now),
    ``requested`` (won, awaiting approval: ``request_id``) or ``kept`` (lost)."""

    name: str
    candidate: int
    champion: int | None
    metric: str
    mode: str
    min_delta: float
    candidate_value: float
    champion_value: float | None
    to_stage: str
    outcome: str
    request_id: str | None
    seq: int  # the model.promotion_evaluated event

    @property
    def won(self) -> bool:
        return self.outcome != "kept"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "won": self.won}


def _number(value: Any) -> str:
    return "none" if value is None else f"{value:.6g}"


def summarize(event_type: str, version: int | None, p: dict[str, Any]) -> str:  # noqa: PLR0911 - a line per type
    """One readable line for a registry event's payload."""
    v = f"version {version}"
    match event_type:
        case "model.registered":
            return f"model registered (owner {p.get('owner') or 'none'})"
        case "model.version_created":
            return f"{v} registered from run {p['run_id']} ({p['artifact_path']}, {p['artifact_digest'][:19]}…)"
        case "model.transition_requested":
            return f"request {p['request_id']}: {v} → {p['to_stage']}"
        case "model.transition_approved":
            signed = f", signed with key {p['key_id']}" if p.get("signature") else ""
            return f"request {p['request_id']} approved{signed}"
        case "model.transition_rejected":
            return f"request {p['request_id']} rejected"
        case "model.stage_changed":
            archived = ", ".join(str(a) for a in p["archived_versions"])
            tail = f" (archived version {archived})" if archived else ""
            via = f" via request {p['request_id']}" if p.get("request_id") else ""
            return f"{v}: {p['from_stage']} → {p['to_stage']}{tail}{via}"
        case "model.promotion_evaluated":
            champion = (
                "no champion"
                if p["champion"] is None
                else f"version {p['champion']} {p['metric']}={_number(p['champion_value'])}"
            )
            return (
                f"promote_if_better to {p['to_stage']}: {v} {p['metric']}={_number(p['candidate_value'])} vs "
                f"{champion} ({p['mode']}, min_delta {p['min_delta']:g}): {p['outcome']}"
            )
        case "model.alias_set":
            return f"alias {p['alias']!r} → {v}"
        case "model.alias_removed":
            return f"alias {p['alias']!r} removed (was {v})"
        case "model.tags_set":
            return f"tags set on {v if version else 'the model'}: {', '.join(sorted(p['tags']))}"
        case "model.deployed":
            return f"{v} deployed to {p['target']} ({p['environment']})"
        case "policy.set":
            return (
                f"policy: approval for {', '.join(p['approval_stages']) or 'no stage'}; "
                f"four-eyes {'on' if p['four_eyes'] else 'off'}; signed approvals "
                f"{'required' if p['signed_approvals'] else 'optional'}"
            )
    return event_type


class RegistryView:
    """The registry after event ``at`` (None: now) of the database behind
    ``engine``. Each call reads on a fresh pooled connection."""

    def __init__(self, engine: Engine, placeholder: str, at: int | None = None) -> None:
        self.engine = engine
        self.placeholder = placeholder
        self.at = at

    @contextmanager
    def _state(self) -> Iterator[RegistryState]:
        """One read transaction on a snapshot, so the several statements of a
        call see one state even while others append (SQLite: a WAL read
        transaction; PostgreSQL: REPEATABLE READ)."""
        raw = self.engine.raw_connection()
        try:
            raw.rollback()  # whatever the pool's ping began
            cursor = raw.cursor()
            postgres = self.placeholder == "%s"
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ" if postgres else "BEGIN")
            yield RegistryState(cursor, self.placeholder, self.at)
        finally:
            raw.rollback()
            raw.close()

    # -- models and versions -------------------------------------------------

    def list_models(self) -> list[ModelView]:
        with self._state() as state:
            return [self._model(state, name) for name in state.model_names()]

    def get_model(self, name: str) -> ModelView:
        with self._state() as state:
            return self._model(state, name)

    def _model(self, state: RegistryState, name: str) -> ModelView:
        row = state.model(name)
        if row is None:
            raise NotFoundError(f"model {name!r} is not registered{self._when()}")
        name, owner, description, creator, time, seq = row
        tags = state.tags(name, None)
        return ModelView(
            name, owner, description, tags, creator, time, seq, state.latest_version(name), state.policy(name).to_json()
        )

    def get_model_version(self, name: str, version: int) -> ModelVersionView:
        with self._state() as state:
            return self._version(state, name, version)

    def versions(self, name: str) -> list[ModelVersionView]:
        with self._state() as state:
            self._model(state, name)
            return [self._version(state, name, row.version) for row in state.versions(name)]

    def _version(self, state: RegistryState, name: str, version: int) -> ModelVersionView:
        row = state.version(name, version)
        if row is None:
            self._model(state, name)
            raise NotFoundError(f"model {name!r} has no version {version}{self._when()}")
        stage, since = state.stage(name, version), state.stage_since(name, version)
        aliases = tuple(alias for alias, v in state.aliases(name).items() if v == version)
        name, version, run_id, path, digest, description, creator, time, seq = row
        return ModelVersionView(
            name=name,
            version=version,
            run_id=run_id,
            artifact_path=path,
            artifact_digest=digest,
            description=description,
            tags=state.tags(name, version),
            creator=creator,
            time=time,
            seq=seq,
            stage=stage or "None",
            stage_since_seq=since if since is not None else seq,
            aliases=aliases,
        )

    def version_in_stage(self, name: str, stage: str) -> int | None:
        """The version in ``stage`` (the latest moved there), or None."""
        versions = self.versions_in_stage(name, stage)
        return versions[0] if versions else None

    def versions_in_stage(self, name: str, stage: str) -> list[int]:
        with self._state() as state:
            self._model(state, name)
            return state.holders(name, stage)

    def aliases(self, name: str) -> dict[str, int]:
        with self._state() as state:
            self._model(state, name)
            return state.aliases(name)

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersionView:
        with self._state() as state:
            version = state.alias(name, alias)
            if version is None:
                self._model(state, name)
                raise NotFoundError(f"model {name!r} has no alias {alias!r}{self._when()}")
            return self._version(state, name, version)

    # -- governance ----------------------------------------------------------

    def request(self, request_id: str) -> TransitionRequestView:
        with self._state() as state:
            row = state.request(request_id)
        if row is None:
            raise NotFoundError(f"transition request {request_id} does not exist{self._when()}")
        return TransitionRequestView(**row)

    def requests(self, name: str) -> list[TransitionRequestView]:
        with self._state() as state:
            return [TransitionRequestView(**row) for row in state.requests(name)]

    def roles(self) -> dict[str, list[str]]:
        """Every actor holding a role, and the roles."""
        with self._state() as state:
            return state.all_roles()

    def keys(self, actor: str) -> dict[str, str]:
        """The actor's registered public keys by key id."""
        with self._state() as state:
            return state.keys(actor)

    def policy(self, name: str) -> Policy:
        with self._state() as state:
            return state.policy(name)

    def deployments(self, name: str) -> list[DeploymentView]:
        with self._state() as state:
            return [DeploymentView(name=name, **row) for row in state.deployments(name)]

    def deployment(self, target: str, environment: str) -> tuple[str, int] | None:
        """(model, version) live on a target and environment."""
        with self._state() as state:
            row = state.deployment_at(target, environment)
        return None if row is None else (row[1], int(row[2]))

    def history(self, name: str) -> list[HistoryEntry]:
        """Every registry event of the model in order: stage, alias, approval,
        promotion, deployment, tag and policy changes."""
        with self._state() as state:
            self._model(state, name)
            rows = state.history(name)
        entries = []
        for seq, event_type, time, actor, version, detail in rows:
            payload = json.loads(detail)
            reason = payload.get("reason") or payload.get("comment")
            entries.append(
                HistoryEntry(
                    seq, time, actor, event_type, version, summarize(event_type, version, payload), reason, payload
                )
            )
        return entries

    def stage_history(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """Stage intervals: {version, stage, from_seq, to_seq (None: still)}."""
        with self._state() as state:
            rows = state.stage_history(name, version)
        return [{"version": v, "stage": s, "from_seq": a, "to_seq": e} for v, s, a, e in rows]

    def snapshot(self) -> dict[str, Any]:
        """The whole registry state as plain data (compared by the property tests)."""
        models = {}
        for model in self.list_models():
            models[model.name] = {
                "model": model.to_json(),
                "versions": [v.to_json() for v in self.versions(model.name)],
                "requests": [r.to_json() for r in self.requests(model.name)],
                "deployments": [d.to_json() for d in self.deployments(model.name)],
                "history": [h.to_json() for h in self.history(model.name)],
                "stage_history": self.stage_history(model.name),
            }
        return {"models": models, "roles": self.roles()}

    def _when(self) -> str:
        return "" if self.at is None else f" as of event {self.at}"
