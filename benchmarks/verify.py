"""Verification throughput and memory of mlledger, beside raw SHA-256 of the same headers.

Builds a ledger of ``--events`` events (``append_many`` in batches of
``--batch``), then times ``lg.verify()`` ``--repeat`` times and reports the
median events/s and seconds; measures the peak resident memory of a fresh
child process that only opens the ledger and verifies it (``ru_maxrss`` from
``os.wait4``); and times raw ``hashlib.sha256(header).hexdigest()`` over the
same header bytes (rebuilt from the ledger's export) as the baseline.

The SQLite ledger is cached in benchmarks/out/ keyed by the event count, so a
rerun skips the build (``--rebuild`` forces it). A PostgreSQL ledger is built
in a newly created database, dropped at the end.

    python benchmarks/verify.py                    # 1,000,000 events, SQLite
    python benchmarks/verify.py --events 100000 --backend both
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common
from common import Figure

import ledger

RATE_TARGET = 250_000.0  # events/s
RAW_SHARE_TARGET = 15.0  # % of the raw SHA-256 rate over the same header bytes
MEMORY_TARGET_MB = 150.0  # at 1,000,000 events
MEMORY_TARGET_EVENTS = 1_000_000
WORKLOAD_VERSION = 2  # bump when the built ledger's content changes, to invalidate caches

# The child whose peak memory is measured: it only opens the ledger and verifies it
# (and at exit reads its own VmHWM, a cross-check of ru_maxrss).
_CHILD = """
import json, sys
import ledger
uri, mode = sys.argv[1], sys.argv[2]
lg = ledger.open(uri, create=False)
if mode == "verify":
    report = lg.verify()
    result = {"ok": report.ok, "events": report.events}
else:
    result = {"ok": True, "events": lg.size()}
lg.close()
with open("/proc/self/status") as f:
    result["vmhwm_kib"] = next((int(l.split()[1]) for l in f if l.startswith("VmHWM:")), None)
print(json.dumps(result))
"""

# Linux charges a process, at exec, the RSS of the process it was forked from
# (ru_maxrss survives execve). Forked straight from this benchmark, whose own
# RSS is large, the child would inherit that figure. So a small launcher
# (python -S, ~10 MB) starts the child and reads its ru_maxrss with os.wait4:
# the peak of the child or of any worker process it waited for (the largest
# single process, not their sum). lg.verify() may check ranges in worker
# processes, so the launcher also samples the whole process tree every 50 ms
# and keeps the peak of the summed RSS and PSS (PSS splits shared pages).
_LAUNCHER = """
import json, os, subprocess, sys, time

def tree(root):
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name) as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found

def memory(pid):
    rss = pss = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss

child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, text=True)
peak_rss = peak_pss = processes = samples = 0
while True:
    pid, status, usage = os.wait4(child.pid, os.WNOHANG)
    if pid:
        break
    sizes = [memory(p) for p in tree(child.pid)]
    peak_rss = max(peak_rss, sum(r for r, _ in sizes))
    peak_pss = max(peak_pss, sum(p for _, p in sizes))
    processes = max(processes, len(sizes))
    samples += 1
    time.sleep(0.05)
child.returncode = code = os.waitstatus_to_exitcode(status)
output = child.stdout.read()
print(json.dumps({"maxrss_kib": usage.ru_maxrss, "exit": code, "output": output,
                  "tree_rss_kib": peak_rss, "tree_pss_kib": peak_pss,
                  "processes": processes, "samples": samples}))
