"""Checkpoints: the signed tree head of a ledger (DESIGN §5).

Owns: the checkpoint body (C2SP tlog-checkpoint: origin, tree size, base64
root hash, optional extension lines), the signed note around it (C2SP
signed-note, Ed25519 only: key id = first 4 bytes of SHA-256(key name ‖ "\\n"
‖ 0x01 ‖ public key), as in ``ledger.keys``), and verifier key strings
``<name>+<8 hex key id>+<base64(0x01 ‖ public key)>``. Pure: text and keys in,
text and values out. Computing the root is left to ``ledger.merkle``; reading
keys and storing or publishing notes is left to the services.

``open_note`` follows the signed-note rules: the text is everything up to the
last blank line, it must be valid UTF-8 without control characters other
than newline, each signature line is ``— <key name> <base64(key id ‖
signature)>``, and at most ``MAX_SIGNATURES`` lines are read. Signatures by
other keys (another name or another key id) are ignored; every signature by
the verifier key must verify, and at least one must. The body is parsed only
after its signature verified ("the text MUST be ignored unless ... verified").
A malformed note raises ``ValidationError``; a note not signed by the key
raises ``SignatureError``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Final, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import SignatureError, ValidationError
from ledger.keys import ED25519_ALGORITHM_BYTE, key_id

__all__ = [
    "MAX_SIGNATURES",
    "Checkpoint",
    "VerifierKey",
    "open_note",
    "origin_for",
    "parse_signer_key",
    "parse_verifier_key",
    "sign",
    "signer_key",
    "verifier_key",
]

SIGNER_KEY_PREFIX: Final = "PRIVATE+KEY+"  # golang.org/x/mod/sumdb/note signer keys
SIGNATURE_PREFIX: Final = "\u2014 "  # em dash, space: starts every signature line
MAX_SIGNATURES: Final = 100  # signed-note: "MUST accept at least up to 16"; Go's note.Open stops at 100
MAX_TREE_SIZE: Final = 2**64 - 1  # RFC 9162 tree_size is a uint64
KEY_ID_SIZE: Final = 4
PUBLIC_KEY_SIZE: Final = 32
SIGNATURE_SIZE: Final = 64
ROOT_SIZE: Final = 32
_TREE_SIZE = re.compile(r"0|[1-9][0-9]*")  # tlog-checkpoint: ASCII decimal, no leading zeroes
_KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}")
_WHERE = "checkpoint note"


class VerifierKey(NamedTuple):
    """A parsed verifier key: who signs (name, 4-byte key id) and the 32-byte Ed25519 public key."""

    name: str
    key_id: bytes
    public_key: bytes

    def __str__(self) -> str:
        return f"{self.name}+{self.key_id.hex()}"


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the ledger ``origin`` had ``size`` events whose Merkle root is ``root``."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()  # opaque; tlog-checkpoint calls them NOT RECOMMENDED

    def __post_init__(self) -> None:
        _check_line("checkpoint origin", self.origin)
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise ValidationError(f"checkpoint size {self.size!r}: expected an integer from 0 to 2**64-1")
        if not isinstance(self.root, bytes) or len(self.root) != ROOT_SIZE:
            raise ValidationError(f"checkpoint root: expected {ROOT_SIZE} bytes, got {self.root!r}")
        for extension in self.extensions:
            _check_line("checkpoint extension line", extension)

    def body(self) -> bytes:
        """The note text the signature covers: origin, size, base64 root and extensions, one per line."""
        lines = [self.origin, str(self.size), _b64(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines).encode("utf-8")


def origin_for(ledger_id: object) -> str:
    """The checkpoint origin of the ledger whose uuid is ``ledger_id``."""
    return f"mlledger/{ledger_id}"


def verifier_key(name: str, public_key: Ed25519PublicKey | bytes) -> str:
    """The signed-note verifier key ``<name>+<key id hex>+<base64(0x01 ‖ public key)>``."""
    _check_key_name(name, "verifier key")
    raw = _raw_public_key(public_key)
    return f"{name}+{_key_id(name, raw).hex()}+{_b64(ED25519_ALGORITHM_BYTE + raw)}"


def parse_verifier_key(text: str) -> VerifierKey:
    """Read a verifier key string; refuse a bad name, a key id that is not the key's, or a non-Ed25519 key.

    Errors name the key by ``<name>+<key id>`` only, never its last part: a
    signing key given by mistake must not end up in a terminal or a log."""
    if text.startswith(SIGNER_KEY_PREFIX):
        raise ValidationError(
            "this is a signing (private) key, not a verifier key: give the verifier key "
            "(`mlledger key public` prints it); keep the signing key secret"
        )
    name, _, rest = text.partition("+")
    hex_id, _, encoded = rest.partition("+")  # the base64 part may itself contain "+"
    where = f"verifier key {name[:64]!r}"
    _check_key_name(name, where)
    if not _KEY_ID_HEX.fullmatch(hex_id):
        raise ValidationError(f"{where}: key id {hex_id[:16]!r} is not 8 hex digits (<name>+<8 hex>+<base64 key>)")
    if not encoded:
        raise ValidationError(f"{where}: key is empty")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValidationError(f"{where}: key is not base64") from e
    if data[:1] != ED25519_ALGORITHM_BYTE:
        found = f"0x{data[0]:02x}" if data else "nothing"
        raise ValidationError(f"{where}: algorithm byte is {found}, expected 0x01 (Ed25519)")
    raw = data[1:]
    if len(raw) != PUBLIC_KEY_SIZE:
        raise ValidationError(f"{where}: public key has {len(raw)} bytes, expected {PUBLIC_KEY_SIZE}")
    expected = _key_id(name, raw)
    if bytes.fromhex(hex_id) != expected:
        raise ValidationError(f"{where}: key id {hex_id} is not the key's, expected {expected.hex()}")
    return VerifierKey(name, expected, raw)


def signer_key(name: str, private_key: Ed25519PrivateKey) -> str:
    """The signer key ``PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 ‖ 32-byte seed)>``
    (the format of Go's ``note.NewSigner``): the name travels with the key."""
    _check_key_name(name, "signer key")
    seed = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    hex_id = _key_id(name, _raw_public_key(private_key.public_key())).hex()
    return f"{SIGNER_KEY_PREFIX}{name}+{hex_id}+{_b64(ED25519_ALGORITHM_BYTE + seed)}"


def parse_signer_key(text: str) -> tuple[str, Ed25519PrivateKey]:
    """The key name and private key of a signer key string (the secret is never echoed in errors)."""
    if not text.startswith(SIGNER_KEY_PREFIX):
        raise ValidationError(f"signer key: expected text starting with {SIGNER_KEY_PREFIX!r}")
    name, _, rest = text[len(SIGNER_KEY_PREFIX) :].partition("+")
    hex_id, _, encoded = rest.partition("+")
    _check_key_name(name, "signer key")
    if not _KEY_ID_HEX.fullmatch(hex_id):
        raise ValidationError(f"signer key {name!r}: key id is not 8 hex digits")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValidationError(f"signer key {name!r}: the key is not base64") from e
    if data[:1] != ED25519_ALGORITHM_BYTE or len(data) != 1 + PUBLIC_KEY_SIZE:
        raise ValidationError(f"signer key {name!r}: expected 0x01 (Ed25519) and a 32-byte seed")
    private_key = Ed25519PrivateKey.from_private_bytes(data[1:])
    expected = _key_id(name, _raw_public_key(private_key.public_key())).hex()
    if hex_id.lower() != expected:
        raise ValidationError(f"signer key {name!r}: key id {hex_id} is not the key's, expected {expected}")
    return name, private_key


def sign(checkpoint: Checkpoint, key_name: str, private_key: Ed25519PrivateKey) -> str:
    """The signed note of ``checkpoint``: its body, a blank line, one signature line by ``key_name``."""
    _check_key_name(key_name, "signing key")
    body = checkpoint.body()
    blob = _key_id(key_name, _raw_public_key(private_key.public_key())) + private_key.sign(body)
    return f"{body.decode('utf-8')}\n{SIGNATURE_PREFIX}{key_name} {_b64(blob)}\n"


def open_note(note: str | bytes, verifier: str | VerifierKey) -> Checkpoint:
    """The checkpoint in ``note`` once a signature by ``verifier`` verified over its body."""
    key = parse_verifier_key(verifier) if isinstance(verifier, str) else verifier
    body, signatures = _split(_text(note))
    _verify(body, signatures, key)
    return _parse_body(body)


def _text(note: str | bytes) -> str:
    try:
        text = note.decode("utf-8") if isinstance(note, bytes) else note
        text.encode("utf-8")  # a str may hold lone surrogates
    except UnicodeError as e:
        raise ValidationError(f"{_WHERE}: not valid UTF-8: {e}") from e
    for offset, char in enumerate(text):
        if char < " " and char != "\n":
            raise ValidationError(f"{_WHERE}: control character U+{ord(char):04X} at offset {offset}")
    return text


def _split(text: str) -> tuple[str, list[tuple[int, str, bytes]]]:
    """The note text and its signature lines as (line number, key name, key id ‖ signature)."""
    split = text.rfind("\n\n")
    if split < 0:
        raise ValidationError(f"{_WHERE}: no blank line between the text and the signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block:
        raise ValidationError(f"{_WHERE}: no signature line after the blank line")
    if not block.endswith("\n"):
        raise ValidationError(f"{_WHERE}: does not end with a newline")
    first = body.count("\n") + 2  # 1-based line number of the first signature line
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise ValidationError(f"{_WHERE}: {len(lines)} signature lines, at most {MAX_SIGNATURES} are read")
    return body, [_signature_line(number, line) for number, line in enumerate(lines, first)]


def _signature_line(number: int, line: str) -> tuple[int, str, bytes]:
    where = f"{_WHERE}: line {number}"
    if not line.startswith(SIGNATURE_PREFIX):
        raise ValidationError(f"{where}: a signature line starts with an em dash and a space (U+2014 U+0020)")
    name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    _check_key_name(name, where)
    blob = _b64decode(encoded, f"{where}: signature")
    if len(blob) <= KEY_ID_SIZE:
        raise ValidationError(f"{where}: signature has {len(blob)} bytes, expected a 4-byte key id and a signature")
    return number, name, blob


def _verify(body: str, signatures: list[tuple[int, str, bytes]], key: VerifierKey) -> None:
    """At least one signature by ``key``, and no failing one (signed-note: clients SHOULD reject the note)."""
    public = Ed25519PublicKey.from_public_bytes(key.public_key)
    # a signature is by ``key`` when both its name and its key id match; any other is ignored
    mine = [(n, blob[KEY_ID_SIZE:]) for n, name, blob in signatures if (name, blob[:KEY_ID_SIZE]) == key[:2]]
    if not mine:
        raise SignatureError(f"{_WHERE}: no signature by {key} verifies")
    for number, signature in mine:
        try:
            if len(signature) != SIGNATURE_SIZE:
                raise InvalidSignature
            public.verify(signature, body.encode("utf-8"))
        except InvalidSignature as e:
            raise SignatureError(f"{_WHERE}: line {number}: signature by {key} does not verify") from e


def _parse_body(body: str) -> Checkpoint:
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise ValidationError(f"{_WHERE}: {len(lines)} text lines, expected origin, size and root hash")
    for number, line in enumerate(lines, 1):
        if not line:
            raise ValidationError(f"{_WHERE}: line {number} is empty (checkpoint lines are non-empty)")
    origin, size, root, *extensions = lines
    if not _TREE_SIZE.fullmatch(size) or int(size) > MAX_TREE_SIZE:
        raise ValidationError(f"{_WHERE}: line 2: tree size {size!r} is not a decimal integer without leading zeroes")
    raw = _b64decode(root, f"{_WHERE}: line 3: root hash")
    if len(raw) != ROOT_SIZE:
        raise ValidationError(f"{_WHERE}: line 3: root hash has {len(raw)} bytes, expected {ROOT_SIZE}")
    if _b64(raw) != root:  # so that body() gives back the signed bytes
        raise ValidationError(f"{_WHERE}: line 3: root hash {root!r} is not in canonical base64")
    return Checkpoint(origin, int(size), raw, tuple(extensions))


def _check_key_name(name: str, where: str) -> None:
    """signed-note: key names are non-empty, without Unicode spaces or "+"."""
    if not name or "+" in name or any(char.isspace() or char < " " for char in name):
        raise ValidationError(f"{where}: key name {name!r} must be non-empty, without spaces or '+'")


def _check_line(what: str, value: str) -> None:
    if not isinstance(value, str) or not value or any(char < " " for char in value):
        raise ValidationError(f"{what} {value!r}: expected a non-empty line without control characters")


def _raw_public_key(key: Ed25519PublicKey | bytes) -> bytes:
    if isinstance(key, bytes):
        if len(key) != PUBLIC_KEY_SIZE:
            raise ValidationError(f"Ed25519 public key has {len(key)} bytes, expected {PUBLIC_KEY_SIZE}")
        return key
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _key_id(name: str, raw_public_key: bytes) -> bytes:
    return bytes.fromhex(key_id(name, _b64(raw_public_key)))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    if not text:
        raise ValidationError(f"{what} is empty")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValidationError(f"{what} is not base64: {e}") from e
