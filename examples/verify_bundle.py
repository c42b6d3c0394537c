"""Independently verify an ``mlledger evidence`` bundle.

This is an independent check that trusts none of mlledger's code: it was
written from DESIGN.md (sections 2, 4, 5 and 6) and the bundle's own
README, and uses only the standard library, the ``rfc8785`` package (RFC 8785
canonical JSON) and ``cryptography`` (Ed25519). It reads both formats the
manifest may name: ``mlledger-evidence-bundle/2`` (one multiproof of all
the events, in multiproof.json) and ``mlledger-evidence-bundle/1`` (an
inclusion proof per event, in proofs.json). It checks:

- the zip holds exactly the files of its format: README.md, checkpoint.note,
  events.jsonl, manifest.json, verifier.key, and multiproof.json (/2) or
  proofs.json (/1);
- checkpoint.note is a C2SP signed note whose text (origin, tree size,
  base64 root hash) carries a valid Ed25519 signature by the verifier key
  given with --key: the signature line names the key, its first 4 bytes are
  the key id, SHA-256(key name || "\\n" || 0x01 || public key)[:4], and the
  rest is the signature over the text up to the blank line;
- manifest.json states the note's origin, tree size and root, and holds the
  note itself;
- each line of events.jsonl: hash = SHA-256(JCS of the nine header fields)
  and payload_digest = SHA-256(JCS(payload)) unless the payload is null;
- that the events are leaves of the signed tree (RFC 9162: leaf i is the 32
  bytes of event i's hash, leaf hash SHA-256(0x00 || leaf), node hash
  SHA-256(0x01 || left || right), split at the largest power of two below
  the size):
  /2: the multiproof in multiproof.json, by the README's algorithm: ROOT(0,
  tree size), where ROOT(lo, hi) is the tree hash of the cited leaves when
  all of [lo, hi) is cited, the next unused proof hash when none of it is,
  and node hash(ROOT(lo, lo + k), ROOT(lo + k, hi)) otherwise (k the largest
  power of two below hi - lo), must use every hash exactly once and equal the
  signed root; it proves the events together, so when it fails it cannot say
  which event (or hash) is wrong, and is one problem naming multiproof.json;
  /1: each event's inclusion proof in proofs.json, by the verification
  algorithm of RFC 9162 §2.1.3.2, and proofs.json proves no other event;
- the manifest cites exactly the seqs of events.jsonl (increasing), with
  their types;
- a null payload is named by a ledger.redacted event in the bundle
  ("target_seq"), as DESIGN §6 requires;
- the bundle holds the model.version_created event of the manifest's model
  and version.

    python examples/verify_bundle.py bundle.zip --key VKEY

VKEY is the verifier key text, ``<name>+<8 hex key id>+<base64(0x01 ||
32-byte Ed25519 public key)>``, or a file holding it; take it from the
ledger's operator, not from the bundle. Prints ``OK: ...`` and exits 0;
otherwise prints every problem, one per line (naming the event where one
event is at fault), and exits 1. Exits 2 when the bundle or the key cannot
be read at all (not a zip, files missing or extra, a format it does not
know, a file that is not strict JSON of the expected shape).
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
from bisect import bisect_left
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT_2 = "mlledger-evidence-bundle/2"  # one multiproof of all the events
FORMAT_1 = "mlledger-evidence-bundle/1"  # an inclusion proof per event
PROOF_FILE = {FORMAT_2: "multiproof.json", FORMAT_1: "proofs.json"}
COMMON_FILES = ("README.md", "checkpoint.note", "events.jsonl", "manifest.json", "verifier.key")
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


# -- the Merkle tree: RFC 9162 (DESIGN §4) and the bundle README's multiproof --------------


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """k, the largest power of two smaller than ``n`` (``n`` > 1): where MTH splits ``n`` leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def hash_bytes(value: Any) -> bytes | None:
    """The 32 bytes of a hash written as 64 lowercase hex digits; None for anything else."""
    if not isinstance(value, str) or len(value) != 64 or value != value.lower():
        return None
    try:
        digest = bytes.fromhex(value)
    except ValueError:
        return None
    return digest if len(digest) == 32 else None  # fromhex skips spaces


def hash_list(values: Any) -> list[bytes] | None:
    """The hashes of a list of 64-lowercase-hex strings; None when it is not one."""
    if not isinstance(values, list):
        return None
    hashes = []
    for value in values:
        digest = hash_bytes(value)
        if digest is None:
            return None
        hashes.append(digest)
    return hashes


