"""The one place where ledger data becomes bytes (DESIGN §2).

Owns: RFC 8785 canonical JSON (JCS) of payloads, the canonical bytes of an
event header, the payload digest and the event hash, and strict parsing of
JSON text that comes from outside (no duplicate keys, no NaN/Infinity).
Nothing else in mlledger calls ``json.dumps`` on data that is hashed.

``canonical_json`` is a fast path over the C ``json`` encoder, used only where
its output provably equals RFC 8785; anything else (floats below 1e-4 or
integral floats from 2**53, keys outside the Basic Multilingual Plane, whose
UTF-16 order differs from code point order) goes to the reference encoder,
the ``rfc8785`` package. ``tests/property/test_encoding.py`` checks the two
are byte-identical on arbitrary payloads.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import rfc8785

from ledger.errors import EncodingError

__all__ = [
    "FORMAT_VERSION",
    "GENESIS_PREV",
    "MAX_SAFE_INTEGER",
    "canonical_json",
    "event_hash",
    "export_line",
    "format_time",
    "header_bytes",
    "header_row_bytes",
    "parse_json",
    "parse_stored_json",
    "payload_digest",
]

FORMAT_VERSION: Final = 1
GENESIS_PREV: Final = "0" * 64
MAX_SAFE_INTEGER: Final = 2**53 - 1
_TWO_53: Final = float(2**53)

_NON_BMP = re.compile("[\U00010000-\U0010ffff]")
_JSON = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False, check_circular=False
)
# JSONEncoder.encode builds a C encoder on every call; building it once halves
# the cost. No cycle check: the I-JSON walk before encoding meets any cycle
# first (RecursionError).
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_C_ENCODER: Any = (
    _c_make_encoder(None, None, json.encoder.encode_basestring, None, ":", ",", True, False, False)
    if _c_make_encoder is not None
    else None
)


def _encode(value: Any) -> str:
    if _C_ENCODER is None:
        return _JSON.encode(value)
    return "".join(_C_ENCODER(value, 0))


# encode_basestring (ensure_ascii=False) escapes exactly what RFC 8785 escapes:
# '"', '\\' and U+0000..U+001F, with \b \t \n \f \r and lowercase \u00XX.
_quote: Any = json.encoder.encode_basestring


class _NeedsReference(Exception):  # noqa: N818 - a signal, not an error
    """The fast path cannot prove its output equals RFC 8785 for this value."""


def canonical_json(value: Any) -> bytes:
    """Return the RFC 8785 bytes of an I-JSON value.

    Raises ``EncodingError`` for NaN/Infinity, integers beyond ±(2**53-1),
    non-string keys, unsupported types and text that is not valid Unicode
    (lone surrogates).
    """
    try:
        text = _encode(_canon(value))
    except _NeedsReference:
        return _reference(value)
    except RecursionError as e:
        raise EncodingError("value is nested too deeply (or contains itself)") from e
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise EncodingError(f"text is not valid UTF-8: {e.reason} at {e.start}") from e


def _reference(value: Any) -> bytes:
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as e:
        raise EncodingError(str(e)) from e
    except RecursionError as e:
        raise EncodingError("value is nested too deeply (or contains itself)") from e


def _canon(value: Any) -> Any:
    """Check I-JSON rules and return ``value``, or a copy where integral floats
    are ints (the C encoder then prints exactly what RFC 8785 prints).
    Containers are copied only where something inside changed.

    Raises ``_NeedsReference`` where only the reference encoder is right.
    """
    kind = type(value)
    if kind is dict:
        copy = None
        for key, item in value.items():
            if type(key) is not str:
                raise EncodingError(f"object key {key!r} is not a string")
            if not key.isascii() and _NON_BMP.search(key):
                raise _NeedsReference
            new = _canon_item(item)
            if new is not item:
                if copy is None:
                    copy = dict(value)
                copy[key] = new
        return value if copy is None else copy
    if kind is list or kind is tuple:
        items = list(value)
        for index, item in enumerate(items):
            items[index] = _canon_item(item)
        return items
    return _canon_item(value)


def _canon_item(item: Any) -> Any:
    kind = type(item)
    if kind is str or kind is bool or item is None:
        return item
    if kind is int:
        if -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
            return item
        raise EncodingError(f"integer {item} is outside the I-JSON range ±(2**53-1)")
    if kind is float:
        if item - item != 0.0:  # NaN or ±Infinity
            raise EncodingError(
                f"{item} is not a JSON number; store non-finite metric values as "
                'the strings "NaN", "Infinity" or "-Infinity"'
            )
        if item.is_integer():
            # Below 2**53 a double's shortest digits are its integer digits, which
            # is what ECMAScript prints; -0.0 becomes 0 as RFC 8785 requires.
            if -_TWO_53 < item < _TWO_53:
                return int(item)
            raise _NeedsReference
        # A non-integral double is below 2**53 < 1e16, so repr() uses fixed
        # notation exactly when ECMAScript does: from 1e-4 up.
        if -1e-4 < item < 1e-4:
            raise _NeedsReference
        return item
    if kind is dict or kind is list or kind is tuple:
        return _canon(item)
    if isinstance(item, Mapping | Sequence) and not isinstance(item, str | bytes):
        raise _NeedsReference
    raise EncodingError(f"{kind.__name__} is not a JSON type: {item!r:.60}")


def payload_digest(payload_jcs: bytes) -> str:
    """Lowercase hex SHA-256 of a payload's canonical bytes."""
    return hashlib.sha256(payload_jcs).hexdigest()


