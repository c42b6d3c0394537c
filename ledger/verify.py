"""Verification of the hash chain (DESIGN §2, §6), as a pure state machine.

Owns: deciding, from stored rows fed in ``seq`` order, whether each event's
payload matches its digest, its header matches its hash, its ``prev`` links
to the event before, and ``seq`` runs without gap or duplicate. A payload may
be absent only when a ``ledger.redacted`` event names it. Reading the rows is
left to the caller (the store streams them), so memory stays constant.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ledger.encoding import FORMAT_VERSION, GENESIS_PREV, header_row_bytes, parse_json
from ledger.errors import LedgerError

__all__ = [
    "ChainVerifier",
    "Fault",
    "FaultKind",
    "VerifyReport",
    "redaction_targets",
]

FaultKind = Literal[
    "payload_altered", "header_altered", "broken_link", "gap", "duplicate", "payload_missing"
]
MAX_FAULTS: Final = 1000


@dataclass(frozen=True, slots=True)
class Fault:
    """One integrity fault: where, what kind, and the evidence."""

    seq: int
    kind: FaultKind
    detail: str

    def __str__(self) -> str:
        return f"event {self.seq}: {self.kind.replace('_', ' ')}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of a verification run."""

    events: int
    head: str
    faults: tuple[Fault, ...]
    redacted: tuple[int, ...] = ()
    faults_truncated: bool = False

    @property
    def ok(self) -> bool:
        return not self.faults

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head": self.head,
            "faults": [{"seq": f.seq, "kind": f.kind, "detail": f.detail} for f in self.faults],
            "redacted": list(self.redacted),
        }


def redaction_targets(rows: Iterable[tuple[Any, ...]]) -> dict[int, int]:
    """Map target seq -> redaction event seq, from ``ledger.redacted`` rows.

    Rows whose payload is unreadable are skipped here; the chain pass reports
    them as faults of their own.
    """
    targets: dict[int, int] = {}
    for row in rows:
        body = row[10]
        try:
            target = parse_json(body).get("target_seq") if body else None
        except (LedgerError, AttributeError):
            continue
        if type(target) is int:
            targets.setdefault(target, row[0])
    return targets


@dataclass(slots=True)
class ChainVerifier:
    """Feed rows in seq order; ``report()`` says whether the chain holds."""

    redactions: Mapping[int, int] = field(default_factory=dict)
    max_faults: int = MAX_FAULTS
    _next_seq: int = 0
    _prev: str = GENESIS_PREV
    _count: int = 0
    _faults: list[Fault] = field(default_factory=list)
    _fault_total: int = 0
    _redacted: list[int] = field(default_factory=list)

    def feed(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Check a run of rows (seq, v, id, type, schema, time, actor,
        payload_digest, prev, hash, body) continuing the rows fed before."""
        sha256 = hashlib.sha256
        header_of = header_row_bytes
        expected, prev = self._next_seq, self._prev
        count = self._count
        for seq, v, id_, type_, schema, time, actor, digest, link, stored, body in rows:
            if seq != expected:
                if type(seq) is int and seq < expected:
                    self._fault(seq, "duplicate", f"seq {seq} appears again after seq {expected - 1}")
                    continue
                self._fault(expected, "gap", f"events {expected}..{seq - 1} are missing; next is {seq}")
                expected, prev = seq, link  # report the gap once, not a broken link too
            count += 1
            if body is not None:
                actual = sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
                if actual != digest:
                    self._fault(seq, "payload_altered", f"payload_digest {digest[:12]}…, stored payload hashes to {actual[:12]}…")
            elif seq in self.redactions and self.redactions[seq] > seq:
                self._redacted.append(seq)
            else:
                self._fault(seq, "payload_missing", "the payload row is gone and no ledger.redacted event names it")
            try:
                recomputed = sha256(header_of(seq, v, id_, type_, schema, time, actor, digest, link)).hexdigest()
            except LedgerError as e:
                recomputed = f"<unencodable: {e}>"
            if recomputed != stored:
                self._fault(seq, "header_altered", f"hash mismatch: stored {stored[:12]}…, recomputed {recomputed[:12]}…" + ("" if v == FORMAT_VERSION else f" (format v={v!r})"))
            if link != prev:
                self._fault(seq, "broken_link", f"prev {link[:12]}… is not the hash of event {seq - 1} ({prev[:12]}…)")
            prev = stored
            expected = seq + 1
        self._next_seq, self._prev, self._count = expected, prev, count

    def _fault(self, seq: int, kind: FaultKind, detail: str) -> None:
        self._fault_total += 1
        if len(self._faults) < self.max_faults:
            self._faults.append(Fault(seq, kind, detail))

    @property
    def events_seen(self) -> int:
        return self._count

    def report(self) -> VerifyReport:
        """The result so far: intact, or every fault found (up to ``max_faults``)."""
        return VerifyReport(
            events=self._count,
            head=self._prev if self._count else GENESIS_PREV,
            faults=tuple(self._faults),
            redacted=tuple(self._redacted),
            faults_truncated=self._fault_total > len(self._faults),
        )
