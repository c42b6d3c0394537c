"""Independently verify an ``mlledger evidence`` bundle.

This is an independent check that trusts none of mlledger's code: it was
written from DESIGN.md (sections 2, 4, 5 and 6) and the bundle's own
README, and uses only the standard library, the ``rfc8785`` package (RFC 8785
canonical JSON) and ``cryptography`` (Ed25519). It checks:

- checkpoint.note is a C2SP signed note whose text (origin, tree size,
  base64 root hash) carries a valid Ed25519 signature by the verifier key
  given with --key: the signature line names the key, its first 4 bytes are
  the key id, SHA-256(key name || "\\n" || 0x01 || public key)[:4], and the
  rest is the signature over the text up to the blank line;
- manifest.json states the note's origin, tree size and root, and holds the
  note itself;
- each line of events.jsonl: hash = SHA-256(JCS of the nine header fields)
  and payload_digest = SHA-256(JCS(payload)) unless the payload is null;
- each event's inclusion proof in proofs.json leads from its hash (the leaf
  data) to the signed root, by the verification algorithm of RFC 9162
  §2.1.3.2 (leaf hash SHA-256(0x00 || leaf), node hash
  SHA-256(0x01 || left || right));
- the manifest cites exactly the seqs of events.jsonl (increasing), with
  their types, and proofs.json proves exactly those;
- a null payload is named by a ledger.redacted event in the bundle
  ("target_seq"), as DESIGN §6 requires;
- the bundle holds the model.version_created event of the manifest's model
  and version.

    python examples/verify_bundle.py bundle.zip --key VKEY

VKEY is the verifier key text, ``<name>+<8 hex key id>+<base64(0x01 ||
32-byte Ed25519 public key)>``, or a file holding it; take it from the
ledger's operator, not from the bundle. Prints ``OK: ...`` and exits 0;
otherwise prints every problem, one per line, and exits 1. Exits 2 when the
bundle or the key cannot be read at all.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import io
import itertools
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FILES = ("README.md", "checkpoint.note", "events.jsonl", "manifest.json", "proofs.json", "verifier.key")
HEADER_FIELDS = ("v", "seq", "id", "type", "schema", "time", "actor", "payload_digest", "prev")
LINE_FIELDS = {*HEADER_FIELDS, "hash", "payload"}
MAX_SAFE_INTEGER = 2**53 - 1
EM_DASH = "\u2014 "
ED25519 = b"\x01"


class UnreadableError(Exception):
    """The input cannot be checked at all (exit 2)."""


# -- JSON and hashing (DESIGN §2) ---------------------------------------------------------


def strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def parse_integer(text: str) -> int | float:
    """JSON numbers are doubles: JCS writes the double 1e20 as 100000000000000000000."""
    value = int(text)
    return value if abs(value) <= MAX_SAFE_INTEGER else float(text)


def parse_json(text: str) -> Any:
    return json.loads(text, object_pairs_hook=strict_object, parse_constant=refuse_constant, parse_int=parse_integer)


def sha256_jcs(value: Any) -> str:
    return hashlib.sha256(rfc8785.dumps(value)).hexdigest()


# -- the verifier key and the signed note (DESIGN §5) --------------------------------------


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + ED25519 + public_key).digest()[:4]


def parse_verifier_key(text: str) -> tuple[str, bytes, bytes]:
    """(name, key id, 32-byte public key) of ``name+hexid+base64(0x01 || key)``.
    Errors never repeat the key's last part: a private key given by mistake
    must not be printed."""
    if text.strip().startswith("PRIVATE+KEY+"):
        raise UnreadableError("this is a signing (private) key, not the verifier key: keep it secret")
    name, _, rest = text.strip().partition("+")
    hex_id, _, encoded = rest.partition("+")
    where = f"verifier key {name[:64]!r}"
    try:
        data = base64.b64decode(encoded, validate=True)
        stated = bytes.fromhex(hex_id)
    except (binascii.Error, ValueError) as e:
        raise UnreadableError(f"{where}: expected name+<8 hex>+base64(0x01 || 32-byte Ed25519 key)") from e
    if not name or data[:1] != ED25519 or len(data) != 33 or len(stated) != 4:
        raise UnreadableError(f"{where}: expected name+<8 hex>+base64(0x01 || 32-byte Ed25519 key)")
    if key_id(name, data[1:]) != stated:
        raise UnreadableError(f"{where}: the key id is not the key's")
    return name, stated, data[1:]


def open_note(note: str, key: tuple[str, bytes, bytes], problems: list[str]) -> tuple[str, int, bytes] | None:
    """(origin, tree size, root) of the note; a problem when no signature by ``key`` verifies."""
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        problems.append("checkpoint.note: not a signed note (text, blank line, signature lines)")
        return None
    text, signatures = note[: split + 1], note[split + 2 : -1].split("\n")
    name, wanted_id, public_key = key
    verified = False
    for line in signatures:
        if not line.startswith(EM_DASH):
            problems.append(f"checkpoint.note: signature line {line[:40]!r} does not start with an em dash")
            continue
        signer, _, encoded = line[len(EM_DASH) :].partition(" ")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            problems.append(f"checkpoint.note: the signature by {signer} is not base64")
            continue
        if signer != name or blob[:4] != wanted_id:
            continue  # another key's signature: not ours to judge
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(blob[4:], text.encode("utf-8"))
            verified = True
        except InvalidSignature:
            problems.append(f"checkpoint.note: the signature by {name}+{wanted_id.hex()} does not verify")
    if not verified:
        problems.append(f"checkpoint.note: no valid signature by the verifier key {name}+{wanted_id.hex()}")
    lines = text[:-1].split("\n")
    try:
        origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    except (IndexError, ValueError, binascii.Error):
        problems.append("checkpoint.note: expected origin, tree size and base64 root hash lines")
        return None
    if len(root) != 32:
        problems.append(f"checkpoint.note: root hash has {len(root)} bytes, expected 32")
        return None
    return origin, size, root


# -- RFC 9162 §2.1.3.2 (DESIGN §4) ---------------------------------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def included(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    if index >= size:  # 1
        return False
    fn, sn = index, size - 1  # 2
    r = leaf_hash(leaf)  # 3
    for p in path:  # 4
        if sn == 0:  # a
            return False
        if fn & 1 or fn == sn:  # b
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1  # c
    return sn == 0 and r == root  # 5


# -- the bundle ----------------------------------------------------------------------------


def read_bundle(path: str) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(io.BytesIO(Path(path).read_bytes())) as archive:
            names = archive.namelist()
            if len(names) != len(set(names)):
                raise UnreadableError(f"{path}: an entry appears twice in the zip")
            files = {name: archive.read(name) for name in names}
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as e:
        raise UnreadableError(f"cannot read {path}: {e}") from e
    missing = [name for name in FILES if name not in files]
    if missing:
        raise UnreadableError(f"{path}: missing {', '.join(missing)}")
    extra = sorted(set(files) - set(FILES))
    if extra:
        raise UnreadableError(
            f"{path}: unexpected entries {', '.join(extra)} (a bundle holds exactly {', '.join(FILES)})"
        )
    return files


def load(files: dict[str, bytes], name: str) -> Any:
    try:
        return parse_json(files[name].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise UnreadableError(f"{name}: not strict JSON: {e}") from e


def check_event(event: dict[str, Any], path: Any, tree: tuple[str, int, bytes] | None) -> list[str]:
    seq = event["seq"]
    problems = []
    header = {name: event[name] for name in HEADER_FIELDS}
    try:
        if sha256_jcs(header) != event["hash"]:
            problems.append(
                f"event {seq}: header_altered: sha256(JCS(header)) is not hash {str(event['hash'])[:12]}..."
            )
        if event["payload"] is not None and sha256_jcs(event["payload"]) != event["payload_digest"]:
            problems.append(f"event {seq}: payload_altered: sha256(JCS(payload)) is not payload_digest")
    except rfc8785.CanonicalizationError as e:
        problems.append(f"event {seq}: malformed: no RFC 8785 encoding: {e}")
    if path is None:
        return [*problems, f"event {seq}: proof_missing: proofs.json has no proof for it"]
    try:
        nodes = [bytes.fromhex(node) for node in path]
        leaf = bytes.fromhex(event["hash"])
    except (TypeError, ValueError):
        return [*problems, f"event {seq}: malformed: its hash or proof is not hex"]
    if tree is not None and not (len(leaf) == 32 and included(seq, tree[1], leaf, nodes, tree[2])):
        problems.append(f"event {seq}: not_included: its proof does not lead to the signed root of {tree[1]} events")
    return problems


def parse_events(files: dict[str, bytes]) -> list[dict[str, Any]]:
    try:
        text = files["events.jsonl"].decode("utf-8")
    except UnicodeDecodeError as e:
        raise UnreadableError(f"events.jsonl: not UTF-8: {e}") from e
    events = []
    for number, line in enumerate(text.split("\n")[:-1], 1):  # newline only: strings may hold U+2028
        try:
            event = parse_json(line)
        except (ValueError, RecursionError) as e:
            raise UnreadableError(f"events.jsonl line {number}: not strict JSON: {e}") from e
        if not isinstance(event, dict) or set(event) != LINE_FIELDS or type(event["seq"]) is not int:
            raise UnreadableError(f"events.jsonl line {number}: expected the nine header fields, hash and payload")
        events.append(event)
    return events


def verify(files: dict[str, bytes], key: tuple[str, bytes, bytes]) -> tuple[list[str], dict[str, Any], int]:
    """(problems, manifest, number of events)."""
    problems: list[str] = []
    manifest, proofs = load(files, "manifest.json"), load(files, "proofs.json")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("events"), list):
        raise UnreadableError("manifest.json: expected an object with an events list")
    if not isinstance(proofs, dict):
        raise UnreadableError("proofs.json: expected an object keyed by seq")
    note = files["checkpoint.note"].decode("utf-8", errors="replace")
    tree = open_note(note, key, problems)
    if manifest.get("checkpoint") != note:
        problems.append("manifest.json: its checkpoint is not checkpoint.note")
    if tree is not None:
        stated = (manifest.get("origin"), manifest.get("tree_size"), manifest.get("root"))
        if stated != (tree[0], tree[1], tree[2].hex()):
            problems.append("manifest.json: origin, tree_size or root is not the signed checkpoint's")
    events = parse_events(files)
    for event in events:
        problems += check_event(event, proofs.get(str(event["seq"])), tree)
    problems += check_coverage(manifest["events"], events, proofs)
    problems += check_redactions(events)
    model, version = manifest.get("model"), manifest.get("version")
    if not any(creates(event, model, version) for event in events):
        problems.append(f"events.jsonl: no model.version_created of {model!r} version {version}")
    return problems, manifest, len(events)


def check_coverage(cited_list: list[Any], events: list[dict[str, Any]], proofs: dict[str, Any]) -> list[str]:
    """The manifest cites exactly the events (in increasing seq), with their types; a proof for each only."""
    problems = []
    seqs = [event["seq"] for event in events]
    problems += [f"events.jsonl: seq {b} after seq {a}" for a, b in itertools.pairwise(seqs) if b <= a]
    listed = [item.get("seq") for item in cited_list if isinstance(item, dict)]
    problems += [
        f"event {seq}: cited_twice: in manifest.json" for seq in dict.fromkeys(listed) if listed.count(seq) > 1
    ]
    cited = {item.get("seq"): item.get("type") for item in cited_list if isinstance(item, dict)}
    types = {event["seq"]: event["type"] for event in events}
    for seq, stated in cited.items():
        if seq not in types:
            problems.append(f"event {seq}: not_in_bundle: cited in manifest.json, not in events.jsonl")
        elif stated != types[seq]:
            problems.append(f"event {seq}: type_differs: manifest.json says {stated}, events.jsonl {types[seq]}")
    for seq in types:
        if seq not in cited:
            problems.append(f"event {seq}: not_cited: in events.jsonl, not cited in manifest.json")
    for name in proofs:
        if not name.isdigit() or int(name) not in types:
            problems.append(f"event {name}: extra_proof: proofs.json proves an event not in the bundle")
    return problems


def check_redactions(events: list[dict[str, Any]]) -> list[str]:
    """A null payload needs a later ledger.redacted event in the bundle naming it (DESIGN §6)."""
    erased = set()
    for event in events:
        payload = event["payload"]
        if event["type"] == "ledger.redacted" and isinstance(payload, dict):
            target = payload.get("target_seq")
            if type(target) is int and target < event["seq"]:
                erased.add(target)
    return [
        f"event {event['seq']}: payload_missing: payload is null and no ledger.redacted in the bundle names it"
        for event in events
        if event["payload"] is None and event["seq"] not in erased
    ]


def creates(event: dict[str, Any], model: Any, version: Any) -> bool:
    payload = event["payload"]
    return (
        event["type"] == "model.version_created"
        and isinstance(payload, dict)
        and (payload.get("name"), payload.get("version")) == (model, version)
    )


def read_key(value: str) -> tuple[str, bytes, bytes]:
    path = Path(value)
    if path.is_file():
        try:
            value = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UnreadableError(f"cannot read the key file {value}: {e}") from e
    return parse_verifier_key(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify an mlledger evidence bundle independently.")
    parser.add_argument("file", help="the bundle (a zip)")
    parser.add_argument("--key", required=True, help="the ledger's verifier key, or a file holding it")
    args = parser.parse_args(argv)
    try:
        key = read_key(args.key)
        problems, manifest, count = verify(read_bundle(args.file), key)
    except UnreadableError as e:
        print(f"unreadable: {e}", file=sys.stderr)
        return 2
    for line in problems:
        print(line)
    if problems:
        return 1
    print(
        f"OK: {count} events about {manifest['model']} version {manifest['version']}, each in the signed tree "
        f"of {manifest['tree_size']} events of {manifest['origin']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