def header_bytes(
    *,
    seq: int,
    id: str,
    type: str,
    schema: int,
    time: str,
    actor: str,
    payload_digest: str,
    prev: str,
    v: int = FORMAT_VERSION,
) -> bytes:
    """RFC 8785 bytes of an event header (DESIGN §2)."""
    return header_row_bytes(seq, v, id, type, schema, time, actor, payload_digest, prev)


def header_row_bytes(
    seq: int,
    v: int,
    event_id: str,
    event_type: str,
    schema: int,
    time: str,
    actor: str,
    digest: str,
    prev: str,
) -> bytes:
    """``header_bytes`` taking the fields in table-column order (hot paths)."""
    if not (
        type(seq) is int
        and type(schema) is int
        and type(v) is int
        and -MAX_SAFE_INTEGER <= seq <= MAX_SAFE_INTEGER
        and -MAX_SAFE_INTEGER <= schema <= MAX_SAFE_INTEGER
        and -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER
    ):
        raise EncodingError(f"header integers must be integers: seq={seq!r} schema={schema!r} v={v!r}")
    try:
        plain = actor + event_id + event_type + time + digest + prev
    except TypeError as e:
        raise EncodingError(f"event {seq}: header text fields must be strings") from e
    # Keys in UTF-16 order, as RFC 8785 sorts them. One escape check over all
    # six strings: usually none needs escaping, and six calls cost more.
    if len(_quote(plain)) == len(plain) + 2:
        text = (
            f'{{"actor":"{actor}","id":"{event_id}","payload_digest":"{digest}","prev":"{prev}",'
            f'"schema":{schema},"seq":{seq},"time":"{time}","type":"{event_type}","v":{v}}}'
        )
    else:
        text = (
            f'{{"actor":{_quote(actor)},"id":{_quote(event_id)},'
            f'"payload_digest":{_quote(digest)},"prev":{_quote(prev)},'
            f'"schema":{schema},"seq":{seq},"time":{_quote(time)},'
            f'"type":{_quote(event_type)},"v":{v}}}'
        )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise EncodingError(f"event {seq}: header text is not valid UTF-8: {e.reason}") from e


def export_line(header: tuple[int, int, str, str, int, str, str, str, str], hash: str, payload_jcs: str | None) -> str:
    """One line of ``mlledger export --format jsonl``: header, hash, payload.

    The payload is written as its stored RFC 8785 text (``null`` when
    redacted), so the line is itself canonical JSON and carries the exact
    bytes the payload digest commits to.
    """
    seq, v, event_id, event_type, schema, time, actor, digest, prev = header
    payload = "null" if payload_jcs is None else payload_jcs
    return (
        f'{{"actor":{_quote(actor)},"hash":{_quote(hash)},"id":{_quote(event_id)},'
        f'"payload":{payload},"payload_digest":{_quote(digest)},"prev":{_quote(prev)},'
        f'"schema":{schema},"seq":{seq},"time":{_quote(time)},'
        f'"type":{_quote(event_type)},"v":{v}}}'
    )


