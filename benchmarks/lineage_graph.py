"""Lineage graph: build time, memory and query latency on a ledger of 100,000 runs (issue 6).

Workload (seeded, built once and cached in benchmarks/out/ on SQLite):

  data     --families families of four data versions: raw -> clean (derived,
           with a transform) -> train and test (both derived from clean);
  runs     --runs runs in groups of ten (a parent search and nine nested
           trials), each: run.started (with a git commit from a pool of 200),
           params, metrics, a training and a test input of one family,
           one artifact, run.finished: seven events a run;
  models   every 100th run registered as the next version of one of ten
           models; each version moved to Staging, every fifth to Production
           (archiving the previous holder) and deployed to its model's target.

Measured, each repetition in a fresh process so nothing is warm:

  build         ``lg.lineage.refresh()`` from nothing: read the lineage events
                (one streamed query), fold them into the networkx graph.
                Target ≤ 10 s. Memory: the process's resident set before and
                after the build (the graph's cost), and its peak;
  upstream      ``lg.lineage.upstream(model version)`` of random versions:
                the whole provenance (run, parent, artifacts, data and their
                ancestors, commit, actors). Target ≤ 20 ms (median);
  downstream    ``lg.lineage.downstream(raw data version)`` of random families:
                every run, trial, artifact, model version (with its stage)
                and deployment (live or not) that depends on it — hundreds of
                nodes each. Target ≤ 20 ms (median);
  baseline      networkx's ``ancestors``/``descendants`` of the same nodes
                (reachability alone: no as-of checks, no view built);
  refresh       a query's own overhead when nothing was appended (the
                incremental check), and the refresh after one new run was
                appended (each repetition works on a copy of the cached
                ledger, which it then deletes).

    python benchmarks/lineage_graph.py                  # 100,000 runs
    python benchmarks/lineage_graph.py --runs 10000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import common
import networkx as nx

import ledger
from ledger.api import Ledger
from ledger.events import PendingEvent
from ledger.governance import artifact_digest

BUILD_TARGET_S = 10.0
QUERY_TARGET_MS = 20.0
BATCH = 2000
MODELS = 10


def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _data(name: str, digest: str, parent: str | None = None, transform: str | None = None) -> dict[str, Any]:
    derived = [{"name": parent, "version": "v1"}] if parent else []
    return {"name": name, "version": "v1", "digest": digest, "derived_from": derived, "transform": transform}


def _run_events(rng: random.Random, run: str, parent: str | None, family: int, commit: str, sha: str) -> list[Any]:
    """The seven events of one run, as (type, payload)."""
    environment = {"python": "3.11", "platform": "linux", "git_commit": commit, "git_dirty": False}
    started = {"run_id": run, "experiment_id": "e1", "run_name": run[:8], "environment": environment}
    if parent:
        started["parent_run_id"] = parent
    metrics = [{"key": f"m{i}", "value": rng.random(), "step": 0, "timestamp": 0} for i in range(3)]
    inputs = [
        {
            "run_id": run,
            "name": f"loans-{family}-{split}",
            "version": "v1",
            "digest": f"d{family}{split}",
            "context": ctx,
        }
        for split, ctx in (("train", "training"), ("test", "test"))
    ]
    return [
        ("run.started", started),
        ("run.params_logged", {"run_id": run, "params": {f"p{i}": str(i) for i in range(5)}}),
        ("run.metrics_logged", {"run_id": run, "metrics": metrics}),
        *(("run.input_logged", payload) for payload in inputs),
        ("run.artifact_logged", {"run_id": run, "path": "model/model.bin", "sha256": sha, "size": 1024}),
        ("run.finished", {"run_id": run, "status": "FINISHED"}),
    ]


def _ledger_events(runs: int, families: int, seed: int) -> Iterator[list[PendingEvent]]:
    """The workload's events in order, in batches of about BATCH."""
    rng = random.Random(seed)
    events: list[tuple[str, dict[str, Any]]] = [("experiment.created", {"experiment_id": "e1", "name": "credit"})]
    for f in range(families):
        events.append(("dataset.version_registered", _data(f"raw-{f}", f"d{f}r")))
        events.append(("dataset.version_registered", _data(f"loans-{f}", f"d{f}c", f"raw-{f}", "dedupe")))
        for split in ("train", "test"):
            payload = _data(f"loans-{f}-{split}", f"d{f}{split}", f"loans-{f}", f"split {split}")
            events.append(("dataset.version_registered", payload))
    commits = [f"{rng.getrandbits(160):040x}" for _ in range(200)]
    versions = dict.fromkeys(range(MODELS), 0)
    production: dict[int, int] = {}
    parent = ""
    for r in range(runs):
        run = uuid.UUID(int=rng.getrandbits(128)).hex
        parent = run if r % 10 == 0 else parent
        sha = f"{rng.getrandbits(256):064x}"
        events += _run_events(
            rng, run, None if parent == run else parent, rng.randrange(families), rng.choice(commits), sha
        )
        if r % 100 == 99:
            model = r // 100 % MODELS
            name = f"model-{model}"
            versions[model] = version = versions[model] + 1
            digest = artifact_digest({"model/model.bin": sha})
            created = {
                "name": name,
                "version": version,
                "run_id": run,
                "artifact_path": "model",
                "artifact_digest": digest,
            }
            events.append(("model.version_created", created))
            staged = {"name": name, "version": version, "from_stage": "None", "to_stage": "Staging"}
            events.append(("model.stage_changed", staged))
            if version % 5 == 0:
                old = production.get(model)
                archived = [old] if old else []
                promoted = {**staged, "from_stage": "Staging", "to_stage": "Production", "archived_versions": archived}
                events.append(("model.stage_changed", promoted))
                production[model] = version
                deployed = {"name": name, "version": version, "target": f"api-{model}", "environment": "prod"}
                events.append(("model.deployed", deployed))
        if len(events) >= BATCH:
            yield [PendingEvent(kind, payload, "bench") for kind, payload in events]
            events = []
    if events:
        yield [PendingEvent(kind, payload, "bench") for kind, payload in events]


