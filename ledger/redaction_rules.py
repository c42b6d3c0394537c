"""Redaction (DESIGN §6) as pure rules: which events may lose their payload,
what a redaction records about its target, and what a replay projects in
place of an erased payload.

Owns: the redactable types and why the others are not, the marker
``[redacted]`` the read models show, the *subject* of a redaction (the
non-personal identifiers of what was erased: a run and the keys of its
params, metrics or tags; a data version; a model's tag keys), the stand-in
payload a replay projects for an erased event, and the words of the rules'
errors. The store applies these rules inside the append transaction
(``ledger.store.redaction_projector``); nothing here reads or writes anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ledger.governance import policy_error

__all__ = [
    "REDACTABLE_TYPES",
    "REDACTED",
    "Redaction",
    "check_redactable",
    "redaction_subject",
    "stand_in_payload",
]

REDACTED: Final = "[redacted]"

# Only payloads the ledger never reads again may be erased: nothing in them
# decides whether a later event is accepted, and a rebuild without them still
# reaches the state the ledger enforced. That rules out run.started and
# run.finished (a run's existence and status gate every later log),
# run.artifact_logged (a model version pins the digest of its artifacts),
# experiment.created, and every registry and governance event: requests,
# approvals and stage changes carry signatures that `verify` re-checks and
# evidence later events must match, and roles, keys and policies decide who
# may do what, so erasing one would break those checks and make a rebuilt
# registry differ from the one the ledger enforced. model.tags_set is the one
# registry event no rule reads. A data version's registration keeps its name
# and version in the redaction's subject, which is all the rules that build on
# it need (a later version derives from it); its digest, once erased, cannot
# be compared, so a later input or registration of that version is refused,
# live and after a rebuild alike. (A ledger.redacted event is the record of
# an erasure: it is never erased itself.)
REDACTABLE_TYPES: Final = (
    "run.params_logged",
    "run.metrics_logged",
    "run.tags_set",
    "run.input_logged",
    "dataset.version_registered",
    "model.tags_set",
)


@dataclass(frozen=True, slots=True)
class Redaction:
    """A ``ledger.redacted`` event that erased the payload of ``target_seq``.

    ``subject`` is None for a redaction written before the payload carried
    one (``ledger.redacted`` schema version 1).
    """

    seq: int
    target_seq: int
    target_type: str
    subject: dict[str, Any] | None
    reason: str
    legal_basis: str
    actor: str
    time: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "target_seq": self.target_seq,
            "target_type": self.target_type,
            "subject": self.subject,
            "reason": self.reason,
            "legal_basis": self.legal_basis,
            "actor": self.actor,
            "time": self.time,
        }

    def __str__(self) -> str:
        return (
            f"redacted by event {self.seq} on {self.time} by {self.actor} "
            f"(reason: {self.reason}, legal basis: {self.legal_basis})"
        )


def check_redactable(target_seq: int, target_type: str) -> None:
    """PolicyError (rule ``redactable_types``) unless events of ``target_type`` may be redacted."""
    if target_type == "ledger.redacted":
        raise policy_error(
            "redactable_types",
            f"event {target_seq} is a ledger.redacted event, the record of an erasure: it cannot be redacted",
        )
    if target_type not in REDACTABLE_TYPES:
        raise policy_error(
            "redactable_types",
            f"event {target_seq} ({target_type}) cannot be redacted: the ledger needs its payload to enforce its "
            f"rules and rebuild its state; redactable types: {', '.join(REDACTABLE_TYPES)}",
        )


def redaction_subject(event_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The non-personal identifiers of a redactable event's payload: what a
    redaction of it records (``LedgerRedacted.subject``)."""
    match event_type:
        case "run.params_logged":
            return {"run_id": payload["run_id"], "keys": sorted(payload["params"])}
        case "run.metrics_logged":
            return {"run_id": payload["run_id"], "keys": sorted({m["key"] for m in payload["metrics"]})}
        case "run.tags_set":
            return {"run_id": payload["run_id"], "keys": sorted(payload["tags"])}
        case "run.input_logged":
            return {"run_id": payload["run_id"]}
        case "dataset.version_registered":
            return {"name": payload["name"], "version": payload["version"]}
        case "model.tags_set":
            return {"name": payload["name"], "version": payload.get("version"), "keys": sorted(payload["tags"])}
    check_redactable(-1, event_type)
    raise AssertionError("unreachable")  # every redactable type has a case above


def stand_in_payload(event_type: str, subject: Mapping[str, Any]) -> dict[str, Any] | None:
    """What a replay projects for an erased payload of ``event_type``, from the
    redaction's ``subject``: its keys with the value ``[redacted]`` (a data
    version: its name and version, the digest ``[redacted]``, nothing else);
    None when the event projects nothing once erased (metrics).

    Applying the redaction to the state an incremental append left (see
    ``ledger.store.redaction_projector``) yields the same rows as replaying
    this stand-in and then the redaction: a rebuild equals the live ledger.
    """
    match event_type:
        case "run.params_logged":
            return {"run_id": subject["run_id"], "params": dict.fromkeys(subject["keys"], REDACTED)}
        case "run.tags_set":
            return {"run_id": subject["run_id"], "tags": dict.fromkeys(subject["keys"], REDACTED)}
        case "run.input_logged":
            return {
                "run_id": subject["run_id"],
                "name": REDACTED,
                "version": REDACTED,
                "digest": REDACTED,
                "source": None,
                "context": None,
                "columns": None,
                "num_rows": None,
            }
        case "dataset.version_registered":
            return {
                "name": subject["name"],
                "version": subject["version"],
                "digest": REDACTED,
                "source": None,
                "derived_from": [],
                "transform": None,
                "columns": None,
                "num_rows": None,
            }
        case "model.tags_set":
            tags = dict.fromkeys(subject["keys"], REDACTED)
            return {"name": subject["name"], "version": subject["version"], "tags": tags}
    return None
