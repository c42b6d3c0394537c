"""The golden checkpoint of DESIGN §5 (../shared/vectors/ledger-format-v1.json,
"checkpoint" section, made with an independent signed-note implementation):
from the vector's Ed25519 seed and key name, the project must reproduce the
verifier key and the signed note byte for byte, and open the note again. Its
root is the "merkle" section's root of the three vector events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.checkpoint import Checkpoint, open_note, origin_for, parse_verifier_key, sign, verifier_key
from ledger.keys import private_key_from_bytes
from ledger.merkle import merkle_root

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "ledger-format-v1.json"


def _vectors() -> dict[str, Any]:
    if not VECTORS.exists():
        pytest.fail(f"golden vectors missing: {VECTORS} (the shared/ folder must sit next to the clone)")
    vectors: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
    return vectors


VECTOR = _vectors()
CHECKPOINT = VECTOR["checkpoint"]
KEY = private_key_from_bytes(bytes.fromhex(CHECKPOINT["ed25519_private_seed_hex"]))
LEDGER_ID = "00000000-0000-4000-8000-0000000000aa"
ROOT = bytes.fromhex(VECTOR["merkle"]["root_size_3"])


def test_the_verifier_key_is_reproduced() -> None:
    assert verifier_key(CHECKPOINT["key_name"], KEY.public_key()) == CHECKPOINT["verifier_key"]


def test_the_verifier_key_parses_to_the_seed_public_key() -> None:
    name, key_id, public_key = parse_verifier_key(CHECKPOINT["verifier_key"])
    assert name == CHECKPOINT["key_name"]
    assert key_id == bytes.fromhex(CHECKPOINT["verifier_key"].split("+")[1])
    assert verifier_key(name, public_key) == CHECKPOINT["verifier_key"]


def test_the_vector_root_is_the_merkle_root_of_the_vector_events() -> None:
    leaves = [bytes.fromhex(event["hash"]) for event in VECTOR["events"]]
    assert len(leaves) == 3
    assert merkle_root(leaves) == ROOT


def test_the_note_is_reproduced_byte_for_byte() -> None:
    checkpoint = Checkpoint(origin_for(LEDGER_ID), 3, ROOT)
    note = sign(checkpoint, CHECKPOINT["key_name"], KEY)
    assert note.encode("utf-8") == CHECKPOINT["note"].encode("utf-8")


def test_the_vector_note_opens_to_its_checkpoint() -> None:
    checkpoint = open_note(CHECKPOINT["note"], CHECKPOINT["verifier_key"])
    assert checkpoint == Checkpoint(f"mlledger/{LEDGER_ID}", 3, ROOT)
    assert checkpoint.body() == CHECKPOINT["note"].encode("utf-8").split(b"\n\n")[0] + b"\n"


def test_the_vector_note_opens_from_bytes() -> None:
    assert open_note(CHECKPOINT["note"].encode("utf-8"), CHECKPOINT["verifier_key"]).size == 3
