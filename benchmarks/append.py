"""Append throughput of mlledger, beside raw SHA-256 over the same header bytes.

(a) single appends: ``lg.append(...)``, one durable transaction per event;
(b) batches: ``lg.append_many([...])`` of ``--batch`` events per transaction.

Each repetition starts from a new, empty ledger (a new SQLite file, or a newly
created PostgreSQL database) and the median over repetitions is reported.
The baseline is ``hashlib.sha256(header).hexdigest()`` over the headers of the
ledger just written, rebuilt from its export, timed in the same run.

    python benchmarks/append.py
    python benchmarks/append.py --single 2000 --total 20000 --backend both
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
from typing import Any

import common
from common import Figure

import ledger

SINGLE_TARGET = 10_000.0  # events/s
BATCH_TARGET = 100_000.0  # events/s


def _single(lg: ledger.Ledger, payloads: list[dict[str, Any]]) -> None:
    append, kind, actor = lg.append, common.EVENT_TYPE, common.ACTOR
    for payload in payloads:
        append(kind, payload, actor=actor)


def _batches(lg: ledger.Ledger, payloads: list[dict[str, Any]], batch: int) -> None:
    pending, kind, actor = ledger.PendingEvent, common.EVENT_TYPE, common.ACTOR
    for start in range(0, len(payloads), batch):
        lg.append_many([pending(kind, p, actor) for p in payloads[start : start + batch]])


def measure(
    backend: str, mode: str, count: int, batch: int, args: argparse.Namespace
) -> tuple[list[float], list[bytes]]:
    """Seconds per repetition, and the header bytes of the last ledger written."""
    payloads = common.metric_payloads(count)
    seconds: list[float] = []
    headers: list[bytes] = []
    for rep in range(args.repeat):
        with common.fresh_ledger_uri(backend, pg_admin=args.pg_admin, tmpdir=args.tmpdir) as uri:
            lg = ledger.open(uri)
            setup = common.start_run(lg)
            try:
                if mode == "single":
                    took, _ = common.time_call(functools.partial(_single, lg, payloads))
                else:
                    took, _ = common.time_call(functools.partial(_batches, lg, payloads, batch))
                seconds.append(took)
                common.progress(
                    f"{backend} {mode}: repetition {rep + 1}/{args.repeat}: "
                    f"{count:,} events in {took:.2f} s = {count / took:,.0f} events/s"
                )
                if rep == args.repeat - 1:
                    report = lg.verify()
                    if not report.ok or report.events != count + setup:
                        raise SystemExit(f"{backend} {mode}: the ledger written does not verify: {report}")
                    headers, _ = common.export_hash_inputs(lg)
            finally:
                lg.close()
    return seconds, headers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Append throughput (single durable appends and append_many batches), "
        "with raw SHA-256 over the same header bytes as the baseline.",
    )
    parser.add_argument(
        "--single", type=int, default=5_000, metavar="N", help="events appended one per transaction (default: 5000)"
    )
    parser.add_argument(
        "--total", type=int, default=100_000, metavar="N", help="events appended in batches (default: 100000)"
    )
    parser.add_argument(
        "--batch", type=int, default=1_000, metavar="B", help="events per append_many batch (default: 1000)"
    )
    common.add_common_args(parser, default_repeat=5)
    args = parser.parse_args(argv)
    backends = common.backends_of(args, parser)
    if args.single < 1 or args.total < 1 or args.batch < 1:
        parser.error("--single, --total and --batch must be positive")
    out = common.report_stream(args)

    workload = {
        "event": common.event_shape(),
        "single": f"{args.single:,} x lg.append(), one durable transaction each, on a new empty ledger",
        "batched": f"{args.total:,} events as {-(-args.total // args.batch):,} x lg.append_many() "
        f"of {args.batch:,} (PendingEvent built inside the timed loop), on a new empty ledger",
        "tree": "each append also writes the Merkle tree nodes it completes (schema 4; about one row per event)",
        "repetitions": f"{args.repeat} per figure, median reported",
        "baseline": "hashlib.sha256(h).hexdigest() over the header bytes of the last ledger written "
        "(rebuilt from export_jsonl with ledger.encoding.header_bytes), same run, "
        f"{args.repeat} repetitions, median",
        "backends": ", ".join(backends),
    }
    machine = common.print_header("append throughput", workload, out)
    backend_facts = common.print_backend_facts(backends, args, out)

    figures: list[Figure] = []
    for backend in backends:
        plan = (("single", args.single, SINGLE_TARGET), ("batched", args.total, BATCH_TARGET))
        for mode, count, target in plan:
            seconds, headers = measure(backend, mode, count, args.batch, args)
            raw = common.raw_sha256_rate(headers, args.repeat)
            samples = common.rates(count, seconds)
            fig = Figure(
                backend=backend,
                name=(
                    f"single append, one transaction per event (N={count:,})"
                    if mode == "single"
                    else f"append_many, batches of {args.batch:,} (N={count:,})"
                ),
                unit="events/s",
                samples=samples,
                target=target,
                baseline=raw,
                notes={"seconds": f"{statistics.median(seconds):.3f} s per run (median)"},
            )
            fig.baseline_text = common.baseline_text(raw, fig.median, headers)
            figures.append(fig)

    print("results:", file=out)
    common.print_figures(figures, out)
    print(f"load average at the end (1, 5, 15 min; 2 shared cores): {common.load_average()}", file=out)
    common.write_json(
        args.json,
        {
            "benchmark": "append",
            "workload": workload,
            "machine": machine,
            "backends": backend_facts,
            "figures": [f.to_json() for f in figures],
            "load_average_end": os.getloadavg(),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
