"""Signed checkpoints kept outside the ledger catch what the chain cannot.

A hash chain only proves it is self-consistent: an attacker with the
database owner's rights can rewrite an event and recompute every later hash
and the whole Merkle tree, cut the ledger short, or fork it, and plain
``verify`` still passes. Each test here first shows that (plain verify: ok),
then that ``verify`` against a checkpoint written before the attack fails,
naming the checkpoint and where the first differing seq lies. Also: the
signing key (created at init, mode 0600, refused when not the ledger's),
checkpoint creation, storage and automatic checkpoints to a write-once
directory. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import ledger
from cli.main import main
from ledger.checkpoint import Checkpoint, open_note, origin_for, sign, signer_key
from ledger.checkpoints import CheckpointFinding, note_file_name, read_notes
from ledger.encoding import canonical_json, header_row_bytes
from ledger.errors import IntegrityError, NotFoundError, ValidationError
from ledger.store.merkle_store import tree_rows
from tests.integration.test_tampering import RawDb

SIZE = 20
TARGET = 12  # the event the attacks start at


def _experiment(i: int) -> dict[str, Any]:
    return {"experiment_id": f"e{i}", "name": f"experiment {i}"}


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "ledger.key"


@pytest.fixture
def built(uri: str, key_file: Path) -> str:
    """A ledger of SIZE events with a signing key; checkpoints at 5 and SIZE."""
    with ledger.open(uri) as lg:
        lg.setup_signing_key(key_file)
        for i in range(SIZE):
            lg.append("experiment.created", _experiment(i), actor="alice")
            if lg.size() == 5:
                lg.create_checkpoint(key=lg.signing_key(key_file))
        lg.create_checkpoint(key=lg.signing_key(key_file))
    return uri


def _open(uri: str) -> ledger.Ledger:
    return ledger.open(uri, create=False)


def _notes(uri: str, directory: Path) -> Path:
    """Write the ledger's stored checkpoints to ``directory``, as an auditor keeps them."""
    directory.mkdir(exist_ok=True)
    with _open(uri) as lg:
        for signed in lg.checkpoints():
            (directory / note_file_name(signed.size)).write_text(signed.note, encoding="utf-8")
    return directory


def _check(uri: str, directory: Path) -> tuple[ledger.VerifyReport, list[CheckpointFinding]]:
    with _open(uri) as lg:
        report = lg.verify()
        findings = lg.check_checkpoints(read_notes(directory), lg.verifier_key(), size=report.events, root=report.root)
    return report, findings


# -- attacks with plain SQL, as the database owner --------------------------------


def _rows(raw: RawDb) -> list[tuple[Any, ...]]:
    return raw.rows("SELECT seq, v, id, type, schema, time, actor, payload_digest, prev, hash FROM events ORDER BY seq")


def _rewrite_from(raw: RawDb, target: int, payload: dict[str, Any]) -> None:
    """Change event ``target``'s payload and recompute its digest, every later hash and link."""
    rows = _rows(raw)
    prev = rows[target - 1][9]
    for seq, v, id_, type_, schema, time, actor, digest, _prev, _hash in rows[target:]:
        if seq == target:
            body = canonical_json(payload).decode()
            digest = hashlib.sha256(body.encode()).hexdigest()
            raw.execute("UPDATE payloads SET body = ? WHERE seq = ?", (body, seq))
        new_hash = hashlib.sha256(header_row_bytes(seq, v, id_, type_, schema, time, actor, digest, prev)).hexdigest()
        raw.execute(
            "UPDATE events SET payload_digest = ?, prev = ?, hash = ? WHERE seq = ?", (digest, prev, new_hash, seq)
        )
        prev = new_hash


def _rebuild_tree(raw: RawDb) -> None:
    """Recompute merkle_nodes from the (altered) events, as a careful attacker would."""
    raw.execute("DELETE FROM merkle_nodes")
    leaves = [bytes.fromhex(row[9]) for row in _rows(raw)]
    for chunk in tree_rows(leaves, 1000):
        for level, idx, digest in chunk:
            raw.execute("INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)", (level, idx, digest))


