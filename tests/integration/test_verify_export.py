"""The independent verifier (examples/verify_export.py) against real exports.

A ledger with awkward data (text outside the Basic Multilingual Plane, keys
whose UTF-16 order differs from their code point order, control and line
separator characters, NUL, floats whose shortest form is exponential, -0.0,
non-finite metric strings, integers at ±(2**53-1)) is exported through the
API and through the CLI on both backends; the script, which shares no code
with mlledger, must accept the exports, and must name the seq and kind of
every tampering done to them afterwards.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import rfc8785

import ledger
from ledger import PendingEvent
from ledger.events import prepare

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "verify_export.py"
VECTORS = ROOT.parent / "shared" / "vectors" / "ledger-format-v1.json"  # DESIGN §2: ../shared/vectors/
MLLEDGER = shutil.which("mlledger", path=str(Path(sys.executable).parent)) or shutil.which("mlledger")
SAFE = 2**53 - 1
PROBLEM = re.compile(r"^event (\d+): (\w+): ")

# Tag keys and values that stress RFC 8785: U+FF61 sorts after U+1F600 by code
# point but before it in UTF-16 (0xD83D...), the order JCS uses. No NUL: tag
# text is stored in the read models, and PostgreSQL text cannot hold it (NUL is
# in CONTROL, a column type of a data version, which its read model keeps as
# JSON text: escaped).
UNICODE_TAGS = {
    "team": "risk",
    "emoji\U0001f602": "\U0001d11e clef \U0001f600",
    "\U0001f600": "grinning",
    "\uff61halfwidth": "\uff61",
    "\U00010000": "linear b",
    "\u05d3\u05bc": "dalet",
    "note": "\u00f6 \u20ac \u00e9",
    "a": 'line\nbreak "quoted" back\\slash\ttab',
    "ctl": "\x01\x1f\x7f",
    "separators": "para\u2028graph\u2029next\x85line",
}
CONTROL = "nul \x00 soh \x01 us \x1f del \x7f"
FLOATS = [0.1, 1e21, 1e-7, -0.0, 1e20, 2.0**53, 5e-324, 1.7976931348623157e308, 123456789.125, 1e-4, 0.5]


def build(lg: ledger.Ledger) -> int:
    """Append a varied ledger; returns the number of events."""
    experiment = {"experiment_id": "exp-\U0001f9ea", "name": "credit \u2603", "tags": UNICODE_TAGS}
    lg.append("experiment.created", experiment, actor="al\u00efce \U0001f469\u200d\U0001f52c")
    lg.append(
        "run.started",
        {
            "run_id": "run-1",
            "experiment_id": "exp-\U0001f9ea",
            "run_name": "ridge \U0001f4c8",
            "tags": {"\U0001f511": "\U0001f5dd"},
            "environment": {
                "python": "3.11.7",
                "platform": "linux",
                "packages": {"numpy": "2.0.0"},
                "git_commit": "a" * 40,
                "git_dirty": False,
                "host": "h\u00f4te",
            },
        },
        actor="alice",
    )
    params = {"alpha\U0001f3af": "0.1", "\u00df": "\U0001f600"}
    lg.append("run.params_logged", {"run_id": "run-1", "params": params}, actor="alice")
    metrics = [
        {"key": "loss", "value": value, "step": step, "timestamp": 1764154203123 + step}
        for step, value in enumerate(FLOATS)
    ]
    metrics += [
        {"key": "rmse", "value": "NaN", "step": SAFE, "timestamp": SAFE},
        {"key": "rmse", "value": "Infinity", "step": -SAFE, "timestamp": 0},
        {"key": "rmse\U0001f4c9", "value": "-Infinity", "step": SAFE - 1, "timestamp": 1},
    ]
    lg.append_many(
        [
            PendingEvent("run.metrics_logged", {"run_id": "run-1", "metrics": metrics}, actor="alice"),
            PendingEvent("run.tags_set", {"run_id": "run-1", "tags": UNICODE_TAGS}, actor="bob"),
        ]
    )
    lg.append(
        "model.registered", {"name": "credit-model", "owner": "risk", "tags": {"\U0001f3e6": "bank"}}, actor="bob"
    )
    # Odd JSON in an evidence object, appended as an import would be: past
    # the registry rules (there is no version 1 to move), through the same bytes.
    odd = PendingEvent(
        "model.stage_changed",
        {
            "name": "credit-model",
            "version": 1,
            "from_stage": "Staging",
            "to_stage": "Production",
            "evidence": {
                "auc\U0001f4ca": 0.91,
                "big": SAFE,
                "small": -SAFE,
                "neg_zero": -0.0,
                "tiny": 1e-7,
                "huge": 1e21,
                "nested": {"\uff61": [1, 2.5, None, True, False, "\U0001f600"], "\U0001f600": {}},
                "empty": [],
                "text": "\u2028\u2029",
            },
        },
        actor="carol",
    )
    lg.store.append([prepare(odd)], lg._clock, enforce_rules=False)
    lg.append("run.finished", {"run_id": "run-1", "status": "FINISHED"}, actor="alice")
    dataset = {
        "name": "loans",
        "version": "v2",
        "digest": "sha256:" + "b" * 64,
        "columns": [{"name": "note", "type": CONTROL}],
    }
    lg.append("dataset.version_registered", dataset, actor="carol")
    return lg.size()


def run_script(path: Path | str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(path)],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def problems(result: subprocess.CompletedProcess[str]) -> set[tuple[int, str]]:
    found = set()
    for line in result.stdout.splitlines():
        match = PROBLEM.match(line)
        assert match, f"unexpected output line: {line!r}"
        found.add((int(match[1]), match[2]))
    return found


@pytest.fixture
def exported(uri: str, tmp_path: Path) -> tuple[Path, int, str]:
    """A varied ledger on the backend, exported by the API: (file, size, head hash)."""
    with ledger.open(uri) as lg:
        size = build(lg)
        path = tmp_path / "api.jsonl"
        with path.open("w", encoding="utf-8", newline="\n") as sink:
            assert lg.export_jsonl(sink) == size
        head = lg.head()
        assert head is not None
        return path, size, head.hash


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8", newline="\n")
    return path


def test_api_and_cli_exports_pass(uri: str, exported: tuple[Path, int, str], tmp_path: Path) -> None:
    api_file, size, head = exported
    assert size == 9
    result = run_script(api_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"OK: {size} events, head {head}"

    cli_file = tmp_path / "cli.jsonl"
    assert MLLEDGER, "the mlledger console script is not installed"
    cli = subprocess.run(
        [MLLEDGER, "--uri", uri, "export", "--format", "jsonl", "-o", str(cli_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    assert cli_file.read_bytes() == api_file.read_bytes()
    result = run_script(cli_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"OK: {size} events, head {head}"

    # The same from stdin, and the awkward values really are in the export.
    result = run_script("-", stdin=cli_file.read_text(encoding="utf-8"))
    assert (result.returncode, result.stdout.strip()) == (0, f"OK: {size} events, head {head}")
    lines = [json.loads(line) for line in read_lines(api_file)]
    assert lines[0]["payload"]["tags"] == UNICODE_TAGS
    assert lines[0]["actor"] == "al\u00efce \U0001f469\u200d\U0001f52c"
    values = [m["value"] for m in lines[3]["payload"]["metrics"]]
    assert values[:4] == [0.1, 1e21, 1e-7, 0]
    assert values[-3:] == ["NaN", "Infinity", "-Infinity"]
    assert "\u2028" in read_lines(api_file)[0], "U+2028 is written raw, so a verifier must split on \\n only"
    assert lines[8]["payload"]["columns"] == [{"name": "note", "type": CONTROL}]
    assert "nul \\u0000 soh \\u0001 us \\u001f del \x7f" in read_lines(api_file)[8], "JCS escapes below U+0020 only"


def test_redacted_payload_passes(uri: str, tmp_path: Path) -> None:
    """A null payload named by a later ledger.redacted event is not a fault."""
    with ledger.open(uri) as lg:
        build(lg)
        lg.claim_admin(actor="dpo")
        lg.redact(2, reason="erasure request", legal_basis="GDPR Art. 17", actor="dpo")
        assert lg.verify().ok
        path = tmp_path / "redacted.jsonl"
        with path.open("w", encoding="utf-8", newline="\n") as sink:
            lg.export_jsonl(sink)
    assert json.loads(read_lines(path)[2])["payload"] is None
    result = run_script(path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("OK: 11 events, head ")


def _change_payload(lines: list[str]) -> list[str]:
    event = json.loads(lines[3])
    event["payload"]["metrics"][0]["value"] = 0.2
    lines[3] = json.dumps(event, ensure_ascii=False)
    return lines


def _change_actor(lines: list[str]) -> list[str]:
    lines[5] = lines[5].replace('"actor":"bob"', '"actor":"mallory"')
    return lines


def _delete_line(lines: list[str]) -> list[str]:
    del lines[4]
    return lines


def _swap_lines(lines: list[str]) -> list[str]:
    lines[2], lines[3] = lines[3], lines[2]
    return lines


def _null_payload(lines: list[str]) -> list[str]:
    event = json.loads(lines[1])
    event["payload"] = None
    lines[1] = json.dumps(event, ensure_ascii=False)
    return lines


def _duplicate_line(lines: list[str]) -> list[str]:
    return [*lines[:3], lines[2], *lines[3:]]


def _rewrite_consistently(lines: list[str]) -> list[str]:
    """Change event 6 and recompute its digest and hash: the link to 7 breaks."""
    event = json.loads(lines[6])
    event["payload"]["to_stage"] = "Archived"
    event["payload_digest"] = rfc8785_sha256(event["payload"])
    event["hash"] = rfc8785_sha256({k: v for k, v in event.items() if k not in ("hash", "payload")})
    lines[6] = json.dumps(event, ensure_ascii=False)
    return lines


def _drop_first(lines: list[str]) -> list[str]:
    """Drop the first event: seq 0 is missing and event 1 no longer links to genesis."""
    return lines[1:]


def _drop_middle(lines: list[str]) -> list[str]:
    """Drop events 2..5: one gap naming the whole run."""
    return lines[:2] + lines[6:]


def _far_seq(lines: list[str]) -> list[str]:
    """A seq near 2**53 on the last line: reported as a gap, without counting to it."""
    lines[8] = lines[8].replace('"seq":8,', f'"seq":{SAFE},')
    return lines


def rfc8785_sha256(value: Any) -> str:
    return hashlib.sha256(rfc8785.dumps(value)).hexdigest()


@pytest.mark.parametrize(
    ("alter", "expected"),
    [
        pytest.param(_change_payload, {(3, "payload_altered")}, id="payload-value"),
        pytest.param(_change_actor, {(5, "header_altered")}, id="actor"),
        pytest.param(_delete_line, {(4, "gap"), (5, "broken_link")}, id="delete-line"),
        pytest.param(
            _swap_lines,
            {(3, "broken_link"), (2, "out_of_order"), (2, "broken_link"), (4, "broken_link")},
            id="swap-lines",
        ),
        pytest.param(_null_payload, {(1, "payload_missing")}, id="null-payload"),
        pytest.param(_duplicate_line, {(2, "duplicate"), (2, "broken_link")}, id="duplicate"),
        pytest.param(_rewrite_consistently, {(7, "broken_link")}, id="rewrite-recomputed"),
        pytest.param(_drop_first, {(0, "gap"), (1, "broken_link")}, id="drop-first"),
        pytest.param(_drop_middle, {(2, "gap"), (6, "broken_link")}, id="drop-middle"),
        pytest.param(_far_seq, {(8, "gap"), (SAFE, "header_altered")}, id="far-seq"),
    ],
)
def test_tampering_is_named(
    exported: tuple[Path, int, str], tmp_path: Path, alter: Any, expected: set[tuple[int, str]]
) -> None:
    api_file, _, _ = exported
    tampered = write_lines(tmp_path / "tampered.jsonl", alter(read_lines(api_file)))
    result = run_script(tampered)
    assert result.returncode == 1, result.stdout
    assert "OK" not in result.stdout
    assert problems(result) == expected, result.stdout


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        pytest.param('"v":1}', '"v":1,"v":1}', "duplicate key 'v'", id="duplicate-key"),
        pytest.param('"schema":1', '"schema":NaN', "NaN is not a JSON number", id="nan"),
        pytest.param('"schema":1', '"schema":-Infinity', "-Infinity is not a JSON number", id="infinity"),
        pytest.param('"v":1}', '"v":1,"extra":0}', "unexpected ['extra']", id="extra-field"),
        pytest.param('"actor":"alice",', "", "missing ['actor']", id="missing-field"),
        pytest.param('"seq":1,', '"seq":"1",', "wrong JSON type or value for seq", id="string-seq"),
        pytest.param('"seq":1,', '"seq":-1,', "wrong JSON type or value for seq", id="negative-seq"),
        pytest.param('"v":1}', '"v":1', "Expecting ',' delimiter", id="cut-short"),
        pytest.param(
            '"v":1}',
            '"v":1,"x":' + "[" * 100_000 + "]" * 100_000 + "}",
            "maximum recursion depth",
            id="nested-too-deep",
        ),
        pytest.param('"seq":1,', '"seq":' + "1" * 5000 + ",", "Exceeds the limit (4300 digits)", id="huge-integer"),
    ],
)
def test_malformed_line_is_reported(
    exported: tuple[Path, int, str], tmp_path: Path, old: str, new: str, reason: str
) -> None:
    lines = read_lines(exported[0])
    assert old in lines[1]
    lines[1] = lines[1].replace(old, new)
    result = run_script(write_lines(tmp_path / "bad.jsonl", lines))
    assert result.returncode == 1, result.stdout
    assert "line 2: malformed: " in result.stdout
    assert reason in result.stdout


def test_unreadable_input_exits_2(tmp_path: Path) -> None:
    result = run_script(tmp_path / "missing.jsonl")
    assert result.returncode == 2
    assert "cannot read" in result.stderr
    (tmp_path / "latin1.jsonl").write_bytes(b'{"actor":"\xe9"}\n')
    result = run_script(tmp_path / "latin1.jsonl")
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def test_golden_vectors_pass(tmp_path: Path) -> None:
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))["events"]
    lines = [
        json.dumps({**v["header"], "hash": v["hash"], "payload": v["payload"]}, ensure_ascii=False) for v in vectors
    ]
    path = write_lines(tmp_path / "golden.jsonl", lines)
    result = run_script(path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == f"OK: {len(vectors)} events, head {vectors[-1]['hash']}"
    # The same lines in ASCII-escaped JSON (a different text, the same values).
    ascii_path = write_lines(tmp_path / "golden-ascii.jsonl", [json.dumps(json.loads(x)) for x in lines])
    assert run_script(ascii_path).returncode == 0
    # And a vector with one payload byte changed fails at that seq.
    vectors[1]["payload"]["metrics"][0]["value"] = 0.25
    bad = [json.dumps({**v["header"], "hash": v["hash"], "payload": v["payload"]}) for v in vectors]
    result = run_script(write_lines(tmp_path / "golden-bad.jsonl", bad))
    assert result.returncode == 1
    assert problems(result) == {(1, "payload_altered")}


def test_empty_export_passes(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("", encoding="utf-8")
    result = run_script(path)
    assert (result.returncode, result.stdout.strip()) == (0, f"OK: 0 events, head {'0' * 64}")


def test_script_imports_nothing_from_mlledger() -> None:
    source = SCRIPT.read_text(encoding="utf-8")
    imports = set(re.findall(r"^(?:from|import) ([\w.]+)", source, flags=re.MULTILINE))
    allowed = {"__future__", "argparse", "hashlib", "json", "sys", "rfc8785", "collections.abc", "typing"}
    assert imports <= allowed
