"""Ed25519 keys: key ids, approval signatures, and reading key text.

Owns: the bytes that are signed and how a signature is checked. A signed
approval is an Ed25519 signature over the 32 raw bytes of the approved
request's event hash; the approver's key is known by its key id, computed as
in DESIGN §5 (first 4 bytes of SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key),
with the actor's name as key name). Pure: keys arrive as bytes or text, never
as paths (the services read files).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import ValidationError

__all__ = [
    "generate_private_key",
    "key_id",
    "private_key_from_bytes",
    "private_key_pem",
    "public_key_b64",
    "sign_approval",
    "verify_approval",
]

ED25519_ALGORITHM_BYTE: Final = b"\x01"  # the signed-note signature type of Ed25519


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted (protect the file by its mode)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def private_key_from_bytes(data: bytes) -> Ed25519PrivateKey:
    """A private key from PKCS#8 PEM text or 32 raw bytes."""
    if len(data) == 32:
        return Ed25519PrivateKey.from_private_bytes(data)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise ValidationError(f"not an unencrypted Ed25519 private key in PEM: {e}") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise ValidationError(f"the signing key is {type(key).__name__}, expected an Ed25519 private key")
    return key


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The 32-byte public key, base64 (the ``actor.key_registered`` form)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def key_id(name: str, public_key: str) -> str:
    """The DESIGN §5 key id of ``public_key`` (base64) under ``name``, as 8 hex digits."""
    raw = _decode(public_key, 32, "public key")
    return hashlib.sha256(name.encode("utf-8") + b"\n" + ED25519_ALGORITHM_BYTE + raw).digest()[:4].hex()


def sign_approval(key: Ed25519PrivateKey, request_hash: str) -> str:
    """The base64 signature of an approval of the request whose event hash is ``request_hash``."""
    return base64.b64encode(key.sign(bytes.fromhex(request_hash))).decode("ascii")


def verify_approval(public_key: str, request_hash: str, signature: str) -> bool:
    """Whether ``signature`` (base64) signs ``request_hash`` with ``public_key`` (base64)."""
    try:
        public = Ed25519PublicKey.from_public_bytes(_decode(public_key, 32, "public key"))
        public.verify(_decode(signature, 64, "signature"), bytes.fromhex(request_hash))
    except (InvalidSignature, ValidationError, ValueError):
        return False
    return True


def _decode(text: str, size: int, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValidationError(f"{what} is not base64: {e}") from e
    if len(raw) != size:
        raise ValidationError(f"{what} has {len(raw)} bytes, expected {size}")
    return raw
