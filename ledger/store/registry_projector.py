"""Applies registry and governance events to their read models, inside the
append transaction, after checking the rules that need the ledger's state.

Owns: the registry's integrity rules (a version pins its run and artifact
digest; stages and aliases change only from what they are; a single-holder
stage is handed over in one event; evidence must match the ledger) and the
governance rules of ``ledger.governance`` (approvals, roles, keys, policies),
applied to every append, whoever writes the event: raising rolls the append
back. Like the tracking projector it runs again, leniently, on replays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger.encoding import canonical_json
from ledger.errors import ConflictError, NotFoundError, ValidationError
from ledger.governance import (
    artifact_digest,
    check_alias_name,
    check_approval,
    check_policy,
    check_promotion_stage,
    check_role_name,
    is_better,
    policy_error,
)
from ledger.keys import key_id, verify_approval
from ledger.store.registry_state import RegistryState

__all__ = ["COMPARISON_KEYS", "REGISTRY_TYPES", "RegistryProjector"]

# Evidence carrying any of these must cite the comparison it comes from.
COMPARISON_KEYS = frozenset({"metric", "mode", "min_delta", "candidate_value", "champion", "champion_value"})

Handler = Callable[[Any, int, str, str, dict[str, Any]], None]

REGISTRY_TYPES = (
    "model.registered",
    "model.version_created",
    "model.transition_requested",
    "model.transition_approved",
    "model.transition_rejected",
    "model.stage_changed",
    "model.promotion_evaluated",
    "model.alias_set",
    "model.alias_removed",
    "model.tags_set",
    "model.deployed",
    "actor.key_registered",
    "actor.role_granted",
    "actor.role_revoked",
    "policy.set",
)


def _json(value: Any) -> str:
    return canonical_json(value).decode("utf-8")


class RegistryProjector:
    """The registry handlers, keyed by event type, for ``Projector``."""

    def __init__(self, placeholder: str) -> None:
        self.p = placeholder

    def handlers(self) -> dict[str, Handler]:
        return {
            "model.registered": self._registered,
            "model.version_created": self._version_created,
            "model.transition_requested": self._requested,
            "model.transition_approved": self._approved,
            "model.transition_rejected": self._rejected,
            "model.stage_changed": self._stage_changed,
            "model.promotion_evaluated": self._promotion_evaluated,
            "model.alias_set": self._alias_set,
            "model.alias_removed": self._alias_removed,
            "model.tags_set": self._tags_set,
            "model.deployed": self._deployed,
            "actor.key_registered": self._key_registered,
            "actor.role_granted": self._role_granted,
            "actor.role_revoked": self._role_revoked,
            "policy.set": self._policy_set,
        }

    # -- plumbing ------------------------------------------------------------

    def _state(self, work: Any) -> RegistryState:
        return RegistryState(work.cursor, self.p)

    def _write(self, work: Any, sql: str, *params: Any) -> None:
        work.cursor.execute(sql.replace("?", self.p), params)

    def _log(
        self, work: Any, seq: int, name: str, version: int | None, event: str, time: str, actor: str, p: Any
    ) -> None:
        self._write(
            work,
            "INSERT INTO registry_log (seq, name, version, type, time, actor, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            seq,
            name,
            version,
            event,
            time,
            actor,
            _json(p),
        )

    def _move(self, work: Any, seq: int, name: str, version: int, stage: str) -> None:
        """End the version's current stage interval at ``seq`` and open one in ``stage``."""
        self._write(
            work,
            "UPDATE stage_intervals SET end_seq = ? WHERE name = ? AND version = ? AND end_seq IS NULL",
            seq,
            name,
            version,
        )
        self._write(
            work,
            "INSERT INTO stage_intervals (start_seq, name, version, stage, end_seq) VALUES (?, ?, ?, ?, NULL)",
            seq,
            name,
            version,
            stage,
        )

    @staticmethod
    def _need_model(state: RegistryState, name: str) -> None:
        if state.model(name) is None:
            raise NotFoundError(f"model {name!r} is not registered")

    @staticmethod
    def _need_admin(state: RegistryState, actor: str, what: str) -> None:
        if "admin" not in state.roles(actor):
            raise policy_error("admin_only", f"only an admin can {what}; {actor!r} is not one")

    # -- models and versions -------------------------------------------------

    def _registered(self, work: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        state = self._state(work)
        if state.model(p["name"]) is not None:
            raise ConflictError(f"model {p['name']!r} is already registered")
        self._write(
            work,
            "INSERT INTO registered_models (name, owner, description, creator, time, seq) VALUES (?, ?, ?, ?, ?, ?)",
            p["name"],
            p["owner"],
            p["description"],
            actor,
            time,
            seq,
        )
        self._log(work, seq, p["name"], None, "model.registered", time, actor, p)

    def _version_created(self, work: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        state = self._state(work)
        name, version, run_id = p["name"], p["version"], p["run_id"]
        self._need_model(state, name)
        expected = state.latest_version(name) + 1
        if version != expected:
            raise ConflictError(f"model {name!r}: the next version is {expected}, not {version}")
        run = state.run(run_id)
        if run is None:
            raise NotFoundError(f"run {run_id!r} does not exist")
        policy = state.policy(name)
        if run.status not in policy.run_statuses:
            raise policy_error(
                "run_statuses",
                f"run {run_id!r} is {run.status}; model {name!r} registers versions only from "
                f"{' or '.join(policy.run_statuses)} runs",
            )
        entries = state.run_artifacts(run_id, p["artifact_path"])
        if not entries:
            raise NotFoundError(f"run {run_id!r} has no artifact at {p['artifact_path']!r}")
        digest = artifact_digest(entries)
        if p["artifact_digest"] != digest:
            raise ConflictError(
                f"artifact digest {p['artifact_digest']} does not match the artifacts logged by run {run_id!r} "
                f"at {p['artifact_path']!r} ({digest})"
            )
        self._write(
            work,
            "INSERT INTO model_versions (name, version, run_id, artifact_path, artifact_digest, description, "
            "creator, time, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            name,
            version,
            run_id,
            p["artifact_path"],
            digest,
            p["description"],
            actor,
            time,
            seq,
        )
        self._write(
            work,
            "INSERT INTO stage_intervals (start_seq, name, version, stage, end_seq) VALUES (?, ?, ?, 'None', NULL)",
            seq,
            name,
            version,
        )
        self._version_tags(work, name, version, p["tags"])
        self._log(work, seq, name, version, "model.version_created", time, actor, p)

    def _version_tags(self, work: Any, name: str, version: int, tags: dict[str, str]) -> None:
        work.cursor.executemany(
            "INSERT INTO model_version_tags (name, version, key, value) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value".replace("?", self.p),
            [(name, version, key, value) for key, value in tags.items()],
        )

    def _tags_set(self, work: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        state = self._state(work)
        name, version = p["name"], p["version"]
        if version is None:
            self._need_model(state, name)
        else:
            state.require_stage(name, version)
            self._version_tags(work, name, version, p["tags"])
        self._log(work, seq, name, version, "model.tags_set", time, actor, p)

    # -- requests and approvals ----------------------------------------------

    def _requested(self, work: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        state = self._state(work)
        name, version, to_stage = p["name"], p["version"], p["to_stage"]
        stage = state.require_stage(name, version)
        if stage == to_stage:
            raise ConflictError(f"version {version} of {name!r} is already in {to_stage}")
        if state.request(p["request_id"]) is not None:
            raise ConflictError(f"transition request {p['request_id']} already exists")
        self._check_evidence(state, p["evidence"], name, version, to_stage)
        pending = state.pending_request(name, version, to_stage)
        if pending is not None:
            raise ConflictError(
                f"request {pending} to move version {version} of {name!r} to {to_stage} is already pending"
            )
        self._write(
            work,
            "INSERT INTO transition_requests (request_id, name, version, to_stage, reason, evidence, requester, time, "
            "seq, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
            p["request_id"],
            name,
            version,
            to_stage,
            p["reason"],
            None if p["evidence"] is None else _json(p["evidence"]),
            actor,
            time,
            seq,
        )
        self._log(work, seq, name, version, "model.transition_requested", time, actor, p)

    def _pending(self, state: RegistryState, request_id: str) -> dict[str, Any]:
        request = state.request(request_id)
        if request is None:
            raise NotFoundError(f"transition request {request_id} does not exist")
        if request["status"] != "pending":
            raise ConflictError(
                f"transition request {request_id} was already {request['status']} "
                f"by {request['decided_by']} (event {request['decided_seq']})"
            )
        return request

    def _approved(self, work: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        if (p["signature"] is None) != (p["key_id"] is None):
            raise ValidationError("a signed approval names both its signature and its key_id, an unsigned one neither")
        state = self._state(work)
        request = self._pending(state, p["request_id"])
        name, version = request["name"], request["version"]
        version_row = state.version(name, version)
        run = state.run(version_row.run_id) if version_row else None
        policy = state.policy(name)
        check_approval(
            policy,
            request_id=p["request_id"],
            approver=actor,
            requester=request["requester"],
            run_author=run.author if run else "",
            approver_roles=state.roles(actor),
            signed=p["signature"] is not None,
        )
        if p["signature"] is not None:
            self._check_signature(state, actor, request, p)
        self._write(
            work,
            "UPDATE transition_requests SET status = 'approved', decided_by = ?, decided_time = ?, decided_seq = ?, "
            "comment = ?, signature = ?, key_id = ? WHERE request_id = ?",
            actor,
            time,
            seq,
            p["comment"],
            p["signature"],
            p["key_id"],
            p["request_id"],
        )
        work.approved[p["request_id"]] = seq
        self._log(work, seq, name, version, "model.transition_approved", time, actor, p)

    def _check_signature(self, state: RegistryState, actor: str, request: dict[str, Any], p: dict[str, Any]) -> None:
        public_key = state.key(actor, p["key_id"])
        if public_key is None:
            raise policy_error("signed_approvals", f"{actor!r} has no registered key {p['key_id']}")
        request_hash = state.event_hash(request["seq"])
        if request_hash is None or not verify_approval(public_key, request_hash, p["signature"]):
            raise policy_error(
                "signed_approvals",
                f"the signature does not verify with {actor!r}'s key {p['key_id']} over request "
                f"{request['request_id']} (event {request['seq']})",
            )

    def _rejected(self, work: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        state = self._state(work)
        request = self._pending(state, p["request_id"])
        if actor != request["requester"] and "approver" not in state.roles(actor):
            raise policy_error(
                "approver_role",
                f"{actor!r} neither holds the 'approver' role nor made request {p['request_id']}, so cannot reject it",
            )
        self._write(
            work,
            "UPDATE transition_requests SET status = 'rejected', decided_by = ?, decided_time = ?, decided_seq = ?, "
            "comment = ? WHERE request_id = ?",
            actor,
            time,
            seq,
            p["comment"],
            p["request_id"],
        )
        self._log(work, seq, request["name"], request["version"], "model.transition_rejected", time, actor, p)

    # -- stages, promotion, aliases, deployments -----------------------------

    def _stage_changed(self, work: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        state = self._state(work)
        name, version, to_stage = p["name"], p["version"], p["to_stage"]
        stage = state.require_stage(name, version)
        if stage == to_stage:
            raise ConflictError(f"version {version} of {name!r} is already in {to_stage}")
        if stage != p["from_stage"]:
            raise ConflictError(f"version {version} of {name!r} is in {stage}, not {p['from_stage']}")
        policy = state.policy(name)
        if p["request_id"] is not None or to_stage in policy.approval_stages:
            self._check_request(state, p, seq, actor)
        self._check_evidence(state, p["evidence"], name, version, to_stage)
        expected = state.handover(name, version, to_stage)
        if sorted(p["archived_versions"]) != expected:
            raise ConflictError(
                f"moving version {version} of {name!r} to {to_stage} must archive versions {expected}, "
                f"the event names {sorted(p['archived_versions'])}"
            )
        self._move(work, seq, name, version, to_stage)
        for other in expected:
            self._move(work, seq, name, other, "Archived")
        if p["request_id"] is not None:
            self._write(
                work, "UPDATE transition_requests SET executed_seq = ? WHERE request_id = ?", seq, p["request_id"]
            )
            work.approved.pop(p["request_id"], None)
        self._log(work, seq, name, version, "model.stage_changed", time, actor, p)

    def _check_request(self, state: RegistryState, p: dict[str, Any], seq: int, actor: str) -> None:
        request_id = p["request_id"]
        if request_id is None:
            raise policy_error(
                "approval_required",
                f"moving {p['name']!r} to {p['to_stage']} needs an approved transition request "
                "(request_transition, then an approver approves it)",
            )
        request = state.request(request_id)
        if request is None:
            raise NotFoundError(f"transition request {request_id} does not exist")
        if (request["name"], request["version"], request["to_stage"]) != (p["name"], p["version"], p["to_stage"]):
            raise ConflictError(
                f"transition request {request_id} is for version {request['version']} of {request['name']!r} "
                f"to {request['to_stage']}"
            )
        if request["status"] != "approved":
            raise policy_error(
                "approval_required", f"transition request {request_id} is {request['status']}, not approved"
            )
        if request["executed_seq"] is not None:
            raise ConflictError(
                f"transition request {request_id} was already carried out (event {request['executed_seq']})"
            )
        if (request["decided_seq"], request["decided_by"]) != (seq - 1, actor):
            raise policy_error(
                "approval_required",
                f"request {request_id} was approved by {request['decided_by']!r} at event {request['decided_seq']}; "
                "only the stage change right after an approval, by the approver, carries it out",
            )
        if (p["reason"], p["evidence"]) != (request["reason"], request["evidence"]):
            raise ConflictError(
                f"the stage change carrying out request {request_id} must carry its reason and evidence"
            )

    @staticmethod
    def _check_evidence(
        state: RegistryState, evidence: dict[str, Any] | None, name: str, version: int, to_stage: str
    ) -> None:
        """Evidence citing a ``promote_if_better`` comparison must cite a won
        comparison of this version and stage, with its values."""
        if not evidence:
            return
        if "evaluation_event" not in evidence:
            if COMPARISON_KEYS & set(evidence):
                raise ConflictError(
                    "evidence with comparison values must cite the model.promotion_evaluated event they come from "
                    "(evaluation_event)"
                )
            return
        cited = state.evaluation(str(evidence["evaluation_event"]))
        if cited is None:
            raise NotFoundError(
                f"the evidence cites event {evidence['evaluation_event']}, "
                "which is no promotion evaluation in this ledger"
            )
        holder = state.holder(name, to_stage)
        if cited["champion"] != holder:
            raise ConflictError(
                f"the comparison the evidence cites (event {evidence['evaluation_event']}) was against version "
                f"{cited['champion']}, but {to_stage} is held by version {holder} now: compare again"
            )
        expected = {"name": name, "candidate": version, "to_stage": to_stage, "outcome": "won"}
        expected |= {
            key: cited[key] for key in ("metric", "mode", "min_delta", "candidate_value", "champion", "champion_value")
        }
        found = {**evidence, "name": cited["name"], "candidate": cited["candidate"], "to_stage": cited["to_stage"]}
        found["outcome"] = cited["outcome"]
        wrong = sorted(key for key, value in expected.items() if found.get(key) != value)
        if wrong:
            raise ConflictError(
                f"the evidence does not match the comparison it cites (event {evidence['evaluation_event']}): "
                f"{', '.join(f'{key} {found.get(key)!r} (ledger: {expected[key]!r})' for key in wrong)}"
            )

    def _promotion_evaluated(self, work: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        state = self._state(work)
        name, metric = p["name"], p["metric"]
        check_promotion_stage(p["to_stage"])
        state.require_stage(name, p["candidate"])
        champion = state.holder(name, p["to_stage"])
        candidate_run, candidate_value = state.compared("candidate", name, p["candidate"], metric)
        champion_run, champion_value = (
            (None, None) if champion is None else state.compared("champion", name, champion, metric)
        )
        facts: dict[str, Any] = {
            "candidate_run_id": candidate_run,
            "candidate_value": candidate_value,
            "champion": champion,
            "champion_run_id": champion_run,
            "champion_value": champion_value,
        }
        won = is_better(p["mode"], p["min_delta"], candidate_value, champion_value)
        facts["outcome"] = "won" if won else "lost"
        wrong = {k: (p[k], v) for k, v in facts.items() if p[k] != v}
        if wrong:
            detail = ", ".join(f"{k} {got!r} (ledger: {want!r})" for k, (got, want) in sorted(wrong.items()))
            raise ConflictError(f"promotion evidence for {name!r} does not match the ledger: {detail}")
        self._log(work, seq, name, p["candidate"], "model.promotion_evaluated", time, actor, p)

    def _alias_set(self, work: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        state = self._state(work)
        name, alias, version = p["name"], p["alias"], p["version"]
        check_alias_name(alias)
        state.require_stage(name, version)
        current = state.alias(name, alias)
        if current == version:
            raise ConflictError(f"alias {alias!r} of {name!r} already points to version {version}")
        self._end_alias(work, seq, name, alias)
        self._write(
            work,
            "INSERT INTO alias_intervals (start_seq, name, alias, version, end_seq) VALUES (?, ?, ?, ?, NULL)",
            seq,
            name,
            alias,
            version,
        )
        self._log(work, seq, name, version, "model.alias_set", time, actor, p)

    def _end_alias(self, work: Any, seq: int, name: str, alias: str) -> None:
        self._write(
            work,
            "UPDATE alias_intervals SET end_seq = ? WHERE name = ? AND alias = ? AND end_seq IS NULL",
            seq,
            name,
            alias,
        )

    def _alias_removed(self, work: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        state = self._state(work)
        name, alias = p["name"], p["alias"]
        self._need_model(state, name)
        version = state.alias(name, alias)
        if version is None:
            raise NotFoundError(f"model {name!r} has no alias {alias!r}")
        self._end_alias(work, seq, name, alias)
        self._log(work, seq, name, version, "model.alias_removed", time, actor, p)

    def _deployed(self, work: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        state = self._state(work)
        name, version = p["name"], p["version"]
        if state.require_stage(name, version) == "Archived":
            raise ConflictError(
                f"version {version} of {name!r} is Archived: move it to a live stage before deploying it"
            )
        self._write(
            work,
            "UPDATE deployments SET end_seq = ? WHERE target = ? AND environment = ? AND end_seq IS NULL",
            seq,
            p["target"],
            p["environment"],
        )
        self._write(
            work,
            "INSERT INTO deployments (start_seq, name, version, target, environment, actor, time, end_seq) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            seq,
            name,
            version,
            p["target"],
            p["environment"],
            actor,
            time,
        )
        self._log(work, seq, name, version, "model.deployed", time, actor, p)

    # -- governance ----------------------------------------------------------

    def _key_registered(self, work: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        state = self._state(work)
        owner = p["actor"]
        if actor != owner:
            self._need_admin(state, actor, f"register a key for {owner!r}")
        kid = key_id(owner, p["public_key"])
        if state.key(owner, kid) is not None:
            raise ConflictError(f"{owner!r} already registered key {kid}")
        held = sorted(state.keys(owner))
        if held and actor == owner:  # trust on first use: a later key needs an admin
            self._need_admin(state, actor, f"add a key for {owner!r}, who already has key {held[0]}")
        self._write(
            work,
            "INSERT INTO actor_keys (actor, key_id, public_key, seq) VALUES (?, ?, ?, ?)",
            owner,
            kid,
            p["public_key"],
            seq,
        )

    def _role_granted(self, work: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        state = self._state(work)
        check_role_name(p["role"])
        bootstrap = p["role"] == "admin" and p["actor"] == actor and not state.role_holders("admin")
        if not bootstrap:
            self._need_admin(state, actor, "grant roles")
        if p["role"] in state.roles(p["actor"]):
            raise ConflictError(f"{p['actor']!r} already holds the {p['role']!r} role")
        self._write(
            work,
            "INSERT INTO role_intervals (start_seq, actor, role, granted_by, end_seq) VALUES (?, ?, ?, ?, NULL)",
            seq,
            p["actor"],
            p["role"],
            actor,
        )

    def _role_revoked(self, work: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        state = self._state(work)
        check_role_name(p["role"])
        self._need_admin(state, actor, "revoke roles")
        if p["role"] not in state.roles(p["actor"]):
            raise NotFoundError(f"{p['actor']!r} does not hold the {p['role']!r} role")
        if p["role"] == "admin" and state.role_holders("admin") == [p["actor"]]:
            raise policy_error("last_admin", f"{p['actor']!r} is the last admin; grant admin to someone else first")
        self._write(
            work,
            "UPDATE role_intervals SET end_seq = ? WHERE actor = ? AND role = ? AND end_seq IS NULL",
            seq,
            p["actor"],
            p["role"],
        )

    def _policy_set(self, work: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        state = self._state(work)
        check_policy(p)
        self._need_admin(state, actor, "set a model's policy")
        self._need_model(state, p["name"])
        self._write(work, "INSERT INTO policies (seq, name, body) VALUES (?, ?, ?)", seq, p["name"], _json(p))
        self._log(work, seq, p["name"], None, "policy.set", time, actor, p)
