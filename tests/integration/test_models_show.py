"""``mlledger models show``: the text view of a version's provenance report
(every section of ``mlledger report --format text``) and, with ``--json``,
the report's JSON, exactly ``gather(...).report.to_json()``.

It is read-only and needs no signing key: it never signs a checkpoint or
writes anything. The report is tied to the latest stored checkpoint covering
the version's events (with ``--as-of``: the smallest covering that moment),
else to the ledger's head, unsigned, which the cover says, with how to sign
one. Each ``models show`` here checks that the ledger is as it was (events,
head, checkpoints, ledger facts). Real SQLite files, and PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import ledger
from cli.main import main
from ledger.checkpoint import parse_verifier_key
from ledger.checkpoints import StoredCheckpoint
from ledger.errors import NotFoundError, ValidationError
from reports.pdf import render_pdf
from reports.provenance import gather
from reports.text import SECTIONS
from tests.integration.support import stored

MODEL = "fraud"


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLLEDGER_URI", raising=False)
    monkeypatch.setenv("MLLEDGER_CAPTURE_ENV", "0")
    monkeypatch.setenv("MLLEDGER_ACTOR", "alice")
    monkeypatch.setenv("MLLEDGER_ARTIFACT_ROOT", str(tmp_path / "artifacts"))


def build(uri: str, tmp_path: Path) -> str:
    """A ledger made through the Python API, with no signing key and no
    checkpoint: model 'fraud' version 1 from bob's run, moved to Staging.
    Returns the run id."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.pkl").write_bytes(b"\x80\x04gbm")
    with ledger.open(uri) as lg:
        with lg.start_run("fraud-detection", run_name="gbm", actor="bob") as run:
            run.log_params({"trees": 200})
            run.log_metric("auc", 0.91)
            run.log_input("txns", "2026-05", "sha256:" + "cd" * 32, context="training", num_rows=5000)
            run.log_artifact(str(model), "model")
        lg.register_model(MODEL, run.run_id, owner="alice", actor="alice")
        lg.transition_stage(MODEL, 1, "Staging", "shadow traffic", actor="alice")
    return run.run_id


def state(uri: str) -> tuple[object, ...]:
    """What ``models show`` must leave as it was: the events, the head, the
    stored checkpoints and the ledger's facts (its verifier key among them)."""
    with ledger.open(uri, create=False) as lg:
        return lg.size(), lg.head(), lg.checkpoints(), stored(uri, "SELECT * FROM ledger_meta ORDER BY 1")


def run_show(uri: str, *args: str) -> tuple[int, str, str]:
    """``mlledger --uri URI models show ARGS``: (exit code, stdout, stderr), the ledger checked unchanged."""
    before = state(uri)
    result = CliRunner().invoke(main, ["--uri", uri, "models", "show", *args], prog_name="mlledger")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert state(uri) == before, "models show must not write"
    return result.exit_code, result.stdout, result.stderr


def show(uri: str, *args: str) -> str:
    code, out, err = run_show(uri, *args)
    assert (code, err) == (0, ""), err
    return out


def refused(uri: str, *args: str) -> str:
    """A ``models show`` that fails: exit 2, one error line, nothing on stdout. Returns the message."""
    code, out, err = run_show(uri, *args)
    assert (code, out) == (2, ""), out
    assert err.startswith("mlledger: error: ") and len(err.splitlines()) == 1, err
    return err.removeprefix("mlledger: error: ").rstrip("\n")


def the_report(uri: str, version: int = 1, as_of: int | str | None = None) -> dict[str, object]:
    """What ``--json`` must print: the report as ``gather`` makes it, without signing or re-checking."""
    with ledger.open(uri, create=False) as lg:
        return gather(lg, MODEL, version, as_of=as_of, verify=False, sign=False).report.to_json()


def signed_lines(checkpoint: StoredCheckpoint, verifier: str) -> str:
    key = parse_verifier_key(verifier)
    return (
        f"  checkpoint:       {checkpoint.size} events, root {checkpoint.root.hex()}\n"
        f"                    signed by {key.name} (key id {key.key_id.hex()}) at {checkpoint.time}\n"
    )


def unsigned_lines(size: int, root: bytes) -> str:
    return (
        "  checkpoint:       not tied to a signed checkpoint yet: no stored checkpoint covers the cited events\n"
        f"                    read at the ledger's head, unsigned: {size} events, root {root.hex()}\n"
        "                    `mlledger checkpoint create` signs one (with the ledger's signing key)\n"
    )


