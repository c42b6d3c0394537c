"""Inclusion proofs of single events, checked offline with the verifier key alone.

Every event of a small ledger gets a proof document (``mlledger proof``)
that ``check_proof`` and ``mlledger verify-proof`` accept without the
database; one flipped bit anywhere the proof relies on, a checkpoint signed
by another key, or an altered payload makes the check fail with a message
that says why.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import ledger
from cli.main import main
from ledger.checkpoint import Checkpoint, open_note, sign
from ledger.errors import ProofError, SignatureError, ValidationError
from ledger.proofs import check_proof

SIZE = 13


@pytest.fixture
def proven(uri: str, tmp_path: Path) -> tuple[str, str, Path]:
    """(uri, verifier key, key file) of a ledger of SIZE events with one checkpoint."""
    key_file = tmp_path / "ledger.key"
    with ledger.open(uri) as lg:
        lg.setup_signing_key(key_file)
        lg.append("experiment.created", {"experiment_id": "e1", "name": "scoring"}, actor="alice")
        lg.append("run.started", {"run_id": "r1", "experiment_id": "e1"}, actor="alice")
        for i in range(SIZE - 2):
            lg.append("run.params_logged", {"run_id": "r1", "params": {f"p{i}": str(i)}}, actor="alice")
        lg.create_checkpoint(key=lg.signing_key(key_file))
        return uri, lg.verifier_key(), key_file


def _flip(hex_text: str, bit: int = 0) -> str:
    raw = bytearray(bytes.fromhex(hex_text))
    raw[bit // 8] ^= 1 << (bit % 8)
    return raw.hex()


def test_every_events_proof_verifies_offline(proven: tuple[str, str, Path]) -> None:
    uri, vkey, _ = proven
    with ledger.open(uri, create=False) as lg:
        documents = [lg.prove(seq) for seq in range(SIZE)]
    for seq, document in enumerate(documents):
        checked = check_proof(json.loads(json.dumps(document)), vkey)  # through JSON text, as a file would
        assert (checked.seq, checked.tree_size, checked.redacted) == (seq, SIZE, False)
        assert checked.hash == document["event"]["hash"]
    assert documents[0]["event"]["type"] == "experiment.created"
    assert set(documents[5]) == {"seq", "hash", "tree_size", "root", "path", "checkpoint", "event"}


def test_a_proof_uses_the_latest_checkpoint_or_makes_one(
    proven: tuple[str, str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, vkey, key_file = proven
    monkeypatch.setenv("MLLEDGER_KEY_FILE", str(tmp_path / "elsewhere.key"))
    with ledger.open(uri, create=False) as lg:
        lg.append("run.params_logged", {"run_id": "r1", "params": {"late": "1"}}, actor="alice")
        assert lg.prove(3)["tree_size"] == SIZE  # the stored checkpoint covers it
        with pytest.raises(ledger.NotFoundError, match=f"no checkpoint includes event {SIZE}, and none can be made"):
            lg.prove(SIZE)  # no key at MLLEDGER_KEY_FILE
        late = lg.prove(SIZE, checkpoint=lg.create_checkpoint(key=lg.signing_key(key_file)))
        assert late["tree_size"] == SIZE + 1
        with pytest.raises(ValidationError, match="seq must be a whole number >= 0"):
            lg.prove(-1)
        with pytest.raises(ledger.NotFoundError, match="event 99 does not exist"):
            lg.prove(99)
    assert check_proof(late, vkey).seq == SIZE


TAMPERINGS = {
    "path bit": (lambda d: d["path"].__setitem__(1, _flip(d["path"][1], 77)), ProofError, "not in the signed tree"),
    "hash bit": (lambda d: d.update(hash=_flip(d["hash"])), ProofError, "not in the signed tree"),
    "root bit": (lambda d: d.update(root=_flip(d["root"], 200)), ProofError, "are not the checkpoint's"),
    "seq": (lambda d: d.update(seq=d["seq"] + 1), ProofError, "not in the signed tree"),
    "tree_size": (lambda d: d.update(tree_size=d["tree_size"] + 1), ProofError, "are not the checkpoint's"),
    "payload": (
        lambda d: d["event"]["payload"]["params"].update(p3="999"),
        ProofError,
        "event 5: payload altered: payload_digest",
    ),
    "header": (lambda d: d["event"].update(actor="mallory"), ProofError, "event 5: hash mismatch"),
    "checkpoint bit": (
        lambda d: d.update(checkpoint=d["checkpoint"].replace("\n13\n", "\n12\n")),
        SignatureError,
        "does not verify",
    ),
    "path length": (lambda d: d["path"].pop(), ProofError, "not in the signed tree"),
    "malformed path": (
        lambda d: d["path"].__setitem__(0, "zz"),
        ValidationError,
        "path\\[0\\] is not 64 lowercase hex",
    ),
    "missing field": (lambda d: d.pop("root"), ValidationError, "proof: missing root"),
}


@pytest.mark.parametrize("name", list(TAMPERINGS))
def test_a_tampered_proof_fails(proven: tuple[str, str, Path], name: str) -> None:
    uri, vkey, _ = proven
    with ledger.open(uri, create=False) as lg:
        document = lg.prove(5)
    tamper, error, message = TAMPERINGS[name]
    forged: dict[str, Any] = copy.deepcopy(document)
    tamper(forged)
    with pytest.raises(error, match=message):
        check_proof(forged, vkey)


def test_a_checkpoint_signed_by_another_key_fails(proven: tuple[str, str, Path]) -> None:
    uri, vkey, _ = proven
    with ledger.open(uri, create=False) as lg:
        document = lg.prove(2)
    genuine = open_note(document["checkpoint"], vkey)
    name = vkey.split("+")[0]
    document["checkpoint"] = sign(
        Checkpoint(genuine.origin, genuine.size, genuine.root), name, Ed25519PrivateKey.generate()
    )
    with pytest.raises(SignatureError, match=f"no signature by {name}\\+[0-9a-f]{{8}} verifies"):
        check_proof(document, vkey)


def test_cli_proof_and_verify_proof(proven: tuple[str, str, Path], tmp_path: Path) -> None:
    uri, vkey, _ = proven
    runner = CliRunner()
    text = runner.invoke(main, ["--uri", uri, "proof", "4"])
    assert text.exit_code == 0, text.output
    assert text.output.startswith("event 4 (run.params_logged, ") and f"tree size  {SIZE}" in text.output
    as_json = runner.invoke(main, ["--uri", uri, "proof", "4", "--json"])
    document = json.loads(as_json.output)
    assert document["seq"] == 4 and document["tree_size"] == SIZE

    proof_file = tmp_path / "proof.json"
    key_file = tmp_path / "ledger.vkey"
    key_file.write_text(vkey + "\n")
    written = runner.invoke(main, ["--uri", uri, "proof", "4", "-o", str(proof_file)])
    assert written.exit_code == 0 and "written to" in written.output
    # Offline: no --uri, no database; a real process.
    ok = subprocess.run(
        [sys.executable, "-m", "cli.main", "verify-proof", str(proof_file), "--key", str(key_file)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "MLLEDGER_URI": "sqlite:////nonexistent/ledger.db"},
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"ok: event 4 (run.params_logged), hash {document['hash']}, is in the tree of 13")

    document["path"][0] = _flip(document["path"][0])
    proof_file.write_text(json.dumps(document))
    bad = runner.invoke(main, ["verify-proof", str(proof_file), "--key", vkey])
    assert bad.exit_code == 1
    assert "mlledger: error: event 4: not in the signed tree of 13 events" in bad.output
    wrong_key = runner.invoke(main, ["verify-proof", str(proof_file), "--key", "not-a-key"])
    assert wrong_key.exit_code == 2 and "is neither a verifier key" in wrong_key.output
