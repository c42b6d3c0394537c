"""Promote model versions to Production from one OS process, on a shared signal.

    python promote_worker.py URI MODEL VERSIONS --rounds N --ready FILE --go FILE [--governed]

Opens the ledger, creates ``--ready``, waits until ``--go`` exists, then for
``N`` rounds moves each of VERSIONS (comma-separated) to Production in turn:
directly with ``transition_stage``, or with ``--governed`` through
``request_transition`` by "alice" and ``approve_transition`` by
``--approver``. Prints one JSON line: how many moves
landed and how many were refused as conflicts. Dies by SIGALRM after
``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

import ledger


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("uri")
    parser.add_argument("model")
    parser.add_argument("versions")
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--ready", type=Path, required=True)
    parser.add_argument("--go", type=Path, required=True)
    parser.add_argument("--governed", action="store_true")
    parser.add_argument("--approver", default="bob")
    parser.add_argument("--timeout", type=int, default=120)
    args = parser.parse_args()
    signal.alarm(args.timeout)
    deadline = time.monotonic() + args.timeout
    versions = [int(v) for v in args.versions.split(",")]
    lg = ledger.open(args.uri)
    args.ready.write_text("ready")
    while not args.go.exists():
        if time.monotonic() > deadline:
            sys.exit("gave up waiting for the go signal")
        time.sleep(0.001)
    moved = refused = 0
    for _ in range(args.rounds):
        for version in versions:
            try:
                if args.governed:
                    request = lg.request_transition(args.model, version, "Production", reason="race", actor="alice")
                    lg.approve_transition(request.request_id, "ok", actor=args.approver)
                else:
                    lg.transition_stage(args.model, version, "Production", reason="race", actor="alice")
                moved += 1
            except ledger.ConflictError:
                refused += 1
    lg.close()
    print(json.dumps({"moved": moved, "refused": refused}))


if __name__ == "__main__":
    main()