def _truncate(raw: RawDb, size: int) -> None:
    raw.execute("DELETE FROM payloads WHERE seq >= ?", (size,))
    raw.execute("DELETE FROM events WHERE seq >= ?", (size,))
    _rebuild_tree(raw)


@pytest.fixture
def attacker(built: str) -> Iterator[RawDb]:
    db = RawDb(built)
    db.drop_append_only_triggers()
    try:
        yield db
    finally:
        db.close()


def test_untouched_ledger_extends_every_checkpoint(built: str, tmp_path: Path) -> None:
    with _open(built) as lg:
        lg.append("experiment.created", _experiment(99), actor="alice")
    report, findings = _check(built, _notes(built, tmp_path / "notes"))
    assert report.ok and report.root is not None
    assert [(f.kind, f.size) for f in findings] == [("consistent", 5), ("consistent", SIZE)]
    assert findings[1].detail == "the ledger extends it (1 events since)"


def test_full_rewrite_with_every_hash_recomputed_is_caught_only_by_a_checkpoint(
    built: str, attacker: RawDb, tmp_path: Path
) -> None:
    notes = _notes(built, tmp_path / "notes")  # kept outside the ledger before the attack
    _rewrite_from(attacker, TARGET, {"experiment_id": f"e{TARGET}", "name": "a quieter history"})
    _rebuild_tree(attacker)

    report, findings = _check(built, notes)
    assert report.ok, report.faults  # the chain and the tree are self-consistent again
    assert [(f.kind, f.size) for f in findings] == [("consistent", 5), ("inconsistent", SIZE)]
    failed = findings[1]
    assert failed.source.endswith(note_file_name(SIZE))
    assert (failed.first_seq, failed.first_seq_end) == (5, SIZE)
    assert failed.first_seq <= TARGET < failed.first_seq_end
    assert "history was rewritten or forked; the first differing seq is in 5..19" in failed.detail


def test_rewrite_without_rebuilding_the_tree_is_located_to_eight_events(built: str, attacker: RawDb) -> None:
    _rewrite_from(attacker, TARGET, {"experiment_id": f"e{TARGET}", "name": "a quieter history"})
    report = _verify(built)  # the stored tree, of the old hashes, holds subtrees of 8 events and more
    assert [(f.seq, f.kind) for f in report.faults] == [(8, "merkle_mismatch")]
    assert (
        "it first disagrees over seqs 8..15 (merkle_nodes or the events there were altered)" in report.faults[0].detail
    )


def test_truncation_is_caught_only_by_a_checkpoint(built: str, attacker: RawDb, tmp_path: Path) -> None:
    notes = _notes(built, tmp_path / "notes")
    _truncate(attacker, 15)

    report, findings = _check(built, notes)
    assert report.ok and report.events == 15
    assert [(f.kind, f.size) for f in findings] == [("consistent", 5), ("truncated", SIZE)]
    assert findings[1].detail == (
        "the checkpoint covers 20 events, the ledger has 15: events 15..19 were cut off (truncated); "
        "the first differing seq is in 5..15"
    )


def test_fork_is_caught_only_by_a_checkpoint(built: str, attacker: RawDb, key_file: Path, tmp_path: Path) -> None:
    notes = _notes(built, tmp_path / "notes")
    _truncate(attacker, 15)
    with _open(built) as lg:  # history goes on differently from seq 15
        for i in range(15, SIZE):
            lg.append("experiment.created", {"experiment_id": f"f{i}", "name": f"forked {i}"}, actor="mallory")
        # The ledger refuses to sign the fork at a size it signed before.
        with pytest.raises(IntegrityError, match="the events before seq 20 changed since it was signed"):
            lg.create_checkpoint(key=lg.signing_key(key_file))
        for i in range(SIZE, SIZE + 3):
            lg.append("experiment.created", {"experiment_id": f"f{i}", "name": f"forked {i}"}, actor="mallory")
        report, findings = _check(built, notes)
        assert report.ok and report.events == SIZE + 3
        assert [(f.kind, f.size) for f in findings] == [("consistent", 5), ("inconsistent", SIZE)]
        assert "the first differing seq is in 5..19" in findings[1].detail
        # Two genuine notes of one size with different roots: the ledger forked.
        forked = sign(Checkpoint(origin_for(lg.ledger_id), SIZE, lg.merkle_root(SIZE)), *_key(key_file))
        (notes / "forked.note").write_text(forked, encoding="utf-8")
        findings = lg.check_checkpoints(read_notes(notes), lg.verifier_key(), size=report.events, root=report.root)
    fork = [f for f in findings if f.kind == "fork"]
    assert len(fork) == 1 and fork[0].size == SIZE
    assert "sign different roots for the same 20 events" in fork[0].detail


