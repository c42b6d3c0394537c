"""schemas/ is generated from the payload models; this fails when they drift."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from ledger.payloads import PAYLOAD_MODELS
from ledger.schemagen import render

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_schemas_folder_matches_the_models() -> None:
    expected = render()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in SCHEMAS.glob("*.json")}
    stale = sorted(name for name in expected if on_disk.get(name) != expected[name])
    extra = sorted(set(on_disk) - set(expected))
    assert not stale and not extra, (
        f"schemas/ drifted from ledger/payloads (stale: {stale}, extra: {extra}); run `python -m ledger.schemagen`"
    )


def test_index_lists_every_event_type_with_its_version() -> None:
    index = json.loads((SCHEMAS / "index.json").read_text(encoding="utf-8"))
    assert set(index["event_types"]) == set(PAYLOAD_MODELS)
    for event_type, entry in index["event_types"].items():
        assert entry["schema_version"] == PAYLOAD_MODELS[event_type].SCHEMA_VERSION
        assert (SCHEMAS / entry["file"]).is_file()


def test_schemas_accept_valid_and_reject_extra_fields() -> None:
    schema = json.loads((SCHEMAS / "run.metrics_logged.v1.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    good = {"run_id": "r", "metrics": [{"key": "rmse", "value": "NaN", "step": 1, "timestamp": 5}]}
    assert list(validator.iter_errors(good)) == []
    bad = {**good, "extra": 1}
    assert any("Additional properties" in e.message for e in validator.iter_errors(bad))