def hash_bytes(stored: object) -> bytes:
    """The raw bytes of a stored hex hash. A tampered cell that is not hex
    gives the bytes it holds, so whatever hashes it differs from the original."""
    if isinstance(stored, str):
        try:
            return bytes.fromhex(stored)
        except ValueError:
            return stored.encode("utf-8", "surrogatepass")
    if isinstance(stored, bytes | bytearray | memoryview):
        return bytes(stored)
    return repr(stored).encode()


def event_hash(header: bytes) -> str:
    """Lowercase hex SHA-256 of a header's canonical bytes."""
    return hashlib.sha256(header).hexdigest()


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds and 'Z': 2026-11-26T10:50:03.123456Z."""
    if moment.tzinfo is None:
        raise EncodingError(f"time {moment.isoformat()} has no time zone")
    # isoformat is C and several times faster than strftime on the append path.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise EncodingError(f"duplicate key {key!r} in JSON object")
        result[key] = value
    return result


def _refuse_constant(name: str) -> None:
    raise EncodingError(f'{name} is not a JSON number; write non-finite metric values as the string "{name}"')


def _exact_int(literal: str) -> int:
    if len(literal.lstrip("-")) > 16 or not -MAX_SAFE_INTEGER <= int(literal) <= MAX_SAFE_INTEGER:
        shown = literal if len(literal) <= 30 else f"{literal[:20]}…({len(literal)} digits)"
        raise EncodingError(f"integer {shown} is outside the I-JSON range ±(2**53-1)")
    return int(literal)


def _double_int(literal: str) -> int | float:
    """JSON numbers are IEEE 754 doubles (RFC 8785 §3.2.2.3): an integer
    literal beyond ±(2**53-1), as JCS writes the float 1e20, is read as the
    double it denotes, so the value re-encodes to the same bytes."""
    if len(literal) <= 16:
        return int(literal)
    value = float(literal)
    if not math.isfinite(value):
        raise EncodingError(f"number {literal[:20]}… is beyond the range of a JSON number")
    return int(literal) if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else value


_STORED: Final = json.JSONDecoder()  # stored text: see parse_stored_json


def parse_stored_json(text: str) -> Any:
    """Parse canonical JSON the ledger stored, for reading in bulk: plain
    ``json`` decoding, without ``parse_json``'s checks for duplicate keys
    and NaN, which text this library wrote cannot fail (a tampered text is
    caught by its payload digest, which ``mlledger verify`` checks), and
    without its integer hook: an integer literal beyond 2**53 (JCS writes
    the double 1e20 so) reads as that exact int, whose ``float()`` is the
    double. Twice as fast: a report folds a run's 100,000 metric payloads."""
    try:
        return _STORED.decode(text)
    except json.JSONDecodeError as e:
        raise EncodingError(f"invalid JSON: {e}") from e
    except RecursionError as e:
        raise EncodingError("invalid JSON: nested too deeply") from e


def parse_json(text: str | bytes, *, exact_integers: bool = True) -> Any:
    """Parse JSON strictly: I-JSON, no duplicate keys, no NaN or Infinity.

    With ``exact_integers`` (for input), an integer literal beyond
    ±(2**53-1) is an error; without (for stored canonical JSON), it is the
    double JCS wrote it for.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise EncodingError(f"JSON text is not UTF-8: {e.reason} at byte {e.start}") from e
    try:
        return json.loads(
            text,
            object_pairs_hook=_refuse_duplicates,
            parse_constant=_refuse_constant,
            parse_int=_exact_int if exact_integers else _double_int,
        )
    except json.JSONDecodeError as e:
        raise EncodingError(f"invalid JSON: {e}") from e
    except RecursionError as e:
        raise EncodingError("invalid JSON: nested too deeply") from e
