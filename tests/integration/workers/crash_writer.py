"""Append batches to a ledger forever, until the test SIGKILLs this process.

    python crash_writer.py URI GENERATION --batch B --progress FILE

Batch number ``b`` (0, 1, 2, ...) is ``B`` events of type ``run.tags_set``
with run_id ``crash-g<GENERATION>`` and tags {"gen", "batch", "index"} (tags,
not params: a param keeps its first value, a tag may change), all appended by
one ``Ledger.append_many`` call. The run must be running already (the test
starts it). After each call returns (the
batch is committed) the batch number is written as one line to ``--progress``,
so the test knows which batches the ledger promised to keep. Dies by SIGALRM
after ``--timeout`` seconds if nobody kills it first.
"""

from __future__ import annotations

import argparse
import itertools
import signal
from pathlib import Path

import ledger


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("uri")
    parser.add_argument("generation", type=int)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--progress", type=Path, required=True)
    parser.add_argument("--timeout", type=int, default=60)
    args = parser.parse_args()
    signal.alarm(args.timeout)  # hard limit: SIGALRM's default action ends the process

    actor = f"crash-writer-{args.generation}"
    run_id = f"crash-g{args.generation}"
    with ledger.open(args.uri) as lg, args.progress.open("a", encoding="utf-8", buffering=1) as progress:
        for batch in itertools.count():
            lg.append_many(
                ledger.PendingEvent(
                    "run.tags_set",
                    {
                        "run_id": run_id,
                        "tags": {"gen": str(args.generation), "batch": str(batch), "index": str(i)},
                    },
                    actor,
                )
                for i in range(args.batch)
            )
            progress.write(f"{batch}\n")  # line-buffered: in the OS page cache before the next batch


if __name__ == "__main__":
    main()
