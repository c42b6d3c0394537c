"""Self-contained proofs that an event is in a ledger, checked offline.

Owns: the proof document of ``mlledger proof`` ::

    {"seq", "hash", "tree_size", "root", "path": [hex, ...],
     "checkpoint": "<signed note text>", "event": {<export line of the event>}}

and its check against a verifier key alone: the note's signature (DESIGN
§5), the note's size and root against the document's, the RFC 9162
inclusion proof of the event hash at ``seq`` (DESIGN §4), and, when the
event is included, its header hash and payload digest (DESIGN §2), so the
document proves *what* the event said, not only that some hash is there.
Pure: dicts and text in, a ``ProofCheck`` out or a ``LedgerError`` raised.
The evidence bundle (``ledger.evidence``) checks each of its events with the
same functions.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from ledger.checkpoint import Checkpoint, VerifierKey, open_note
from ledger.encoding import canonical_json, export_line, header_row_bytes, parse_json
from ledger.errors import LedgerError, ProofError, ValidationError
from ledger.merkle import verify_inclusion

__all__ = ["ProofCheck", "check_event", "check_included", "check_proof", "event_object", "proof_document"]

_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_HEADER: Final = ("seq", "v", "id", "type", "schema", "time", "actor", "payload_digest", "prev")
_DOCUMENT: Final = ("seq", "hash", "tree_size", "root", "path", "checkpoint")


@dataclass(frozen=True)
class ProofCheck:
    """What a verified proof shows: event ``seq`` (``hash``, of ``type``, or
    None when the document carries no event) is in ``origin``'s tree of
    ``tree_size`` events."""

    seq: int
    hash: str
    origin: str
    tree_size: int
    type: str | None
    redacted: bool


def event_object(row: Sequence[Any]) -> dict[str, Any]:
    """The export line (DESIGN §2) of a stored row, as an object."""
    parsed: dict[str, Any] = parse_json(export_line(tuple(row[:9]), row[9], row[10]))
    return parsed


def proof_document(row: Sequence[Any], tree_size: int, root: bytes, path: Sequence[bytes], note: str) -> dict[str, Any]:
    """The proof that the stored event ``row`` is leaf ``row[0]`` of the tree
    of ``tree_size`` events whose root ``note`` signs."""
    return {
        "seq": row[0],
        "hash": row[9],
        "tree_size": tree_size,
        "root": root.hex(),
        "path": [node.hex() for node in path],
        "checkpoint": note,
        "event": event_object(row),
    }


def check_proof(document: Any, verifier: str | VerifierKey) -> ProofCheck:
    """Check a proof document offline; raises ``ValidationError`` when it is
    malformed, ``SignatureError`` when the checkpoint is not signed by
    ``verifier`` and ``ProofError`` when it does not prove what it says."""
    if not isinstance(document, dict):
        raise ValidationError("proof: expected a JSON object")
    missing = [name for name in _DOCUMENT if name not in document]
    if missing:
        raise ValidationError(f"proof: missing {', '.join(missing)}")
    checkpoint = open_note(_text(document["checkpoint"], "checkpoint"), verifier)
    root = _hex(document["root"], "root")
    if (document["tree_size"], root) != (checkpoint.size, checkpoint.root):
        raise ProofError(
            f"proof: tree_size {document['tree_size']} and root {root.hex()[:12]}… are not the checkpoint's "
            f"({checkpoint.size}, {checkpoint.root.hex()[:12]}…)"
        )
    seq, digest = document["seq"], document["hash"]
    check_included(seq, digest, document["path"], checkpoint)
    event = document.get("event")
    if event is None:
        return ProofCheck(seq, digest, checkpoint.origin, checkpoint.size, None, False)
    check_event(event)
    if (event["seq"], event["hash"]) != (seq, digest):
        raise ProofError(f"proof: the event is seq {event['seq']} ({event['hash'][:12]}…), the proof is for {seq}")
    return ProofCheck(seq, digest, checkpoint.origin, checkpoint.size, event["type"], event["payload"] is None)


def check_included(seq: Any, digest: Any, path: Any, checkpoint: Checkpoint) -> None:
    """Event ``seq`` with hash ``digest`` is a leaf of ``checkpoint``'s tree, by the inclusion proof ``path``."""
    if type(seq) is not int or seq < 0:
        raise ValidationError(f"proof: seq {seq!r} is not a whole number >= 0")
    leaf = _hex(digest, "hash")
    if not isinstance(path, list):
        raise ValidationError("proof: path is not a list of hex hashes")
    nodes = [_hex(node, f"path[{index}]") for index, node in enumerate(path)]
    try:
        verify_inclusion(seq, checkpoint.size, leaf, nodes, checkpoint.root)
    except ProofError as e:
        raise ProofError(f"event {seq}: not in the signed tree of {checkpoint.size} events: {e}") from e


def check_event(event: Any) -> None:
    """An export-line object whose header hashes to its ``hash`` and whose
    payload (unless redacted: null) hashes to its ``payload_digest``."""
    if not isinstance(event, dict) or any(name not in event for name in (*_HEADER, "hash", "payload")):
        raise ValidationError("event: expected the nine header fields, hash and payload of an export line")
    seq = event["seq"]
    try:
        header = header_row_bytes(*(event[name] for name in _HEADER))
    except (LedgerError, TypeError) as e:
        raise ValidationError(f"event {seq}: header cannot be encoded: {e}") from e
    recomputed = hashlib.sha256(header).hexdigest()
    if recomputed != event["hash"]:
        raise ProofError(
            f"event {seq}: hash mismatch: stated {str(event['hash'])[:12]}…, recomputed {recomputed[:12]}…"
        )
    if event["payload"] is not None:
        actual = hashlib.sha256(canonical_json(event["payload"])).hexdigest()
        if actual != event["payload_digest"]:
            raise ProofError(
                f"event {seq}: payload altered: payload_digest {str(event['payload_digest'])[:12]}…, "
                f"the payload hashes to {actual[:12]}…"
            )


def _hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise ValidationError(f"proof: {what} is not 64 lowercase hex digits")
    return bytes.fromhex(value)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"proof: {what} is not text")
    return value
