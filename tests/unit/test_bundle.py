"""The evidence bundle's files, zip bytes and offline check (``ledger.bundle``),
on a chain built in memory: no database, no file.

The bundle (format /2: one multiproof of all its events) checks out with the
ledger's verifier key; it is refused, naming the event, when an event's
payload or header, the manifest's list or the checkpoint is changed; naming
the multiproof (which cannot say which event is wrong) when a proof hash is
changed, removed or added or an event is forged with a recomputed hash; and
refused as malformed when a file is missing or unreadable. A bundle of
format /1 (an inclusion proof per event, in proofs.json) still checks out,
and is refused, naming the event, when a proof is altered.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Mapping, Sequence
from io import BytesIO
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.bundle import (
    BUNDLE_FILES,
    FORMAT,
    Citation,
    bundle_files,
    check_bundle,
    unzip_bundle,
    zip_bundle,
)
from ledger.checkpoint import Checkpoint, sign, verifier_key
from ledger.encoding import GENESIS_PREV, export_line
from ledger.errors import ProofError, SignatureError, ValidationError
from ledger.events import PendingEvent, Sealed, prepare, seal
from ledger.merkle import inclusion_proof, leaf_hash, merkle_root, multiproof

ORIGIN = "mlledger/00000000-0000-4000-8000-000000000001"
MODEL, VERSION = "credit-model", 1
DIGEST = "sha256:" + "ab" * 32
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
VKEY = verifier_key(ORIGIN, KEY.public_key())
CITED = (1, 2, 3, 5, 6)  # event 4 (another run's) is not about the version


def _chain() -> list[Sealed]:
    """Eight events: an experiment, a run with a param, a redacted tag event,
    another experiment, the version, the redaction, one more."""
    payloads: list[tuple[str, dict[str, Any]]] = [
        ("experiment.created", {"experiment_id": "e0", "name": "unrelated"}),
        ("experiment.created", {"experiment_id": "e1", "name": "credit"}),
        ("run.started", {"run_id": "r1", "experiment_id": "e1"}),
        ("run.tags_set", {"run_id": "r1", "tags": {"owner": "Jane Doe"}}),
        ("experiment.created", {"experiment_id": "e2", "name": "other"}),
        (
            "model.version_created",
            {"name": MODEL, "version": VERSION, "run_id": "r1", "artifact_path": "model", "artifact_digest": DIGEST},
        ),
        (
            "ledger.redacted",
            {
                "target_seq": 3,
                "target_type": "run.tags_set",
                "subject": {"run_id": "r1", "keys": ["owner"]},
                "reason": "erasure request",
                "legal_basis": "GDPR Art. 17",
            },
        ),
        ("experiment.created", {"experiment_id": "e3", "name": "later"}),
    ]
    chain: list[Sealed] = []
    prev = GENESIS_PREV
    for seq, (event_type, payload) in enumerate(payloads):
        event_id = f"00000000-0000-4000-8000-{seq:012d}"
        sealed = seal(
            prepare(PendingEvent(event_type, payload, "alice", event_id)), seq=seq, prev=prev, time=_time(seq)
        )
        chain.append(sealed._replace(payload_text=None) if seq == 3 else sealed)
        prev = sealed.hash
    return chain


def _time(seq: int) -> str:
    return f"2026-03-14T10:00:{seq:02d}.000000Z"


CHAIN = _chain()
LEAVES = [bytes.fromhex(row.hash) for row in CHAIN]
ROOT = merkle_root(LEAVES)
NOTE = sign(Checkpoint(ORIGIN, len(CHAIN), ROOT), ORIGIN, KEY)


def _files(cited: tuple[int, ...] = CITED, note: str = NOTE) -> dict[str, bytes]:
    rows = [CHAIN[seq] for seq in cited]
    return bundle_files(
        model=MODEL,
        version=VERSION,
        origin=ORIGIN,
        tree_size=len(CHAIN),
        root=ROOT,
        note=note,
        verifier_key=VKEY,
        citations=[Citation(row.seq, row.type, f"reason {row.seq}") for row in rows],
        lines=[export_line(tuple(row[:9]), row.hash, row.payload_text) for row in rows],
        proof=multiproof(LEAVES, cited),
    )


FORMAT_1 = "mlledger-evidence-bundle/1"
HEADER = ("v", "seq", "id", "type", "schema", "time", "actor", "payload_digest", "prev")


def format_1(files: Mapping[str, bytes], proofs: Mapping[int, Sequence[bytes]]) -> dict[str, bytes]:
    """A bundle of format /1 made from the files of a /2 bundle: ``proofs``
    (each event's RFC 9162 inclusion proof, by seq) in proofs.json instead of
    multiproof.json, the manifest's format /1, and the README's words for it."""
    manifest = json.loads(files["manifest.json"])
    manifest["format"] = FORMAT_1
    readme, rows = re.subn(
        r"^\| `multiproof\.json` \|.*$",
        "| `proofs.json` | for each seq, its RFC 9162 inclusion proof (hex hashes) in the tree of "
        f"{manifest['tree_size']} events |",
        files["README.md"].decode(),
        flags=re.MULTILINE,
    )
    readme, sections = re.subn(r"## The multiproof\n.*?\n(?=The bundle proves)", "", readme, flags=re.DOTALL)
    readme, mentions = re.subn(r"the multiproof,", "each inclusion proof,", readme)
    assert (rows, sections, mentions) == (1, 1, 1), "the README no longer reads as these tests expect"
    document = {str(seq): [node.hex() for node in proofs[seq]] for seq in sorted(proofs)}
    rest = {name: data for name, data in files.items() if name != "multiproof.json"}
    return {
        **rest,
        "manifest.json": (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode(),
        "proofs.json": (json.dumps(document, indent=1) + "\n").encode(),
        "README.md": readme.encode(),
    }


def _files_1(cited: tuple[int, ...] = CITED) -> dict[str, bytes]:
    return format_1(_files(cited), {seq: inclusion_proof(LEAVES, seq) for seq in cited})


def _hashes(files: Mapping[str, bytes]) -> list[str]:
    hashes = json.loads(files["multiproof.json"])["hashes"]
    assert isinstance(hashes, list)
    return hashes


def _with_hashes(files: dict[str, bytes], hashes: list[str]) -> dict[str, bytes]:
    return {**files, "multiproof.json": json.dumps({"hashes": hashes}).encode()}


def _flip(hex_hash: str) -> str:
    node = bytearray(bytes.fromhex(hex_hash))
    node[0] ^= 0x01
    return node.hex()


def forge(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``event`` with ``changes`` to its header and a hash recomputed to match
    (DESIGN §2): it checks out on its own, only its proof can catch it."""
    forged = {**event, **changes}
    forged["hash"] = hashlib.sha256(rfc8785.dumps({name: forged[name] for name in HEADER})).hexdigest()
    return forged


MULTIPROOF_FAILS = r"multiproof\.json: the {n} events do not lead to the signed root \(multiproof of {n} leaves in a tree of 8: {why}\): an event is not the ledger's, or a proof hash was altered \(`mlledger proof SEQ` proves one event at a time\)"
WRONG_ROOT = r"computed root [0-9a-f]{12}…, expected " + ROOT.hex()[:12] + "…"


def only_the_multiproof_fails(n: int, why: str) -> str:
    """The whole message of ``check_bundle`` when the multiproof of ``n`` events is its one problem."""
    return r"^evidence bundle: 1 problem: " + MULTIPROOF_FAILS.format(n=n, why=why) + "$"


def _lines(files: dict[str, bytes]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in files["events.jsonl"].decode().splitlines()]


def _with_lines(files: dict[str, bytes], events: list[dict[str, Any]]) -> dict[str, bytes]:
    text = "".join(json.dumps(event, ensure_ascii=False) + "\n" for event in events)
    return {**files, "events.jsonl": text.encode()}


def test_a_bundle_checks_out_with_the_verifier_key() -> None:
    checked = check_bundle(unzip_bundle(zip_bundle(_files())), VKEY)
    assert (checked.model, checked.version, checked.origin) == (MODEL, VERSION, ORIGIN)
    assert (checked.tree_size, checked.root, checked.events) == (8, ROOT.hex(), 5)
    assert checked.redacted == (3,)
    assert checked.bundled_key_matches


def test_the_files_say_what_they_hold() -> None:
    files = _files()
    assert tuple(sorted(files)) == BUNDLE_FILES
    manifest = json.loads(files["manifest.json"])
    assert manifest["format"] == FORMAT
    assert (manifest["model"], manifest["version"], manifest["tree_size"], manifest["root"]) == (
        MODEL,
        VERSION,
        8,
        ROOT.hex(),
    )
    assert manifest["checkpoint"] == NOTE == files["checkpoint.note"].decode()
    assert [item["seq"] for item in manifest["events"]] == list(CITED)
    assert manifest["events"][0] == {"seq": 1, "type": "experiment.created", "reason": "reason 1"}
    assert files["verifier.key"].decode() == VKEY + "\n"
    assert [event["seq"] for event in _lines(files)] == list(CITED)
    assert _lines(files)[2]["payload"] is None  # the redacted tags
    # Events 1-3, 5 and 6 of 8: the uncited subtrees are the single leaves 0, 4 and 7.
    assert json.loads(files["multiproof.json"]) == {"hashes": [leaf_hash(LEAVES[i]).hex() for i in (0, 4, 7)]}
    readme = files["README.md"].decode()
    assert "mlledger evidence verify bundle.zip --key VKEY" in readme
    assert "python examples/verify_bundle.py bundle.zip --key VKEY" in readme
    assert "Do not trust `verifier.key`" in readme
    assert "| `multiproof.json` |" in readme and "proofs.json" not in readme
    assert "ROOT(lo, hi) = MTH(D[lo:hi])" in readme and "for ROOT(0, 8), left before right" in readme


def test_zip_bytes_are_deterministic_sorted_and_undated() -> None:
    first, second = zip_bundle(_files()), zip_bundle(dict(reversed(list(_files().items()))))
    assert first == second
    with zipfile.ZipFile(BytesIO(first)) as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == sorted(BUNDLE_FILES)
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(zip_bundle(_files())).hexdigest()


def test_a_changed_payload_value_names_the_event() -> None:
    files = _files()
    events = _lines(files)
    events[1]["payload"]["experiment_id"] = "e9"  # run.started of seq 2
    with pytest.raises(ProofError, match=r"^evidence bundle: 1 problem: event 2: payload altered: payload_digest "):
        check_bundle(_with_lines(files, events), VKEY)  # its hash, the leaf, is unchanged: the multiproof holds


def test_a_changed_header_names_the_event() -> None:
    files = _files()
    events = _lines(files)
    events[3]["actor"] = "mallory"  # seq 5
    with pytest.raises(ProofError, match=r"^evidence bundle: 1 problem: event 5: hash mismatch: stated "):
        check_bundle(_with_lines(files, events), VKEY)  # the stated hash, the leaf, is the ledger's


@pytest.mark.parametrize("target", range(3))
def test_a_flipped_bit_in_a_multiproof_hash_fails_the_multiproof(target: int) -> None:
    files = _files()
    hashes = _hashes(files)
    hashes[target] = _flip(hashes[target])
    with pytest.raises(ProofError, match=only_the_multiproof_fails(5, WRONG_ROOT)):
        check_bundle(_with_hashes(files, hashes), VKEY)


@pytest.mark.parametrize("target", range(3))
def test_a_removed_multiproof_hash_fails_the_multiproof(target: int) -> None:
    files = _files()
    hashes = _hashes(files)
    del hashes[target]
    with pytest.raises(ProofError, match=only_the_multiproof_fails(5, "2 hashes, expected 3")):
        check_bundle(_with_hashes(files, hashes), VKEY)


@pytest.mark.parametrize("at", range(4))
def test_an_added_multiproof_hash_fails_the_multiproof(at: int) -> None:
    files = _files()
    hashes = _hashes(files)
    hashes.insert(at, leaf_hash(LEAVES[at]).hex())  # a real leaf hash of the tree, in the wrong place
    with pytest.raises(ProofError, match=only_the_multiproof_fails(5, "4 hashes, expected 3")):
        check_bundle(_with_hashes(files, hashes), VKEY)


def test_a_forged_event_with_a_matching_hash_fails_only_the_multiproof() -> None:
    files = _files()
    events = _lines(files)
    events[3] = forge(events[3], actor="mallory")  # seq 5, the version: its own hash checks out
    with pytest.raises(ProofError, match=only_the_multiproof_fails(5, WRONG_ROOT)):
        check_bundle(_with_lines(files, events), VKEY)


def test_an_event_moved_to_another_seq_fails_the_multiproof() -> None:
    files = _files()
    events = _lines(files)
    events[4] = forge(events[4], seq=7)  # the redaction (6) claims to be event 7
    manifest = json.loads(files["manifest.json"])
    manifest["events"][4]["seq"] = 7
    files = {**_with_lines(files, events), "manifest.json": json.dumps(manifest).encode()}
    with pytest.raises(ProofError, match=only_the_multiproof_fails(5, WRONG_ROOT)):
        check_bundle(files, VKEY)


def test_a_removed_event_is_named() -> None:
    files = _files()
    events = [event for event in _lines(files) if event["seq"] != 5]
    with pytest.raises(ProofError) as raised:
        check_bundle(_with_lines(files, events), VKEY)
    message = str(raised.value)
    assert message.startswith("evidence bundle: 3 problems: ")
    assert "event 5: cited in manifest.json (reason 5) but not in events.jsonl" in message
    assert re.search(MULTIPROOF_FAILS.format(n=4, why=r"computed root [^)]*"), message)  # leaf 5 is no longer cited
    assert "no model.version_created event of 'credit-model' version 1" in message


def test_an_event_the_manifest_does_not_cite_is_named() -> None:
    more = _files(cited=(*CITED, 7))
    files = {**_files(), "events.jsonl": more["events.jsonl"], "multiproof.json": more["multiproof.json"]}
    with pytest.raises(ProofError, match=r"evidence bundle: 1 problem: event 7: in events.jsonl but not cited"):
        check_bundle(files, VKEY)


def test_a_null_payload_needs_a_cited_redaction() -> None:
    cited = (1, 2, 3, 5)  # the redaction (6) left out of a bundle that keeps its target
    with pytest.raises(ProofError, match=r"event 3: payload is null and no cited ledger.redacted event names it"):
        check_bundle(_files(cited=cited), VKEY)


def test_a_checkpoint_signed_by_another_key_is_refused() -> None:
    forged = sign(Checkpoint(ORIGIN, len(CHAIN), ROOT), ORIGIN, OTHER_KEY)
    with pytest.raises(SignatureError, match=r"no signature by .* verifies"):
        check_bundle(_files(note=forged), VKEY)


def test_a_wrong_verifier_key_is_refused() -> None:
    with pytest.raises(SignatureError, match=r"no signature by .* verifies"):
        check_bundle(_files(), verifier_key(ORIGIN, OTHER_KEY.public_key()))


def test_a_manifest_that_misstates_the_checkpoint_is_named() -> None:
    files = _files()
    manifest = json.loads(files["manifest.json"])
    manifest["tree_size"] = 7
    files["manifest.json"] = json.dumps(manifest).encode()
    with pytest.raises(ProofError, match=r"manifest.json: origin .*, tree_size 7, .* are not the signed checkpoint's"):
        check_bundle(files, VKEY)


def test_a_bundled_key_that_differs_is_reported_not_trusted() -> None:
    files = {**_files(), "verifier.key": verifier_key(ORIGIN, OTHER_KEY.public_key()).encode()}
    assert not check_bundle(files, VKEY).bundled_key_matches


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.pop("multiproof.json"), "evidence bundle: missing multiproof.json"),
        (lambda f: f.pop("manifest.json"), "evidence bundle: missing manifest.json"),
        (lambda f: f.update({"notes.txt": b"hi"}), "unexpected entry 'notes.txt'"),
        (lambda f: f.update({"proofs.json": b"{}"}), "unexpected entry 'proofs.json'"),
        (lambda f: f.update({"manifest.json": b"{"}), "manifest.json: invalid JSON"),
        (
            lambda f: f.update({"manifest.json": b'{"format": "other"}'}),
            "manifest.json: format 'other', expected 'mlledger-evidence-bundle/2' (or 'mlledger-evidence-bundle/1')",
        ),
        (lambda f: f.update({"events.jsonl": b'{"seq": 1}'}), "does not end with a newline"),
        (lambda f: f.update({"multiproof.json": b"[]"}), 'multiproof.json is not {"hashes": [64 hex digits, ...]}'),
        (
            lambda f: f.update({"multiproof.json": b'{"hashes": ["AB"]}'}),
            'multiproof.json is not {"hashes": [64 hex digits, ...]}',
        ),
        (
            lambda f: f.update({"multiproof.json": json.dumps({"hashes": [ROOT.hex().upper()]}).encode()}),
            'multiproof.json is not {"hashes": [64 hex digits, ...]}',
        ),
    ],
)
def test_a_malformed_bundle_is_a_validation_error(change: Any, message: str) -> None:
    files = _files()
    change(files)
    with pytest.raises(ValidationError, match=re.escape(message)):
        check_bundle(files, VKEY)


