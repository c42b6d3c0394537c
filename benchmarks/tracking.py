"""Tracking API throughput and latency (issue 3), beside MLflow's figures.

Workloads, SQLite, one durable commit per call as MLflow does:
  per-call log_metric (and its latency distribution), log_metrics batches of
  1,000, runs of start + 5 params + 5 metrics + end, search_runs over 1,000 runs
  with a 3-clause filter, and `python -c "import ledger"`.

The MLflow figures are the ones quoted in issue 3 (MLflow 3.17 with its SQLite
store, measured on this 2-core machine); this script does not install MLflow.

    python benchmarks/tracking.py [--backend sqlite|postgres|both] [--json PATH]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import common

import ledger

MLFLOW = {
    "log_metric": "294 calls/s",
    "log_batch": "12,300 metrics/s",
    "runs": "58 runs/s",
    "search": "57-93 ms",
    "import": "1.7 s",
}
TARGETS = {"log_metric": 9_000.0, "log_batch": 120_000.0, "runs": 1_200.0, "search": 10.0, "import": 0.35}
FILTER = "metrics.rmse < 3 and params.alpha = '0.1' and tags.team = 'risk'"


def per_call(uri: str, calls: int) -> tuple[float, list[float]]:
    """Seconds for ``calls`` log_metric calls, and each call's latency."""
    latencies: list[float] = []
    with ledger.open(uri) as lg, lg.start_run(experiment="bench", capture_environment=False) as run:
        run.log_metric("warmup", 0.0)
        start = time.perf_counter()
        for step in range(calls):
            t = time.perf_counter()
            run.log_metric("loss", 1.0 / (step + 1), step=step)
            latencies.append(time.perf_counter() - t)
        total = time.perf_counter() - start
    return total, latencies