def _key(key_file: Path) -> tuple[str, Ed25519PrivateKey]:
    from ledger.checkpoint import parse_signer_key

    return parse_signer_key(key_file.read_text().strip())


def _verify(uri: str) -> ledger.VerifyReport:
    with _open(uri) as lg:
        return lg.verify()


def test_damage_to_the_stored_tree_alone_is_not_taken_for_a_rewrite(
    built: str, attacker: RawDb, tmp_path: Path
) -> None:
    notes = _notes(built, tmp_path / "notes")
    # Node (4, 0) covers events 0..15: part of the root of 20, which verify recomputes.
    attacker.execute("UPDATE merkle_nodes SET hash = ? WHERE level = 4 AND idx = 0", (b"\x00" * 32,))
    report, findings = _check(built, notes)
    assert [(f.seq, f.kind) for f in report.faults] == [(0, "merkle_mismatch")]
    assert "it first disagrees over seqs 0..15" in report.faults[0].detail
    assert [f.kind for f in findings] == ["consistent", "consistent"]  # history is intact


def test_a_damaged_interior_node_gives_no_proof(built: str, attacker: RawDb, tmp_path: Path) -> None:
    notes = _notes(built, tmp_path / "notes")
    # Node (3, 1) covers events 8..15; no root of the ledger's size reads it, proofs do.
    attacker.execute("UPDATE merkle_nodes SET hash = ? WHERE level = 3 AND idx = 1", (b"\x00" * 32,))
    with _open(built) as lg:
        with pytest.raises(IntegrityError, match="event 4: the stored Merkle tree gives no valid proof against the"):
            lg.prove(4)
        assert lg.prove(12)["seq"] == 12  # a proof that does not read it is fine
        # The consistency proof from 5 to 20 reads it: the checkpoint check recomputes
        # the root of 5 from the events instead of calling history rewritten.
        report = lg.verify()
        findings = lg.check_checkpoints(read_notes(notes), lg.verifier_key(), size=report.events, root=report.root)
    assert report.ok  # the root of 20 does not read the node
    assert [f.kind for f in findings] == ["tree_damaged", "consistent"]
    assert not findings[0].ok
    assert findings[0].detail.startswith("the events match it, but the stored Merkle tree gave a failing consistency")


def test_a_checkpoint_signed_by_another_key_fails(built: str, tmp_path: Path) -> None:
    notes = _notes(built, tmp_path / "notes")
    with _open(built) as lg:
        impostor = Ed25519PrivateKey.generate()
        name = origin_for(lg.ledger_id)  # the same name, another key
        note = sign(Checkpoint(name, SIZE, lg.merkle_root(SIZE)), name, impostor)
        (notes / "impostor.note").write_text(note, encoding="utf-8")
        (notes / "other-ledger.note").write_text(
            sign(Checkpoint("mlledger/another-ledger", 3, lg.merkle_root(3)), *_key(tmp_path / "keys" / "ledger.key")),
            encoding="utf-8",
        )
        _, findings = _check(built, notes)
    by_source = {Path(f.source).name: f for f in findings}
    assert by_source["impostor.note"].kind == "signature"
    assert "no signature by" in by_source["impostor.note"].detail
    assert by_source["other-ledger.note"].kind == "origin"
    assert "the note is for mlledger/another-ledger" in by_source["other-ledger.note"].detail


