"""Append events to a ledger from one OS process, starting on a shared signal.

    python append_worker.py URI ACTOR --events N --batch B --ready FILE --go FILE

Opens the ledger (or, with ``--open-after-go``, waits first), creates
``--ready``, waits until ``--go`` exists, then appends ``N`` events of type
``run.params_logged`` (payload: run_id = ACTOR, params = {"i<index>": <index>},
one new key per event, since a param keeps its first value): one by one with
``Ledger.append`` when ``B`` is 1, else in batches of ``B`` with
``Ledger.append_many``. The run ACTOR must be running: the test starts it,
or, with ``--start-run``, the worker itself appends ``experiment.created``
(id and name ACTOR) and ``run.started`` (run ACTOR in it) as one batch first.
Prints one JSON line: the seqs the ledger returned, batch by batch (the
``--start-run`` batch apart, as "setup"), and when it started and finished
(``time.time()`` after the go signal, and after its last append). Dies by
SIGALRM after ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

import ledger


def _wait_for(path: Path, deadline: float) -> None:
    while not path.exists():
        if time.monotonic() > deadline:
            sys.exit(f"gave up waiting for {path}")
        time.sleep(0.001)


def params(actor: str, i: int) -> dict[str, object]:
    """Event ``i``'s payload: a new param key each time (a param keeps its first value)."""
    return {"run_id": actor, "params": {f"i{i}": str(i)}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("uri")
    parser.add_argument("actor")
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--ready", type=Path, required=True)
    parser.add_argument("--go", type=Path, required=True)
    parser.add_argument("--open-after-go", action="store_true")
    parser.add_argument("--start-run", action="store_true")
    parser.add_argument("--timeout", type=int, default=60)
    args = parser.parse_args()
    signal.alarm(args.timeout)  # hard limit: SIGALRM's default action ends the process
    deadline = time.monotonic() + args.timeout

    lg = None if args.open_after_go else ledger.open(args.uri)
    args.ready.write_text(str(os.getpid()))
    _wait_for(args.go, deadline)
    started = time.time()
    if lg is None:
        lg = ledger.open(args.uri)

    setup: list[int] = []
    batches: list[list[int]] = []
    with lg:
        if args.start_run:
            recorded = lg.append_many(
                [
                    ledger.PendingEvent(
                        "experiment.created", {"experiment_id": args.actor, "name": args.actor}, args.actor
                    ),
                    ledger.PendingEvent("run.started", {"run_id": args.actor, "experiment_id": args.actor}, args.actor),
                ]
            )
            setup = [event.seq for event in recorded]
        for start in range(0, args.events, args.batch):
            indices = range(start, min(start + args.batch, args.events))
            if args.batch == 1:
                event = lg.append("run.params_logged", params(args.actor, start), actor=args.actor)
                batches.append([event.seq])
            else:
                recorded = lg.append_many(
                    ledger.PendingEvent("run.params_logged", params(args.actor, i), args.actor) for i in indices
                )
                batches.append([event.seq for event in recorded])
    finished = time.time()
    report = {
        "actor": args.actor,
        "pid": os.getpid(),
        "setup": setup,
        "batches": batches,
        "started": started,
        "finished": finished,
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
