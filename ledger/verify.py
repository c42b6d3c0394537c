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
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from ledger.encoding import FORMAT_VERSION, GENESIS_PREV, hash_bytes, header_row_bytes, parse_json
from ledger.errors import LedgerError
from ledger.merkle import CompactRange
from ledger.redaction_rules import REDACTABLE_TYPES

__all__ = [
    "ChainVerifier",
    "Fault",
    "FaultKind",
    "Segment",
    "VerifyReport",
    "check_events",
    "check_redactions",
    "combine",
    "redaction_targets",
]

FaultKind = Literal[
    "payload_altered",
    "header_altered",
    "broken_link",
    "gap",
    "duplicate",
    "payload_missing",
    "signature_invalid",
    "merkle_mismatch",
    "redaction_invalid",
]
MAX_FAULTS: Final = 1000
_TREE_CHUNK: Final = 4096  # event hashes hashed into the tree at a time
# Within one event, faults are listed in the order a single pass finds them.
_KIND_ORDER: Final = {
    "gap": 0,
    "duplicate": 0,
    "payload_altered": 1,
    "payload_missing": 1,
    "header_altered": 2,
    "broken_link": 3,
    "signature_invalid": 4,
    "merkle_mismatch": 5,
    "redaction_invalid": 1,
}


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
    signatures: int = 0  # signed approvals re-checked
    root: bytes | None = None  # Merkle root of the stored event hashes; None when seqs do not run 0..n-1

    @property
    def ok(self) -> bool:
        return not self.faults

    def with_signatures(self, checked: int, faults: Iterable[Fault]) -> VerifyReport:
        """This report with the outcome of the signed-approval check added."""
        return replace(self.with_faults(faults), signatures=checked)

    def with_faults(self, faults: Iterable[Fault]) -> VerifyReport:
        """This report with more faults, found by checks beside the chain pass."""
        merged = sorted([*self.faults, *faults], key=lambda f: (f.seq, _KIND_ORDER[f.kind]))
        truncated = self.faults_truncated or len(merged) > MAX_FAULTS
        return replace(self, faults=tuple(merged[:MAX_FAULTS]), faults_truncated=truncated)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head": self.head,
            "faults": [{"seq": f.seq, "kind": f.kind, "detail": f.detail} for f in self.faults],
            "faults_truncated": self.faults_truncated,
            "redacted": list(self.redacted),
            "signed_approvals_checked": self.signatures,
            "root": None if self.root is None else self.root.hex(),
        }

    def explain_redactions(self, targets: Mapping[int, int]) -> VerifyReport:
        """This report with ``payload_missing`` faults that ``targets`` (read
        after the scan) explain moved to ``redacted``: a redaction committed
        while the scan ran is not tampering."""
        explained = [f for f in self.faults if f.kind == "payload_missing" and targets.get(f.seq, -1) > f.seq]
        if not explained:
            return self
        return replace(
            self,
            faults=tuple(f for f in self.faults if f not in explained),
            redacted=tuple(sorted([*self.redacted, *(f.seq for f in explained)])),
        )


def check_redactions(
    erased: Mapping[int, str],
    redactions: Iterable[tuple[Any, ...]],
    role_events: Iterable[tuple[Any, ...]],
) -> list[Fault]:
    """Re-check, from the events alone, the rules a redaction had to pass:
    for each erased payload (target seq -> its type, from the hashed header)
    the ``ledger.redacted`` event that erased it (the first after it naming
    it; ``redactions`` are stored rows of those events) must target a
    redactable type, name that type (schema 2), and be by an actor who held
    ``admin`` then (``role_events``: (seq, type, actor, hash, body) of
    ``actor.role_granted``/``actor.role_revoked``). A redaction written past
    the ledger's rules, by the database's owner, fails here although the chain
    and every checkpoint hold: appending is a lawful extension."""
    admin: dict[str, list[tuple[int, bool]]] = {}
    for seq, kind, _actor, _hash, body in role_events:
        payload = _payload_of(body)
        if payload.get("role") == "admin" and isinstance(payload.get("actor"), str):
            admin.setdefault(payload["actor"], []).append((seq, kind == "actor.role_granted"))
    rows = {row[0]: row for row in redactions}
    by_target = redaction_targets(rows.values())
    faults = []
    for target, kind in sorted(erased.items()):
        seq = by_target.get(target, -1)
        actor, payload = (rows[seq][6], _payload_of(rows[seq][10])) if seq in rows else ("", {})
        held = [granted for at, granted in admin.get(actor, []) if at < seq]
        problem = None
        if kind not in REDACTABLE_TYPES:
            problem = f"{kind} payloads cannot be redacted (only {', '.join(REDACTABLE_TYPES)})"
        elif payload.get("target_type", kind) != kind:
            problem = f"it names the target as {payload.get('target_type')!r}, the event is {kind}"
        elif not (held and held[-1]):
            problem = f"its actor {actor!r} was not an admin then"
        if problem:
            detail = f"payload removed by ledger.redacted event {seq}, which no rule allows: {problem}"
            faults.append(Fault(target, "redaction_invalid", f"{detail} (written past the ledger's rules)"))
    return faults


