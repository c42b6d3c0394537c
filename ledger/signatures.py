"""Re-checking signed approvals from the events alone (``mlledger verify``).

Owns: deciding, from the ``actor.key_registered``, ``model.transition_requested``
and ``model.transition_approved`` events fed in ``seq`` order, whether every
signed approval is an Ed25519 signature, by a key its approver registered
before approving, over the hash of the request event it approves. Pure: the
caller streams the rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from ledger.encoding import parse_json
from ledger.errors import LedgerError
from ledger.keys import key_id, verify_approval
from ledger.verify import Fault

__all__ = ["SIGNATURE_TYPES", "check_approval_signatures"]

SIGNATURE_TYPES: Final = ("actor.key_registered", "model.transition_requested", "model.transition_approved")


def check_approval_signatures(rows: Iterable[tuple[Any, ...]]) -> tuple[int, list[Fault]]:
    """(signed approvals checked, faults) over rows of (seq, type, actor, hash, payload text)."""
    keys: dict[tuple[str, str], str] = {}
    requests: dict[str, str] = {}  # request id -> the request event's hash
    checked, faults = 0, []
    for seq, event_type, actor, event_hash, body in rows:
        payload = _payload(body)
        if payload is None:  # redacted or unreadable: the chain pass reports it
            continue
        if event_type == "actor.key_registered":
            try:
                keys[(payload["actor"], key_id(payload["actor"], payload["public_key"]))] = payload["public_key"]
            except (KeyError, TypeError, LedgerError):
                continue
        elif event_type == "model.transition_requested":
            requests.setdefault(str(payload.get("request_id")), event_hash)
        elif payload.get("signature") is not None:
            checked += 1
            problem = _problem(payload, actor, keys, requests)
            if problem:
                faults.append(Fault(seq, "signature_invalid", problem))
    return checked, faults


def _payload(body: str | None) -> dict[str, Any] | None:
    if not isinstance(body, str):
        return None
    try:
        value = parse_json(body, exact_integers=False)
    except LedgerError:
        return None
    return value if isinstance(value, dict) else None


def _problem(payload: dict[str, Any], actor: str, keys: dict[tuple[str, str], str], requests: dict[str, str]) -> str:
    request_id, kid = str(payload.get("request_id")), str(payload.get("key_id"))
    request_hash = requests.get(request_id)
    if request_hash is None:
        return f"approval of request {request_id}, which no earlier event made"
    public_key = keys.get((actor, kid))
    if public_key is None:
        return f"signed with key {kid}, which {actor!r} had not registered"
    if not verify_approval(public_key, request_hash, str(payload["signature"])):
        return f"the signature by {actor!r} (key {kid}) does not verify over request {request_id} ({request_hash[:12]})"
    return ""