def test_unreadable_zips_are_validation_errors() -> None:
    with pytest.raises(ValidationError, match="not a readable zip file"):
        unzip_bundle(b"not a zip")
    data = bytearray(zip_bundle(_files()))
    data[60] ^= 0xFF  # inside the first entry's compressed bytes
    with pytest.raises(ValidationError, match="not a readable zip file"):
        unzip_bundle(bytes(data))
    twice = BytesIO()
    with zipfile.ZipFile(twice, "w") as archive:
        archive.writestr("manifest.json", b"{}")
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("manifest.json", b"{}")
    with pytest.raises(ValidationError, match=r"holds 'manifest\.json' more than once"):
        unzip_bundle(twice.getvalue())


# -- format /1: an inclusion proof per event -----------------------------------------------


def test_a_format_1_bundle_still_checks_out() -> None:
    files = _files_1()
    assert tuple(sorted(files)) == tuple(sorted([*(set(BUNDLE_FILES) - {"multiproof.json"}), "proofs.json"]))
    assert json.loads(files["manifest.json"])["format"] == FORMAT_1
    assert json.loads(files["proofs.json"])["5"] == [node.hex() for node in inclusion_proof(LEAVES, 5)]
    assert check_bundle(unzip_bundle(zip_bundle(files)), VKEY) == check_bundle(_files(), VKEY)


