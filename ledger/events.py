"""The event envelope of DESIGN §2: what a writer asks to append
(``PendingEvent``), and what the ledger holds (``RecordedEvent``).

Owns: checking a pending event (type known, payload valid for that type,
id a lowercase UUID, actor given, size limit), and *sealing* it at a position
in the chain, which fixes seq, time, prev, the payload digest and the hash.
Pure: values in, values out. Bytes come from ``ledger.encoding`` only.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from ledger.encoding import (
    FORMAT_VERSION,
    canonical_json,
    event_hash,
    header_row_bytes,
    parse_json,
    payload_digest,
)
from ledger.errors import ValidationError
from ledger.payloads import payload_model

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "PendingEvent",
    "Prepared",
    "RecordedEvent",
    "Sealed",
    "decode_payload",
    "new_event_id",
    "prepare",
    "recorded",
    "seal",
]

DEFAULT_MAX_PAYLOAD_BYTES: Final = 1024 * 1024
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_MAX_ACTOR = 256


def new_event_id() -> str:
    """A fresh event id: a UUIDv7 (RFC 9562), lowercase and hyphenated.

    Time-ordered, so ids generated in sequence land next to each other in the
    unique index on ``events.id`` instead of at random pages of it; formatted
    by hand because ``uuid`` formatting costs more than hashing the event.
    """
    h = f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"
    return f"{h[:8]}-{h[8:12]}-7{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An event a writer wants appended: no position in the chain yet.

    ``id`` is the idempotency key: appending the same event again (same id)
    returns the stored event instead of a second copy.
    """

    type: str
    payload: dict[str, Any]
    actor: str
    id: str = field(default_factory=new_event_id)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A pending event whose payload has been validated and encoded."""

    id: str
    type: str
    schema: int
    actor: str
    payload: dict[str, Any]
    payload_jcs: bytes
    payload_digest: str


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as the ledger holds it: header, hash and payload."""

    seq: int
    id: str
    type: str
    schema: int
    time: str
    actor: str
    payload_digest: str
    prev: str
    hash: str
    payload: dict[str, Any] | None  # None when redacted
    v: int = FORMAT_VERSION

    def header(self) -> dict[str, Any]:
        """The nine header fields of DESIGN §2."""
        return {
            "v": self.v,
            "seq": self.seq,
            "id": self.id,
            "type": self.type,
            "schema": self.schema,
            "time": self.time,
            "actor": self.actor,
            "payload_digest": self.payload_digest,
            "prev": self.prev,
        }


class Sealed(NamedTuple):
    """A prepared event placed in the chain, in table-column order: the
    ``events`` row is ``sealed[:10]``; ``payload_text`` goes to ``payloads``.
    A row read back from the store has the same shape (``Sealed(*row)``)."""

    seq: int
    v: int
    id: str
    type: str
    schema: int
    time: str
    actor: str
    payload_digest: str
    prev: str
    hash: str
    payload_text: str | None  # None when redacted


def prepare(event: PendingEvent, *, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> Prepared:
    """Validate a pending event and encode its payload; raises ValidationError."""
    event_id = event.id
    if not isinstance(event_id, str) or not _UUID.fullmatch(event_id):
        raise ValidationError(f"event id {event_id!r} is not a lowercase hyphenated UUID")
    if not isinstance(event.actor, str) or not event.actor.strip():
        raise ValidationError(f"event {event_id}: actor must be a non-empty string")
    if len(event.actor) > _MAX_ACTOR:
        raise ValidationError(f"event {event_id}: actor is {len(event.actor)} characters, at most {_MAX_ACTOR} allowed")
    try:
        event.actor.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValidationError(f"event {event_id}: actor is not valid UTF-8 text") from e
    model = payload_model(event.type)
    try:
        payload = model.check(event.payload)
        jcs = canonical_json(payload)
    except ValidationError as e:
        raise type(e)(f"event {event_id} ({event.type}): {e}") from e
    if len(jcs) > max_payload_bytes:
        raise ValidationError(
            f"event {event_id} ({event.type}): payload is {len(jcs)} bytes, the limit is {max_payload_bytes}"
        )
    return Prepared(event_id, event.type, model.SCHEMA_VERSION, event.actor, payload, jcs, payload_digest(jcs))


def seal(prepared: Prepared, *, seq: int, prev: str, time: str) -> Sealed:
    """Fix a prepared event at ``seq`` after the event whose hash is ``prev``."""
    p = prepared
    header = header_row_bytes(seq, FORMAT_VERSION, p.id, p.type, p.schema, time, p.actor, p.payload_digest, prev)
    return Sealed(
        seq,
        FORMAT_VERSION,
        p.id,
        p.type,
        p.schema,
        time,
        p.actor,
        p.payload_digest,
        prev,
        event_hash(header),
        p.payload_jcs.decode("utf-8"),
    )


def recorded(row: Sequence[Any], payload: dict[str, Any] | None = None) -> RecordedEvent:
    """A stored row (or a just-sealed event: same shape, see ``Sealed``) as a
    RecordedEvent; ``payload``, when known, saves decoding the stored text."""
    seq, v, id_, type_, schema, time, actor, digest, prev, hash_, body = row
    return RecordedEvent(
        seq,
        id_,
        type_,
        schema,
        time,
        actor,
        digest,
        prev,
        hash_,
        payload if payload is not None else decode_payload(body),
        v,
    )


def decode_payload(text: str | None) -> dict[str, Any] | None:
    """The payload object of a stored JCS text (None stays None: redacted)."""
    if text is None:
        return None
    value = parse_json(text, exact_integers=False)
    if not isinstance(value, dict):
        raise ValidationError("stored payload is not a JSON object")
    return value
