"""Two processes promoting different versions of one model at once never
leave two versions in Production: each move reads the holder and archives it
under the append lock, in the same event (real processes, both backends)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ledger

WORKER = Path(__file__).parent / "workers" / "promote_worker.py"
TIMEOUT = 120


def _model_with_versions(lg: ledger.Ledger, workdir: Path, count: int) -> None:
    lg.claim_admin(actor="carol")
    lg.grant_role("bob", "approver", actor="carol")
    lg.grant_role("erin", "approver", actor="carol")
    for index in range(count):
        folder = workdir / f"model{index}"
        folder.mkdir(parents=True)
        (folder / "weights.txt").write_text(str(index))
        with lg.start_run(actor="dave", capture_environment=False) as run:
            run.log_artifact(str(folder), "model")
        lg.register_model("m", run.run_id, actor="dave")


def _race(uri: str, workdir: Path, lists: list[str], *, rounds: int, governed: bool) -> list[dict[str, int]]:
    go = workdir / "go"
    procs = []
    for index, versions in enumerate(lists):
        ready = workdir / f"ready{index}"
        command = [sys.executable, str(WORKER), uri, "m", versions, "--rounds", str(rounds)]
        command += ["--ready", str(ready), "--go", str(go), "--timeout", str(TIMEOUT)]
        if governed:
            command += ["--governed", "--approver", ["bob", "erin"][index]]
        procs.append((ready, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    try:
        deadline = time.monotonic() + TIMEOUT
        while not all(ready.exists() for ready, _ in procs):
            assert all(p.poll() is None for _, p in procs), [p.communicate() for _, p in procs]
            assert time.monotonic() < deadline, "workers did not get ready"
            time.sleep(0.005)
        go.touch()
        results = []
        for _, proc in procs:
            out, err = proc.communicate(timeout=TIMEOUT)
            assert proc.returncode == 0, err
            results.append(json.loads(out))
        return results
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


def _check_one_holder(lg: ledger.Ledger, moves: int) -> None:
    """At every seq at most one version is in Production, and each move into
    Production archived exactly the version that held it."""
    holder = None
    changes = [e for e in lg.events() if e.type == "model.stage_changed" and e.payload["to_stage"] == "Production"]
    assert len(changes) == moves
    for event in changes:
        assert event.payload["archived_versions"] == ([] if holder is None else [holder]), event
        holder = event.payload["version"]
    assert lg.registry.versions_in_stage("m", "Production") == [holder]
    head = lg.head()
    assert head is not None
    for seq in range(changes[0].seq, head.seq + 1, 7):
        assert len(lg.registry_as_of(seq).versions_in_stage("m", "Production")) <= 1
    assert lg.verify().ok


@pytest.mark.parametrize("governed", [False, True], ids=["direct", "request-and-approve"])
def test_two_processes_promoting_at_once_leave_one_production_version(uri: str, tmp_path: Path, governed: bool) -> None:
    with ledger.open(uri, artifact_root=tmp_path / "artifacts") as lg:
        _model_with_versions(lg, tmp_path, 4)
        if not governed:
            lg.set_policy("m", approval_stages=[], actor="carol")
    results = _race(uri, tmp_path, ["1,3", "2,4"], rounds=6 if governed else 15, governed=governed)
    moved = sum(r["moved"] for r in results)
    assert moved >= 2  # both processes got moves in
    with ledger.open(uri, artifact_root=tmp_path / "artifacts") as lg:
        _check_one_holder(lg, moved)