def included(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: ``path`` is the inclusion proof of ``leaf`` at ``index`` under ``root``."""
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


def tree_hash(leaves: list[bytes], lo: int, hi: int) -> bytes:
    """MTH(leaves[lo:hi]) of RFC 9162 §2.1.1 (``hi`` > ``lo``)."""
    if hi - lo == 1:
        return leaf_hash(leaves[lo])
    k = split_point(hi - lo)
    return node_hash(tree_hash(leaves, lo, lo + k), tree_hash(leaves, lo + k, hi))


def multiproof_root(size: int, seqs: list[int], leaves: list[bytes], proof: list[bytes]) -> tuple[bytes | None, int]:
    """(ROOT(0, size), the number of proof hashes it used) by the README's
    algorithm; the root is None when it needs more hashes than ``proof``
    holds. ``leaves[i]`` is leaf ``seqs[i]``; ``seqs`` increase, each below ``size``."""
    used = 0

    def root(lo: int, hi: int, i: int, j: int) -> bytes | None:
        nonlocal used
        # seqs[i:j] are the cited leaves in [lo, hi)
        if i == j:  # none is cited: the next unused hash
            if used == len(proof):
                return None
            used += 1
            return proof[used - 1]
        if j - i == hi - lo:  # every leaf is cited
            return tree_hash(leaves, i, j)
        mid = lo + split_point(hi - lo)
        cut = bisect_left(seqs, mid, i, j)
        left = root(lo, mid, i, cut)  # left before right
        right = root(mid, hi, cut, j) if left is not None else None
        return None if left is None or right is None else node_hash(left, right)

    return root(0, size, 0, len(seqs)), used


# -- the bundle ----------------------------------------------------------------------------


def read_bundle(path: str) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(io.BytesIO(Path(path).read_bytes())) as archive:
            names = archive.namelist()
            if len(names) != len(set(names)):
                raise UnreadableError(f"{path}: an entry appears twice in the zip")
            return {name: archive.read(name) for name in names}
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as e:
        raise UnreadableError(f"cannot read {path}: {e}") from e


def check_entries(files: dict[str, bytes], bundle_format: str) -> None:
    """The zip holds exactly the files of ``bundle_format``."""
    expected = sorted((*COMMON_FILES, PROOF_FILE[bundle_format]))
    missing = [name for name in expected if name not in files]
    if missing:
        raise UnreadableError(f"missing {', '.join(missing)} (format {bundle_format})")
    extra = sorted(set(files) - set(expected))
    if extra:
        raise UnreadableError(
            f"unexpected entries {', '.join(extra)} (a bundle of format {bundle_format} holds exactly "
            f"{', '.join(expected)})"
        )


def load(files: dict[str, bytes], name: str) -> Any:
    if name not in files:
        raise UnreadableError(f"missing {name}")
    try:
        return parse_json(files[name].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise UnreadableError(f"{name}: not strict JSON: {e}") from e


def load_multiproof(files: dict[str, bytes]) -> list[bytes]:
    """Format /2: the hashes of multiproof.json, ``{"hashes": [hex, ...]}``."""
    document = load(files, "multiproof.json")
    hashes = hash_list(document.get("hashes")) if isinstance(document, dict) else None
    if hashes is None:
        raise UnreadableError('multiproof.json: expected {"hashes": [64 lowercase hex digits, ...]}')
    return hashes


def load_proofs(files: dict[str, bytes]) -> dict[str, Any]:
    """Format /1: proofs.json, ``{"<seq>": [hex, ...]}``."""
    proofs = load(files, "proofs.json")
    if not isinstance(proofs, dict):
        raise UnreadableError("proofs.json: expected an object keyed by seq")
    return proofs


def check_hashes(event: dict[str, Any]) -> list[str]:
    """The event's header hashes to its hash, its payload (unless null) to its payload_digest."""
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
    return problems


def check_multiproof(
    events: list[dict[str, Any]], proof: list[bytes], tree: tuple[str, int, bytes] | None
) -> list[str]:
    """Format /2: the events' hashes, as the leaves at their seqs, and the
    multiproof's hashes lead to the signed root. One problem at most: the
    proof is of all the events together, so it cannot say which is wrong."""
    if tree is None:
        return []  # no signed root to check against: checkpoint.note's problem says why
    size, root = tree[1], tree[2]
    unusable = multiproof_unusable(events, size)
    if unusable:
        return [f"multiproof.json: {unusable}"]
    seqs, leaves = [event["seq"] for event in events], [bytes.fromhex(event["hash"]) for event in events]
    computed, used = multiproof_root(size, seqs, leaves, proof)
    where = f"multiproof.json: not_included: the {len(events)} events and its {len(proof)} hashes"
    if computed is None:
        return [f"{where} do not make a tree of {size} events (too few hashes)"]
    if used != len(proof):
        return [f"{where} do not make a tree of {size} events ({len(proof) - used} hashes left unused)"]
    if computed != root:
        return [
            f"{where} do not lead to the signed root of {size} events: an event is not the ledger's, "
            "or a hash was altered"
        ]
    return []


def multiproof_unusable(events: list[dict[str, Any]], size: int) -> str:
    """Why the README's algorithm cannot run on these events; empty when it can."""
    unreadable = [event["seq"] for event in events if hash_bytes(event["hash"]) is None]
    if unreadable:
        return f"not_checked: the hash of event {unreadable[0]} is not 64 lowercase hex digits"
    seqs = [event["seq"] for event in events]
    if any(b <= a for a, b in itertools.pairwise(seqs)):
        return "not_checked: the seqs of events.jsonl are not increasing"
    outside = [seq for seq in seqs if not 0 <= seq < size]
    if outside:
        return f"not_included: event {outside[0]} is not below the tree size {size}"
    return "not_included: the signed tree is empty" if size == 0 else ""


def check_inclusion_proofs(
    events: list[dict[str, Any]], proofs: dict[str, Any], tree: tuple[str, int, bytes] | None
) -> list[str]:
    """Format /1: each event's inclusion proof leads to the signed root, and proofs.json proves no other event."""
    problems = []
    for event in events:
        seq, path = event["seq"], proofs.get(str(event["seq"]))
        if path is None:
            problems.append(f"event {seq}: proof_missing: proofs.json has no proof for it")
            continue
        leaf, nodes = hash_bytes(event["hash"]), hash_list(path)
        if leaf is None or nodes is None:
            problems.append(f"event {seq}: malformed: its hash or proof is not 64 lowercase hex digits each")
        elif tree is not None and not included(seq, tree[1], leaf, nodes, tree[2]):
            problems.append(
                f"event {seq}: not_included: its proof does not lead to the signed root of {tree[1]} events"
            )
    held = {str(event["seq"]) for event in events}
    problems += [
        f"event {name}: extra_proof: proofs.json proves an event not in the bundle"
        for name in proofs
        if name not in held
    ]
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
    manifest = load(files, "manifest.json")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("events"), list):
        raise UnreadableError("manifest.json: expected an object with an events list")
    bundle_format = manifest.get("format")
    if bundle_format not in PROOF_FILE:
        raise UnreadableError(f"manifest.json: format {bundle_format!r}, expected {FORMAT_2!r} or {FORMAT_1!r}")
    check_entries(files, bundle_format)
    note = files["checkpoint.note"].decode("utf-8", errors="replace")
    tree = open_note(note, key, problems)
    if manifest.get("checkpoint") != note:
        problems.append("manifest.json: its checkpoint is not checkpoint.note")
    if tree is not None:
        stated = (manifest.get("origin"), manifest.get("tree_size"), manifest.get("root"))
        if type(stated[1]) is not int or stated != (tree[0], tree[1], tree[2].hex()):
            problems.append("manifest.json: origin, tree_size or root is not the signed checkpoint's")
    events = parse_events(files)
    for event in events:
        problems += check_hashes(event)
    if bundle_format == FORMAT_2:
        problems += check_multiproof(events, load_multiproof(files), tree)
    else:
        problems += check_inclusion_proofs(events, load_proofs(files), tree)
    problems += check_coverage(manifest["events"], events)
    problems += check_redactions(events)
    model, version = manifest.get("model"), manifest.get("version")
    if not any(creates(event, model, version) for event in events):
        problems.append(f"events.jsonl: no model.version_created of {model!r} version {version}")
    return problems, manifest, len(events)


def check_coverage(cited_list: list[Any], events: list[dict[str, Any]]) -> list[str]:
    """The manifest cites exactly the events (in increasing seq), with their types."""
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
    how = "one multiproof" if manifest["format"] == FORMAT_2 else "an inclusion proof each"
    print(
        f"OK: {count} events about {manifest['model']} version {manifest['version']}, each in the signed tree "
        f"of {manifest['tree_size']} events of {manifest['origin']} ({manifest['format']}: {how})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
