"""The fast canonical encoder is byte-identical to the rfc8785 reference on
arbitrary I-JSON values, and header bytes equal RFC 8785 of the header."""

from __future__ import annotations

import math
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.encoding import MAX_SAFE_INTEGER, canonical_json, header_bytes

# Text without lone surrogates (those are not Unicode scalar values, hence not UTF-8).
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
# Keys that mix the BMP private-use area with astral characters, where UTF-16
# order and code point order disagree.
tricky_keys = st.sampled_from(["\ue000", "\U0001f600", "a", "\uffff", "\U00010000", "é", "\u20ac", ""])
keys = st.one_of(text, tricky_keys, st.lists(tricky_keys, max_size=3).map("".join))
floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [0.0, -0.0, 1e21, 1e-7, 1e-4, 9.999e-5, 2.0**53, 2.0**53 - 1, 1e16, 5e-324, 1.7976931348623157e308]
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER),
    floats,
    text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(keys, children, max_size=5),
    ),
    max_leaves=30,
)


@settings(max_examples=1000, deadline=None)
@given(json_values)
def test_canonical_json_equals_reference(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(keys, json_values, max_size=8))
def test_canonical_json_of_objects_equals_reference(value: dict[str, Any]) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_float_matches_reference(value: float) -> None:
    assert canonical_json([value]) == rfc8785.dumps([value])
    assert not math.isnan(value)


@settings(max_examples=500, deadline=None)
@given(
    seq=st.integers(0, MAX_SAFE_INTEGER),
    schema=st.integers(1, 1000),
    strings=st.lists(text, min_size=6, max_size=6),
)
def test_header_bytes_equal_reference(seq: int, schema: int, strings: list[str]) -> None:
    id_, type_, time, actor, digest, prev = strings
    header = {
        "v": 1,
        "seq": seq,
        "id": id_,
        "type": type_,
        "schema": schema,
        "time": time,
        "actor": actor,
        "payload_digest": digest,
        "prev": prev,
    }
    assert header_bytes(**header) == rfc8785.dumps(header)