def test_without_a_key_or_checkpoint_the_report_is_unsigned_and_nothing_is_written(uri: str, tmp_path: Path) -> None:
    run_id = build(uri, tmp_path)
    assert not (tmp_path / "keys" / "ledger.key").exists()
    with ledger.open(uri, create=False) as lg:
        assert lg.checkpoints() == []
        with pytest.raises(NotFoundError, match="no signing key yet"):
            lg.verifier_key()
        head = lg.head()
        size, root = lg.size(), lg.merkle_root()
    assert head is not None

    text = show(uri, MODEL, "1")
    assert text.startswith(f"Provenance report: {MODEL} version 1\n")
    for number, title in enumerate(SECTIONS, 1):
        assert f"\n{number}. {title}\n" in text, title
    for expected in (
        "  stage:            Staging\n",
        f"  as of:            event {head.seq} ({head.time})\n",
        unsigned_lines(size, root),
        "  verification:     not re-checked: there is no signed checkpoint to check the ",
        f"cited events against; `mlledger report {MODEL} 1` writes a verified PDF\n",
        f"  source run:         {run_id}\n",
        f"  run:         {run_id} (gbm)\n",
        "  author:      bob\n",
        "    trees = 200\n",
        "    auc: final 0.91 at step 0; 1 point, min 0.91, max 0.91\n",
        "    txns@2026-05 (training, 5,000 rows) sha256:" + "cd" * 32 + "\n",
        "  model/model.pkl  5 bytes  sha256 ",
        "alice: version 1: None → Staging — shadow traffic\n",
        "  $ mlledger checkpoint create\n",
        f"  $ mlledger report {MODEL} 1\n",
        "  verifier key: none (nothing is signed yet)\n  checkpoint note: none (nothing is signed yet)\n",
    ):
        assert expected in text, f"{expected!r} missing from:\n{text}"
    for empty in ("8. Promotion evidence", "9. Approvals and accountability", "12. Redactions affecting this version"):
        assert f"{empty}\n{'-' * len(empty)}\n  none recorded\n" in text, empty

    document = json.loads(show(uri, MODEL, "1", "--json"))
    assert document == the_report(uri)
    cover = document["cover"]
    assert cover["checkpoint"] == {
        "origin": cover["checkpoint"]["origin"],
        "size": size,
        "root": root.hex(),
        "key_name": "",
        "key_id": "",
        "time": "",
        "note": "",
        "signed": False,
    }
    assert cover["verifier_key"] == "" and cover["verification"]["checked"] is False

    # A document handed out is signed: without a key, `mlledger report` is refused (and writes nothing either),
    # and an unsigned report does not render as a PDF.
    before = state(uri)
    with ledger.open(uri, create=False) as lg:
        with pytest.raises(NotFoundError, match="none can be made now"):
            gather(lg, MODEL, 1)
        unsigned = gather(lg, MODEL, 1, verify=False, sign=False)
        assert unsigned.evidence_zip == b"" and unsigned.report.cover.evidence_digest == ""
        with pytest.raises(ValidationError, match=r"^this report is not tied to a signed checkpoint"):
            render_pdf(unsigned.report, unsigned.evidence_zip)
        with pytest.raises(ValidationError, match=r"^an evidence bundle needs a signed checkpoint"):
            unsigned.evidence.files()
    assert state(uri) == before