def test_a_flipped_bit_in_a_format_1_proof_names_the_event() -> None:
    files = _files_1()
    proofs = json.loads(files["proofs.json"])
    proofs["2"][0] = _flip(proofs["2"][0])
    files["proofs.json"] = json.dumps(proofs).encode()
    with pytest.raises(
        ProofError,
        match=r"^evidence bundle: 1 problem: event 2: not in the signed tree of 8 events: inclusion proof for leaf 2 of 8: computed root ",
    ):
        check_bundle(files, VKEY)


def test_a_format_1_bundle_needs_a_proof_for_each_event_and_no_other() -> None:
    files = _files_1()
    proofs = json.loads(files["proofs.json"])
    proofs["7"] = proofs.pop("2")
    files["proofs.json"] = json.dumps(proofs).encode()
    with pytest.raises(ProofError) as raised:
        check_bundle(files, VKEY)
    assert str(raised.value) == (
        "evidence bundle: 2 problems: event 2: no inclusion proof in proofs.json; "
        "event 7: proofs.json has a proof, events.jsonl no event"
    )


def test_a_forged_event_with_a_matching_hash_fails_its_format_1_proof() -> None:
    files = _files_1()
    events = _lines(files)
    events[3] = forge(events[3], actor="mallory")
    with pytest.raises(ProofError, match=r"^evidence bundle: 1 problem: event 5: not in the signed tree of 8 events: "):
        check_bundle(_with_lines(files, events), VKEY)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.pop("proofs.json"), "evidence bundle: missing proofs.json"),
        (lambda f: f.update({"multiproof.json": b'{"hashes": []}'}), "unexpected entry 'multiproof.json'"),
        (lambda f: f.update({"proofs.json": b'{"one": []}'}), "proofs.json is not an object keyed by seq"),
    ],
)
def test_a_malformed_format_1_bundle_is_a_validation_error(change: Any, message: str) -> None:
    files = _files_1()
    change(files)
    with pytest.raises(ValidationError, match=re.escape(message)):
        check_bundle(files, VKEY)