def test_every_note_fails_with_a_wrong_verifier_key(built: str, tmp_path: Path) -> None:
    notes = _notes(built, tmp_path / "notes")
    other = ledger.checkpoint.verifier_key("mlledger/x", Ed25519PrivateKey.generate().public_key())
    with _open(built) as lg:
        report = lg.verify()
        findings = lg.check_checkpoints(read_notes(notes), other, size=report.events, root=report.root)
    assert [f.kind for f in findings] == ["signature", "signature"]


# -- the command line ----------------------------------------------------------------


def _cli(uri: str, *args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, ["--uri", uri, *args], env=env, catch_exceptions=False)


def test_cli_verify_with_checkpoints_exits_1_naming_the_checkpoint_and_seq(
    built: str, attacker: RawDb, tmp_path: Path
) -> None:
    notes = _notes(built, tmp_path / "notes")
    with _open(built) as lg:
        vkey = lg.verifier_key()
    clean = _cli(built, "verify", "--checkpoint", str(notes), "--key", vkey)
    assert clean.exit_code == 0, clean.output
    assert "checkpoints: the ledger extends all 2 (the largest covers 20 events)" in clean.output

    _rewrite_from(attacker, TARGET, {"experiment_id": f"e{TARGET}", "name": "a quieter history"})
    _rebuild_tree(attacker)
    assert _cli(built, "verify").exit_code == 0  # the chain alone cannot tell
    result = _cli(built, "verify", "--checkpoint", str(notes), "--key", vkey)
    assert result.exit_code == 1, result.output
    assert "CHECKPOINTS FAILED: 1 of 2" in result.output
    assert f"{note_file_name(SIZE)} (size 20): inconsistent:" in result.output
    assert "the first differing seq is in 5..19" in result.output

    as_json = _cli(built, "verify", "--json", "--checkpoint", str(notes / note_file_name(SIZE)), "--key", vkey)
    assert as_json.exit_code == 1
    assert '"kind": "inconsistent"' in as_json.output and '"ok": false' in as_json.output


def test_cli_verify_checkpoint_needs_a_key(built: str, tmp_path: Path) -> None:
    notes = _notes(built, tmp_path / "notes")
    result = CliRunner().invoke(main, ["--uri", built, "verify", "--checkpoint", str(notes)])
    assert result.exit_code == 2
    assert "--checkpoint needs --key VKEY" in result.output


# -- the signing key ---------------------------------------------------------------------


def test_init_creates_a_private_signing_key_and_prints_the_verifier_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLLEDGER_KEY_FILE")  # the default: keys/ beside the SQLite file
    uri = f"sqlite:///{tmp_path / 'l' / 'ledger.db'}"
    result = _cli(uri, "init", "--actor", "alice")
    assert result.exit_code == 0, result.output
    key_path = tmp_path / "l" / "keys" / "ledger.key"
    assert f"signing key: {key_path} (created now, mode 0600)" in result.output
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert key_path.read_text().startswith("PRIVATE+KEY+mlledger/")
    public = _cli(uri, "key", "public")
    assert re.fullmatch(r"mlledger/[0-9a-f-]{36}\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}\n", public.output)
    assert f"verifier key: {public.output}" in result.output
    again = _cli(uri, "init")  # a second init keeps the key
    assert "created now" not in again.output and public.output.strip() in again.output


def test_init_with_an_operator_given_key_path(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'ledger.db'}"
    chosen = tmp_path / "vault" / "mlledger.key"
    result = _cli(uri, "init", "--key-file", str(chosen))
    assert result.exit_code == 0 and chosen.exists()
    created = _cli(uri, "checkpoint", "create", "--key-file", str(chosen))
    assert created.exit_code == 0 and created.output.startswith("mlledger/")
    missing = _cli(uri, "checkpoint", "create")  # the default path holds no key
    assert missing.exit_code == 2
    assert "no signing key at" in missing.output and "--key-file or MLLEDGER_KEY_FILE" in missing.output


