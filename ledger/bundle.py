"""The evidence bundle of a model version: its files, its zip bytes, and its offline check.

Owns: the layout of ``mlledger evidence`` bundles (format
``mlledger-evidence-bundle/1``), one zip whose entries are sorted and dated
1980-01-01 so that the same ledger and checkpoint give the same bytes:

- ``manifest.json``: ``format``, ``model``, ``version``, ``origin``,
  ``tree_size``, ``root`` (hex), ``checkpoint`` (the signed note) and
  ``events``: ``[{"seq", "type", "reason"}, ...]`` in seq order, why each
  event is cited;
- ``checkpoint.note``: the signed checkpoint (DESIGN §5) every proof is against;
- ``verifier.key``: the ledger's verifier key, for reference only: an
  auditor checks with a key obtained independently;
- ``events.jsonl``: the export line (DESIGN §2) of each cited event, in seq
  order; a redacted payload is ``null``;
- ``proofs.json``: ``{"<seq>": [hex, ...]}``, the RFC 9162 inclusion proof
  of each event in the tree of ``tree_size`` events;
- ``README.md``: what is inside and how to check it.

``check_bundle`` checks a bundle with a verifier key alone: the note's
signature, the manifest against the note, each event's header hash and
payload digest and its inclusion proof (``ledger.proofs``), that the
manifest cites exactly the events the bundle holds, that every null payload
is explained by a cited ``ledger.redacted`` event, and that the version's
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
from dataclasses import dataclass
from typing import Any, Final

from ledger.checkpoint import Checkpoint, VerifierKey, open_note, parse_verifier_key
from ledger.encoding import parse_json
from ledger.errors import LedgerError, ProofError, ValidationError
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

FORMAT: Final = "mlledger-evidence-bundle/1"
MANIFEST: Final = "manifest.json"
NOTE: Final = "checkpoint.note"
VERIFIER: Final = "verifier.key"
EVENTS: Final = "events.jsonl"
PROOFS: Final = "proofs.json"
README: Final = "README.md"
BUNDLE_FILES: Final = tuple(sorted((MANIFEST, NOTE, VERIFIER, EVENTS, PROOFS, README)))
ZIP_TIME: Final = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say: the bytes carry no clock
MAX_ENTRY_BYTES: Final = 2**31  # a zip bomb is refused, not inflated
_UNIX: Final = 3  # ZipInfo.create_system: the same on every platform
_SEQ_KEY: Final = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True, slots=True)
class Citation:
    """Event ``seq`` (of ``type``) is in the bundle because of ``reason``."""

    seq: int
    type: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class BundleCheck:
    """What a verified bundle shows: ``events`` events about ``model``
    version ``version``, each in ``origin``'s tree of ``tree_size`` events
    whose root a checkpoint signed by the verifier key commits to."""

    model: str
    version: int
    origin: str
    tree_size: int
    root: str
    events: int
    redacted: tuple[int, ...]  # seqs whose payload is null, each explained by a cited redaction
    bundled_key_matches: bool  # verifier.key is the key the bundle was checked with


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
    proofs: Mapping[int, Sequence[bytes]],
) -> dict[str, bytes]:
    """The files of a bundle: ``lines`` are the export lines of the cited
    events in seq order, ``proofs`` their inclusion proofs by seq."""
    manifest = {
        "format": FORMAT,
        "model": model,
        "version": version,
        "origin": origin,
        "tree_size": tree_size,
        "root": root.hex(),
        "checkpoint": note,
        "events": [citation.to_json() for citation in citations],
    }
    proof_lines = [f"  {json.dumps(str(seq))}: {json.dumps([h.hex() for h in proofs[seq]])}" for seq in sorted(proofs)]
    return {
        MANIFEST: (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
        NOTE: note.encode("utf-8"),
        VERIFIER: (verifier_key + "\n").encode("utf-8"),
        EVENTS: "".join(line + "\n" for line in lines).encode("utf-8"),
        PROOFS: ("{\n" + ",\n".join(proof_lines) + ("\n" if proof_lines else "") + "}\n").encode("utf-8"),
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
            archive.writestr(info, files[name], compresslevel=9)
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
with a proof that it is in the ledger's Merkle tree of {tree_size} events,
whose root a signed checkpoint commits to.

| file | what it holds |
|---|---|
| `manifest.json` | model, version, origin, tree size, root, the checkpoint; each cited event's seq, type and reason |
| `checkpoint.note` | the signed checkpoint (a C2SP signed note, Ed25519) of the first {tree_size} events |
| `verifier.key` | the ledger's verifier key `{key_name}`, for reference only (see below) |
| `events.jsonl` | one event per line, in seq order, as `mlledger export` writes it; a redacted payload is `null` |
| `proofs.json` | for each seq, its RFC 9162 inclusion proof (hex hashes) in the tree of {tree_size} events |

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
(DESIGN.md) alone, needing only Python, `rfc8785` and `cryptography`. Both
check the checkpoint's signature, each event's hash and payload digest, each
inclusion proof, that the manifest cites exactly the events in
`events.jsonl`, and that each `null` payload was erased by a cited
`ledger.redacted` event; they exit 0 when everything holds and 1 naming
every event that does not.

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
    """Check a bundle offline with the ledger's verifier key.

    Raises ``ValidationError`` when the bundle is malformed (a file missing
    or unreadable), ``SignatureError`` when its checkpoint is not signed by
    ``verifier``, and ``ProofError`` naming every event that fails a check.
    """
    key = parse_verifier_key(verifier) if isinstance(verifier, str) else verifier
    present = set(files)
    missing = [name for name in BUNDLE_FILES if name not in present]
    if missing:
        raise ValidationError(f"evidence bundle: missing {', '.join(missing)}")
    extra = sorted(present - set(BUNDLE_FILES))
    if extra:
        raise ValidationError(
            f"evidence bundle: unexpected entry {extra[0]!r} (a bundle holds {', '.join(BUNDLE_FILES)})"
        )
    manifest = _manifest(files[MANIFEST])
    note = _utf8(files[NOTE], NOTE)
    checkpoint = open_note(note, key)
    events = _events(files[EVENTS])
    proofs = _proofs(files[PROOFS])
    problems = _manifest_problems(manifest, note, checkpoint)
    for event in events:
        problems += _event_problems(event, proofs.get(event["seq"]), checkpoint)
    problems += _coverage_problems(manifest["events"], events, proofs)
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
        len(events),
        redacted,
        _same_key(files[VERIFIER], key),
    )


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
    if manifest.get("format") != FORMAT:
        raise ValidationError(f"evidence bundle: {MANIFEST}: format {manifest.get('format')!r}, expected {FORMAT!r}")
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


def _event_problems(event: dict[str, Any], path: Any, checkpoint: Checkpoint) -> list[str]:
    """The header hash, payload digest and inclusion proof of one event."""
    seq = event["seq"]
    problems = []
    try:
        check_event(event)
    except ProofError as e:
        problems.append(str(e))
    if path is None:
        problems.append(f"event {seq}: no inclusion proof in {PROOFS}")
        return problems
    try:
        check_included(seq, event["hash"], path, checkpoint)
    except ValidationError as e:
        problems.append(f"event {seq}: malformed inclusion proof: {e}")
    except ProofError as e:
        problems.append(str(e))
    return problems


def _coverage_problems(
    cited: list[dict[str, Any]], events: list[dict[str, Any]], proofs: Mapping[int, Any]
) -> list[str]:
    """The manifest cites exactly the events of events.jsonl, in order, each with its type, and a proof each."""
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
    problems += [f"event {seq}: {PROOFS} has a proof, {EVENTS} no event" for seq in sorted(set(proofs) - set(held))]
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
