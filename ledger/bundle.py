"""The evidence bundle of a model version: its files, its zip bytes, and its offline check.

Owns: the layout of ``mlledger evidence`` bundles (format
``mlledger-evidence-bundle/2``), one zip whose entries are sorted and dated
1980-01-01 so that the same ledger and checkpoint give the same bytes:

- ``manifest.json``: ``format``, ``model``, ``version``, ``origin``,
  ``tree_size``, ``root`` (hex), ``checkpoint`` (the signed note) and
  ``events``: ``[{"seq", "type", "reason"}, ...]`` in seq order, why each
  event is cited;
- ``checkpoint.note``: the signed checkpoint (DESIGN §5) the proof is against;
- ``verifier.key``: the ledger's verifier key, for reference only: an
  auditor checks with a key obtained independently;
- ``events.jsonl``: the export line (DESIGN §2) of each cited event, in seq
  order; a redacted payload is ``null``;
- ``multiproof.json``: ``{"hashes": [hex, ...]}``, the multiproof
  (``ledger.merkle``) of all the cited events at once, their seqs being the
  leaf indices and their hashes the leaf data, in the tree of ``tree_size``
  events;
- ``README.md``: what is inside and how to check it, the multiproof's
  algorithm included, so that a verifier can be written from it and DESIGN.md.

Format ``/1`` carried ``proofs.json`` instead, ``{"<seq>": [hex, ...]}``:
one RFC 9162 inclusion proof per event. Its proofs repeat the same subtree
hashes over and over (a run with 100,000 metric points gave 1.7 million
hashes, 20 MB zipped, and seconds to check); the multiproof holds each hash
once (a handful for contiguous events). Bundles of format /1 are still read
and checked.

``check_bundle`` checks a bundle with a verifier key alone: the note's
signature, the manifest against the note, each event's header hash and
payload digest (``ledger.proofs``), that the events lead to the signed root
(the multiproof, or each inclusion proof in /1), that the manifest cites
exactly the events the bundle holds, that every null payload is explained
by a cited ``ledger.redacted`` event, and that the version's
``model.version_created`` event is there. It proves that every event in the
bundle is in the signed ledger; that no event was left out it cannot prove.
Pure: bytes in, bytes or a ``BundleCheck`` out; reading and writing files,
and choosing the events, are left to ``ledger.evidence``.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from ledger.checkpoint import Checkpoint, VerifierKey, open_note, parse_verifier_key
from ledger.encoding import parse_json
from ledger.errors import LedgerError, ProofError, ValidationError
from ledger.merkle import verify_multiproof
from ledger.proofs import check_event, check_included

__all__ = [
    "BUNDLE_FILES",
    "FORMAT",
    "BundleCheck",
    "Citation",
    "bundle_files",
    "check_bundle",
    "unzip_bundle",
    "zip_bundle",
]

FORMAT: Final = "mlledger-evidence-bundle/2"
FORMAT_1: Final = "mlledger-evidence-bundle/1"  # per-event proofs: read, no longer written
MANIFEST: Final = "manifest.json"
NOTE: Final = "checkpoint.note"
VERIFIER: Final = "verifier.key"
EVENTS: Final = "events.jsonl"
MULTIPROOF: Final = "multiproof.json"
PROOFS: Final = "proofs.json"  # format /1
README: Final = "README.md"
BUNDLE_FILES: Final = tuple(sorted((MANIFEST, NOTE, VERIFIER, EVENTS, MULTIPROOF, README)))
_FILES_OF: Final = {FORMAT: BUNDLE_FILES, FORMAT_1: tuple(sorted((MANIFEST, NOTE, VERIFIER, EVENTS, PROOFS, README)))}
ZIP_TIME: Final = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say: the bytes carry no clock
ZIP_LEVEL: Final = 1  # 100,000 events: 0.5 s and 12.8 MB; level 9 takes 2.4 s for 11.5 MB
MAX_ENTRY_BYTES: Final = 2**31  # a zip bomb is refused, not inflated
_UNIX: Final = 3  # ZipInfo.create_system: the same on every platform
_SEQ_KEY: Final = re.compile(r"0|[1-9][0-9]*")
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_LINE_FIELDS: Final = frozenset(
    ("seq", "v", "id", "type", "schema", "time", "actor", "payload_digest", "prev", "hash", "payload")
)


class Citation(NamedTuple):
    """Event ``seq`` (of ``type``) is in the bundle because of ``reason``.
    (A tuple: a bundle may cite 100,000 events.)"""

    seq: int
    type: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class BundleCheck:
    """What a verified bundle shows: ``events`` events about ``model``
    version ``version`` (``hashes``: each one's hash by seq), each in
    ``origin``'s tree of ``tree_size`` events whose root a checkpoint signed
    by the verifier key commits to."""

    model: str
    version: int
    origin: str
    tree_size: int
    root: str
    hashes: Mapping[int, str] = field(repr=False)
    redacted: tuple[int, ...]  # seqs whose payload is null, each explained by a cited redaction
    bundled_key_matches: bool  # verifier.key is the key the bundle was checked with

    @property
    def events(self) -> int:
        return len(self.hashes)


# -- writing -------------------------------------------------------------------


def bundle_files(
    *,
    model: str,
    version: int,
    origin: str,
    tree_size: int,
    root: bytes,
    note: str,
    verifier_key: str,
    citations: Sequence[Citation],
    lines: Sequence[str],
    proof: Sequence[bytes],
) -> dict[str, bytes]:
    """The files of a bundle: ``lines`` are the export lines of the cited
    events in seq order, ``proof`` their multiproof."""
    manifest = {
        "format": FORMAT,
        "model": model,
        "version": version,
        "origin": origin,
        "tree_size": tree_size,
        "root": root.hex(),
        "checkpoint": note,
        "events": [],
    }
    head = json.dumps(manifest, indent=2, ensure_ascii=False).removesuffix("[]\n}")
    quoted: dict[str, str] = {}  # types and reasons repeat: a run's 100,000 metric events share one

    def quote(text: str) -> str:
        found = quoted.get(text)
        if found is None:
            found = quoted[text] = json.dumps(text, ensure_ascii=False)
        return found

    cited = ",\n".join(
        f'    {{"seq": {c.seq}, "type": {quote(c.type)}, "reason": {quote(c.reason)}}}' for c in citations
    )
    hashes = "".join(f'{"," if i else ""}\n    "{node.hex()}"' for i, node in enumerate(proof))
    return {
        MANIFEST: (head + ("[\n" + cited + "\n  ]" if cited else "[]") + "\n}\n").encode("utf-8"),
        NOTE: note.encode("utf-8"),
        VERIFIER: (verifier_key + "\n").encode("utf-8"),
        EVENTS: "".join(line + "\n" for line in lines).encode("utf-8"),
        MULTIPROOF: ('{\n  "hashes": [' + hashes + ("\n  " if proof else "") + "]\n}\n").encode("utf-8"),
        README: _readme(model, version, origin, tree_size, verifier_key, citations).encode("utf-8"),
    }


def zip_bundle(files: Mapping[str, bytes]) -> bytes:
    """The zip of ``files``: entries sorted by name, with fixed dates and modes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = _UNIX
            info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
            archive.writestr(info, files[name], compresslevel=ZIP_LEVEL)
    return buffer.getvalue()


def _readme(
    model: str, version: int, origin: str, tree_size: int, verifier_key: str, citations: Sequence[Citation]
) -> str:
    key_name = "+".join(verifier_key.split("+", 2)[:2])  # name+keyid: the base64 key may hold "+"
    return f"""# Evidence: {model} version {version}

This bundle holds the {len(citations)} events of the ledger `{origin}` about
version {version} of the model `{model}` and its lineage (its source run and
the run's parents, experiment, inputs and artifacts; its registration, stage
changes, approvals, promotion comparisons, aliases and deployments; the keys,
roles and policy behind its approvals; the redactions of any of them), each
proven to be in the ledger's Merkle tree of {tree_size} events, whose root
a signed checkpoint commits to.

| file | what it holds |
|---|---|
| `manifest.json` | model, version, origin, tree size, root, the checkpoint; each cited event's seq, type and reason |
| `checkpoint.note` | the signed checkpoint (a C2SP signed note, Ed25519) of the first {tree_size} events |
| `verifier.key` | the ledger's verifier key `{key_name}`, for reference only (see below) |
| `events.jsonl` | one event per line, in seq order, as `mlledger export` writes it; a redacted payload is `null` |
| `multiproof.json` | `{{"hashes": [hex, ...]}}`: one proof that all these events are in the tree (below) |

## Checking it

Use the ledger's verifier key as you received it from the ledger's operator
through a channel other than this bundle (`mlledger key public` prints it).
**Do not trust `verifier.key` here on its own**: anyone who can make a
bundle can put their own key beside their own signature. Compare it with
the key you hold; check with yours.

    mlledger evidence verify bundle.zip --key VKEY
    python examples/verify_bundle.py bundle.zip --key VKEY

`VKEY` is the key text (`name+keyid+base64`) or a file holding it. The second
command is an independent verifier written from the published format
(DESIGN.md and this README) alone, needing only Python, `rfc8785` and
`cryptography`. Both check the checkpoint's signature, each event's hash
and payload digest, the multiproof, that the manifest cites exactly the
events in `events.jsonl`, and that each `null` payload was erased by a
cited `ledger.redacted` event; they exit 0 when everything holds, 2 when
the bundle cannot be read at all, and 1 listing every problem: each event that fails its own checks by seq, and a
multiproof that does not lead to the signed root as one problem (it proves
all the events at once, so it cannot say which one is not the ledger's).

## The multiproof

The tree is RFC 9162's: leaf i is the 32 raw bytes of event i's `hash`,
leaf hash = SHA-256(0x00 ‖ leaf), node hash = SHA-256(0x01 ‖ left ‖ right),
and MTH(D[lo:hi]) splits at k, the largest power of two smaller than hi - lo
(DESIGN.md §4). The cited leaves are the seqs of `events.jsonl`, which
must be strictly increasing and each below {tree_size} (else the bundle
fails: a seq outside the tree or given twice is never looked at below).
Compute

    ROOT(lo, hi) = MTH(D[lo:hi])        if every leaf in [lo, hi) is cited,
                                         from those leaves
                 = the next unused hash of "hashes"
                                         if no leaf in [lo, hi) is cited
                 = node hash(ROOT(lo, lo + k), ROOT(lo + k, hi))   otherwise

for ROOT(0, {tree_size}), left before right. The events are in the signed tree
when every hash is used exactly once and the result is the checkpoint's root.
(The proof lists, left to right, the largest subtrees holding no cited event;
for one event it holds the hashes of its RFC 9162 inclusion proof.)

The bundle proves that each event in it is in the signed ledger unchanged.
It cannot prove that no event was left out: to check that, compare with the
ledger itself (`mlledger evidence {model} {version}` again) or an export.
"""


# -- checking ------------------------------------------------------------------


def unzip_bundle(data: bytes) -> dict[str, bytes]:
    """The files of a bundle's zip; ``ValidationError`` when it is not a
    readable zip, or holds a name twice or an entry too large to inflate."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            names = [info.filename for info in infos]
            twice = sorted({name for name in names if names.count(name) > 1})
            if twice:
                raise ValidationError(f"evidence bundle: the zip holds {twice[0]!r} more than once")
            for info in infos:
                if info.file_size > MAX_ENTRY_BYTES:
                    raise ValidationError(f"evidence bundle: entry {info.filename!r} is {info.file_size} bytes")
            return {info.filename: archive.read(info) for info in infos}
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as e:
        raise ValidationError(f"evidence bundle: not a readable zip file: {e}") from e


def check_bundle(files: Mapping[str, bytes], verifier: str | VerifierKey) -> BundleCheck:
    """Check a bundle (format /2, or /1) offline with the ledger's verifier key.

    Raises ``ValidationError`` when the bundle is malformed (a file missing
    or unreadable), ``SignatureError`` when its checkpoint is not signed by
    ``verifier``, and ``ProofError`` naming every event that fails a check.
    """
    key = parse_verifier_key(verifier) if isinstance(verifier, str) else verifier
    if MANIFEST not in files:
        raise ValidationError(f"evidence bundle: missing {MANIFEST}")
    manifest = _manifest(files[MANIFEST])
    _check_entries(files, _FILES_OF[manifest["format"]])
    note = _utf8(files[NOTE], NOTE)
    checkpoint = open_note(note, key)
    events = _events(files[EVENTS])
    problems = _manifest_problems(manifest, note, checkpoint)
    for event in events:
        try:
            check_event(event)
        except ProofError as e:
            problems.append(str(e))
    if manifest["format"] == FORMAT:
        problems += _multiproof_problems(events, _multiproof(files[MULTIPROOF]), checkpoint)
    else:
        problems += _inclusion_problems(events, _proofs(files[PROOFS]), checkpoint)
    problems += _coverage_problems(manifest["events"], events)
    redacted, unexplained = _redactions(events)
    problems += unexplained
    if not any(_creates(event, manifest["model"], manifest["version"]) for event in events):
        problems.append(
            f"events.jsonl: no model.version_created event of {manifest['model']!r} version {manifest['version']}"
        )
    if problems:
        raise ProofError(
            f"evidence bundle: {len(problems)} problem{'s' if len(problems) > 1 else ''}: " + "; ".join(problems)
        )
    return BundleCheck(
        manifest["model"],
        manifest["version"],
        checkpoint.origin,
        checkpoint.size,
        checkpoint.root.hex(),
        {event["seq"]: event["hash"] for event in events},
        redacted,
        _same_key(files[VERIFIER], key),
    )


def _check_entries(files: Mapping[str, bytes], expected: Sequence[str]) -> None:
    present = set(files)
    missing = [name for name in expected if name not in present]
    if missing:
        raise ValidationError(f"evidence bundle: missing {', '.join(missing)}")
    extra = sorted(present - set(expected))
    if extra:
        raise ValidationError(f"evidence bundle: unexpected entry {extra[0]!r} (a bundle holds {', '.join(expected)})")


def _utf8(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValidationError(f"evidence bundle: {name} is not UTF-8: {e.reason} at byte {e.start}") from e


def _json(data: bytes, name: str) -> Any:
    try:
        return parse_json(data, exact_integers=False)
    except LedgerError as e:
        raise ValidationError(f"evidence bundle: {name}: {e}") from e


def _manifest(data: bytes) -> dict[str, Any]:
    manifest = _json(data, MANIFEST)
    if not isinstance(manifest, dict):
        raise ValidationError(f"evidence bundle: {MANIFEST} is not a JSON object")
    if manifest.get("format") not in _FILES_OF:
        raise ValidationError(
            f"evidence bundle: {MANIFEST}: format {manifest.get('format')!r}, expected {FORMAT!r} (or {FORMAT_1!r})"
        )
    expected = {"model": str, "version": int, "origin": str, "tree_size": int, "root": str, "checkpoint": str}
    wrong = [name for name, kind in expected.items() if type(manifest.get(name)) is not kind]
    cited = manifest.get("events")
    if not isinstance(cited, list) or not all(_is_citation(item) for item in cited):
        wrong.append("events")
    if wrong or not isinstance(cited, list):
        raise ValidationError(f"evidence bundle: {MANIFEST}: missing or wrong type: {', '.join(wrong)}")
    seqs = [item["seq"] for item in cited]
    if seqs != sorted(set(seqs)):
        raise ValidationError(f"evidence bundle: {MANIFEST}: the cited seqs are not in increasing order, once each")
    return manifest


def _is_citation(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and type(item.get("seq")) is int
        and item["seq"] >= 0
        and isinstance(item.get("type"), str)
        and isinstance(item.get("reason"), str)
    )


def _events(data: bytes) -> list[dict[str, Any]]:
    text = _utf8(data, EVENTS)
    if text and not text.endswith("\n"):
        raise ValidationError(f"evidence bundle: {EVENTS} does not end with a newline")
    events = []
    # Split on newline only: JSON strings may hold U+2028 and friends.
    for number, line in enumerate(text.split("\n")[:-1], 1):
        event = _json(line.encode("utf-8"), f"{EVENTS} line {number}")
        if not isinstance(event, dict) or type(event.get("seq")) is not int:
            raise ValidationError(f"evidence bundle: {EVENTS} line {number}: not an event with a seq")
        if set(event) != _LINE_FIELDS:
            unexpected = sorted(set(event) ^ _LINE_FIELDS)
            raise ValidationError(
                f"evidence bundle: {EVENTS} line {number}: not an export line (field {unexpected[0]!r} "
                f"{'is not one' if unexpected[0] in event else 'is missing'})"
            )
        events.append(event)
    return events


def _proofs(data: bytes) -> dict[int, Any]:
    proofs = _json(data, PROOFS)
    if not isinstance(proofs, dict) or not all(_SEQ_KEY.fullmatch(key) for key in proofs):
        raise ValidationError(f"evidence bundle: {PROOFS} is not an object keyed by seq")
    return {int(key): path for key, path in proofs.items()}


def _manifest_problems(manifest: Mapping[str, Any], note: str, checkpoint: Checkpoint) -> list[str]:
    problems = []
    if manifest["checkpoint"] != note:
        problems.append(f"{MANIFEST}: its checkpoint is not the one in {NOTE}")
    stated = (manifest["origin"], manifest["tree_size"], manifest["root"])
    signed = (checkpoint.origin, checkpoint.size, checkpoint.root.hex())
    if stated != signed:
        problems.append(
            f"{MANIFEST}: origin {stated[0]}, tree_size {stated[1]}, root {stated[2][:12]}… are not the signed "
            f"checkpoint's ({signed[0]}, {signed[1]}, {signed[2][:12]}…)"
        )
    return problems


def _multiproof(data: bytes) -> list[bytes]:
    document = _json(data, MULTIPROOF)
    hashes = document.get("hashes") if isinstance(document, dict) else None
    if not isinstance(hashes, list) or not all(isinstance(h, str) and _HEX64.fullmatch(h) for h in hashes):
        raise ValidationError(f'evidence bundle: {MULTIPROOF} is not {{"hashes": [64 hex digits, ...]}}')
    return [bytes.fromhex(h) for h in hashes]


def _multiproof_problems(events: list[dict[str, Any]], proof: list[bytes], checkpoint: Checkpoint) -> list[str]:
    """Whether the events' hashes, as leaves at their seqs, lead to the signed root."""
    unreadable = [
        event["seq"] for event in events if not (isinstance(event.get("hash"), str) and _HEX64.fullmatch(event["hash"]))
    ]
    if unreadable:
        return [f"{MULTIPROOF}: not checked: event {unreadable[0]} has no 64-hex-digit hash"]
    seqs = [event["seq"] for event in events]
    try:
        verify_multiproof(
            checkpoint.size, seqs, [bytes.fromhex(event["hash"]) for event in events], proof, checkpoint.root
        )
    except (ProofError, ValidationError) as e:
        return [
            f"{MULTIPROOF}: the {len(events)} events do not lead to the signed root ({e}): an event is not the "
            "ledger's, or a proof hash was altered (`mlledger proof SEQ` proves one event at a time)"
        ]
    return []


def _inclusion_problems(events: list[dict[str, Any]], proofs: Mapping[int, Any], checkpoint: Checkpoint) -> list[str]:
    """Format /1: each event's own inclusion proof, and a proof for exactly the events held."""
    problems = []
    for event in events:
        seq, path = event["seq"], proofs.get(event["seq"])
        if path is None:
            problems.append(f"event {seq}: no inclusion proof in {PROOFS}")
            continue
        try:
            check_included(seq, event["hash"], path, checkpoint)
        except ValidationError as e:
            problems.append(f"event {seq}: malformed inclusion proof: {e}")
        except ProofError as e:
            problems.append(str(e))
    held = {event["seq"] for event in events}
    problems += [f"event {seq}: {PROOFS} has a proof, {EVENTS} no event" for seq in sorted(set(proofs) - held)]
    return problems


def _coverage_problems(cited: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[str]:
    """The manifest cites exactly the events of events.jsonl, in order, each with its type."""
    problems = []
    seqs = [event["seq"] for event in events]
    for before, after in itertools.pairwise(seqs):
        if after <= before:
            problems.append(f"{EVENTS}: event {after} comes after event {before} (expected increasing seqs)")
    held = {event["seq"]: event for event in events}
    for item in cited:
        event = held.get(item["seq"])
        if event is None:
            problems.append(f"event {item['seq']}: cited in {MANIFEST} ({item['reason']}) but not in {EVENTS}")
        elif event.get("type") != item["type"]:
            problems.append(f"event {item['seq']}: {MANIFEST} says {item['type']}, {EVENTS} has {event.get('type')}")
    listed = {item["seq"] for item in cited}
    problems += [f"event {seq}: in {EVENTS} but not cited in {MANIFEST}" for seq in seqs if seq not in listed]
    return problems


def _redactions(events: list[dict[str, Any]]) -> tuple[tuple[int, ...], list[str]]:
    """The seqs with a null payload, and a problem for each that no cited redaction explains (DESIGN §6)."""
    erased = {
        event["payload"].get("target_seq")
        for event in events
        if event.get("type") == "ledger.redacted"
        and isinstance(event.get("payload"), dict)
        and type(event["payload"].get("target_seq")) is int
        and event["payload"]["target_seq"] < event["seq"]
    }
    nulls = tuple(event["seq"] for event in events if "payload" in event and event["payload"] is None)
    return nulls, [
        f"event {seq}: payload is null and no cited ledger.redacted event names it"
        for seq in nulls
        if seq not in erased
    ]


def _creates(event: Mapping[str, Any], model: str, version: int) -> bool:
    payload = event.get("payload")
    return (
        event.get("type") == "model.version_created"
        and isinstance(payload, dict)
        and (payload.get("name"), payload.get("version")) == (model, version)
    )


def _same_key(data: bytes, key: VerifierKey) -> bool:
    try:
        return parse_verifier_key(data.decode("utf-8").strip()) == key
    except (UnicodeDecodeError, ValidationError):
        return False
