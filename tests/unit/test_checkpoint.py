"""Checkpoint notes (ledger/checkpoint.py): C2SP tlog-checkpoint bodies in
C2SP signed notes, signed and opened with Ed25519 keys (DESIGN §5).

Notes with odd bodies are built here by hand from the signed-note format,
not by ``sign``, so that the parser meets text the signer would never write."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checkpoint import (
    MAX_SIGNATURES,
    Checkpoint,
    VerifierKey,
    open_note,
    origin_for,
    parse_signer_key,
    parse_verifier_key,
    sign,
    signer_key,
    verifier_key,
)
from ledger.errors import IntegrityError, SignatureError, ValidationError
from ledger.keys import private_key_from_bytes

NAME = "mlledger-test-key"
KEY = private_key_from_bytes(bytes(range(32)))  # the golden vector's seed: key id 8bc52b5a
OTHER = private_key_from_bytes(bytes(range(1, 33)))
VKEY = verifier_key(NAME, KEY.public_key())
ORIGIN = origin_for("00000000-0000-4000-8000-0000000000aa")
ROOT = hashlib.sha256(b"root").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()
CHECKPOINT = Checkpoint(ORIGIN, 3, ROOT)
NO_SIGNATURE = "checkpoint note: no signature by mlledger-test-key\\+8bc52b5a verifies"


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def _signature_line(text: str, key: Ed25519PrivateKey = KEY, name: str = NAME) -> str:
    """One signature line over ``text`` by the signed-note rules, independently of the module."""
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + _raw(key)).digest()[:4]
    blob = key_id + key.sign(text.encode())
    return f"\u2014 {name} {base64.b64encode(blob).decode()}\n"


def _note(text: str, key: Ed25519PrivateKey = KEY, name: str = NAME) -> str:
    return f"{text}\n{_signature_line(text, key, name)}"


def _flip_bit(text: str, index: int) -> str:
    return text[:index] + chr(ord(text[index]) ^ 1) + text[index + 1 :]


# --- signing and opening -------------------------------------------------


def test_the_body_is_origin_size_and_base64_root_one_per_line() -> None:
    assert CHECKPOINT.body() == f"{ORIGIN}\n3\n{ROOT_B64}\n".encode()


def test_a_signed_note_has_the_design_layout() -> None:
    note = sign(CHECKPOINT, NAME, KEY)
    assert note == _note(f"{ORIGIN}\n3\n{ROOT_B64}\n")  # Ed25519 is deterministic
    assert note.count("\n\u2014 mlledger-test-key ") == 1


@pytest.mark.parametrize(
    "checkpoint",
    [
        CHECKPOINT,
        Checkpoint(ORIGIN, 0, hashlib.sha256().digest()),
        Checkpoint(ORIGIN, 2**64 - 1, ROOT),
        Checkpoint("example.com/log with spaces", 12345, ROOT, ("ext one", "ext+two")),
    ],
    ids=["size-3", "empty-tree", "largest-size", "extension-lines"],
)
def test_round_trip(checkpoint: Checkpoint) -> None:
    assert open_note(sign(checkpoint, NAME, KEY), VKEY) == checkpoint


def test_a_note_opens_from_bytes_and_with_a_parsed_verifier_key() -> None:
    note = sign(CHECKPOINT, NAME, KEY)
    assert open_note(note.encode(), parse_verifier_key(VKEY)) == CHECKPOINT


def test_the_origin_is_mlledger_slash_the_ledger_uuid() -> None:
    assert origin_for("0f8e5c1e-0000-4000-8000-000000000001") == "mlledger/0f8e5c1e-0000-4000-8000-000000000001"


# --- signatures ----------------------------------------------------------


def test_a_note_signed_by_another_key_fails() -> None:
    with pytest.raises(SignatureError, match=NO_SIGNATURE):
        open_note(sign(CHECKPOINT, NAME, OTHER), VKEY)


def test_a_note_signed_under_another_name_fails() -> None:
    with pytest.raises(SignatureError, match=NO_SIGNATURE):
        open_note(sign(CHECKPOINT, "someone-else", KEY), VKEY)


def test_a_signature_error_is_an_integrity_error() -> None:
    assert issubclass(SignatureError, IntegrityError)


@pytest.mark.parametrize(
    "tampered",
    [
        Checkpoint(ORIGIN, 4, ROOT),
        Checkpoint(ORIGIN, 2, ROOT),
        Checkpoint(ORIGIN, 3, hashlib.sha256(b"other root").digest()),
        Checkpoint(origin_for("00000000-0000-4000-8000-0000000000ab"), 3, ROOT),
        Checkpoint(ORIGIN, 3, ROOT, ("an extension",)),
    ],
    ids=["bigger-size", "smaller-size", "other-root", "other-origin", "added-extension"],
)
def test_a_changed_body_under_the_old_signature_fails(tampered: Checkpoint) -> None:
    signature = sign(CHECKPOINT, NAME, KEY).split("\n\n")[1]
    note = f"{tampered.body().decode()}\n{signature}"
    with pytest.raises(SignatureError, match=r"line [0-9]+: signature by mlledger-test-key\+8bc52b5a does not verify"):
        open_note(note, VKEY)


@pytest.mark.parametrize("index", [0, len(ORIGIN) + 1, len(ORIGIN) + 5, len(ORIGIN) + 20])
def test_one_flipped_bit_in_the_body_fails(index: int) -> None:
    note = _flip_bit(sign(CHECKPOINT, NAME, KEY), index)
    with pytest.raises(SignatureError, match="does not verify"):
        open_note(note, VKEY)


def _flip_signature_bit(note: str, position: int) -> str:
    """``note`` with one bit flipped in byte ``position`` of its (key id ‖ signature)."""
    body, line = note.split("\n\n")
    prefix, encoded = line.rstrip("\n").rsplit(" ", 1)
    blob = bytearray(base64.b64decode(encoded))
    blob[position] ^= 0x01
    return f"{body}\n\n{prefix} {base64.b64encode(bytes(blob)).decode()}\n"


@pytest.mark.parametrize("position", [4, 35, 67])  # bytes 4..67 are the Ed25519 signature
def test_one_flipped_bit_in_the_signature_fails(position: int) -> None:
    tampered = _flip_signature_bit(sign(CHECKPOINT, NAME, KEY), position)
    with pytest.raises(SignatureError, match="checkpoint note: line 5: signature by mlledger-test-key\\+8bc52b5a"):
        open_note(tampered, VKEY)


def test_a_flipped_bit_in_the_key_id_makes_the_signature_unknown() -> None:
    with pytest.raises(SignatureError, match=NO_SIGNATURE):
        open_note(_flip_signature_bit(sign(CHECKPOINT, NAME, KEY), 0), VKEY)


def test_signatures_by_unknown_keys_are_ignored() -> None:
    """signed-note: "Verifiers MUST ignore signatures from unknown keys, even if
    they share a name or ID (but not both) with a known key"."""
    text = CHECKPOINT.body().decode()
    same_name_other_key = _signature_line(text, OTHER, NAME)
    other_name_same_key = _signature_line(text, KEY, "witness.example/w1")
    garbage = "\u2014 witness.example/w2 " + base64.b64encode(b"\x00" * 68).decode() + "\n"
    note = f"{text}\n{same_name_other_key}{other_name_same_key}{_signature_line(text)}{garbage}"
    assert open_note(note, VKEY) == CHECKPOINT


