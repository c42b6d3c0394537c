"""Ed25519 key ids and approval signatures (ledger/keys.py), against the
golden checkpoint vector's key where the format is shared (DESIGN §5)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ledger.errors import ValidationError
from ledger.keys import (
    generate_private_key,
    key_id,
    private_key_from_bytes,
    private_key_pem,
    public_key_b64,
    sign_approval,
    verify_approval,
)

VECTOR = json.loads((Path(__file__).parents[2] / ".." / "shared" / "vectors" / "ledger-format-v1.json").read_text())
CHECKPOINT = VECTOR["checkpoint"]
REQUEST_HASH = "9f" * 32


def test_key_id_is_the_design_key_id_of_the_golden_verifier_key() -> None:
    key = private_key_from_bytes(bytes.fromhex(CHECKPOINT["ed25519_private_seed_hex"]))
    name, hex_id, encoded = CHECKPOINT["verifier_key"].split("+", 2)
    assert base64.b64decode(encoded)[1:] == base64.b64decode(public_key_b64(key))
    assert key_id(name, public_key_b64(key)) == hex_id


def test_a_signature_verifies_only_for_its_hash_and_key() -> None:
    key, other = generate_private_key(), generate_private_key()
    signature = sign_approval(key, REQUEST_HASH)
    assert verify_approval(public_key_b64(key), REQUEST_HASH, signature)
    assert not verify_approval(public_key_b64(other), REQUEST_HASH, signature)
    assert not verify_approval(public_key_b64(key), "00" * 32, signature)
    flipped = bytearray(base64.b64decode(signature))
    flipped[0] ^= 1
    assert not verify_approval(public_key_b64(key), REQUEST_HASH, base64.b64encode(bytes(flipped)).decode())
    assert not verify_approval(public_key_b64(key), REQUEST_HASH, "not base64!")


def test_private_keys_round_trip_through_pem_and_bad_ones_are_refused() -> None:
    key = generate_private_key()
    assert public_key_b64(private_key_from_bytes(private_key_pem(key))) == public_key_b64(key)
    with pytest.raises(ValidationError, match="not an unencrypted Ed25519 private key in PEM"):
        private_key_from_bytes(b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValidationError, match="public key has 3 bytes, expected 32"):
        key_id("bob", base64.b64encode(b"abc").decode())
