"""Canonical encoding rules of DESIGN §2 by example, with the error text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ledger.encoding import GENESIS_PREV, canonical_json, format_time, parse_json
from ledger.errors import EncodingError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": [True, None, "x"]}, b'{"a":[true,null,"x"],"b":1}'),
        ([1e21, 1e-7, -0.0, 0.1, 2.0, 1e16, 2.0**60], b"[1e+21,1e-7,0,0.1,2,10000000000000000,1152921504606847000]"),
        ({"\U0001f600": 1, "\ue000": 2}, '{"\U0001f600":1,"\ue000":2}'.encode()),  # UTF-16 order
        (['\u0000\u001f"\\\n\t\u007f\u2028'], b'["\\u0000\\u001f\\"\\\\\\n\\t\x7f\xe2\x80\xa8"]'),
        ([9007199254740991, -9007199254740991], b"[9007199254740991,-9007199254740991]"),
    ],
)
def test_canonical_bytes(value: object, expected: bytes) -> None:
    assert canonical_json(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([float("nan")], r'nan is not a JSON number; store non-finite metric values as the strings "NaN"'),
        ({"x": float("inf")}, "inf is not a JSON number"),
        ([2**53], r"integer 9007199254740992 is outside the I-JSON range"),
        ([-(2**53)], r"outside the I-JSON range"),
        ({1: "a"}, r"object key 1 is not a string"),
        (["\ud800"], r"not valid UTF-8"),
        ({"\udfff": 1}, r"not valid UTF-8"),
        ([b"bytes"], r"bytes is not a JSON type"),
        ([{1, 2}], r"set is not a JSON type"),
    ],
)
def test_values_without_an_encoding_are_refused(value: object, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        canonical_json(value)


def test_parse_json_refuses_duplicate_keys_and_constants() -> None:
    with pytest.raises(EncodingError, match="duplicate key 'a' in JSON object"):
        parse_json('{"a": 1, "a": 2}')
    with pytest.raises(
        EncodingError, match='NaN is not a JSON number; write non-finite metric values as the string "NaN"'
    ):
        parse_json('{"value": NaN}')
    with pytest.raises(EncodingError, match="Infinity is not a JSON number"):
        parse_json("[-Infinity]")
    with pytest.raises(EncodingError, match="not UTF-8"):
        parse_json(b'{"a": "\xff"}')
    with pytest.raises(EncodingError, match="invalid JSON"):
        parse_json("{")
    assert parse_json('{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}


def test_format_time_is_utc_microseconds_z() -> None:
    moment = datetime(2026, 11, 26, 11, 50, 3, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert format_time(moment) == "2026-11-26T10:50:03.123456Z"
    assert format_time(datetime(2026, 1, 2, tzinfo=UTC)) == "2026-01-02T00:00:00.000000Z"
    with pytest.raises(EncodingError, match="has no time zone"):
        format_time(datetime(2026, 1, 2))


def test_genesis_prev_is_64_zeros() -> None:
    assert GENESIS_PREV == "0" * 64
