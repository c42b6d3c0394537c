"""Concurrent writers in separate OS processes (DESIGN §2: "Concurrent writers,
in one process or many, on SQLite or PostgreSQL, never produce a gap, a
duplicate seq or a fork").

Each writer is a real process running ``workers/append_worker.py``; all of them
open the ledger, report ready, and start appending the moment the test
creates a "go" file, so their appends really overlap. Each writer logs params
into its own run (run_id = its actor), which must be running: the test starts
the four runs first (``start_runs``), so a ledger of N appended events holds
SETUP + N.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

import ledger

APPEND_WORKER = Path(__file__).parent / "workers" / "append_worker.py"
WORKER_TIMEOUT = 60  # seconds; the worker kills itself (SIGALRM) and the test gives up after this
ACTORS = ("writer-a", "writer-b", "writer-c", "writer-d")
SETUP = 1 + len(ACTORS)  # experiment.created, then run.started for each writer's run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@dataclass(frozen=True)
class WorkerResult:
    actor: str
    batches: list[list[int]]  # the seqs the ledger returned, batch by batch
    started: float = 0.0  # time.time() when it saw the go signal
    finished: float = 0.0  # time.time() after its last append
    setup: list[int] = field(default_factory=list)  # --start-run: its experiment.created and run.started


def params(actor: str, i: int) -> dict[str, Any]:
    """The payload of a writer's event ``i`` (as workers/append_worker.py writes it)."""
    return {"run_id": actor, "params": {f"i{i}": str(i)}}


def start_runs(uri: str) -> None:
    """Create the ledger, and the experiment and running run each writer logs into: SETUP events."""
    with ledger.open(uri) as lg:
        lg.append("experiment.created", {"experiment_id": "e1", "name": "e1"}, actor="setup")
        for actor in ACTORS:
            lg.append("run.started", {"run_id": actor, "experiment_id": "e1"}, actor="setup")
        assert lg.size() == SETUP


def check_setup(events: list[ledger.RecordedEvent]) -> None:
    """The chain starts with the SETUP events of ``start_runs``."""
    assert [(e.type, e.actor) for e in events[:SETUP]] == [
        ("experiment.created", "setup"),
        *[("run.started", "setup")] * len(ACTORS),
    ]
    assert [e.payload["run_id"] for e in events[1:SETUP] if e.payload] == list(ACTORS)


def run_together(
    uri: str, workdir: Path, *, events: int, batch: int = 1, open_after_go: bool = False, start_run: bool = False
) -> list[WorkerResult]:
    """Run one append_worker per actor, released at the same moment; wait for all."""
    workdir.mkdir(parents=True, exist_ok=True)
    go = workdir / "go"
    ready = {actor: workdir / f"ready-{actor}" for actor in ACTORS}
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        for actor in ACTORS:
            command = [
                sys.executable,
                str(APPEND_WORKER),
                uri,
                actor,
                "--events",
                str(events),
                "--batch",
                str(batch),
                "--ready",
                str(ready[actor]),
                "--go",
                str(go),
                "--timeout",
                str(WORKER_TIMEOUT),
            ]
            if open_after_go:
                command.append("--open-after-go")
            if start_run:
                command.append("--start-run")
            procs[actor] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + WORKER_TIMEOUT
        while not all(path.exists() for path in ready.values()):
            for actor, proc in procs.items():
                if proc.poll() is not None:
                    _, err = proc.communicate()
                    pytest.fail(f"{actor} exited with {proc.returncode} before the start signal:\n{err}")
            if time.monotonic() > deadline:
                pytest.fail("the workers did not all get ready in time")
            time.sleep(0.005)
        go.touch()  # the barrier opens for everybody at once

        results = []
        for actor, proc in procs.items():
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            assert proc.returncode == 0, f"{actor} failed with exit code {proc.returncode}:\n{err}"
            report: dict[str, Any] = json.loads(out)
            assert report["actor"] == actor
            results.append(
                WorkerResult(actor, report["batches"], report["started"], report["finished"], report["setup"])
            )
        return results
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()


def check_one_chain(lg: ledger.Ledger, total: int) -> list[ledger.RecordedEvent]:
    """seq is exactly 0..total-1, every prev links to the event before, verify is clean."""
    events = list(lg.events())
    assert [e.seq for e in events] == list(range(total))  # no gap, no duplicate
    assert lg.size() == total
    assert events[0].prev == "0" * 64
    broken = [e.seq for before, e in itertools.pairwise(events) if e.prev != before.hash]
    assert broken == [], f"prev does not link to the event before at seqs {broken[:10]}"
    assert len({e.id for e in events}) == total
    report = lg.verify()
    assert report.ok, report.faults[:5]
    assert (report.events, report.head) == (total, events[-1].hash)
    times = [e.time for e in events]
    assert times == sorted(times), "time goes backwards along the chain"
    return events


