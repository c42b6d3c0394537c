"""``mlledger report`` and ``mlledger report verify`` on the demo's ledger:
the PDF written and recorded (report.generated), checked offline and against
the ledger, and each refusal a one-line error that leaves the ledger and the
disk as they were."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import ledger
from cli.demo import run_demo
from cli.main import main


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLLEDGER_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    uri = f"sqlite:///{tmp_path / 'ledger.db'}"
    with ledger.open(uri) as lg:
        run_demo(lg, lambda line: None, tmp_path / "work")
    return uri


def _run(*args: str, uri: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*(["--uri", uri] if uri else []), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback, not an exit code, when the command itself broke
    return result.exit_code, result.stdout, result.stderr


def _size(uri: str) -> int:
    with ledger.open(uri, create=False) as lg:
        return lg.size()


def test_a_report_is_written_recorded_and_verified(demo: str, tmp_path: Path) -> None:
    before = _size(demo)
    code, _, err = _run("report", "credit-model", "2", "--actor", "olga", uri=demo)
    assert code == 0, err
    pdf = tmp_path / "credit-model-v2-report.pdf"
    digest = hashlib.sha256(pdf.read_bytes()).hexdigest()
    assert "wrote credit-model-v2-report.pdf: credit-model v2" in err and f"sha256:{digest}" in err
    with ledger.open(demo, create=False) as lg:
        assert lg.size() == before + 1
        event = lg.event(before)
        key = lg.verifier_key()
    assert (event.type, event.actor) == ("report.generated", "olga")
    assert event.payload is not None and event.payload["sha256"] == "sha256:" + digest
    assert (event.payload["name"], event.payload["version"], event.payload["format"]) == ("credit-model", 2, "pdf")

    code, out, err = _run("report", "verify", str(pdf), "--key", key)  # offline: no --uri given
    assert code == 0, err
    assert out.startswith(f"OK: {pdf}: credit-model v2,") and out.rstrip().endswith("offline")
    code, out, err = _run("report", "verify", str(pdf), "--json", uri=demo)  # the ledger's key and the ledger
    assert code == 0, err
    checked = json.loads(out)
    assert checked["against_ledger"] is True and checked["recorded_by_event"] == before


def test_an_altered_report_fails_verification(demo: str, tmp_path: Path) -> None:
    assert _run("report", "credit-model", "3", "-o", "v3.pdf", uri=demo)[0] == 0
    data = bytearray((tmp_path / "v3.pdf").read_bytes())
    marker = data.index(b"PK\x03\x04")  # the embedded evidence zip
    data[marker + 40] ^= 0x01
    (tmp_path / "forged.pdf").write_bytes(bytes(data))
    with ledger.open(demo, create=False) as lg:
        key = lg.verifier_key()
    code, out, err = _run("report", "verify", "forged.pdf", "--key", key)
    assert code == 1 and out == ""
    assert "mlledger: error: report: the embedded evidence hashes to sha256:" in err
    assert "the evidence was altered after the report was made" in err


def test_other_formats_go_to_stdout_and_are_recorded(demo: str) -> None:
    before = _size(demo)
    code, out, err = _run("report", "credit-model", "1", "--format", "json", "-o", "-", uri=demo)
    assert code == 0, err
    document = json.loads(out)
    assert document["cover"]["model"] == "credit-model" and document["cover"]["version"] == 1
    code, text, err = _run("report", "credit-model", "1", "--format", "text", "-o", "-", uri=demo)
    assert code == 0, err
    assert "credit-model" in text and "How to verify this report" in text
    with ledger.open(demo, create=False) as lg:
        formats = [lg.event(seq).payload["format"] for seq in (before, before + 1)]  # type: ignore[index]
    assert formats == ["json", "text"]


def test_refusals_change_nothing(demo: str, tmp_path: Path) -> None:
    before = _size(demo)
    (tmp_path / "taken.pdf").write_bytes(b"keep me")
    code, _, err = _run("report", "credit-model", "3", "-o", "taken.pdf", uri=demo)
    assert code == 2 and "mlledger: error: taken.pdf exists; a report is never written over a file" in err
    assert (tmp_path / "taken.pdf").read_bytes() == b"keep me"
    code, _, err = _run("report", "credit-model", "9", "-o", "nine.pdf", uri=demo)
    assert code == 2 and "mlledger: error:" in err and "9" in err
    assert not (tmp_path / "nine.pdf").exists()
    code, _, err = _run("report", "nope", "1", "-o", "nope.pdf", uri=demo)
    assert code == 2 and "mlledger: error:" in err and not (tmp_path / "nope.pdf").exists()
    code, _, err = _run("report", "credit-model", "0", uri=demo)
    assert code == 2 and "0 is not in the range x>=1" in err
    code, _, err = _run("report", "credit-model", "3", "-o", "both.pdf", "--no-verify", "--check-ledger", uri=demo)
    assert code == 2 and "--check-ledger adds to the cover's checks; it cannot go with --no-verify" in err
    assert not (tmp_path / "both.pdf").exists()
    assert _size(demo) == before  # nothing recorded for what was not made


def test_check_ledger_puts_the_whole_ledger_check_on_the_cover(demo: str) -> None:
    code, text, err = _run("report", "credit-model", "3", "--format", "text", "-o", "-", "--check-ledger", uri=demo)
    assert code == 0, err
    assert "intact: " in text and "events up to the checkpoint re-hashed, chain and Merkle root match" in text
    code, text, err = _run("report", "credit-model", "3", "--format", "text", "-o", "-", uri=demo)
    assert code == 0, err
    assert "cited events re-hashed and proven against the signed checkpoint" in text
    assert "chain and Merkle root match" not in text