def test_a_second_failing_signature_by_the_known_key_rejects_the_note() -> None:
    """signed-note: "If a signature from a known key fails to verify, clients SHOULD reject the whole note"."""
    text = CHECKPOINT.body().decode()
    bad = _signature_line("something else\n")
    with pytest.raises(SignatureError, match="line 6: signature by mlledger-test-key\\+8bc52b5a does not verify"):
        open_note(f"{text}\n{_signature_line(text)}{bad}", VKEY)


def test_a_known_key_signature_of_the_wrong_length_fails() -> None:
    blob = parse_verifier_key(VKEY).key_id + b"\x01" * 32
    note = f"{CHECKPOINT.body().decode()}\n\u2014 {NAME} {base64.b64encode(blob).decode()}\n"
    with pytest.raises(SignatureError, match="line 5: signature by mlledger-test-key\\+8bc52b5a does not verify"):
        open_note(note, VKEY)


# --- malformed notes -----------------------------------------------------

SIGNED = sign(CHECKPOINT, NAME, KEY)
BODY = CHECKPOINT.body().decode()
SIGNATURE_LINE = SIGNED.split("\n\n")[1]


@pytest.mark.parametrize(
    ("note", "message"),
    [
        (SIGNED.replace("\n\n", "\n"), "no blank line between the text and the signatures"),
        (SIGNED[:-1], "does not end with a newline"),
        (SIGNED + "\n", "no signature line after the blank line"),
        (BODY + "\n", "no signature line after the blank line"),
        (SIGNED.replace("\u2014 ", "- "), "line 5: a signature line starts with an em dash and a space"),
        (SIGNED.replace("\u2014 ", "\u2014"), "line 5: a signature line starts with an em dash and a space"),
        (SIGNED + "trailing text\n", "line 6: a signature line starts with an em dash"),
        (SIGNED.replace(f" {NAME} ", f" {NAME}+x "), "line 5: key name 'mlledger-test-key\\+x' must be non-empty"),
        (SIGNED.replace(f" {NAME} ", "  "), "line 5: key name '' must be non-empty"),
        (SIGNED.replace(f" {NAME} ", f" {NAME}"), "line 5: signature is empty"),
        (SIGNED.replace(f"{NAME} ", f"{NAME} !"), "line 5: signature is not base64"),
        (SIGNED[:-2] + "\n", "line 5: signature is not base64"),
        (f"{BODY}\n\u2014 {NAME} AAAAAA==\n", "line 5: signature has 4 bytes, expected a 4-byte key id"),
        (SIGNED.replace("\n3\n", "\n\t3\n"), "control character U\\+0009 at offset 46"),
        (SIGNED.replace("\n3\n", "\r\n3\n"), "control character U\\+000D"),
        (SIGNED + SIGNATURE_LINE * MAX_SIGNATURES, "101 signature lines, at most 100 are read"),
    ],
    ids=[
        "missing-blank-line",
        "missing-final-newline",
        "blank-line-after-signatures",
        "no-signature-lines",
        "hyphen-instead-of-em-dash",
        "em-dash-without-space",
        "trailing-text",
        "plus-in-key-name",
        "empty-key-name",
        "no-signature",
        "signature-not-base64",
        "signature-bad-padding",
        "signature-too-short",
        "tab",
        "carriage-return",
        "too-many-signatures",
    ],
)
def test_a_malformed_note_is_refused(note: str, message: str) -> None:
    with pytest.raises(ValidationError, match=f"checkpoint note: {message}"):
        open_note(note, VKEY)