def build_ledger(path: Path, runs: int, families: int) -> None:
    if path.exists():
        return
    tmp = path.with_suffix(".building")
    for leftover in tmp.parent.glob(tmp.name + "*"):
        leftover.unlink()
    start = time.perf_counter()
    with Ledger.open(f"sqlite:///{tmp}") as lg:
        lg.claim_admin(actor="bench")
        for model in range(MODELS):  # promotions without approval: the workload is the lineage
            lg.append("model.registered", {"name": f"model-{model}", "owner": "risk"}, actor="bench")
            lg.set_policy(f"model-{model}", approval_stages=[], actor="bench")
        for i, batch in enumerate(_ledger_events(runs, families, seed=6)):
            lg.append_many(batch)
            if i % 20 == 0:
                common.progress(f"building: {lg.size():,} events, {time.perf_counter() - start:.0f} s")
        common.progress(f"built {lg.size():,} events in {time.perf_counter() - start:.0f} s", final=True)
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    tmp.rename(path)


def measure(path: Path, queries: int, seed: int) -> dict[str, Any]:
    """One repetition, run in a fresh process, on a copy of the cached ledger
    (it appends a run at the end)."""
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        copy = Path(tmp) / path.name
        shutil.copyfile(path, copy)
        rss_before = _rss_mib()
        lg = ledger.open(f"sqlite:///{copy}", create=False)
        start = time.perf_counter()
        builder = lg.lineage.refresh()
        build_s = time.perf_counter() - start
        rss_after = _rss_mib()
        figures = {"build_s": build_s, **_queries(lg, builder.graph, queries, seed)}
        figures["refresh_idle_ms"] = _median_ms(lg.lineage.refresh, queries)
        figures["refresh_one_run_ms"] = _refresh_after_one_run(lg)
        figures["rss_before_mib"], figures["rss_after_build_mib"] = rss_before, rss_after
        figures["graph_mib"] = rss_after - rss_before
        figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        lg.close()
    return figures


def _queries(lg: Ledger, graph: Any, queries: int, seed: int) -> dict[str, Any]:
    """Upstream of random model versions and downstream of random raw data
    versions, each beside networkx's own ``ancestors``/``descendants`` of the
    same node (the baseline: reachability alone, no as-of check, no view)."""
    rng = random.Random(seed)
    models = [n for n, kind in graph.nodes(data="kind") if kind == "model"]
    raws = [n for n in graph.nodes if n.startswith("dataset:raw-")]
    figures: dict[str, Any] = {"nodes": graph.number_of_nodes(), "edges": graph.number_of_edges()}
    for name, pool, call, baseline in (
        ("upstream", models, lg.lineage.upstream, nx.ancestors),
        ("downstream", raws, lg.lineage.downstream, nx.descendants),
    ):
        samples, base, sizes = [], [], []
        for node in rng.choices(pool, k=queries):
            t = time.perf_counter()
            view = call(node)
            samples.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            reached = baseline(graph, node)
            base.append((time.perf_counter() - t) * 1000)
            sizes.append(len(view.nodes))
            assert len(reached) + 1 == len(view.nodes), (node, len(reached), len(view.nodes))
        figures[name] = {
            "median_ms": statistics.median(samples),
            "p99_ms": _p99(samples),
            "networkx_median_ms": statistics.median(base),
            "median_nodes": statistics.median(sizes),
        }
    return figures