sys.exit(code)
"""


# -- building --------------------------------------------------------------------


def build(uri: str, events: int, batch: int) -> float:
    """Append ``events`` events in ``append_many`` batches; returns the seconds taken."""
    pending, kind, actor = ledger.PendingEvent, common.EVENT_TYPE, common.ACTOR
    every = max(batch, (events // 20) // batch * batch) if not sys.stderr.isatty() else batch
    start = time.perf_counter()
    with ledger.open(uri) as lg:
        if lg.size():
            raise SystemExit(f"refusing to build into a non-empty ledger at {common.safe_uri(uri)}")
        done = common.start_run(lg)
        while done < events:
            count = min(batch, events - done)
            lg.append_many([pending(kind, p, actor) for p in common.metric_payloads(count, start=done)])
            done += count
            if done % every == 0 or done == events:
                took = time.perf_counter() - start
                rate = done / took
                common.progress(
                    f"building: {done:,}/{events:,} events, {took:.0f} s, {rate:,.0f} events/s, "
                    f"eta {(events - done) / rate:.0f} s",
                    final=done == events,
                )
    return time.perf_counter() - start


def _cache_paths(cache_dir: Path, events: int) -> tuple[Path, Path]:
    stem = f"verify-sqlite-{events}ev-w{WORKLOAD_VERSION}"
    return cache_dir / f"{stem}.db", cache_dir / f"{stem}.json"


def _sqlite_uri(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def _cached_size(path: Path) -> int | None:
    try:
        with ledger.open(_sqlite_uri(path), create=False) as lg:
            return lg.size()
    except ledger.LedgerError:
        return None


def cached_sqlite_ledger(cache_dir: Path, events: int, batch: int, *, rebuild: bool) -> tuple[str, dict[str, Any]]:
    """The URI of a cached SQLite ledger of ``events`` events, built if missing."""
    path, meta_path = _cache_paths(cache_dir, events)
    if path.exists() and meta_path.exists() and not rebuild:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if _cached_size(path) == events:
            meta["reused"] = True
            return _sqlite_uri(path), meta
        print(f"cached ledger {path} is incomplete or unreadable: rebuilding", file=sys.stderr)
    cache_dir.mkdir(parents=True, exist_ok=True)
    building = path.with_name(f"{path.name}.building-{os.getpid()}")
    suffixes = ("", "-wal", "-shm", "-journal")
    for suffix in suffixes:
        for stale in (Path(f"{building}{suffix}"), Path(f"{path}{suffix}")):
            stale.unlink(missing_ok=True)
    meta_path.unlink(missing_ok=True)
    try:
        seconds = build(_sqlite_uri(building), events, batch)
        for suffix in suffixes:  # closed: the WAL is normally checkpointed and gone
            if Path(f"{building}{suffix}").exists():
                os.replace(f"{building}{suffix}", f"{path}{suffix}")
    finally:
        for suffix in suffixes:
            Path(f"{building}{suffix}").unlink(missing_ok=True)
    facts = common.machine_facts()
    meta = {
        "events": events,
        "batch": batch,
        "workload_version": WORKLOAD_VERSION,
        "build_seconds": round(seconds, 3),
        "build_events_per_s": round(events / seconds),
        "built_at": facts["date_utc"],
        "built_by_commit": facts["git_commit"],
        "file_bytes": path.stat().st_size,
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    meta["reused"] = False
    return _sqlite_uri(path), meta


@contextlib.contextmanager
def ledger_of(backend: str, args: argparse.Namespace) -> Iterator[tuple[str, dict[str, Any]]]:
    """A ledger of ``args.events`` events on ``backend``: its URI and how it was built."""
    if backend == "sqlite":
        yield cached_sqlite_ledger(Path(args.cache_dir), args.events, args.batch, rebuild=args.rebuild)
        return
    with common.fresh_ledger_uri(backend, pg_admin=args.pg_admin) as uri:
        seconds = build(uri, args.events, args.batch)
        yield (
            uri,
            {
                "events": args.events,
                "batch": args.batch,
                "build_seconds": round(seconds, 3),
                "build_events_per_s": round(args.events / seconds),
                "reused": False,
            },
        )


# -- measuring -------------------------------------------------------------------


def verify_seconds(uri: str, events: int, repeat: int, backend: str) -> list[float]:
    samples = []
    with ledger.open(uri, create=False) as lg:
        for rep in range(repeat):
            took, report = common.time_call(lg.verify)
            if not report.ok or report.events != events:
                raise SystemExit(
                    f"verify of the benchmark ledger failed: {report.events} events, "
                    f"faults: {[str(f) for f in report.faults[:3]]}"
                )
            samples.append(took)
            common.progress(
                f"{backend} verify: repetition {rep + 1}/{repeat}: {events:,} events "
                f"in {took:.2f} s = {events / took:,.0f} events/s"
            )
    return samples


@dataclass(frozen=True)
class ChildMemory:
    """Memory of one child run, in MB (10^6 bytes)."""

    maxrss: float  # ru_maxrss via os.wait4: the largest single process of the child's tree
    vmhwm: float  # the child's own VmHWM, read by itself at exit
    tree_rss: float  # peak of the summed RSS of the child and its workers (sampled)
    tree_pss: float  # the same in PSS: shared pages split between the processes
    processes: int  # most processes seen at once in the tree
    result: dict[str, Any]


def child_memory(uri: str, mode: str) -> ChildMemory:
    """Peak memory of a fresh interpreter that opens ``uri`` and runs ``mode``."""
    done = subprocess.run(
        [sys.executable, "-S", "-c", _LAUNCHER, sys.executable, "-c", _CHILD, uri, mode],
        capture_output=True,
        text=True,
        cwd=common.REPO_DIR,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the {mode} child failed ({done.returncode}):\n{done.stderr}")
    launched = json.loads(done.stdout)
    result = json.loads(launched["output"])
    mb = 1024 / 1e6
    return ChildMemory(
        maxrss=launched["maxrss_kib"] * mb,
        vmhwm=(result.get("vmhwm_kib") or float("nan")) * mb,
        tree_rss=launched["tree_rss_kib"] * mb,
        tree_pss=launched["tree_pss_kib"] * mb,
        processes=launched["processes"],
        result=result,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Verify throughput and peak memory, with raw SHA-256 over the same header bytes as the baseline.",
    )
    parser.add_argument(
        "--events", type=int, default=1_000_000, metavar="N", help="events in the ledger (default: 1000000)"
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=10_000,
        metavar="B",
        help="events per append_many batch while building (default: 10000)",
    )
    parser.add_argument(
        "--mem-repeat",
        type=int,
        default=3,
        metavar="R",
        help="child processes whose peak memory is measured (default: 3)",
    )
    parser.add_argument(
        "--cache-dir",
        default=str(common.OUT_DIR),
        metavar="DIR",
        help="where the built SQLite ledger is cached (default: benchmarks/out)",
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached SQLite ledger")
    common.add_common_args(parser, default_repeat=5)
    args = parser.parse_args(argv)
    backends = common.backends_of(args, parser)
    if args.events < 1 or args.batch < 1 or args.mem_repeat < 1:
        parser.error("--events, --batch and --mem-repeat must be positive")
    out = common.report_stream(args)

    workload = {
        "ledger": f"{args.events:,} events built with lg.append_many() in batches of {args.batch:,}",
        "event": common.event_shape(),
        "verify": f"lg.verify() over the whole ledger, {args.repeat} repetitions in one process, median reported",
        "memory": f"peak RSS (ru_maxrss via os.wait4, MB = 10^6 bytes) of a fresh `python -c` child that "
        f"only opens the ledger and verifies it, {args.mem_repeat} children, median; also the "
        "peak summed PSS/RSS of its process tree (verify workers), sampled every 50 ms; "
        "an open-only child is measured too, for the interpreter + import floor",
        "verify workers": "lg.verify() default (the library decides; MLLEDGER_VERIFY_WORKERS="
        f"{os.environ.get('MLLEDGER_VERIFY_WORKERS', 'unset')})",
        "baseline": "hashlib.sha256(h).hexdigest() over the header bytes of the same ledger "
        "(rebuilt from export_jsonl with ledger.encoding.header_bytes), same run, "
        f"{args.repeat} repetitions, median",
        "backends": ", ".join(backends),
    }
    machine = common.print_header("verify throughput and memory", workload, out)
    out.flush()

    figures: list[Figure] = []
    backend_facts: dict[str, dict[str, Any]] = {}
    for backend in backends:
        with ledger_of(backend, args) as (uri, built):
            facts: dict[str, Any] = {}
            if backend == "sqlite":
                path = Path(uri.removeprefix("sqlite:///"))
                facts = {
                    "ledger": str(path),
                    "filesystem": common.filesystem_of(path),
                    "file_mb": round(path.stat().st_size / 1e6, 1),
                    "settings": "library defaults (WAL, synchronous=FULL)",
                }
            else:
                facts = common.postgres_facts(args.pg_admin)
            how = f"{built['build_seconds']:.1f} s, {built['build_events_per_s']:,} events/s (append_many)"
            if built.get("reused"):
                how = f"reused the cache built {built.get('built_at', '?')}: {how}"
            facts["build"] = how
            backend_facts[backend] = facts
            common.print_facts(f"backend {backend}", facts, out)
            out.flush()

            seconds = verify_seconds(uri, args.events, args.repeat, backend)
            runs: list[ChildMemory] = []
            floor: list[ChildMemory] = []
            for rep in range(args.mem_repeat):
                run = child_memory(uri, "verify")
                if not run.result["ok"] or run.result["events"] != args.events:
                    raise SystemExit(f"the memory child's verify failed: {run.result}")
                runs.append(run)
                floor.append(child_memory(uri, "open"))
                common.progress(
                    f"{backend} memory: child {rep + 1}/{args.mem_repeat}: "
                    f"verify ru_maxrss {run.maxrss:.1f} MB "
                    f"(own VmHWM {run.vmhwm:.1f} MB; tree of {run.processes} process(es): RSS "
                    f"{run.tree_rss:.1f} MB, PSS {run.tree_pss:.1f} MB), open-only {floor[-1].maxrss:.1f} MB"
                )

            common.progress(f"{backend} baseline: exporting {args.events:,} events ...")
            with ledger.open(uri, create=False) as lg:
                headers, payloads = common.export_hash_inputs(lg, with_payloads=True)
            header_s = common.sha256_seconds(headers, args.repeat)
            payload_s = common.sha256_seconds(payloads, args.repeat)
            raw = len(headers) / statistics.median(header_s)
            raw_both = len(headers) / (statistics.median(header_s) + statistics.median(payload_s))
            common.progress(f"{backend} baseline: raw SHA-256 {raw:,.0f} hashes/s over the headers")
            mean_payload = sum(map(len, payloads)) / max(1, len(payloads))
            del headers, payloads

        rates = common.rates(args.events, seconds)
        throughput = Figure(
            backend=backend,
            name=f"verify throughput (N={args.events:,})",
            unit="events/s",
            samples=rates,
            target=RATE_TARGET,
            baseline=raw,
        )
        throughput.baseline_text = f"raw hashlib SHA-256 of the same {args.events:,} header bytes: {raw:,.0f} hashes/s"
        duration = Figure(
            backend=backend, name=f"verify time (N={args.events:,})", unit="s", samples=seconds, higher_is_better=False
        )
        share = Figure(
            backend=backend,
            name="verify rate as a share of the raw SHA-256 rate over the same headers",
            unit="%",
            samples=[100 * r / raw for r in rates],
            target=RAW_SHARE_TARGET,
            baseline=raw,
            baseline_text=f"{raw:,.0f} hashes/s raw (hashlib, same run)",
            notes={
                "info": f"verify also hashes each payload (mean {mean_payload:.0f} B): raw SHA-256 of "
                f"header + payload bytes = {raw_both:,.0f} events/s; verify runs at "
                f"{100 * statistics.median(rates) / raw_both:.1f}% of that"
            },
        )
        floor_mb = statistics.median(f.maxrss for f in floor)
        processes = max(r.processes for r in runs)
        memory = Figure(
            backend=backend,
            name=f"peak memory of a verify child, ru_maxrss (N={args.events:,})",
            unit="MB",
            samples=[r.maxrss for r in runs],
            higher_is_better=False,
            target=MEMORY_TARGET_MB,
            baseline=floor_mb,
            baseline_text=f"open-only child (interpreter + imports + open): {floor_mb:.1f} MB; "
            f"verify adds {statistics.median(r.maxrss for r in runs) - floor_mb:.1f} MB",
            notes={
                "check": f"VmHWM the child read itself at exit: {statistics.median(r.vmhwm for r in runs):.1f} MB",
                "scope": f"ru_maxrss is the largest single process; verify ran as up to {processes} "
                "process(es) at once (see the process-tree figure)",
            },
        )
        pss = statistics.median(r.tree_pss for r in runs)
        tree = Figure(
            backend=backend,
            name=f"peak memory of the verify process tree, summed RSS, sampled (N={args.events:,})",
            unit="MB",
            samples=[r.tree_rss for r in runs],
            higher_is_better=False,
            target=MEMORY_TARGET_MB,
            notes={
                "pss": f"summed PSS (shared pages split between processes): {pss:.1f} MB median, "
                f"{'PASS' if pss <= MEMORY_TARGET_MB else 'MISS'} (≤ {MEMORY_TARGET_MB:.0f} MB)",
                "processes": f"up to {processes} at once (the child and its verify workers); "
                "sampled every 50 ms, so a shorter spike can be missed",
            },
        )
        if args.events != MEMORY_TARGET_EVENTS:
            for fig in (memory, tree):
                fig.target_text = f"≤ {MEMORY_TARGET_MB:.0f} MB @1M events"
                fig.notes["note"] = f"the memory target is defined at {MEMORY_TARGET_EVENTS:,} events"
        figures += [throughput, duration, share, memory, tree]

    print("results:", file=out)
    common.print_figures(figures, out)
    print(f"load average at the end (1, 5, 15 min; 2 shared cores): {common.load_average()}", file=out)
    common.write_json(
        args.json,
        {
            "benchmark": "verify",
            "workload": workload,
            "machine": machine,
            "backends": backend_facts,
            "figures": [f.to_json() for f in figures],
            "load_average_end": os.getloadavg(),
            "parent_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6, 1),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