def test_a_note_with_up_to_the_limit_of_signatures_opens() -> None:
    assert open_note(SIGNED + SIGNATURE_LINE * (MAX_SIGNATURES - 1), VKEY) == CHECKPOINT


def test_a_note_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(ValidationError, match="checkpoint note: not valid UTF-8"):
        open_note(SIGNED.encode().replace(b"mlledger/", b"mlledger\xff/"), VKEY)


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ("03", "line 2: tree size '03' is not a decimal integer without leading zeroes"),
        ("00", "line 2: tree size '00'"),
        ("+3", "line 2: tree size '\\+3'"),
        ("-3", "line 2: tree size '-3'"),
        (" 3", "line 2: tree size ' 3'"),
        ("3 ", "line 2: tree size '3 '"),
        ("1_000", "line 2: tree size '1_000'"),
        ("\u0663", "line 2: tree size '\u0663'"),  # ARABIC-INDIC DIGIT THREE: int() would take it
        ("0x3", "line 2: tree size '0x3'"),
        (str(2**64), f"line 2: tree size '{2**64}'"),
    ],
)
def test_a_signed_body_with_a_bad_size_is_refused(size: str, message: str) -> None:
    with pytest.raises(ValidationError, match=f"checkpoint note: {message}"):
        open_note(_note(f"{ORIGIN}\n{size}\n{ROOT_B64}\n"), VKEY)


@pytest.mark.parametrize(
    ("root", "message"),
    [
        (base64.b64encode(ROOT[:31]).decode(), "line 3: root hash has 31 bytes, expected 32"),
        (base64.b64encode(ROOT + b"\x00").decode(), "line 3: root hash has 33 bytes, expected 32"),
        (ROOT.hex(), "line 3: root hash has 48 bytes, expected 32"),
        (ROOT_B64.rstrip("="), "line 3: root hash is not base64"),
        (ROOT_B64[:-2] + "$=", "line 3: root hash is not base64"),
        (base64.urlsafe_b64encode(b"\xff" * 32).decode(), "line 3: root hash is not base64"),
        (ROOT_B64[:-2] + chr(ord(ROOT_B64[-2]) ^ 1) + "=", "line 3: root hash .* is not in canonical base64"),
    ],
    ids=["short", "long", "hex", "unpadded", "bad-character", "url-safe-alphabet", "non-canonical"],
)
def test_a_signed_body_with_a_bad_root_is_refused(root: str, message: str) -> None:
    with pytest.raises(ValidationError, match=f"checkpoint note: {message}"):
        open_note(_note(f"{ORIGIN}\n3\n{root}\n"), VKEY)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{ORIGIN}\n3\n", "2 text lines, expected origin, size and root hash"),
        (f"\n3\n{ROOT_B64}\n", "line 1 is empty"),
        (f"{ORIGIN}\n3\n{ROOT_B64}\n\nextension\n", "line 4 is empty"),
    ],
    ids=["two-lines", "empty-origin", "empty-extension-line"],
)
def test_a_signed_body_that_is_not_a_checkpoint_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=f"checkpoint note: {message}"):
        open_note(_note(text), VKEY)