def _payload_of(body: object) -> dict[str, Any]:
    try:
        payload = parse_json(body) if isinstance(body, str) else None
    except LedgerError:
        return {}
    return payload if isinstance(payload, dict) else {}


def redaction_targets(rows: Iterable[tuple[Any, ...]]) -> dict[int, int]:
    """Map target seq -> the first ``ledger.redacted`` event after it.

    A redaction counts only after its target; rows whose payload is
    unreadable are skipped here and reported by the chain pass.
    """
    targets: dict[int, int] = {}
    for row in rows:
        seq, body = row[0], row[10]
        try:
            target = parse_json(body).get("target_seq") if isinstance(body, str) else None
        except (LedgerError, AttributeError):
            continue
        if type(target) is int and target < seq < targets.get(target, seq + 1):
            targets[target] = seq
    return targets


@dataclass(frozen=True, slots=True)
class Segment:
    """What one verifier found in a run of rows checked on their own.

    The verifier cannot know what comes before its first row: ``combine``
    checks ``first_seq`` and ``first_link`` against the previous segment (or
    seq 0 and the genesis ``prev``).
    """

    first_seq: int | None
    first_link: str | None
    next_seq: int | None
    last_hash: str | None
    events: int
    faults: tuple[Fault, ...]
    fault_total: int
    redacted: tuple[int, ...]
    tree: CompactRange | None = None  # the leaves of this segment's events, in order


def combine(segments: Iterable[Segment], *, max_faults: int = MAX_FAULTS) -> VerifyReport:
    """Join segments verified separately, in seq order, into one report."""
    faults: list[Fault] = []
    redacted: list[int] = []
    total = events = 0
    expected, last_hash = 0, GENESIS_PREV
    tree: CompactRange | None = CompactRange()
    for segment in segments:
        if segment.first_seq is None or segment.next_seq is None or segment.last_hash is None:
            continue  # no rows
        if tree is not None and segment.tree is not None and segment.tree.begin == tree.end:
            tree.extend(segment.tree)
        else:
            tree = None
        if segment.first_seq != expected:
            faults.append(Fault(expected, "gap", _gap_detail(expected, segment.first_seq)))
            total += 1
        elif segment.first_link != last_hash:
            faults.append(
                Fault(segment.first_seq, "broken_link", _link_detail(segment.first_link, segment.first_seq, last_hash))
            )
            total += 1
        faults.extend(segment.faults)
        total += segment.fault_total
        redacted.extend(segment.redacted)
        events += segment.events
        expected, last_hash = segment.next_seq, segment.last_hash
    faults.sort(key=lambda fault: (fault.seq, _KIND_ORDER[fault.kind]))
    return VerifyReport(
        events=events,
        head=last_hash,
        faults=tuple(faults[:max_faults]),
        redacted=tuple(redacted),
        faults_truncated=total > min(len(faults), max_faults),
        root=None if tree is None or tree.end != expected else tree.root(),
    )


def check_events(rows: Iterable[tuple[Any, ...]], redactions: Mapping[int, int]) -> Segment:
    """Each stored row of ``rows`` (in seq order, not necessarily
    consecutive) checked on its own: its payload digest and header hash, and
    an absent payload named by a later redaction in ``redactions`` (target ->
    redaction seq). The segment's ``faults`` and ``redacted`` say what was found."""
    verifier = ChainVerifier(redactions=redactions, linked=False)
    verifier.feed(rows)
    return verifier.segment()


def _as_bytes(value: object) -> bytes:
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else repr(value).encode()


def _link_detail(link: str | None, seq: int, prev: str) -> str:
    return f"prev {str(link)[:12]}… is not the hash of event {seq - 1} ({prev[:12]}…)"


def _gap_detail(expected: int, seq: int) -> str:
    return f"events {expected}..{seq - 1} are missing; next is {seq}"


