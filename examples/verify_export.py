"""Independently verify an ``mlledger export --format jsonl`` file.

This is an independent check that trusts none of mlledger's code: it was
written from DESIGN.md sections 2 and 6 alone and uses only the standard
library and the ``rfc8785`` package (RFC 8785 canonical JSON). For each line:

- the JSON is parsed strictly (no duplicate keys, no NaN/Infinity) and holds
  exactly the nine header fields, "hash" and "payload";
- payload_digest = sha256(JCS(payload)), unless the payload is null;
- hash = sha256(JCS(header)), the header being the nine fields;
- seq runs 0, 1, 2, ... with no gap, duplicate or reordering;
- prev is the hash on the line before (64 zeros on the first line);
- a null payload is allowed only when a later ``ledger.redacted`` event in
  the file names that seq in its "target_seq" (DESIGN §6).

    python examples/verify_export.py events.jsonl    # or - for stdin

Prints ``OK: N events, head HASH`` and exits 0; otherwise prints every problem
as ``event SEQ: KIND: detail`` (``line N: malformed: detail`` when a line has
no usable seq) and exits 1. Exits 2 when the input cannot be read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

import rfc8785

HEADER_FIELDS = ("v", "seq", "id", "type", "schema", "time", "actor", "payload_digest", "prev")
LINE_FIELDS = {*HEADER_FIELDS, "hash", "payload"}
INTEGERS = ("v", "seq", "schema")
STRINGS = ("id", "type", "time", "actor", "payload_digest", "prev", "hash")
GENESIS_PREV = "0" * 64
MAX_SAFE_INTEGER = 2**53 - 1


def strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def parse_integer(text: str) -> int | float:
    """JCS numbers are IEEE-754 doubles: RFC 8785 writes the double 1e20 as
    100000000000000000000, so a digit string beyond the safe integer range
    is read back as the double it denotes, not as a Python int."""
    value = int(text)
    return value if abs(value) <= MAX_SAFE_INTEGER else float(text)


def sha256_jcs(value: Any) -> str:
    return hashlib.sha256(rfc8785.dumps(value)).hexdigest()


def parse_line(text: str) -> dict[str, Any]:
    """The event object of one line; ValueError saying why it is malformed."""
    event = json.loads(text, object_pairs_hook=strict_object, parse_constant=refuse_constant, parse_int=parse_integer)
    if not isinstance(event, dict):
        raise ValueError("not a JSON object")
    if set(event) != LINE_FIELDS:
        missing, extra = sorted(LINE_FIELDS - set(event)), sorted(set(event) - LINE_FIELDS)
        raise ValueError(f"fields wrong: missing {missing}, unexpected {extra}")
    wrong = [n for n in INTEGERS if type(event[n]) is not int or event[n] < 0]
    wrong += [n for n in STRINGS if not isinstance(event[n], str)]
    if event["payload"] is not None and not isinstance(event["payload"], dict):
        wrong.append("payload")
    if wrong:
        raise ValueError(f"wrong JSON type or value for {', '.join(wrong)}")
    return event


def verify(lines: Iterable[str]) -> tuple[list[str], int, str | None]:
    """Check export lines; return (problems, number of events, last hash)."""
    problems: list[str] = []
    seen: set[int] = set()
    nulls: list[int] = []
    redacted: set[int] = set()
    count, last_seq = 0, -1
    last_hash: str | None = GENESIS_PREV
    for number, text in enumerate(lines, start=1):
        try:
            event = parse_line(text)
        except (ValueError, RecursionError) as e:  # json.JSONDecodeError is a ValueError
            problems.append(f"line {number}: malformed: {e}")
            last_hash = None  # the next line's link cannot be checked
            continue
        seq = event["seq"]
        count += 1

        def problem(kind: str, detail: str, seq: int = seq) -> None:
            problems.append(f"event {seq}: {kind}: {detail}")

        header = {name: event[name] for name in HEADER_FIELDS}
        try:
            if event["payload"] is None:
                nulls.append(seq)
            elif sha256_jcs(event["payload"]) != event["payload_digest"]:
                problem("payload_altered", "sha256(JCS(payload)) is not payload_digest")
            if sha256_jcs(header) != event["hash"]:
                problem("header_altered", f"sha256(JCS(header)) is not hash {event['hash'][:12]}...")
        except rfc8785.CanonicalizationError as e:
            problem("malformed", f"no RFC 8785 encoding: {e}")
        if event["v"] != 1:
            problem("unsupported_version", f"v is {event['v']}; this script knows v 1")
        if seq in seen:
            problem("duplicate", f"seq {seq} appears again on line {number}")
        elif seq <= last_seq:
            problem("out_of_order", f"line {number} has seq {seq} after seq {last_seq}")
        if last_hash is not None and event["prev"] != last_hash:
            problem("broken_link", f"prev {event['prev'][:12]}... is not the hash on the line before")
        if event["type"] == "ledger.redacted" and event["payload"] is not None:
            target = event["payload"].get("target_seq")
            if type(target) is int and target < seq:  # a redaction counts only after its target
                redacted.add(target)
        seen.add(seq)
        last_seq, last_hash = seq, event["hash"]

    for seq in nulls:
        if seq not in redacted:
            problems.append(f"event {seq}: payload_missing: payload is null and no ledger.redacted names it")
    expected = 0
    for seq in sorted(seen):
        if seq > expected:
            span = str(expected) if seq == expected + 1 else f"{expected}..{seq - 1}"
            problems.append(f"event {expected}: gap: no line has seq {span}")
        expected = seq + 1
    return problems, count, last_hash


def read_lines(stream: IO[bytes]) -> Iterator[str]:
    """Lines split on newline only: JSON strings may hold U+2028 and friends."""
    for raw in stream:
        yield raw.decode("utf-8").rstrip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify an mlledger JSONL export independently.")
    parser.add_argument("file", help="the export file, or - for stdin")
    args = parser.parse_args(argv)
    try:
        if args.file == "-":
            problems, count, head = verify(read_lines(sys.stdin.buffer))
        else:
            with open(args.file, "rb") as handle:
                problems, count, head = verify(read_lines(handle))
    except (OSError, UnicodeDecodeError) as e:
        print(f"cannot read {args.file}: {e}", file=sys.stderr)
        return 2
    for line in problems:
        print(line)
    if problems:
        return 1
    print(f"OK: {count} events, head {head}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
