"""The ``mlledger`` command, run as the installed console script in a
subprocess, on both backends: what it prints, its exit codes (0 ok,
1 integrity failure, 2 usage or connection error), and that refused input
leaves the ledger unchanged and never shows a traceback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy

import ledger

MLLEDGER = shutil.which("mlledger", path=str(Path(sys.executable).parent)) or shutil.which("mlledger")
APPENDED = re.compile(r"^(\d+) ([0-9a-f]{64})$")
EXPERIMENT = '{"experiment_id": "e1", "name": "e1"}'
START = '{"run_id": "r1", "experiment_id": "e1"}'
TAGS = '{"run_id": "r1", "tags": {"team": "risk"}}'  # for run r1: start it first (start_run)
SAFE = 2**53 - 1


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without MLLEDGER_URI, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "MLLEDGER_URI"}
    env["MLLEDGER_ACTOR"] = "cli-tester"
    env.update(extra)
    return env


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    assert MLLEDGER, "the mlledger console script is not installed"
    result = subprocess.run(
        [MLLEDGER, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        input=stdin,
        env=env or clean_env(),
        cwd=cwd,
        timeout=120,
        check=False,
    )
    shown = result.stdout + result.stderr
    assert "Traceback" not in shown, f"a traceback was printed:\n{result.stderr[-1500:]}"
    return result


def start_run(uri: str) -> str:
    """Events 0 and 1, through the API: experiment e1 and run r1 in it, so that
    r1 can be logged into. Returns the head hash."""
    with ledger.open(uri) as lg:
        lg.append("experiment.created", json.loads(EXPERIMENT), actor="setup")
        return lg.append("run.started", json.loads(START), actor="setup").hash


def verify_json(uri: str) -> dict[str, object]:
    result = run("--uri", uri, "verify", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert isinstance(report, dict)
    return report


def test_init_append_verify_export(uri: str, tmp_path: Path) -> None:
    first = run("--uri", uri, "init")
    assert first.returncode == 0, first.stderr
    # The actor who runs init becomes the ledger's first admin: event 0.
    # It also creates the ledger's signing key, which signs checkpoints.
    assert re.search(
        r"^ledger [0-9a-f-]{36} ready at .* \(1 events\)\nadmin: cli-tester \(granted now: the ledger had no admin\)\n"
        r"signing key: .*ledger\.key \(created now, mode 0600\)\nverifier key: mlledger/[0-9a-f-]{36}\+[0-9a-f]{8}\+\S{44}$",
        first.stdout.strip(),
    )
    again = run("--uri", uri, "init")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == first.stdout.splitlines()[0], "init twice: same ledger id, nothing lost"
    assert again.stdout.splitlines()[1] == "admin: cli-tester"
    assert again.stdout.splitlines()[2:] == [
        line.replace(" (created now, mode 0600)", "") for line in first.stdout.splitlines()[2:]
    ]

    event_id = "0b1e5d7c-3a44-4f0e-9c1d-2f6a8b9c0d1e"
    hashes = []
    for number, args in enumerate(
        [
            ("experiment.created", EXPERIMENT),
            ("run.started", START),
            ("run.tags_set", TAGS),
            (
                "run.params_logged",
                '{"run_id": "r1", "params": {"alpha": "0.1", "\u00e9t\u00e9": "\U0001f31e"}}',
                "--actor",
                "alice",
            ),
            ("run.finished", '{"run_id": "r1", "status": "FINISHED"}', "--id", event_id),
        ]
    ):
        result = run("--uri", uri, "append", *args)
        assert result.returncode == 0, result.stderr
        match = APPENDED.match(result.stdout.strip())
        assert match, result.stdout
        assert int(match[1]) == number + 1
        hashes.append(match[2])

    # A retry with the same --id is idempotent; a different payload under it is a conflict.
    finished = '{"run_id": "r1", "status": "FINISHED"}'
    retry = run("--uri", uri, "append", "run.finished", finished, "--id", event_id)
    assert (retry.returncode, retry.stdout.strip()) == (0, f"5 {hashes[4]}")
    failed = '{"run_id": "r1", "status": "FAILED"}'
    conflict = run("--uri", uri, "append", "run.finished", failed, "--id", event_id)
    assert conflict.returncode == 2
    assert conflict.stderr.startswith("mlledger: error: ")
    assert f"event id {event_id} is already used by event 5" in conflict.stderr

    text = run("--uri", uri, "verify")
    assert text.returncode == 0, text.stdout + text.stderr
    assert text.stdout.strip() == f"ok: 6 events intact; head {hashes[4]}"

    report = verify_json(uri)
    assert {"ok", "events", "head", "faults"} <= set(report)
    assert report["ok"] is True
    assert report["events"] == 6
    assert report["head"] == hashes[4]
    assert report["faults"] == []

    stdout = run("--uri", uri, "export")
    assert stdout.returncode == 0, stdout.stderr
    lines = [json.loads(line) for line in stdout.stdout.splitlines()]
    assert lines[0]["type"] == "actor.role_granted"
    assert lines[0]["payload"] == {"actor": "cli-tester", "role": "admin"}
    lines = lines[1:]
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert [line["hash"] for line in lines] == hashes
    assert [line["actor"] for line in lines] == ["cli-tester", "cli-tester", "cli-tester", "alice", "cli-tester"]
    assert lines[3]["payload"]["params"]["\u00e9t\u00e9"] == "\U0001f31e"
    assert lines[4]["id"] == event_id
    assert set(lines[0]) == {
        "v",
        "seq",
        "id",
        "type",
        "schema",
        "time",
        "actor",
        "payload_digest",
        "prev",
        "hash",
        "payload",
    }

    output = tmp_path / "events.jsonl"
    to_file = run("--uri", uri, "export", "--format", "jsonl", "-o", str(output))
    assert to_file.returncode == 0, to_file.stderr
    assert to_file.stdout == ""
    assert f"exported 6 events to {output}" in to_file.stderr
    assert output.read_text(encoding="utf-8") == stdout.stdout


def test_uri_from_environment(uri: str, tmp_path: Path) -> None:
    env = clean_env(MLLEDGER_URI=uri)
    assert run("init", env=env).returncode == 0
    for number, (event_type, payload) in enumerate(
        [("experiment.created", EXPERIMENT), ("run.started", START), ("run.tags_set", TAGS)]
    ):
        appended = run("append", event_type, payload, env=env)
        assert appended.returncode == 0, appended.stderr
        assert appended.stdout.startswith(f"{number + 1} ")  # event 0: init's admin grant
    verified = run("verify", "--json", env=env)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["events"] == 4
    exported = run("export", env=env)
    assert len(exported.stdout.splitlines()) == 4
    # --uri wins over MLLEDGER_URI.
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert run("--uri", other, "init", env=env).returncode == 0
    assert json.loads(run("--uri", other, "verify", "--json", env=env).stdout)["events"] == 1
    assert json.loads(run("verify", "--json", env=env).stdout)["events"] == 4


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ((), "tamper-evident audit and lineage ledger"),
        (("init",), "Create the ledger"),
        (("append",), "EVENT_TYPE and a JSON PAYLOAD"),
        (("verify",), "--json"),
        (("export",), "--output"),
    ],
)
def test_help(command: tuple[str, ...], expected: str, tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'never.db'}"
    for flag in ("--help", "-h") if not command else ("--help",):
        result = run("--uri", missing, *command, flag)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("Usage: mlledger")
        assert expected in result.stdout
    assert not (tmp_path / "never.db").exists(), "--help must not create a ledger"


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert ledger.__version__ in result.stdout


@pytest.mark.parametrize("command", [("verify",), ("verify", "--json"), ("export",), ("append", "run.tags_set", TAGS)])
def test_missing_sqlite_ledger(command: tuple[str, ...], tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "ledger.db"
    result = run("--uri", f"sqlite:///{path}", *command)
    assert result.returncode == 2
    assert result.stderr.startswith("mlledger: error: ")
    assert "run `mlledger init`" in result.stderr
    assert str(path) in result.stderr
    assert result.stdout == ""
    assert not path.exists(), "a read must not create the ledger"


METRIC = '{"run_id": "r1", "metrics": [{"key": "loss", "value": %s, "step": %s, "timestamp": 1}]}'
BIG = json.dumps({"run_id": "r1", "tags": {"blob": "x" * (1024 * 1024)}})

# (case, event type, payload argument or a file's content as "@" + content, distinctive message)
REFUSED = [
    ("unknown-type", "run.nonsense", TAGS, "unknown event type 'run.nonsense'; known types: "),
    (
        "wrong-field-type",
        "run.tags_set",
        '{"run_id": "r1", "tags": {"team": 7}}',
        "tags.team: Input should be a valid string",
    ),
    ("missing-field", "run.tags_set", '{"run_id": "r1"}', "tags: Field required"),
    ("extra-field", "run.tags_set", '{"run_id": "r1", "tags": {}, "x": 1}', "x: Extra inputs are not permitted"),
    ("not-an-object", "run.tags_set", "[1, 2]", "payload must be a JSON object, got list"),
    ("nan", "run.metrics_logged", METRIC % ("NaN", 0), "NaN is not a JSON number; write non-finite"),
    ("infinity", "run.metrics_logged", METRIC % ("-Infinity", 0), "-Infinity is not a JSON number"),
    (
        "integer-too-big",
        "run.metrics_logged",
        METRIC % (1, SAFE + 1),
        f"integer {SAFE + 1} is outside the I-JSON range",
    ),
    (
        "integer-too-small",
        "run.metrics_logged",
        METRIC % (1, -SAFE - 1),
        f"integer {-SAFE - 1} is outside the I-JSON range",
    ),
    (
        "duplicate-key",
        "run.tags_set",
        '{"run_id": "r1", "tags": {}, "run_id": "r2"}',
        "duplicate key 'run_id' in JSON object",
    ),
    ("over-1MiB", "run.tags_set", "@" + BIG, "payload is 1048610 bytes, the limit is 1048576"),
    ("invalid-json", "run.tags_set", '{"run_id": "r1", "tags": ', "invalid JSON: Expecting value"),
    ("empty-payload", "run.tags_set", "", "invalid JSON"),
    ("bad-event-id", "run.tags_set", TAGS, "is not a lowercase hyphenated UUID"),
]


def _argument(payload: str, tmp_path: Path, name: str) -> str:
    if not payload.startswith("@"):
        return payload
    path = tmp_path / f"{name}.json"
    path.write_text(payload[1:], encoding="utf-8")
    return f"@{path}"


def test_refused_append_changes_nothing(uri: str, tmp_path: Path) -> None:
    """Every refused append: exit 2, one clear error line, no traceback, nothing written.

    The cases run in one test per backend (each CLI start costs most of a
    second); a failure lists every case that misbehaved.
    """
    head = start_run(uri)  # r1 is running: each case is refused for its own reason, not for the run
    failures = []
    for name, event_type, payload, message in REFUSED:
        extra = ("--id", "NOT-A-UUID") if name == "bad-event-id" else ()
        result = run("--uri", uri, "append", event_type, _argument(payload, tmp_path, name), *extra)
        if (
            result.returncode != 2
            or not result.stderr.startswith("mlledger: error: ")
            or message not in result.stderr
            or len(result.stderr.splitlines()) != 1
            or result.stdout
        ):
            failures.append(
                f"{name}: exit {result.returncode}, stdout {result.stdout!r}, stderr {result.stderr[:500]!r}"
            )
    assert not failures, "\n".join(failures)
    report = verify_json(uri)
    assert (report["events"], report["head"], report["ok"]) == (2, head, True)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param(
            '{"run_id": "r1", "tags": ' + "[" * 100_000 + "]" * 100_000 + "}",
            "invalid JSON: nested too deeply",
            id="nested-deep",
        ),
        pytest.param(
            '{"run_id": "r1", "tags": {}, "n": ' + "1" * 5000 + "}",
            "integer 11111111111111111111…(5000 digits) is outside the I-JSON range",
            id="integer-5000-digits",
        ),
    ],
)
def test_pathological_json_is_refused_cleanly(uri: str, tmp_path: Path, payload: str, message: str) -> None:
    """JSON the parser cannot take must be a usage error, not a crash."""
    with ledger.open(uri):
        pass
    result = run("--uri", uri, "append", "run.tags_set", _argument("@" + payload, tmp_path, "payload"))
    assert result.returncode == 2, f"exit {result.returncode}: ...{result.stderr[-300:]}"
    assert result.stderr.startswith(f"mlledger: error: {message}"), result.stderr[-300:]
    assert verify_json(uri)["events"] == 0


def test_oversized_payload_on_stdin(uri: str) -> None:
    start_run(uri)
    payload = json.dumps({"run_id": "r1", "tags": {"blob": "\U0001f600" * 300_000}})
    result = run("--uri", uri, "append", "run.tags_set", "-", stdin=payload)
    assert result.returncode == 2
    assert result.stderr.startswith("mlledger: error: ")
    assert "payload is 1200034 bytes, the limit is 1048576" in result.stderr
    assert verify_json(uri)["events"] == 2
    # The limit is inclusive: 1 MiB of canonical JSON exactly is accepted, one byte more is not.
    envelope = len('{"run_id":"r1","tags":{"blob":""}}')
    for size, code in ((1024 * 1024 + 1, 2), (1024 * 1024, 0)):
        payload = json.dumps({"run_id": "r1", "tags": {"blob": "x" * (size - envelope)}})
        result = run("--uri", uri, "append", "run.tags_set", "-", stdin=payload)
        assert result.returncode == code, result.stderr
    assert verify_json(uri)["events"] == 3


def test_unreadable_payload_file(uri: str, tmp_path: Path) -> None:
    with ledger.open(uri):
        pass
    missing = tmp_path / "missing.json"
    result = run("--uri", uri, "append", "run.tags_set", f"@{missing}")
    assert result.returncode == 2
    assert f"mlledger: error: cannot read the payload file {missing}" in result.stderr
    assert verify_json(uri)["events"] == 0


@pytest.mark.parametrize(
    ("bad_uri", "message"),
    [
        ("mysql://x", "unsupported database 'mysql' in mysql://x: use sqlite:///PATH or postgresql+psycopg://"),
        ("not a uri", "not a database URI: 'not a uri' (expected sqlite:///PATH"),
        ("sqlite://", "an in-memory SQLite ledger would vanish with the process"),
        (
            "postgresql+psycopg://nobody:secret@127.0.0.1:1/db",
            "cannot open the ledger at postgresql+psycopg://nobody:***@",
        ),
    ],
)
def test_bad_uri(bad_uri: str, message: str, tmp_path: Path) -> None:
    for args, env in (
        (("--uri", bad_uri, "init"), clean_env()),
        (("--uri", bad_uri, "append", "run.tags_set", TAGS), clean_env()),
        (("verify",), clean_env(MLLEDGER_URI=bad_uri)),
        (("export",), clean_env(MLLEDGER_URI=bad_uri)),
    ):
        result = run(*args, env=env, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("mlledger: error: ")
        assert message in result.stderr
        assert "secret" not in result.stderr, "a password must not be printed"
    assert list(tmp_path.iterdir()) == [], "nothing is created for a bad URI"


def test_embedded_default_in_working_directory(tmp_path: Path) -> None:
    env = clean_env()
    assert "MLLEDGER_URI" not in env
    init = run("init", env=env, cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert "ready at sqlite:///mlledger/ledger.db (1 events)" in init.stdout
    assert (tmp_path / "mlledger" / "ledger.db").is_file()
    for event_type, payload in (("experiment.created", EXPERIMENT), ("run.started", START), ("run.tags_set", TAGS)):
        appended = run("append", event_type, payload, env=env, cwd=tmp_path)
        assert appended.returncode == 0, appended.stderr
    verified = run("verify", env=env, cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("ok: 4 events intact; head ")
    with ledger.open(f"sqlite:///{tmp_path / 'mlledger' / 'ledger.db'}", create=False) as lg:
        assert lg.size() == 4
    # Another directory has its own (missing) ledger.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    missing = run("verify", env=env, cwd=elsewhere)
    assert missing.returncode == 2
    assert "run `mlledger init`" in missing.stderr


def test_export_to_unwritable_path(uri: str, tmp_path: Path) -> None:
    start_run(uri)
    with ledger.open(uri) as lg:
        lg.append("run.tags_set", {"run_id": "r1", "tags": {}}, actor="a")
    target = tmp_path / "no-such-dir" / "events.jsonl"
    result = run("--uri", uri, "export", "-o", str(target))
    # Exit 1 means "integrity failure"; an unwritable output file is a usage error.
    assert result.returncode == 2, f"exit {result.returncode}: {result.stderr}"
    assert str(target) in result.stderr
    assert result.stderr.startswith("mlledger: error: "), result.stderr


TAMPERED = 3  # a tags_set event in the middle of the chain


def _tamper(uri: str) -> None:
    """Change event TAMPERED's actor behind the triggers' back, as the owner could."""
    engine = sqlalchemy.create_engine(uri)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.execute(sqlalchemy.text("DROP TRIGGER events_no_update"))
            else:
                conn.execute(sqlalchemy.text("ALTER TABLE events DISABLE TRIGGER events_no_update_delete"))
            conn.execute(sqlalchemy.text(f"UPDATE events SET actor = 'mallory' WHERE seq = {TAMPERED}"))
    finally:
        engine.dispose()


def test_verify_reports_tampering(uri: str) -> None:
    start_run(uri)  # 0, 1
    with ledger.open(uri) as lg:
        for value in ("v1", "v2", "v3"):  # 2, 3, 4
            lg.append("run.tags_set", {"run_id": "r1", "tags": {"k": value}}, actor="alice")
    _tamper(uri)
    text = run("--uri", uri, "verify")
    assert text.returncode == 1
    assert text.stdout.startswith(f"FAILED: 1 faults in 5 events; first at event {TAMPERED}")
    assert f"event {TAMPERED}: header altered: hash mismatch" in text.stdout
    as_json = run("--uri", uri, "verify", "--json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False
    assert report["events"] == 5
    assert [(f["seq"], f["kind"]) for f in report["faults"]] == [(TAMPERED, "header_altered")]
