"""Verifying a chain in separate segments and joining them (what parallel
verify does) finds exactly what one pass over the whole chain finds."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.verify import ChainVerifier, combine
from tests.unit.test_verify import _chain, _rehash

CHAIN = _chain(30)

tamper = st.sampled_from(["payload", "header", "rehash", "delete", "duplicate", "drop_payload", "prev"])


def _tampered(edits: list[tuple[str, int]]) -> list[list[Any]]:
    rows = [list(r) for r in CHAIN]
    for kind, index in sorted(edits, key=lambda e: -e[1]):
        index %= len(rows)
        row = rows[index]
        if kind == "payload":
            row[10] = (row[10] or "{}") + " "
        elif kind == "header":
            row[6] = "mallory"
        elif kind == "rehash":
            row[6] = "mallory"
            _rehash(row)
        elif kind == "delete":
            del rows[index]
        elif kind == "duplicate":
            rows.insert(index, list(row))
        elif kind == "drop_payload":
            row[10] = None
        elif kind == "prev":
            row[8] = "f" * 64
    return rows


@settings(max_examples=400, deadline=None)
@given(
    edits=st.lists(st.tuples(tamper, st.integers(0, 29)), max_size=3),
    cuts=st.lists(st.integers(1, 29), max_size=4, unique=True),
)
def test_segments_joined_equal_one_pass(edits: list[tuple[str, int]], cuts: list[int]) -> None:
    rows = _tampered(edits)
    whole = ChainVerifier()
    whole.feed(tuple(r) for r in rows)
    bounds = [0, *sorted(cuts), 30]
    segments = []
    for start, stop in zip(bounds, bounds[1:], strict=False):
        verifier = ChainVerifier()
        verifier.feed(tuple(r) for r in rows if start <= r[0] < stop)
        segments.append(verifier.segment())
    assert combine(segments) == whole.report()