def test_the_body_is_read_only_after_its_signature_verified() -> None:
    """tlog-checkpoint bodies are "ignored unless ... verified": a bad size under a bad signature is a SignatureError."""
    with pytest.raises(SignatureError):
        open_note(_note(f"{ORIGIN}\n03\n{ROOT_B64}\n", OTHER), VKEY)


def test_extension_lines_are_kept_so_the_body_is_the_signed_text() -> None:
    text = f"{ORIGIN}\n3\n{ROOT_B64}\nsome extension\n"
    checkpoint = open_note(_note(text), VKEY)
    assert checkpoint.extensions == ("some extension",)
    assert checkpoint.body() == text.encode()


# --- checkpoint values ---------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": -1}, "checkpoint size -1: expected an integer from 0 to 2\\*\\*64-1"),
        ({"size": 2**64}, "checkpoint size"),
        ({"size": True}, "checkpoint size True"),
        ({"size": "3"}, "checkpoint size '3'"),
        ({"root": ROOT[:31]}, "checkpoint root: expected 32 bytes"),
        ({"root": ROOT.hex()}, "checkpoint root: expected 32 bytes"),
        ({"origin": ""}, "checkpoint origin '': expected a non-empty line"),
        ({"origin": "a\nb"}, "checkpoint origin 'a\\\\nb'"),
        ({"extensions": ("",)}, "checkpoint extension line ''"),
        ({"extensions": ("a\n",)}, "checkpoint extension line"),
    ],
)
def test_a_checkpoint_that_no_note_could_carry_is_refused(kwargs: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {"origin": ORIGIN, "size": 3, "root": ROOT, **kwargs}
    with pytest.raises(ValidationError, match=message):
        Checkpoint(**fields)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\u00a0b", "a\nb"])
def test_signing_under_a_bad_key_name_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match=r"signing key: key name .* must be non-empty, without spaces or '\+'"):
        sign(CHECKPOINT, name, KEY)


# --- verifier keys -------------------------------------------------------


def test_a_verifier_key_is_name_key_id_and_algorithm_byte_with_key() -> None:
    name, hex_id, encoded = VKEY.split("+", 2)
    assert (name, hex_id) == (NAME, "8bc52b5a")
    assert base64.b64decode(encoded) == b"\x01" + _raw(KEY)
    assert verifier_key(NAME, _raw(KEY)) == VKEY


def test_a_verifier_key_parses_to_name_key_id_and_public_key() -> None:
    parsed = parse_verifier_key(VKEY)
    assert parsed == VerifierKey(NAME, bytes.fromhex("8bc52b5a"), _raw(KEY))
    assert str(parsed) == "mlledger-test-key+8bc52b5a"


def test_an_uppercase_key_id_is_read() -> None:
    assert parse_verifier_key(VKEY.replace("8bc52b5a", "8BC52B5A")) == parse_verifier_key(VKEY)


