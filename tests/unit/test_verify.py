"""The pure chain verifier on in-memory rows: each fault kind, at the right seq."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from ledger.encoding import GENESIS_PREV, canonical_json, header_row_bytes
from ledger.events import PendingEvent, prepare, seal
from ledger.merkle import merkle_root
from ledger.verify import ChainVerifier, combine, redaction_targets

Row = list[Any]


def _chain(n: int) -> list[Row]:
    rows: list[Row] = []
    prev = GENESIS_PREV
    for seq in range(n):
        event = PendingEvent(
            "run.tags_set", {"run_id": "r", "tags": {"i": str(seq)}}, "alice", id=f"00000000-0000-4000-8000-{seq:012d}"
        )
        s = seal(prepare(event), seq=seq, prev=prev, time="2026-11-26T10:50:00.000000Z")
        rows.append(list(s))
        prev = s.hash
    return rows


def _verify(rows: list[Row], redactions: dict[int, int] | None = None) -> Any:
    verifier = ChainVerifier(redactions=redactions or {})
    verifier.feed(tuple(r) for r in rows[:3])
    verifier.feed(tuple(r) for r in rows[3:])  # state carries across chunks
    return verifier.report()


def _rehash(row: Row) -> None:
    row[9] = hashlib.sha256(header_row_bytes(*row[:9])).hexdigest()


def test_intact_chain() -> None:
    rows = _chain(10)
    report = _verify(rows)
    assert report.ok
    assert (report.events, report.head) == (10, rows[-1][9])
    assert report.to_json() == {
        "ok": True,
        "events": 10,
        "head": rows[-1][9],
        "faults": [],
        "faults_truncated": False,
        "redacted": [],
        "signed_approvals_checked": 0,
        "root": merkle_root([bytes.fromhex(r[9]) for r in rows]).hex(),
    }


def test_empty_ledger_is_intact() -> None:
    report = ChainVerifier().report()
    assert report.ok and report.events == 0 and report.head == GENESIS_PREV


def _first(rows: list[Row], **kw: Any) -> tuple[int, str, str]:
    report = _verify(rows, **kw)
    assert not report.ok
    fault = report.faults[0]
    return fault.seq, fault.kind, fault.detail


def test_payload_altered() -> None:
    rows = _chain(10)
    rows[4][10] = rows[4][10].replace('"4"', '"5"')
    assert _first(rows)[:2] == (4, "payload_altered")


def test_header_altered() -> None:
    rows = _chain(10)
    rows[4][6] = "mallory"
    seq, kind, detail = _first(rows)
    assert (seq, kind) == (4, "header_altered")
    assert detail.startswith("hash mismatch: stored ")


def test_rehashed_header_breaks_the_next_link() -> None:
    rows = _chain(10)
    rows[4][6] = "mallory"
    _rehash(rows[4])
    seq, kind, detail = _first(rows)
    assert (seq, kind) == (5, "broken_link")
    assert "is not the hash of event 4" in detail


def test_gap() -> None:
    rows = _chain(10)
    del rows[4]
    report = _verify(rows)
    assert [(f.seq, f.kind) for f in report.faults] == [(4, "gap")]
    assert report.faults[0].detail == "events 4..4 are missing; next is 5"


def test_missing_first_event_is_a_gap() -> None:
    rows = _chain(3)
    assert _first(rows[1:])[:2] == (0, "gap")


def test_duplicate() -> None:
    rows = _chain(10)
    rows.insert(5, list(rows[4]))
    report = _verify(rows)
    assert [(f.seq, f.kind) for f in report.faults] == [(4, "duplicate")]


def test_payload_missing_without_redaction() -> None:
    rows = _chain(10)
    rows[4][10] = None
    assert _first(rows) == (4, "payload_missing", "the payload row is gone and no ledger.redacted event names it")


def test_payload_missing_with_a_later_redaction_is_fine() -> None:
    rows = _chain(10)
    rows[4][10] = None
    report = _verify(rows, redactions={4: 9})
    assert report.ok and report.redacted == (4,)


def test_a_redaction_cannot_come_before_its_target() -> None:
    rows = _chain(10)
    rows[4][10] = None
    assert _first(rows, redactions={4: 2})[:2] == (4, "payload_missing")


def test_non_integer_header_fields_are_header_faults() -> None:
    rows = _chain(3)
    rows[1][4] = "1"  # schema stored as text
    seq, kind, detail = _first(rows)
    assert (seq, kind) == (1, "header_altered") and "unencodable" in detail


def test_fault_list_is_capped() -> None:
    rows = _chain(20)
    for row in rows:
        row[6] = "mallory"
    verifier = ChainVerifier(max_faults=5)
    verifier.feed(tuple(r) for r in rows)
    report = verifier.report()
    assert len(report.faults) == 5 and report.faults_truncated


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (canonical_json({"target_seq": 3, "reason": "gdpr", "legal_basis": "art17"}).decode(), {3: 7}),
        ('{"target_seq": "3"}', {}),
        ("not json", {}),
        (None, {}),
    ],
)
def test_redaction_targets(body: str | None, expected: dict[int, int]) -> None:
    row = (7, 1, "id", "ledger.redacted", 1, "t", "a", "d", "p", "h", body)
    assert redaction_targets([row]) == expected


def test_the_first_redaction_after_its_target_counts() -> None:
    body = canonical_json({"target_seq": 3, "reason": "r", "legal_basis": "b"}).decode()
    too_early = (1, 1, "id", "ledger.redacted", 1, "t", "a", "d", "p", "h", body)
    later = [(s, *too_early[1:]) for s in (8, 5)]
    assert redaction_targets([too_early, *later]) == {3: 5}
    assert redaction_targets([too_early]) == {}


def test_a_redaction_committed_during_the_scan_is_explained_afterwards() -> None:
    rows = _chain(10)
    rows[4][10] = None
    report = _verify(rows)
    assert [(f.seq, f.kind) for f in report.faults] == [(4, "payload_missing")]
    assert report.explain_redactions({4: 3}) == report  # a redaction before its target explains nothing
    explained = report.explain_redactions({4: 12})
    assert explained.ok and explained.redacted == (4,)


def test_root_is_the_merkle_root_of_the_stored_hashes_across_segments() -> None:
    rows = _chain(23)
    cuts = (0, 5, 16, 17, 23)
    segments = []
    for start, stop in zip(cuts, cuts[1:], strict=False):
        verifier = ChainVerifier()
        verifier.feed(tuple(r) for r in rows[start:stop])
        segments.append(verifier.segment())
    expected = merkle_root([bytes.fromhex(r[9]) for r in rows])
    assert combine(segments).root == expected == _verify(rows).root


def test_no_root_when_seqs_do_not_run_from_zero() -> None:
    rows = _chain(6)
    assert _verify(rows[1:]).root is None  # a missing first event
    assert _verify(rows[:2] + rows[3:]).root is None  # a gap
    assert _verify(rows[:3] + rows[2:]).root is None  # a duplicate