def _median_ms(call: Any, times: int) -> float:
    samples = []
    for _ in range(times):
        t = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def _refresh_after_one_run(lg: Ledger) -> float:
    """Append one run (its seven events and a registration) and time the next refresh."""
    rng = random.Random(99)
    run = uuid.UUID(int=rng.getrandbits(128)).hex
    events = _run_events(rng, run, None, 0, "0" * 40, f"{rng.getrandbits(256):064x}")
    lg.append_many([PendingEvent(kind, payload, "bench") for kind, payload in events])
    t = time.perf_counter()
    lg.lineage.refresh()
    elapsed = (time.perf_counter() - t) * 1000
    assert f"run:{run}" in lg.lineage.graph
    return elapsed


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--families", type=int, default=125)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache-dir", default=str(Path(__file__).parent / "out"))
    parser.add_argument("--json", metavar="PATH", default=None)
    parser.add_argument("--one", metavar="PATH", help=argparse.SUPPRESS)  # a repetition, in a child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(Path(args.one), args.queries, seed=args.repeat)))
        return
    path = Path(args.cache_dir) / f"lineage-{args.runs}runs-{args.families}f-v1.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    build_ledger(path, args.runs, args.families)
    with ledger.open(f"sqlite:///{path}") as lg:  # migrates a cache of an older schema
        events = lg.size()
    workload = {"runs": args.runs, "data versions": args.families * 4, "events": events, "queries": args.queries,
                "repetitions": args.repeat, "ledger": str(path)}  # fmt: skip
    out = sys.stdout
    machine = common.print_header("lineage graph (issue 6)", workload, out)
    results = []
    for i in range(args.repeat):
        common.progress(f"repetition {i + 1}/{args.repeat}")
        child = [sys.executable, __file__, "--one", str(path), "--queries", str(args.queries), "--repeat", str(i)]
        done = subprocess.run(child, check=True, capture_output=True, text=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))

    def med(*keys: str) -> float:
        return statistics.median(_dig(r, keys) for r in results)

    first = results[0]
    print(f"graph: {first['nodes']:,} nodes, {first['edges']:,} edges", file=out)
    rows = [
        ("build (s)", med("build_s"), BUILD_TARGET_S, [r["build_s"] for r in results]),
        ("upstream of a model version (ms, median)", med("upstream", "median_ms"), QUERY_TARGET_MS,
         [r["upstream"]["median_ms"] for r in results]),
        ("downstream of a raw data version (ms, median)", med("downstream", "median_ms"), QUERY_TARGET_MS,
         [r["downstream"]["median_ms"] for r in results]),
    ]  # fmt: skip
    for label, value, target, samples in rows:
        status = "PASS" if value <= target else "MISS"
        shown = ", ".join(f"{s:.3f}" for s in samples)
        print(f"  {label:<48} {value:9.3f}  target ≤ {target:g}  {status}   runs: {shown}", file=out)
    extra = [
        ("upstream p99 (ms)", med("upstream", "p99_ms"), f"nodes reached: {med('upstream', 'median_nodes'):.0f}"),
        ("upstream, networkx.ancestors (ms, baseline)", med("upstream", "networkx_median_ms"), "reachability"),
        ("downstream p99 (ms)", med("downstream", "p99_ms"), f"nodes reached: {med('downstream', 'median_nodes'):.0f}"),
        (
            "downstream, networkx.descendants (ms, baseline)",
            med("downstream", "networkx_median_ms"),
            "reachability only",
        ),
        ("refresh with nothing new (ms)", med("refresh_idle_ms"), "every query pays this"),
        ("refresh after one new run (ms)", med("refresh_one_run_ms"), "incremental, not a rebuild"),
        ("memory: graph (resident MiB after - before)", med("graph_mib"), ""),
        ("memory: peak resident set of the process (MiB)", med("peak_rss_mib"), ""),
    ]
    for label, value, note in extra:
        print(f"  {label:<48} {value:9.3f}   {note}", file=out)
    common.write_json(args.json, {"workload": workload, "machine": machine, "repetitions": results})


def _dig(document: dict[str, Any], keys: tuple[str, ...]) -> float:
    value: Any = document
    for key in keys:
        value = value[key]
    return float(value)


if __name__ == "__main__":
    main()