def test_a_key_that_is_not_the_ledgers_or_is_readable_by_others_is_refused(built: str, tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    with ledger.open(f"sqlite:///{tmp_path / 'other.db'}") as elsewhere:
        elsewhere.setup_signing_key(other)
    with _open(built) as lg:
        before = lg.checkpoints()
        with pytest.raises(ValidationError, match=r"the signing key .*other.key \(mlledger/.*\) is not this ledger's"):
            lg.signing_key(other)
        own = tmp_path / "keys" / "ledger.key"
        os.chmod(own, 0o644)
        with pytest.raises(ValidationError, match=r"is readable by others \(mode 0644\): run `chmod 600"):
            lg.signing_key(own)
        assert lg.checkpoints() == before


def test_no_signing_key_yet(uri: str) -> None:
    with (
        ledger.open(uri) as lg,
        pytest.raises(NotFoundError, match="this ledger has no signing key yet: run `mlledger init`"),
    ):
        lg.verifier_key()


# -- checkpoints ---------------------------------------------------------------------------


def test_a_checkpoint_signs_the_tree_and_is_stored_once_per_size(built: str, key_file: Path, tmp_path: Path) -> None:
    with _open(built) as lg:
        stored = lg.checkpoints()
        assert [c.size for c in stored] == [5, SIZE]
        latest = stored[-1]
        opened = open_note(latest.note, lg.verifier_key())
        assert (opened.origin, opened.size, opened.root) == (origin_for(lg.ledger_id), SIZE, lg.merkle_root())
        assert lg.create_checkpoint(key=lg.signing_key(key_file)) == latest  # same size: the stored one
    output = tmp_path / "cp.note"
    env = {"MLLEDGER_KEY_FILE": str(key_file)}
    result = _cli(built, "checkpoint", "create", "-o", str(output), env=env)
    assert result.exit_code == 0 and output.read_text() == latest.note
    output.write_text("something else")
    refused = _cli(built, "checkpoint", "create", "-o", str(output), env=env)
    assert refused.exit_code == 2 and "exists and holds something else; refusing to overwrite it" in refused.output
    listing = _cli(built, "checkpoint", "list")
    assert f"{SIZE:>10}" in listing.output and latest.root.hex() in listing.output


def test_automatic_checkpoints_go_to_a_write_once_directory(
    built: str, key_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLLEDGER_KEY_FILE", str(key_file))
    folder = tmp_path / "worm"
    folder.mkdir()
    result = _cli(built, "checkpoint", "auto", "--every", "4", "--dir", str(folder))
    assert result.exit_code == 0 and f"a checkpoint every 4 events, copied to {folder}" in result.output
    with _open(built) as lg:
        for i in range(SIZE, SIZE + 9):
            lg.append("experiment.created", _experiment(i), actor="alice")
        lg.append_many(ledger.PendingEvent("experiment.created", _experiment(i), "alice") for i in range(40, 45))
    assert sorted(os.listdir(folder)) == [note_file_name(n) for n in (24, 28, 34)]
    with _open(built) as lg:
        assert [c.size for c in lg.checkpoints()] == [5, SIZE, 24, 28, 34]
        (folder / note_file_name(38)).write_text("not ours", encoding="utf-8")  # a file already there
        for i in range(45, 49):
            lg.append("experiment.created", _experiment(i), actor="alice")
        with pytest.raises(IntegrityError, match="holds another checkpoint of size 38: the ledger forked"):
            lg.create_checkpoint()
    assert (folder / note_file_name(38)).read_text() == "not ours"  # never overwritten


def test_an_automatic_checkpoint_that_cannot_be_made_never_fails_the_append(
    built: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MLLEDGER_KEY_FILE", str(tmp_path / "nowhere.key"))
    with _open(built) as lg:
        lg.set_checkpoint_schedule(2)
        with caplog.at_level(logging.WARNING, logger="mlledger"):
            for i in range(SIZE, SIZE + 4):
                lg.append("experiment.created", _experiment(i), actor="alice")
        assert lg.size() == SIZE + 4
        assert [c.size for c in lg.checkpoints()] == [5, SIZE]
    assert caplog.messages == [
        f"mlledger: automatic checkpoint skipped: no signing key at {tmp_path / 'nowhere.key'}: "
        "`mlledger init` creates one; or give its path with --key-file or MLLEDGER_KEY_FILE"
    ]


def test_schedule_rules(built: str, tmp_path: Path) -> None:
    with _open(built) as lg:
        with pytest.raises(ValidationError, match="does not exist"):
            lg.set_checkpoint_schedule(10, tmp_path / "missing")
        with pytest.raises(ValidationError, match="expected a whole number of events >= 0"):
            lg.set_checkpoint_schedule(-1)
        assert lg.checkpoint_schedule() == (0, None)


def test_the_key_never_signs_a_history_that_contradicts_its_own_checkpoint(
    built: str, attacker: RawDb, key_file: Path
) -> None:
    _rewrite_from(attacker, TARGET, {"experiment_id": f"e{TARGET}", "name": "a quieter history"})
    _rebuild_tree(attacker)
    with _open(built) as lg:
        lg.append("experiment.created", _experiment(77), actor="alice")
        before = lg.checkpoints()
        with pytest.raises(
            IntegrityError, match="refusing to sign the tree of 21 events: it does not extend the checkpoint of 20"
        ):
            lg.create_checkpoint(key=lg.signing_key(key_file))
        assert lg.checkpoints() == before


def test_the_bracket_starts_at_the_largest_smaller_matching_checkpoint(
    built: str, attacker: RawDb, tmp_path: Path
) -> None:
    notes = _notes(built, tmp_path / "notes")
    with _open(built) as lg:  # a third note, of 10 events, kept before the attack
        key = lg.signing_key(tmp_path / "keys" / "ledger.key")
        ten = sign(Checkpoint(origin_for(lg.ledger_id), 10, lg.merkle_root(10)), key.name, key.private_key)
    (notes / "ten.note").write_text(ten, encoding="utf-8")
    (notes / "binary.note").write_bytes(b"\x00\xff\xfe not a note")
    _rewrite_from(attacker, TARGET, {"experiment_id": f"e{TARGET}", "name": "a quieter history"})
    _rebuild_tree(attacker)
    _, findings = _check(built, notes)
    by_kind = {(f.kind, f.size): f for f in findings}
    assert set(by_kind) == {("unreadable", None), ("consistent", 5), ("consistent", 10), ("inconsistent", SIZE)}
    assert by_kind["inconsistent", SIZE].detail.endswith("the first differing seq is in 10..19")


def test_init_adopts_or_refuses_an_existing_key_file(tmp_path: Path) -> None:
    first = f"sqlite:///{tmp_path / 'a' / 'ledger.db'}"
    second = f"sqlite:///{tmp_path / 'b' / 'ledger.db'}"
    shared = tmp_path / "shared.key"
    made = _cli(first, "init", "--key-file", str(shared))
    assert "(created now, mode 0600)" in made.output
    # Another ledger's key file is adopted, with a warning on stderr.
    warned = CliRunner().invoke(main, ["--uri", second, "init", "--key-file", str(shared)])
    assert warned.exit_code == 0, warned.output
    assert "(an existing key file, adopted now)" in warned.stdout
    assert warned.stderr.startswith("warning: the key is named mlledger/") and "another ledger's" in warned.stderr
    third = f"sqlite:///{tmp_path / 'c' / 'ledger.db'}"
    # A key the operator made under their own name is adopted, and said so.
    own = tmp_path / "bank.key"
    own.write_text(signer_key("bank-ledger", Ed25519PrivateKey.generate()) + "\n")
    own.chmod(0o600)
    adopted = _cli(third, "init", "--key-file", str(own))
    assert adopted.exit_code == 0, adopted.output
    assert f"signing key: {own} (an existing key file, adopted now)" in adopted.output
    assert "verifier key: bank-ledger+" in adopted.output
    moved = _cli(third, "init", "--key-file", str(tmp_path / "nowhere.key"))
    assert moved.exit_code == 2
    assert "this ledger's signing key (bank-ledger+" in moved.output and "is not at" in moved.output
