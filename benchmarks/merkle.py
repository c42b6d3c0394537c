"""Latency of the stored Merkle tree: root, inclusion proof and consistency proof.

Builds (or reuses) a ledger of ``--events`` events, then times ``--queries``
calls of each of ``lg.merkle_root(size)``, ``lg.inclusion_proof(seq, size)``
and ``lg.consistency_proof(old_size, size)`` at seeded random sizes and
indices, one call per sample, and reports the median and the 99th percentile
in milliseconds against the issue's target (≤ 10 ms each at 1,000,000
events). Each call is the whole service call: the head read that checks the
range, and the one query of the O(log n) subtree hashes. Some answers are
checked with ``ledger.merkle.verify_inclusion``/``verify_consistency``.

It also times ``lg.prove(seq)`` (the whole ``mlledger proof`` document:
event row, inclusion path against the latest signed checkpoint, the note)
and ``lg.check_checkpoints`` of one note made at a random earlier size
(the consistency proof ``mlledger verify --checkpoint`` adds to verify),
with a signing key made in a temporary directory for the run.

The baseline is what the tree saves: ``ledger.merkle.merkle_root`` over all
the event hashes (read beforehand, not timed), the cost of one root by rescan.

Append throughput with the tree kept is ``benchmarks/append.py``: every
append writes the tree nodes it completes (schema 4), so its figures include
the tree; compare them with the core issue's in BENCHMARKS.md.

The SQLite ledger is the one ``benchmarks/verify.py`` caches in
benchmarks/out/ (a cache built before schema 4 is migrated here, and the
migration timed); a PostgreSQL ledger is built in a new database and dropped.

    python benchmarks/merkle.py                     # 1,000,000 events, SQLite
    python benchmarks/merkle.py --events 20000 --queries 200 --backend both
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common
import verify
from common import Figure

import ledger
from ledger import merkle
from ledger.checkpoint import Checkpoint, origin_for, sign
from ledger.proofs import check_proof

LATENCY_TARGET_MS = 10.0  # each of root, inclusion, consistency, at 1,000,000 events


def migrate_cache(args: argparse.Namespace) -> dict[str, Any] | None:
    """Bring a cached SQLite ledger of an older schema up to date, timed."""
    path, _ = verify._cache_paths(Path(args.cache_dir), args.events)
    if args.rebuild or not path.exists():
        return None
    try:
        ledger.open(verify._sqlite_uri(path), create=False).close()
        return None
    except ledger.StorageError:
        pass  # an older schema: migrate it
    start = time.perf_counter()
    ledger.open(verify._sqlite_uri(path)).close()
    took = time.perf_counter() - start
    common.progress(f"migrated the cached ledger {path} to the current schema in {took:.1f} s", final=True)
    return {"migration_seconds": round(took, 3)}


def samples_ms(call: Callable[[], Any], count: int) -> list[float]:
    out = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def measure(lg: ledger.Ledger, backend: str, args: argparse.Namespace) -> list[Figure]:
    n = lg.size()
    rng = random.Random(args.seed)
    sizes = [rng.randint(1, n) for _ in range(args.queries)]
    plans: dict[str, list[tuple[int, ...]]] = {
        "merkle_root(size)": [(s,) for s in sizes],
        "inclusion_proof(seq, size)": [(rng.randrange(s), s) for s in sizes],
        "consistency_proof(old_size, size)": [(rng.randint(1, s), s) for s in sizes],
    }
    calls: dict[str, Callable[..., Any]] = {
        "merkle_root(size)": lg.merkle_root,
        "inclusion_proof(seq, size)": lg.inclusion_proof,
        "consistency_proof(old_size, size)": lg.consistency_proof,
    }
    check(lg, plans, args.checks)
    figures = []
    for name, arguments in plans.items():
        fn, todo = calls[name], iter(arguments)

        def one_call(fn: Any = fn, todo: Any = todo) -> None:
            fn(*next(todo))

        samples = samples_ms(one_call, len(arguments))
        figures.append(latency_figure(backend, f"lg.{name} at {n:,} events", "random arguments", samples))
    return figures + measure_checkpoints(lg, backend, args, rng)


def latency_figure(backend: str, name: str, how: str, samples: list[float]) -> Figure:
    """A latency figure (ms, lower is better) against the issue's target, with its p99."""
    common.progress(f"{backend} {name}: median {statistics.median(samples):.2f} ms")
    return Figure(
        backend=backend,
        name=f"{name} ({len(samples)} calls{', ' + how if how else ''})",
        unit="ms",
        samples=samples,
        higher_is_better=False,
        target=LATENCY_TARGET_MS,
        notes={"p99": f"{statistics.quantiles(samples, n=100)[98]:.2f} ms" if len(samples) > 1 else "-"},
    )


