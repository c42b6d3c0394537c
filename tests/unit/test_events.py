"""Preparing and sealing events: every rule of issue 2 item 9, with its text."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.encoding import GENESIS_PREV, event_hash, header_bytes
from ledger.errors import ValidationError
from ledger.events import PendingEvent, prepare, seal
from ledger.payloads import PAYLOAD_MODELS

ID = "00000000-0000-4000-8000-000000000000"
METRIC = {"key": "rmse", "value": 0.5, "step": 1, "timestamp": 1764154203123}


def _pending(event_type: str, payload: Any, **kw: Any) -> PendingEvent:
    return PendingEvent(type=event_type, payload=payload, actor=kw.pop("actor", "alice"), id=kw.pop("id", ID))


@pytest.mark.parametrize(
    ("event_type", "payload", "message"),
    [
        ("run.nonsense", {}, r"unknown event type 'run.nonsense'; known types: .*run.metrics_logged"),
        ("run.params_logged", {"run_id": 5, "params": {}}, r"run_id: Input should be a valid string \(got 5\)"),
        ("run.params_logged", {"run_id": "r", "params": {"a": 0.1}}, r"params.a: Input should be a valid string"),
        ("run.params_logged", {"run_id": "r", "params": {}, "x": 1}, r"x: Extra inputs are not permitted"),
        ("run.params_logged", ["not", "an", "object"], r"payload must be a JSON object, got list"),
        ("run.metrics_logged", {"run_id": "r", "metrics": [{**METRIC, "value": float("nan")}]}, r"metrics.0.value"),
        ("run.metrics_logged", {"run_id": "r", "metrics": [{**METRIC, "value": float("inf")}]}, r"metrics.0.value"),
        ("run.metrics_logged", {"run_id": "r", "metrics": [{**METRIC, "value": "nan"}]}, r"metrics.0.value"),
        ("run.metrics_logged", {"run_id": "r", "metrics": [{**METRIC, "step": 2**53}]}, r"outside the I-JSON range"),
        ("run.metrics_logged", {"run_id": "r", "metrics": []}, r"metrics: List should have at least 1 item"),
        ("run.tags_set", {"run_id": "r", "tags": {"k": "\ud800"}}, r"not valid UTF-8"),
        (
            "run.finished",
            {"run_id": "r", "status": "DONE"},
            r"status: Input should be 'FINISHED', 'FAILED' or 'KILLED'",
        ),
        (
            "run.artifact_logged",
            {"run_id": "r", "path": "m", "sha256": "xyz", "size": 1},
            r"sha256: String should match pattern",
        ),
    ],
)
def test_bad_payloads_are_refused_with_a_clear_message(event_type: str, payload: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        prepare(_pending(event_type, payload))


def test_non_finite_metric_values_are_stored_as_strings() -> None:
    for text in ("NaN", "Infinity", "-Infinity"):
        prepared = prepare(_pending("run.metrics_logged", {"run_id": "r", "metrics": [{**METRIC, "value": text}]}))
        assert f'"value":"{text}"'.encode() in prepared.payload_jcs


def test_payload_size_limit_is_configurable() -> None:
    payload = {"run_id": "r", "params": {"blob": "x" * 2000}}
    prepare(_pending("run.params_logged", payload))
    with pytest.raises(ValidationError, match=r"payload is 2035 bytes, the limit is 1000"):
        prepare(_pending("run.params_logged", payload), max_payload_bytes=1000)


def test_default_limit_is_one_mebibyte() -> None:
    payload = {"run_id": "r", "params": {"blob": "x" * (1024 * 1024)}}
    with pytest.raises(ValidationError, match=r"the limit is 1048576"):
        prepare(_pending("run.params_logged", payload))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": "not-a-uuid"}, r"event id 'not-a-uuid' is not a lowercase hyphenated UUID"),
        ({"id": ID.upper().replace("0", "A")}, r"is not a lowercase hyphenated UUID"),
        ({"actor": ""}, r"actor must be a non-empty string"),
        ({"actor": "x" * 257}, r"actor is 257 characters, at most 256 allowed"),
        ({"actor": "bad\udc80"}, r"actor is not valid UTF-8 text"),
    ],
)
def test_bad_envelopes_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        prepare(_pending("run.tags_set", {"run_id": "r", "tags": {}}, **kwargs))


def test_seal_links_to_prev_and_hashes_the_header() -> None:
    prepared = prepare(_pending("run.tags_set", {"run_id": "r", "tags": {"team": "risk"}}))
    sealed = seal(prepared, seq=0, prev=GENESIS_PREV, time="2026-11-26T10:50:00.000000Z")
    expected = header_bytes(
        seq=0,
        id=ID,
        type="run.tags_set",
        schema=1,
        time="2026-11-26T10:50:00.000000Z",
        actor="alice",
        payload_digest=prepared.payload_digest,
        prev=GENESIS_PREV,
    )
    assert sealed.hash == event_hash(expected)
    assert sealed.payload_text == '{"run_id":"r","tags":{"team":"risk"}}'


def test_every_event_type_has_a_schema_version_and_type() -> None:
    for event_type, model in PAYLOAD_MODELS.items():
        assert model.TYPE == event_type
        assert model.SCHEMA_VERSION >= 1
        assert model.model_config.get("extra") == "forbid"
        assert model.model_config.get("strict") is True