def check_writers(events: list[ledger.RecordedEvent], results: list[WorkerResult], per_writer: int) -> None:
    """Each writer's events are all there, in the order it wrote them, at the seqs it was told."""
    logged = [e for e in events if e.type == "run.params_logged"]
    assert Counter(e.actor for e in logged) == dict.fromkeys(ACTORS, per_writer)
    for result in results:
        seqs = [seq for batch in result.batches for seq in batch]
        assert len(seqs) == per_writer
        assert seqs == sorted(seqs), f"{result.actor}: later appends got earlier seqs"
        mine = [e for e in logged if e.actor == result.actor]
        assert [e.seq for e in mine] == seqs, f"{result.actor}: the ledger disagrees with the seqs returned"
        assert [e.payload for e in mine] == [params(result.actor, i) for i in range(per_writer)]


def assert_overlapped(results: list[WorkerResult]) -> None:
    """The writers really ran at the same time: all had started before any finished.

    (How finely their appends interleave is up to the database's lock: SQLite's
    busy handler lets one writer keep the lock for long runs, PostgreSQL queues.)
    """
    assert max(r.started for r in results) < min(r.finished for r in results)


def test_four_processes_appending_one_by_one_form_one_chain(uri: str, tmp_path: Path) -> None:
    start_runs(uri)  # created up front: this test is about appends, not creation

    results = run_together(uri, tmp_path, events=500, batch=1)

    with ledger.open(uri) as lg:
        events = check_one_chain(lg, SETUP + 2000)
    check_setup(events)
    check_writers(events, results, 500)
    assert_overlapped(results)


def test_concurrent_batches_occupy_consecutive_seqs(uri: str, tmp_path: Path) -> None:
    start_runs(uri)

    results = run_together(uri, tmp_path, events=20 * 25, batch=25)

    with ledger.open(uri) as lg:
        events = check_one_chain(lg, SETUP + 2000)
    check_setup(events)
    check_writers(events, results, 500)
    starts = []
    for result in results:
        assert len(result.batches) == 20
        for seqs in result.batches:
            assert seqs == list(range(seqs[0], seqs[0] + 25)), f"{result.actor}: batch split: {seqs}"
            starts.append(seqs[0])
            assert {events[s].actor for s in seqs} == {result.actor}
    # 80 batches of 25 tile SETUP..SETUP+1999 exactly: nothing from another batch in between.
    assert sorted(starts) == list(range(SETUP, SETUP + 2000, 25))
    assert_overlapped(results)


def test_four_threads_sharing_one_ledger_form_one_chain(uri: str) -> None:
    """The same guarantee inside one process: threads sharing one ``Ledger``."""
    errors: list[BaseException] = []
    seqs: dict[str, list[int]] = {actor: [] for actor in ACTORS}
    start = threading.Barrier(len(ACTORS), timeout=WORKER_TIMEOUT)
    start_runs(uri)

    with ledger.open(uri) as lg:

        def write(actor: str) -> None:
            try:
                start.wait()
                for i in range(250):
                    seqs[actor].append(lg.append("run.params_logged", params(actor, i), actor=actor).seq)
            except BaseException as e:  # reported below, in the test's thread
                errors.append(e)

        threads = [threading.Thread(target=write, args=(actor,), daemon=True) for actor in ACTORS]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=WORKER_TIMEOUT)
        assert not any(thread.is_alive() for thread in threads), "a writer thread hangs"
        assert errors == []
        events = check_one_chain(lg, SETUP + 1000)
    check_setup(events)
    check_writers(events, [WorkerResult(actor, [[s] for s in seqs[actor]]) for actor in ACTORS], 250)


# -- several processes opening a ledger that does not exist yet ------------------


def reset_database(uri: str) -> None:
    """Make the ledger database brand new again (no ledger in it)."""
    url = make_url(uri)
    if url.get_backend_name() == "postgresql":
        _pg_drop_all(uri)
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{url.database}{suffix}").unlink(missing_ok=True)


def _pg_drop_all(uri: str) -> None:
    """PostgreSQL only: drop every table, trigger and function of the ledger."""
    libpq = make_url(uri).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


ROUNDS = 2


def test_concurrent_first_open_creates_one_ledger(uri: str, tmp_path: Path) -> None:
    """Four jobs start at once against an empty database: each open() must
    succeed (one creates the ledger, the others find it) and all appends land
    in one ledger. Each job starts its own experiment and run (two events, one
    batch) before its five params. Repeated a few times, since it is a race."""
    for round_ in range(ROUNDS):
        reset_database(uri)

        results = run_together(uri, tmp_path / f"round-{round_}", events=5, batch=1, open_after_go=True, start_run=True)

        with ledger.open(uri) as lg:
            events = check_one_chain(lg, len(ACTORS) * (2 + 5))
        check_writers(events, results, 5)
        for result in results:
            assert [(events[s].type, events[s].actor) for s in result.setup] == [
                ("experiment.created", result.actor),
                ("run.started", result.actor),
            ]
            assert result.setup[1] == result.setup[0] + 1
            assert result.setup[1] < result.batches[0][0], f"{result.actor} logged before its run started"