def _vkey(name: str = NAME, hex_id: str = "8bc52b5a", data: bytes = b"\x01" + _raw(KEY)) -> str:
    return f"{name}+{hex_id}+{base64.b64encode(data).decode()}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_vkey(hex_id="8bc52b5b"), "key id 8bc52b5b is not the key's, expected 8bc52b5a"),
        (_vkey(data=b"\x01" + _raw(OTHER)), "key id 8bc52b5a is not the key's"),
        (_vkey(name="other-name"), "key id 8bc52b5a is not the key's"),
        (_vkey(data=b"\x02" + _raw(KEY)), "algorithm byte is 0x02, expected 0x01 \\(Ed25519\\)"),
        (_vkey(data=b"\x04" + _raw(KEY)), "algorithm byte is 0x04"),
        (_vkey(data=_raw(KEY)), "algorithm byte is 0x"),
        (_vkey(data=b""), "key is empty"),
        (_vkey(data=b"\x01" + _raw(KEY)[:31]), "public key has 31 bytes, expected 32"),
        (_vkey(data=b"\x01" + _raw(KEY) + b"\x00"), "public key has 33 bytes, expected 32"),
        (_vkey(hex_id="8bc52b5"), "key id '8bc52b5' is not 8 hex digits"),
        (_vkey(hex_id="8bc52b5g"), "key id '8bc52b5g' is not 8 hex digits"),
        (_vkey(hex_id=" bc52b5a"), "key id ' bc52b5a' is not 8 hex digits"),
        (_vkey(name=""), "key name '' must be non-empty"),
        (_vkey(name="a b"), "key name 'a b' must be non-empty"),
        (VKEY[:-1], "key is not base64"),
        (f"{NAME}+8bc52b5a", "key is empty"),
        (NAME, "key id '' is not 8 hex digits"),
    ],
    ids=[
        "wrong-key-id",
        "other-public-key",
        "other-name",
        "ecdsa-algorithm",
        "cosignature-algorithm",
        "no-algorithm-byte",
        "no-key",
        "short-key",
        "long-key",
        "short-key-id",
        "non-hex-key-id",
        "space-in-key-id",
        "empty-name",
        "space-in-name",
        "bad-base64",
        "missing-key",
        "name-only",
    ],
)
def test_a_bad_verifier_key_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=f"verifier key .*: {message}"):
        parse_verifier_key(text)


def test_opening_with_a_bad_verifier_key_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="algorithm byte is 0x02"):
        open_note(SIGNED, _vkey(data=b"\x02" + _raw(KEY)))


def test_a_verifier_key_of_a_raw_key_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValidationError, match="Ed25519 public key has 31 bytes, expected 32"):
        verifier_key(NAME, _raw(KEY)[:31])


# --- signer keys (the ledger's key file) -------------------------------------


def test_a_signer_key_carries_the_name_and_the_seed() -> None:
    text = signer_key(NAME, KEY)
    # Go's note.NewSigner format: PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>
    seed = base64.b64encode(b"\x01" + bytes(range(32))).decode()
    assert text == f"PRIVATE+KEY+{NAME}+8bc52b5a+{seed}"
    name, private = parse_signer_key(text)
    assert name == NAME and _raw(private) == _raw(KEY)
    assert open_note(sign(CHECKPOINT, name, private), VKEY) == CHECKPOINT


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mlledger-test-key+8bc52b5a+AQ==", "expected text starting with 'PRIVATE\\+KEY\\+'"),
        ("PRIVATE+KEY+bad name+8bc52b5a+AQ==", "key name 'bad name' must be non-empty"),
        ("PRIVATE+KEY+k+8bc5+AQ==", "key id is not 8 hex digits"),
        ("PRIVATE+KEY+k+8bc52b5a+!!!", "the key is not base64"),
        ("PRIVATE+KEY+k+8bc52b5a+AQ==", "expected 0x01 \\(Ed25519\\) and a 32-byte seed"),
    ],
)
def test_a_malformed_signer_key_is_refused_without_echoing_it(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        parse_signer_key(text)
    assert "PRIVATE+KEY" not in str(caught.value).replace("'PRIVATE+KEY+'", "")  # the secret is never echoed


def test_a_signer_key_whose_id_is_not_the_keys_is_refused() -> None:
    forged = signer_key(NAME, KEY).replace("+8bc52b5a+", "+00000000+")
    with pytest.raises(ValidationError, match="key id 00000000 is not the key's, expected 8bc52b5a"):
        parse_signer_key(forged)


def test_a_signing_key_given_as_a_verifier_key_is_refused_without_echoing_it() -> None:
    secret = signer_key(NAME, KEY)
    with pytest.raises(ValidationError, match="this is a signing \\(private\\) key, not a verifier key") as caught:
        parse_verifier_key(secret)
    assert secret.rsplit("+", 1)[1] not in str(caught.value)
    mangled = secret.removeprefix("PRIVATE+")  # a mistyped one: still never echoed
    with pytest.raises(ValidationError) as caught:
        parse_verifier_key(mangled)
    assert secret.rsplit("+", 1)[1] not in str(caught.value)