def measure_checkpoints(lg: ledger.Ledger, backend: str, args: argparse.Namespace, rng: random.Random) -> list[Figure]:
    """lg.prove(seq) against a signed checkpoint, and one note checked for consistency."""
    n = lg.size()
    with tempfile.TemporaryDirectory(prefix="mlledger-bench-key-") as folder:
        try:
            key = lg.signing_key()
        except ledger.LedgerError:
            key, _ = lg.setup_signing_key(Path(folder) / "ledger.key")
        signed = lg.create_checkpoint(key=key)
        vkey = key.verifier_key
        seqs = iter([rng.randrange(n) for _ in range(args.queries)])
        for seq in [rng.randrange(n) for _ in range(args.checks)]:
            check_proof(lg.prove(seq, checkpoint=signed), vkey)
        prove_ms = samples_ms(lambda: lg.prove(next(seqs), checkpoint=signed), args.queries)
        notes = []
        for _ in range(args.queries):
            size = rng.randint(1, n)
            cp = Checkpoint(origin_for(lg.ledger_id), size, lg.merkle_root(size))
            notes.append(("bench", sign(cp, key.name, key.private_key)))
        root = lg.merkle_root()
        todo = iter(notes)

        def one_check() -> None:
            (finding,) = lg.check_checkpoints([next(todo)], vkey, size=n, root=root)
            if not finding.ok:
                raise SystemExit(f"a genuine checkpoint failed: {finding}")

        check_ms = samples_ms(one_check, len(notes))
    return [
        latency_figure(backend, f"lg.prove(seq): proof document against a checkpoint of {n:,}", "", prove_ms),
        latency_figure(
            backend, f"lg.check_checkpoints: one note at a random size, consistency with {n:,}", "", check_ms
        ),
    ]


def check(lg: ledger.Ledger, plans: dict[str, list[tuple[int, ...]]], count: int) -> None:
    """Verify a few answers, so the figures are of correct proofs."""
    for seq, size in plans["inclusion_proof(seq, size)"][:count]:
        leaf = bytes.fromhex(lg.event(seq).hash)
        merkle.verify_inclusion(seq, size, leaf, lg.inclusion_proof(seq, size), lg.merkle_root(size))
    for old, size in plans["consistency_proof(old_size, size)"][:count]:
        proof = lg.consistency_proof(old, size)
        merkle.verify_consistency(old, size, lg.merkle_root(old), lg.merkle_root(size), proof)


def rescan_baseline(lg: ledger.Ledger) -> tuple[float, str]:
    """Seconds of one root computed from every event hash (read first, not timed)."""
    leaves = [bytes.fromhex(row[9]) for row in lg.store.scan()]
    took, root = common.time_call(lambda: merkle.merkle_root(leaves))
    if root != lg.merkle_root():
        raise SystemExit("the stored tree's root differs from the root recomputed from the events")
    return took * 1000, f"ledger.merkle.merkle_root over all {len(leaves):,} event hashes: {took * 1000:,.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Root, inclusion and consistency proof latency of the stored tree.")
    parser.add_argument("--events", type=int, default=1_000_000, metavar="N", help="ledger size (default: 1000000)")
    parser.add_argument("--batch", type=int, default=10_000, metavar="B", help="append_many batch when building")
    parser.add_argument("--queries", type=int, default=1_000, metavar="Q", help="timed calls per operation")
    parser.add_argument("--checks", type=int, default=20, metavar="C", help="answers verified per proof kind")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache-dir", default=str(Path(__file__).parent / "out"), help="SQLite ledger cache")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached SQLite ledger")
    common.add_common_args(parser, default_repeat=1)
    args = parser.parse_args(argv)
    backends = common.backends_of(args, parser)
    if args.events < 1 or args.queries < 1:
        parser.error("--events and --queries must be positive")
    out = common.report_stream(args)
    workload = {
        "ledger": f"{args.events:,} x {common.event_shape()}, appended in batches of {args.batch:,}",
        "calls": f"{args.queries:,} per operation, sizes uniform in [1, n], seed {args.seed}; one call per sample",
        "target": f"≤ {LATENCY_TARGET_MS:g} ms each (issue 5, at 1,000,000 events)",
        "baseline": "one root by rescan: ledger.merkle.merkle_root over every event hash",
        "backends": ", ".join(backends),
    }
    machine = common.print_header("Merkle tree latency", workload, out)
    figures: list[Figure] = []
    built: dict[str, Any] = {}
    for backend in backends:
        migrated = migrate_cache(args) if backend == "sqlite" else None
        with verify.ledger_of(backend, args) as (uri, how):
            built[backend] = {**how, **(migrated or {})}
            common.print_facts(f"ledger {backend}", built[backend], out)
            with ledger.open(uri, create=False) as lg:
                baseline_ms, baseline_text = rescan_baseline(lg)
                for fig in measure(lg, backend, args):
                    fig.baseline, fig.baseline_text = baseline_ms, baseline_text
                    figures.append(fig)
    print("results:", file=out)
    common.print_figures(figures, out)
    print(f"load average at the end (1, 5, 15 min): {common.load_average()}", file=out)
    common.write_json(
        args.json,
        {
            "benchmark": "merkle",
            "workload": workload,
            "machine": machine,
            "ledgers": built,
            "figures": [f.to_json() for f in figures],
            "load_average_end": os.getloadavg(),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