def batches(uri: str, total: int, size: int) -> float:
    with ledger.open(uri) as lg, lg.start_run(experiment="bench", capture_environment=False) as run:
        start = time.perf_counter()
        for step in range(total // size):
            run.log_metrics({f"m{i}": i * 0.5 + step for i in range(size)}, step=step)
        return time.perf_counter() - start


def runs(uri: str, count: int) -> float:
    with ledger.open(uri) as lg:
        lg.set_experiment("bench")
        start = time.perf_counter()
        for i in range(count):
            with lg.start_run(experiment="bench", capture_environment=False) as run:
                run.log_params({f"p{k}": k * i for k in range(5)})
                run.log_metrics({f"m{k}": k * 0.1 + i for k in range(5)})
        return time.perf_counter() - start


def search(uri: str, count: int, repeat: int) -> list[float]:
    with ledger.open(uri) as lg:
        for i in range(count):
            with lg.start_run(
                experiment="search", tags={"team": "risk" if i % 2 else "ops"}, capture_environment=False
            ) as run:
                run.log_params({"alpha": "0.1" if i % 3 else "0.2", "beta": str(i)})
                run.log_metrics({"rmse": (i % 50) / 10, "mae": i / 100})
        lg.search_runs(experiment="search", filter=FILTER, order_by=["metrics.rmse ASC"])
        samples = []
        for _ in range(repeat):
            t = time.perf_counter()
            found = lg.search_runs(experiment="search", filter=FILTER, order_by=["metrics.rmse ASC"], max_results=100)
            samples.append((time.perf_counter() - t) * 1000)
        assert found, "the search matched nothing"
    return samples


def import_seconds(repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import ledger"], check=True)
        samples.append(time.perf_counter() - t)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000, help="per-call log_metric calls (default: 3000)")
    parser.add_argument("--metrics", type=int, default=100_000, help="metrics logged in batches (default: 100000)")
    parser.add_argument("--batch", type=int, default=1000, help="metrics per log_metrics call (default: 1000)")
    parser.add_argument("--runs", type=int, default=300, help="runs of start+5 params+5 metrics+end (default: 300)")
    parser.add_argument("--search-runs", type=int, default=1000, help="runs to search over (default: 1000)")
    common.add_common_args(parser, default_repeat=5)
    args = parser.parse_args()
    backends = common.backends_of(args, parser)
    out = common.report_stream(args)
    workload = {
        "log_metric": f"{args.calls:,} x run.log_metric(), one durable transaction each",
        "log_metrics": f"{args.metrics:,} metrics as run.log_metrics() of {args.batch:,}",
        "runs": f"{args.runs:,} x (start_run + log_params(5) + log_metrics(5) + end)",
        "search": f"search_runs over {args.search_runs:,} runs: {FILTER!r}, order by metrics.rmse",
        "import": 'python -c "import ledger" (a new interpreter each time)',
        "baseline": "MLflow 3.17, SQLite store, same machine, as quoted in issue 3",
        "repetitions": f"{args.repeat}, median reported",
    }
    machine = common.print_header("tracking API", workload, out)
    figures: list[common.Figure] = []
    for backend in backends:
        per_call_rates, p50s, p99s, batch_rates, run_rates, searches = [], [], [], [], [], []
        for rep in range(args.repeat):
            common.progress(f"{backend}: repetition {rep + 1}/{args.repeat}")
            with common.fresh_ledger_uri(backend, pg_admin=args.pg_admin, tmpdir=args.tmpdir) as uri:
                total, latencies = per_call(uri, args.calls)
            per_call_rates.append(args.calls / total)
            latencies.sort()
            p50s.append(latencies[len(latencies) // 2] * 1e6)
            p99s.append(latencies[int(len(latencies) * 0.99)] * 1e6)
            with common.fresh_ledger_uri(backend, pg_admin=args.pg_admin, tmpdir=args.tmpdir) as uri:
                batch_rates.append(args.metrics / batches(uri, args.metrics, args.batch))
            with common.fresh_ledger_uri(backend, pg_admin=args.pg_admin, tmpdir=args.tmpdir) as uri:
                run_rates.append(args.runs / runs(uri, args.runs))
        with common.fresh_ledger_uri(backend, pg_admin=args.pg_admin, tmpdir=args.tmpdir) as uri:
            searches = search(uri, args.search_runs, max(args.repeat, 20))
        figures += [
            common.Figure(
                backend,
                "per-call log_metric",
                "calls/s",
                per_call_rates,
                target=TARGETS["log_metric"],
                baseline_text=f"MLflow {MLFLOW['log_metric']}",
                notes={
                    "latency": f"p50 {statistics.median(p50s):,.0f} µs, p99 {statistics.median(p99s):,.0f} µs"
                    " (medians over repetitions)"
                },
            ),
            common.Figure(
                backend,
                f"log_metrics batches of {args.batch:,}",
                "metrics/s",
                batch_rates,
                target=TARGETS["log_batch"],
                baseline_text=f"MLflow log_batch {MLFLOW['log_batch']}",
            ),
            common.Figure(
                backend,
                "runs (start + 5 params + 5 metrics + end)",
                "runs/s",
                run_rates,
                target=TARGETS["runs"],
                baseline_text=f"MLflow {MLFLOW['runs']}",
            ),
            common.Figure(
                backend,
                f"search_runs over {args.search_runs:,} runs, 3 clauses",
                "ms",
                searches,
                higher_is_better=False,
                target=TARGETS["search"],
                baseline_text=f"MLflow {MLFLOW['search']}",
            ),
        ]
    figures.append(
        common.Figure(
            "-",
            'python -c "import ledger"',
            "s",
            import_seconds(max(args.repeat, 10)),
            higher_is_better=False,
            target=TARGETS["import"],
            baseline_text=f"import mlflow {MLFLOW['import']}",
        )
    )
    common.progress("done", final=True)
    print("results:", file=out)
    common.print_figures(figures, out)
    print(f"load average at the end (1, 5, 15 min; 2 shared cores): {common.load_average()}", file=out)
    common.write_json(args.json, {"machine": machine, "workload": workload, "figures": [f.to_json() for f in figures]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