@dataclass(slots=True)
class ChainVerifier:
    """Feed rows in seq order; ``report()`` says whether the chain holds.

    Several verifiers may check consecutive ranges of one ledger (in
    parallel); ``combine`` of their ``segment()`` equals one pass. Not
    ``linked``, it checks each row on its own (payload digest, header hash,
    an absent payload named by a redaction): rows picked from the ledger, such
    as the events a report cites, whose links and tree it cannot check.
    """

    redactions: Mapping[int, int] = field(default_factory=dict)
    max_faults: int = MAX_FAULTS
    linked: bool = True
    _next_seq: int | None = None
    _prev: str | None = None
    _first_seq: int | None = None
    _first_link: str | None = None
    _count: int = 0
    _faults: list[Fault] = field(default_factory=list)
    _fault_total: int = 0
    _redacted: list[int] = field(default_factory=list)
    _tree: CompactRange | None = None
    _leaves: list[bytes] = field(default_factory=list)
    _tree_broken: bool = False  # a gap or a duplicate: the leaves no longer sit at their seqs

    def feed(self, rows: Iterable[tuple[Any, ...]]) -> int:
        """Check a run of rows (seq, v, id, type, schema, time, actor,
        payload_digest, prev, hash, body) continuing the rows fed before;
        returns how many rows it read."""
        sha256 = hashlib.sha256
        header_of = header_row_bytes
        redactions = self.redactions
        expected, prev = self._next_seq, self._prev
        count = self._count
        read = 0
        leaves = self._leaves  # event hashes waiting to enter the tree, a chunk at a time
        linked = self.linked
        self._tree_broken |= not linked
        for seq, v, id_, type_, schema, time, actor, digest, link, stored, body in rows:
            read += 1
            if not linked:
                expected, prev = seq, link
            if seq != expected:
                self._tree_broken = expected is not None
                if type(seq) is not int or seq < 0:
                    self._fault(-1, "duplicate", f"a row with seq {seq!r} is outside the chain, which starts at 0")
                    continue
                if expected is None:  # the first row: combine() checks how it starts
                    self._first_seq, self._first_link = seq, link
                elif type(seq) is int and seq < expected:
                    self._fault(seq, "duplicate", f"seq {seq} appears again after seq {expected - 1}")
                    continue
                else:
                    self._fault(expected, "gap", _gap_detail(expected, seq))
                expected, prev = seq, link  # a gap is reported once, not as a broken link too
            count += 1
            if body is not None:
                # A tampered SQLite cell may hold a BLOB; hash what is there.
                actual = sha256(body.encode() if type(body) is str else _as_bytes(body)).hexdigest()
                if actual != digest:
                    self._fault(
                        seq,
                        "payload_altered",
                        f"payload_digest {digest[:12]}…, stored payload hashes to {actual[:12]}…",
                    )
            elif redactions.get(seq, -1) > seq:
                self._redacted.append(seq)
            else:
                self._fault(seq, "payload_missing", "the payload row is gone and no ledger.redacted event names it")
            try:
                recomputed = sha256(header_of(seq, v, id_, type_, schema, time, actor, digest, link)).hexdigest()
            except LedgerError as e:
                recomputed = f"<unencodable: {e}>"
            if recomputed != stored:
                version = "" if v == FORMAT_VERSION else f" (format v={v!r})"
                self._fault(
                    seq,
                    "header_altered",
                    f"hash mismatch: stored {stored[:12]}…, recomputed {recomputed[:12]}…{version}",
                )
            if link != prev:
                self._fault(seq, "broken_link", _link_detail(link, seq, prev))  # type: ignore[arg-type]
            if linked:  # picked rows have no tree of their own to grow
                try:
                    leaves.append(bytes.fromhex(stored))
                except (TypeError, ValueError):
                    leaves.append(hash_bytes(stored))
                if len(leaves) == _TREE_CHUNK:
                    self._grow_tree()
            prev = stored
            expected = seq + 1
        self._next_seq, self._prev, self._count = expected, prev, count
        self._grow_tree()
        return read

    def _grow_tree(self) -> None:
        if self._tree is None:
            self._tree = CompactRange(self._first_seq or 0, self._first_seq or 0)
        self._tree.append_many(self._leaves)
        self._leaves.clear()

    def _fault(self, seq: int, kind: FaultKind, detail: str) -> None:
        self._fault_total += 1
        if len(self._faults) < self.max_faults:
            self._faults.append(Fault(seq, kind, detail))

    @property
    def events_seen(self) -> int:
        return self._count

    def segment(self) -> Segment:
        """What this verifier found, for ``combine``."""
        return Segment(
            first_seq=self._first_seq,
            first_link=self._first_link,
            next_seq=self._next_seq,
            last_hash=self._prev,
            events=self._count,
            faults=tuple(self._faults),
            fault_total=self._fault_total,
            redacted=tuple(self._redacted),
            tree=None if self._tree_broken else self._tree,
        )

    def report(self) -> VerifyReport:
        """The result so far: intact, or every fault found (up to ``max_faults``)."""
        return combine([self.segment()], max_faults=self.max_faults)