def test_it_names_the_stored_checkpoint_that_covers_the_version(uri: str, tmp_path: Path) -> None:
    build(uri, tmp_path)
    with ledger.open(uri, create=False) as lg:
        lg.setup_signing_key()
        checkpoint = lg.create_checkpoint()
        verifier = lg.verifier_key()
    text = show(uri, MODEL, "1")
    assert signed_lines(checkpoint, verifier) in text
    assert f"  as of:            event {checkpoint.size - 1} (" in text
    assert "  verification:     not re-checked (" in text
    assert f"`mlledger report {MODEL} 1` writes a verified PDF\n" in text
    assert "$ mlledger report verify REPORT.pdf --key VERIFIER_KEY" in text
    assert f"  verifier key: {verifier}\n  checkpoint note:\n" in text
    assert "".join(f"    {line}\n" for line in checkpoint.note.splitlines()) in text
    document = json.loads(show(uri, MODEL, "1", "--json"))
    assert document == the_report(uri)
    assert document["cover"]["checkpoint"]["note"] == checkpoint.note
    assert document["cover"]["checkpoint"]["signed"] is True and document["cover"]["verifier_key"] == verifier

    # Events about something else: the stored checkpoint still covers every cited event.
    with ledger.open(uri, create=False) as lg, lg.start_run("other", actor="bob") as other:
        other.log_metric("loss", 1.0)
    assert signed_lines(checkpoint, verifier) in show(uri, MODEL, "1")
    # An event about the version after it: no stored checkpoint covers the events, and show signs none.
    with ledger.open(uri, create=False) as lg:
        lg.set_alias(MODEL, "challenger", 1, actor="alice")
        size, root = lg.size(), lg.merkle_root()
    text = show(uri, MODEL, "1")
    assert unsigned_lines(size, root) in text and "  aliases:          challenger\n" in text
    assert json.loads(show(uri, MODEL, "1", "--json")) == the_report(uri)


def test_without_the_signing_key_file_it_still_works(sqlite_uri: str, tmp_path: Path) -> None:
    """Whoever reads the ledger may not hold its key: the key file is gone here."""
    uri = sqlite_uri
    build(uri, tmp_path)
    with ledger.open(uri, create=False) as lg:
        key, _ = lg.setup_signing_key()
        checkpoint = lg.create_checkpoint()
        verifier = lg.verifier_key()
    key.path.unlink()
    assert signed_lines(checkpoint, verifier) in show(uri, MODEL, "1")
    with ledger.open(uri, create=False) as lg:
        lg.set_alias(MODEL, "challenger", 1, actor="alice")
        size, root = lg.size(), lg.merkle_root()
    text = show(uri, MODEL, "1")
    assert unsigned_lines(size, root) in text
    assert "  verifier key: none (nothing is signed yet)\n" in text


def test_as_of_uses_the_stored_checkpoint_covering_that_moment(uri: str, tmp_path: Path) -> None:
    build(uri, tmp_path)
    with ledger.open(uri, create=False) as lg:
        lg.setup_signing_key()
        checkpoint = lg.create_checkpoint()
        verifier = lg.verifier_key()
        moment = lg.event(checkpoint.size - 1)
        lg.set_alias(MODEL, "challenger", 1, actor="alice")
        lg.transition_stage(MODEL, 1, "Archived", "replaced", actor="alice")
        size, root = lg.size(), lg.merkle_root()

    then = show(uri, MODEL, "1", "--as-of", str(moment.seq))
    assert f"  as of:            event {moment.seq} ({moment.time})\n" in then
    assert "  stage:            Staging\n" in then and "  aliases:          none recorded\n" in then
    assert signed_lines(checkpoint, verifier) in then
    assert show(uri, MODEL, "1", "--as-of", moment.time) == then  # an RFC 3339 time
    assert json.loads(show(uri, MODEL, "1", "--as-of", str(moment.seq), "--json")) == the_report(uri, as_of=moment.seq)

    # After the checkpoint: no stored checkpoint covers the moment, so the unsigned head.
    later = show(uri, MODEL, "1", "--as-of", str(size - 2))
    assert f"  as of:            event {size - 2} (" in later
    assert "  aliases:          challenger\n" in later and "  stage:            Staging\n" in later
    assert unsigned_lines(size, root) in later
    now = show(uri, MODEL, "1")
    assert "  stage:            Archived\n" in now and unsigned_lines(size, root) in now


def test_errors_are_the_registrys_and_write_nothing(uri: str, tmp_path: Path) -> None:
    build(uri, tmp_path)
    assert refused(uri, MODEL, "2") == f"model {MODEL!r} has no version 2"
    assert refused(uri, "nope", "1") == "model 'nope' is not registered"
    assert refused(uri, MODEL, "1", "--as-of", "3") == f"model {MODEL!r} is not registered as of event 3"
    assert refused(uri, MODEL, "1", "--as-of", "2000-01-01T00:00:00Z") == (
        f"model {MODEL!r} is not registered as of event -1"
    )
    assert refused(uri, MODEL, "1", "--as-of", "yesterday") == "as_of 'yesterday' is neither a seq nor an RFC 3339 time"
    code, out, err = run_show(uri, MODEL, "0")
    assert (code, out) == (2, "") and "Invalid value for 'VERSION': 0 is not in the range x>=1" in err
