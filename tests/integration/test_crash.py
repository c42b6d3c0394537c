"""A writer killed with SIGKILL in the middle of appending (DESIGN §2-3: a batch
is appended atomically, and a committed append is durable).

``workers/crash_writer.py`` appends batches of 50 events in a loop, each event
tagged with its writer generation, batch number and index, and notes every
batch the ledger acknowledged. The test kills it at an arbitrary moment, three
times on the same ledger, and checks after each kill that the ledger verifies,
holds only whole batches, and kept every acknowledged one. The runs the
writers tag are started up front, by the SETUP events.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

import ledger

CRASH_WRITER = Path(__file__).parent / "workers" / "crash_writer.py"
BATCH = 50
WRITER_TIMEOUT = 60  # seconds; the writer kills itself (SIGALRM) if the test never does
# How long each writer keeps appending after its first acknowledged batch, before SIGKILL.
RUN_FOR = (0.7, 1.1, 1.5)
RUNS = (*(f"crash-g{generation}" for generation in range(len(RUN_FOR))), "after")
SETUP = 1 + len(RUNS)  # experiment.created, then run.started for each writer's run and for "after"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def run_and_kill(uri: str, generation: int, workdir: Path, run_for: float) -> list[int]:
    """Start a writer, let it append for ``run_for`` seconds, SIGKILL it.

    Returns the batch numbers it reported as committed before it died.
    """
    progress = workdir / f"progress-{generation}.txt"
    errors = workdir / f"stderr-{generation}.txt"
    with errors.open("w") as stderr:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(CRASH_WRITER),
                uri,
                str(generation),
                "--batch",
                str(BATCH),
                "--progress",
                str(progress),
                "--timeout",
                str(WRITER_TIMEOUT),
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + WRITER_TIMEOUT
        while not (progress.exists() and progress.read_text()):
            if proc.poll() is not None:
                pytest.fail(f"writer {generation} exited with {proc.returncode}:\n{errors.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"writer {generation} committed nothing in {WRITER_TIMEOUT} s")
            time.sleep(0.01)
        time.sleep(run_for)
        assert proc.poll() is None, f"writer {generation} stopped on its own:\n{errors.read_text()}"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    return [int(line) for line in progress.read_text().split()]


def start_runs(uri: str) -> None:
    """Create the ledger, an experiment and the runs the writers tag: SETUP events."""
    with ledger.open(uri) as lg:
        lg.append("experiment.created", {"experiment_id": "e1", "name": "e1"}, actor="operator")
        for run_id in RUNS:
            lg.append("run.started", {"run_id": run_id, "experiment_id": "e1"}, actor="operator")
        assert lg.size() == SETUP


def check_whole_batches(lg: ledger.Ledger, acknowledged: dict[int, list[int]]) -> int:
    """The ledger verifies and holds the SETUP events, then only whole batches,
    including every acknowledged one; returns its size."""
    report = lg.verify()
    assert report.ok, report.faults[:5]
    size = lg.size()
    assert report.events == size
    assert (size - SETUP) % BATCH == 0, f"size {size} is not {SETUP} + a whole number of {BATCH}-event batches"

    events = list(lg.events())
    assert [e.type for e in events[:SETUP]] == ["experiment.created"] + ["run.started"] * len(RUNS)
    batches: dict[tuple[int, int], list[ledger.RecordedEvent]] = defaultdict(list)
    for event in events[SETUP:]:
        assert event.type == "run.tags_set"
        assert event.payload is not None
        tags = event.payload["tags"]
        batches[int(tags["gen"]), int(tags["batch"])].append(event)
    assert SETUP + sum(len(events) for events in batches.values()) == size

    for (gen, batch), events in batches.items():
        assert [int(e.payload["tags"]["index"]) for e in events] == list(range(BATCH)), (
            f"generation {gen} batch {batch} is not whole: {len(events)} events"
        )
        assert {e.payload["run_id"] for e in events} == {f"crash-g{gen}"}
        first = events[0].seq
        assert [e.seq for e in events] == list(range(first, first + BATCH)), f"batch {gen}/{batch} is split"
        assert (first - SETUP) % BATCH == 0

    for gen, reported in acknowledged.items():
        present = sorted(batch for g, batch in batches if g == gen)
        assert reported == list(range(len(reported)))
        # Every acknowledged batch survived the kill; at most one more (committed,
        # not yet acknowledged when the signal came) may be there too.
        assert present[: len(reported)] == reported, f"generation {gen}: acknowledged batches lost"
        assert present in (reported, [*reported, len(reported)]), f"generation {gen}: batches {present[-3:]}"
    assert {gen for gen, _ in batches} == set(acknowledged)
    return size


def test_sigkill_mid_append_leaves_only_whole_batches(uri: str, tmp_path: Path) -> None:
    start_runs(uri)
    acknowledged: dict[int, list[int]] = {}
    sizes = []

    for generation, run_for in enumerate(RUN_FOR):
        acknowledged[generation] = run_and_kill(uri, generation, tmp_path, run_for)
        assert len(acknowledged[generation]) >= 2, "the writer was killed before it got going"
        with ledger.open(uri) as lg:
            sizes.append(check_whole_batches(lg, acknowledged))
    assert sizes == sorted(sizes)

    # The ledger takes new appends after the crashes and stays one chain.
    with ledger.open(uri) as lg:
        head = lg.head()
        assert head is not None
        one = lg.append("run.finished", {"run_id": "crash-g2", "status": "KILLED"}, actor="operator")
        more = lg.append_many(
            ledger.PendingEvent("run.tags_set", {"run_id": "after", "tags": {"i": str(i)}}, "operator")
            for i in range(BATCH)
        )
        assert (one.seq, one.prev) == (head.seq + 1, head.hash)
        assert [e.seq for e in more] == list(range(one.seq + 1, one.seq + 1 + BATCH))
        report = lg.verify()
        assert report.ok, report.faults[:5]
        assert report.events == lg.size() == sizes[-1] + 1 + BATCH
        assert report.head == more[-1].hash
