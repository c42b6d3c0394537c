"""Model registry throughput and as-of lookups (issue 4), beside MLflow's figures.

Workloads, each call one durable transaction as MLflow's are:

  registrations   ``lg.register_model(name, run_id, "model")`` of N new versions
                  of one model, each from its own FINISHED run with a logged
                  artifact directory (the runs are prepared first, untimed;
                  version 1, which also registers the model, is untimed too);
  transitions     ``lg.transition_stage`` between stages that need no approval:
                  (a) K versions cycled None -> Staging -> Archived -> Staging ...
                  under the default policy; (b) K versions moved to Production in
                  turn on a model whose policy needs no approval (set by an admin),
                  each move archiving the previous holder in the same event;
  governed flow   ``request_transition`` by one actor, then ``approve_transition``
                  by an approver (four-eyes, default policy), which moves the
                  version to Production and archives the old holder: flows/s,
                  informational (two transactions, three events per flow);
  as-of lookup    ``lg.registry_as_of(<random RFC 3339 time>).version_in_stage(
                  name, "Production")`` end to end (time -> seq binary search,
                  then the indexed interval lookup) on a ledger of 1,000,000
                  events: mostly ``run.metrics_logged`` in append_many batches into
                  a few long runs, with registrations, Staging moves and Production
                  promotions (governed, and direct on one model) of a few hundred
                  versions over several models spread through a year of history.
                  Every answer is checked against the promotions made while
                  building.

The as-of ledger is built once and cached: SQLite in benchmarks/out/, keyed by
its size; PostgreSQL in a database of its own on the server of --pg-admin
(``mlledger_bench_registry_asof_<events>ev_w<version>``), described by a JSON
file in benchmarks/out/. ``--rebuild`` rebuilds either; ``--no-cache`` builds in
a temporary place removed afterwards; a cached PostgreSQL ledger stays until
``DROP DATABASE`` (the name is printed). A PostgreSQL build projected to take more
than --pg-build-limit seconds is abandoned and the as-of part skipped (said so
in the output).

Each rate figure also prints the p50 latency of the first and the last tenth of
its calls ("growth"): registry commands read the model's history, so they slow
down as a model collects versions and stage changes, and the figure depends on N.

The MLflow figures are the ones quoted in issue 4 (MLflow 3.17 with its SQLite
store, measured on this 2-core machine); this script does not install MLflow.

    python benchmarks/registry.py --backend both            # needs MLLEDGER_BENCH_PG_URI for postgres
    python benchmarks/registry.py --quick --backend both    # small sizes, a smoke check
    python benchmarks/registry.py --parts asof --lookups 2000
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import common
from common import Figure
from sqlalchemy.engine import make_url

import ledger
from ledger.encoding import format_time

MLFLOW = {
    "register": "59 registrations/s",
    "transition": "120 stage transitions/s",
    "governed": "none (MLflow OSS has no transition requests or approvals)",
    "asof": "none (MLflow keeps only the current stage: there is no history to look up)",
}
TARGETS = {"register": 1_000.0, "transition": 2_000.0, "asof_ms": 20.0}
PARTS = ("registrations", "transitions", "asof")
WORKLOAD_VERSION = 1  # bump when the as-of ledger's content changes, to invalidate caches

ADMIN = "admin@example.org"
TRAINER = "trainer@example.org"
REQUESTER = "requester@example.org"
APPROVER = "approver@example.org"
HISTORY_START = datetime(2025, 1, 1, tzinfo=UTC)
HISTORY_SPAN = timedelta(days=365)
# The most events one registry step of the as-of build appends: a run (started, 3 artifacts
# in one batch, a metric, finished), the registration, a move to Staging, and a governed
# promotion (request, approval, stage change).
STEP_EVENTS = 11


# -- preparing runs ------------------------------------------------------------------


def model_dir(parent: Path, index: int) -> Path:
    """A small model directory, as mlflow.<flavor>.save_model writes it; its
    weights differ per index, so every version pins a different digest."""
    path = parent / f"model-{index}"
    path.mkdir(parents=True, exist_ok=True)
    (path / "MLmodel").write_text(
        f"artifact_path: model\nflavors:\n  python_function:\n    loader_module: bench\nrun_index: {index}\n",
        encoding="utf-8",
    )
    (path / "model.pkl").write_bytes(random.Random(index).randbytes(4096))
    (path / "requirements.txt").write_text("scikit-learn==1.5.2\nnumpy==2.1.3\n", encoding="utf-8")
    return path


def finished_run(lg: ledger.Ledger, workdir: Path, index: int, *, experiment: str = "registry-bench") -> str:
    """A FINISHED run that logged a model directory at ``model`` and a validation metric."""
    with lg.start_run(experiment=experiment, actor=TRAINER, capture_environment=False) as run:
        run.log_artifact(str(model_dir(workdir, index)), "model")
        run.log_metric("val_loss", 0.1 + random.Random(index).random())
    return run.run_id


@contextlib.contextmanager
def fresh_workspace(backend: str, args: argparse.Namespace) -> Iterator[tuple[ledger.Ledger, Path]]:
    """An open ledger on a brand-new location, and a scratch directory for
    model sources and the artifact store; both removed afterwards."""
    with (
        common.fresh_ledger_uri(backend, pg_admin=args.pg_admin, tmpdir=args.tmpdir) as uri,
        tempfile.TemporaryDirectory(prefix="mlledger-registry-", dir=args.tmpdir) as scratch,
    ):
        workdir = Path(scratch)
        with ledger.open(uri, artifact_root=workdir / "artifacts") as lg:
            yield lg, workdir


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (``fraction`` in 0..1)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


@dataclass
class Timed:
    """Total seconds of a timed loop and the latency of each call in it."""

    seconds: float
    latencies: list[float]

    def rate(self, count: int) -> float:
        return count / self.seconds


def timed_calls(calls: Sequence[Callable[[], Any]]) -> Timed:
    latencies = []
    clock = time.perf_counter
    start = clock()
    for call in calls:
        t = clock()
        call()
        latencies.append(clock() - t)
    return Timed(clock() - start, latencies)


def latency_note(samples: Sequence[Timed]) -> str:
    p50 = statistics.median(percentile(s.latencies, 0.5) * 1e6 for s in samples)
    p99 = statistics.median(percentile(s.latencies, 0.99) * 1e6 for s in samples)
    return f"p50 {p50:,.0f} µs, p99 {p99:,.0f} µs (medians over repetitions)"


def growth_note(samples: Sequence[Timed]) -> str:
    """The p50 latency of the first and the last tenth of the calls: whether a
    call gets slower as the model's history grows."""
    tenth = max(1, len(samples[0].latencies) // 10)
    first = statistics.median(percentile(s.latencies[:tenth], 0.5) * 1e6 for s in samples)
    last = statistics.median(percentile(s.latencies[-tenth:], 0.5) * 1e6 for s in samples)
    return (
        f"p50 of the first tenth of the calls {first:,.0f} µs, of the last tenth {last:,.0f} µs ({last / first:.2f}×)"
    )


# -- 1. registrations ----------------------------------------------------------------


def registrations(backend: str, args: argparse.Namespace) -> Timed:
    """Seconds for ``args.registrations`` register_model calls of one model."""
    count = args.registrations
    with fresh_workspace(backend, args) as (lg, workdir):
        runs = [finished_run(lg, workdir, i) for i in range(count + 1)]
        lg.register_model("bench-model", runs[0], "model", owner=TRAINER, actor=TRAINER)  # version 1: untimed
        calls = [partial(lg.register_model, "bench-model", run_id, "model", actor=TRAINER) for run_id in runs[1:]]
        result = timed_calls(calls)
        model = lg.get_model("bench-model")
        if model.latest_version != count + 1:
            raise SystemExit(f"{backend}: expected {count + 1} versions, found {model.latest_version}")
        report = lg.verify()
        if not report.ok:
            raise SystemExit(f"{backend}: the registration ledger does not verify: {report}")
    return result


# -- 2. stage transitions -----------------------------------------------------------


@dataclass
class TransitionRun:
    cycle: Timed
    handover: Timed
    governed: Timed


def transitions(backend: str, args: argparse.Namespace) -> TransitionRun:
    """The three transition workloads on one new ledger, each on a model of its own."""
    versions, count, flows = args.versions, args.transitions, args.flows
    with fresh_workspace(backend, args) as (lg, workdir):
        lg.claim_admin(actor=ADMIN)
        lg.grant_role(APPROVER, "approver", actor=ADMIN)
        names = ("bench-cycle", "bench-handover", "bench-governed")
        for m, name in enumerate(names):
            for v in range(versions):
                run_id = finished_run(lg, workdir, m * versions + v)
                lg.register_model(name, run_id, "model", owner=TRAINER, actor=TRAINER)
        lg.set_policy("bench-handover", approval_stages=[], actor=ADMIN)

        # (a) None -> Staging -> Archived -> Staging ... round-robin over the versions.
        stage = dict.fromkeys(range(1, versions + 1), "None")
        cycle_calls = []
        for i in range(count):
            v = i % versions + 1
            stage[v] = "Archived" if stage[v] == "Staging" else "Staging"
            cycle_calls.append(partial(lg.transition_stage, "bench-cycle", v, stage[v], "bench cycle", actor=TRAINER))
        cycle = timed_calls(cycle_calls)

        # (b) Production hand-over with no approval: each move archives the previous holder.
        handover_calls = [
            partial(lg.transition_stage, "bench-handover", i % versions + 1, "Production", actor=TRAINER)
            for i in range(count)
        ]
        handover = timed_calls(handover_calls)
        if lg.registry.versions_in_stage("bench-handover", "Production") != [(count - 1) % versions + 1]:
            raise SystemExit(f"{backend}: the Production hand-over left the wrong holder")

        # (c) Governed: request by one actor, approval by an approver; the approval moves the version.
        def flow(v: int) -> None:
            request = lg.request_transition("bench-governed", v, "Production", "bench flow", actor=REQUESTER)
            done = lg.approve_transition(request.request_id, "ok", actor=APPROVER)
            if done.executed_seq is None:
                raise SystemExit(f"{backend}: approval of {request.request_id} did not move the version")

        governed = timed_calls([partial(flow, i % versions + 1) for i in range(flows)])
        report = lg.verify()
        if not report.ok:
            raise SystemExit(f"{backend}: the transition ledger does not verify: {report}")
    return TransitionRun(cycle, handover, governed)


# -- 3. the as-of ledger --------------------------------------------------------------


class BuildTooSlowError(Exception):
    """The build is projected to take longer than allowed."""


def model_names(models: int) -> list[str]:
    return [f"credit-model-{m}" for m in range(models)]


def build_asof(
    uri: str, workdir: Path, args: argparse.Namespace, *, limit: float | None = None, label: str = ""
) -> dict[str, Any]:
    """Build the as-of ledger at ``uri``; returns its description (with the
    Production timeline of every model, to check lookups against).

    Times come from a clock that maps the position in the ledger onto a year
    (2025), so a random time within the history lands on a random seq.
    """
    events, batch, models, total_versions = args.asof_events, args.batch, args.models, args.asof_versions
    position = [0]

    def clock() -> str:
        return format_time(HISTORY_START + HISTORY_SPAN * (position[0] / events))

    names = model_names(models)
    direct = names[-1]  # its policy lets Production be set directly; the others need approval
    bulk_runs = 4
    timeline: dict[str, list[tuple[str, int]]] = {name: [] for name in names}
    versions = dict.fromkeys(names, 0)
    rng = random.Random(4)
    start = time.perf_counter()
    pending = ledger.PendingEvent
    with ledger.open(uri, clock=clock, artifact_root=workdir / "artifacts") as lg:
        if lg.size():
            raise SystemExit(f"refusing to build into a non-empty ledger at {common.safe_uri(uri)}")

        def sync() -> int:
            position[0] = lg.size()
            return position[0]

        def register(name: str, index: int) -> int:
            run_id = finished_run(lg, workdir / "models", index, experiment="candidates")
            version = lg.register_model(name, run_id, "model", owner=TRAINER, actor=TRAINER).version
            versions[name] = version
            sync()
            return version

        # Setup: roles, the long training runs, and version 1 of every model.
        lg.claim_admin(actor=ADMIN)
        lg.grant_role(APPROVER, "approver", actor=ADMIN)
        lg.set_experiment("training")
        runs = [lg.start_run(experiment="training", actor=TRAINER, capture_environment=False) for _ in range(bulk_runs)]
        index = 0
        for name in names:
            register(name, index)
            index += 1
        lg.set_policy(direct, approval_stages=[], actor=ADMIN)
        setup_end = sync()
        setup_end_time = lg.event(setup_end - 1).time

        def registry_step(name: str) -> None:
            nonlocal index
            version = register(name, index)
            index += 1
            lg.transition_stage(name, version, "Staging", "candidate", actor=TRAINER)
            if rng.random() < 0.7:  # most candidates are promoted
                if name == direct:
                    lg.transition_stage(name, version, "Production", "promoted", actor=ADMIN)
                else:
                    request = lg.request_transition(name, version, "Production", "promote", actor=REQUESTER)
                    lg.approve_transition(request.request_id, "approved", actor=APPROVER)
                head = lg.head()
                assert head is not None
                timeline[name].append((head.time, version))
            sync()

        # The history: metric batches, with registry steps spread evenly through them.
        # Room is kept for the steps still to come (at most STEP_EVENTS events each),
        # and the metric batches fill the rest, so the ledger ends at exactly ``events``.
        steps = total_versions - models
        target = events - bulk_runs  # the runs' run.finished events end the ledger
        done, step, batch_no, steps_per_run = sync(), 0, 0, [0] * bulk_runs
        spread = target - STEP_EVENTS * steps - setup_end
        every = max(1, target // 20)
        next_report = every
        while True:
            while step < steps and done >= setup_end + (step + 1) * spread // (steps + 1):
                registry_step(names[step % models])
                step += 1
                done = position[0]
            room = target - done - STEP_EVENTS * (steps - step)
            if room <= 0:
                if step == steps:
                    break
                registry_step(names[step % models])  # only when a step made more events than expected
                step += 1
                done = position[0]
                continue
            count = min(batch, room)
            r = batch_no % bulk_runs
            payloads = common.metric_payloads(count, start=steps_per_run[r], seed=r + 1)
            for p in payloads:
                p["run_id"] = runs[r].run_id
            lg.append_many([pending("run.metrics_logged", p, TRAINER) for p in payloads])
            steps_per_run[r] += count
            batch_no += 1
            done += count
            position[0] = done
            took = time.perf_counter() - start
            if done >= next_report or done >= target:
                next_report += every
                rate = done / took
                common.progress(
                    f"{label}building: {done:,}/{events:,} events, {took:.0f} s, {rate:,.0f} events/s, "
                    f"eta {(events - done) / rate:.0f} s",
                    final=done >= target,
                )
            if limit is not None and done >= events // 50 and took * events / done > limit:
                raise BuildTooSlowError(f"projected {took * events / done:,.0f} s after {done:,} events")
        for run in runs:
            run.end("FINISHED")
        head = lg.head()
        assert head is not None
        total = head.size
        last_time = head.time
    seconds = time.perf_counter() - start
    facts = common.machine_facts()
    return {
        "events_requested": events,
        "events": total,
        "batch": batch,
        "models": models,
        "versions": total_versions,
        "promotions": sum(len(t) for t in timeline.values()),
        "workload_version": WORKLOAD_VERSION,
        "build_seconds": round(seconds, 3),
        "build_events_per_s": round(total / seconds),
        "built_at": facts["date_utc"],
        "built_by_commit": facts["git_commit"],
        "history_from": setup_end_time,
        "history_to": last_time,
        "timeline": timeline,
    }


def _params_match(meta: dict[str, Any], args: argparse.Namespace) -> bool:
    wanted = {
        "events_requested": args.asof_events,
        "batch": args.batch,
        "models": args.models,
        "versions": args.asof_versions,
        "workload_version": WORKLOAD_VERSION,
    }
    return all(meta.get(key) == value for key, value in wanted.items())


def _size_of(uri: str) -> int | None:
    try:
        with ledger.open(uri, create=False) as lg:
            return lg.size()
    except ledger.LedgerError:
        return None


def _read_meta(path: Path) -> dict[str, Any] | None:
    try:
        meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta


def _sqlite_uri(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(f"{path}.artifacts", ignore_errors=True)


def cached_sqlite(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The URI of the cached SQLite as-of ledger, built if missing."""
    cache_dir = Path(args.cache_dir)
    stem = f"registry-asof-sqlite-{args.asof_events}ev-w{WORKLOAD_VERSION}"
    path, meta_path = cache_dir / f"{stem}.db", cache_dir / f"{stem}.json"
    meta = _read_meta(meta_path)
    if meta is not None and not args.rebuild:
        if _params_match(meta, args) and _size_of(_sqlite_uri(path)) == meta["events"]:
            return _sqlite_uri(path), meta | {"reused": True, "where": str(path)}
        print(f"cached ledger {path} is incomplete or was built with other parameters: rebuilding", file=sys.stderr)
    cache_dir.mkdir(parents=True, exist_ok=True)
    building = path.with_name(f"{path.name}.building-{os.getpid()}")
    _remove_sqlite(building)
    _remove_sqlite(path)
    meta_path.unlink(missing_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="mlledger-registry-", dir=args.tmpdir) as scratch:
            work = Path(scratch)
            (work / "models").mkdir()
            meta = build_asof(_sqlite_uri(building), work, args, label="sqlite: ")
            # The artifact store is kept beside the ledger, so verify_artifacts works on it.
            shutil.move(str(work / "artifacts"), f"{path}.artifacts")
        for suffix in ("", "-wal", "-shm", "-journal"):  # closed: the WAL is normally checkpointed and gone
            if Path(f"{building}{suffix}").exists():
                os.replace(f"{building}{suffix}", f"{path}{suffix}")
    finally:
        _remove_sqlite(building)
    meta["file_bytes"] = path.stat().st_size
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return _sqlite_uri(path), meta | {"reused": False, "where": str(path)}


def _pg_database_uri(admin: str, name: str) -> str:
    return make_url(admin).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)


def _pg_exists(admin: str, name: str) -> bool:
    with common._pg_connect(admin) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _pg_drop(admin: str, name: str) -> None:
    with common._pg_connect(admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cached_postgres(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The URI of the as-of ledger in its own PostgreSQL database, built if
    missing (in a ``_building`` database renamed when complete); raises
    BuildTooSlowError past ``--pg-build-limit``."""
    admin = args.pg_admin
    url = make_url(admin)
    name = f"mlledger_bench_registry_asof_{args.asof_events}ev_w{WORKLOAD_VERSION}"
    where = f"{url.host or 'localhost'}_{url.port or 5432}"
    meta_path = Path(args.cache_dir) / f"registry-asof-postgres-{where}-{args.asof_events}ev-w{WORKLOAD_VERSION}.json"
    meta = _read_meta(meta_path)
    uri = _pg_database_uri(admin, name)
    if meta is not None and not args.rebuild and _pg_exists(admin, name):
        if _params_match(meta, args) and _size_of(uri) == meta["events"]:
            return uri, meta | {"reused": True, "where": f"database {name}"}
        print(f"cached database {name} is incomplete or was built with other parameters: rebuilding", file=sys.stderr)
    building = f"{name}_building"
    _pg_drop(admin, name)
    _pg_drop(admin, building)
    meta_path.unlink(missing_ok=True)
    with common._pg_connect(admin) as conn:
        conn.execute(f'CREATE DATABASE "{building}"')
    try:
        with tempfile.TemporaryDirectory(prefix="mlledger-registry-", dir=args.tmpdir) as scratch:
            work = Path(scratch)
            (work / "models").mkdir()
            meta = build_asof(
                _pg_database_uri(admin, building), work, args, limit=args.pg_build_limit, label="postgres: "
            )
        with common._pg_connect(admin) as conn:
            conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
    finally:
        _pg_drop(admin, building)
    Path(args.cache_dir).mkdir(parents=True, exist_ok=True)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return uri, meta | {"reused": False, "where": f"database {name}"}


@contextlib.contextmanager
def asof_ledger(backend: str, args: argparse.Namespace) -> Iterator[tuple[str, dict[str, Any]]]:
    """The as-of ledger on ``backend``: cached, or (``--no-cache``) built in a
    fresh location removed afterwards."""
    if not args.no_cache:
        yield cached_sqlite(args) if backend == "sqlite" else cached_postgres(args)
        return
    with (
        common.fresh_ledger_uri(backend, pg_admin=args.pg_admin, tmpdir=args.tmpdir) as uri,
        tempfile.TemporaryDirectory(prefix="mlledger-registry-", dir=args.tmpdir) as scratch,
    ):
        (Path(scratch) / "models").mkdir()
        limit = args.pg_build_limit if backend == "postgres" else None
        meta = build_asof(uri, Path(scratch), args, limit=limit, label=f"{backend}: ")
        yield uri, meta | {"reused": False, "where": "a temporary ledger (--no-cache)"}


# -- 3. the lookups ----------------------------------------------------------------------


@dataclass
class LookupRound:
    total_ms: list[float]
    seq_ms: list[float]  # registry_as_of(time): the time -> seq binary search
    view_ms: list[float]  # .version_in_stage(...): the interval lookup


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def lookups(uri: str, meta: dict[str, Any], count: int, rounds: int) -> list[LookupRound]:
    """``rounds`` rounds of ``count`` lookups at random times, each answer
    checked against the timeline recorded while building."""
    first, last = _parse(meta["history_from"]), _parse(meta["history_to"])
    timeline = {name: ([t for t, _ in entries], [v for _, v in entries]) for name, entries in meta["timeline"].items()}
    names = sorted(timeline)
    rng = random.Random(7)
    result = []
    clock = time.perf_counter
    with ledger.open(uri, create=False) as lg:
        for _ in range(3):  # warm the connection pool and the page cache of the binary search's path
            lg.registry_as_of(meta["history_to"]).version_in_stage(names[0], "Production")
        for _ in range(rounds):
            queries = [(format_time(first + (last - first) * rng.random()), rng.choice(names)) for _ in range(count)]
            total, seq, view, answers = [], [], [], []
            for moment, name in queries:
                t0 = clock()
                registry = lg.registry_as_of(moment)
                t1 = clock()
                answer = registry.version_in_stage(name, "Production")
                t2 = clock()
                total.append((t2 - t0) * 1e3)
                seq.append((t1 - t0) * 1e3)
                view.append((t2 - t1) * 1e3)
                answers.append(answer)
            for (moment, name), answer in zip(queries, answers, strict=True):
                times, versions = timeline[name]
                at = bisect.bisect_right(times, moment)
                expected = versions[at - 1] if at else None
                if answer != expected:
                    raise SystemExit(
                        f"as-of lookup of {name} at {moment} answered {answer}, the build recorded {expected}"
                    )
            result.append(LookupRound(total, seq, view))
    return result


# -- reporting ---------------------------------------------------------------------


def summary_line(fig: Figure) -> str:
    """One line: the figure, its target verdict and the baseline."""
    value = common.fmt_num(fig.median, fig.unit)
    if fig.target is not None:
        sign = "≥" if fig.higher_is_better else "≤"
        target = f"target {sign} {common.fmt_num(fig.target, fig.unit)}: {fig.status} ({fig.ratio:.2f}×)"
    else:
        target = "no target"
    versus = f"; {fig.notes['vs MLflow']}" if "vs MLflow" in fig.notes else ""
    return f"  {fig.backend:<8} {fig.name}: {value}; {target}; MLflow 3.17: {fig.baseline_text}{versus}"


def rate_figure(backend: str, name: str, unit: str, samples: Sequence[Timed], count: int, **kw: Any) -> Figure:
    fig = Figure(backend, name, unit, [s.rate(count) for s in samples], **kw)
    fig.notes["latency"] = latency_note(samples)
    fig.notes["growth"] = growth_note(samples)
    if fig.baseline is not None:
        fig.notes["vs MLflow"] = f"{fig.median / fig.baseline:.1f}× MLflow"
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--registrations", type=int, default=1000, metavar="N", help="versions registered (1000)")
    parser.add_argument("--transitions", type=int, default=2000, metavar="N", help="transition_stage calls (2000)")
    parser.add_argument("--versions", type=int, default=20, metavar="K", help="versions the transitions cycle (20)")
    parser.add_argument("--flows", type=int, default=500, metavar="N", help="governed request+approve flows (500)")
    parser.add_argument("--asof-events", type=int, default=1_000_000, metavar="N", help="as-of ledger size (1000000)")
    parser.add_argument("--asof-versions", type=int, default=300, metavar="N", help="versions in it (300)")
    parser.add_argument("--models", type=int, default=6, metavar="M", help="models in it (6)")
    parser.add_argument("--batch", type=int, default=10_000, metavar="B", help="metric events per append_many (10000)")
    parser.add_argument("--lookups", type=int, default=1000, metavar="L", help="as-of lookups per repetition (1000)")
    parser.add_argument("--cache-dir", default=str(common.OUT_DIR), help="where as-of ledgers are cached")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached as-of ledger")
    parser.add_argument("--no-cache", action="store_true", help="build the as-of ledger afresh and remove it after")
    parser.add_argument(
        "--pg-build-limit",
        type=float,
        default=600.0,
        metavar="S",
        help="abandon a PostgreSQL as-of build projected to take longer (seconds; default 600)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke check: 200 registrations, 400 transitions, 50 flows, a 20,000-event as-of ledger, "
        "200 lookups, 2 repetitions (explicit options still win)",
    )
    common.add_common_args(parser, default_repeat=5)
    if argv is None:
        argv = sys.argv[1:]
    if "--quick" in argv:
        parser.set_defaults(
            registrations=200, transitions=400, flows=50, asof_events=20_000, asof_versions=60, batch=2000, lookups=200
        )
        parser.set_defaults(repeat=2)
    args = parser.parse_args(argv)
    backends = common.backends_of(args, parser)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if unknown := [p for p in parts if p not in PARTS]:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    if min(args.registrations, args.transitions, args.flows, args.lookups, args.batch) < 1 or args.versions < 2:
        parser.error("counts must be positive, and --versions at least 2")
    if args.asof_versions < args.models or args.asof_events < 20 * args.asof_versions:
        parser.error("--asof-versions must be at least --models, and --asof-events at least 20x --asof-versions")
    out = common.report_stream(args)

    workload = {
        "registrations": f"{args.registrations:,} x register_model() of one model, each from its own FINISHED run "
        "with a logged model directory (3 files); runs prepared untimed; one durable transaction each",
        "transitions": f"{args.transitions:,} x transition_stage() (a) cycling {args.versions} versions "
        "None->Staging->Archived->Staging... (default policy), (b) moving them to Production in turn on a model "
        "whose policy needs no approval (each move archives the previous holder); one transaction each",
        "governed": f"{args.flows:,} x (request_transition() + approve_transition() by an approver): moves the "
        "version to Production and archives the old holder; two transactions, three events",
        "as-of": f"{args.lookups:,} x registry_as_of(<random RFC 3339 time>).version_in_stage(name, 'Production') "
        f"per repetition, on a ledger of {args.asof_events:,} events ({args.asof_versions} versions over "
        f"{args.models} models, metric batches of {args.batch:,}); answers checked against the build",
        "parts": ", ".join(parts),
        "baseline": "MLflow 3.17, SQLite store, same machine, as quoted in issue 4",
        "repetitions": f"{args.repeat}, median reported",
        "backends": ", ".join(backends),
    }
    machine = common.print_header("model registry", workload, out)
    backend_facts = common.print_backend_facts(backends, args, out)

    figures: list[Figure] = []
    skipped: list[str] = []
    builds: dict[str, dict[str, Any]] = {}
    for backend in backends:
        if "registrations" in parts:
            samples = []
            for rep in range(args.repeat):
                common.progress(f"{backend}: registrations, repetition {rep + 1}/{args.repeat}")
                samples.append(registrations(backend, args))
            figures.append(
                rate_figure(
                    backend,
                    f"register_model, new versions of one model (N={args.registrations:,})",
                    "registrations/s",
                    samples,
                    args.registrations,
                    target=TARGETS["register"],
                    baseline=59.0,
                    baseline_text=MLFLOW["register"],
                )
            )
        if "transitions" in parts:
            runs = []
            for rep in range(args.repeat):
                common.progress(f"{backend}: transitions, repetition {rep + 1}/{args.repeat}")
                runs.append(transitions(backend, args))
            figures += [
                rate_figure(
                    backend,
                    f"transition_stage, None/Staging/Archived cycle over {args.versions} versions "
                    f"(N={args.transitions:,})",
                    "transitions/s",
                    [r.cycle for r in runs],
                    args.transitions,
                    target=TARGETS["transition"],
                    baseline=120.0,
                    baseline_text=MLFLOW["transition"],
                ),
                rate_figure(
                    backend,
                    f"transition_stage to Production, no-approval policy, archiving the holder "
                    f"(N={args.transitions:,})",
                    "transitions/s",
                    [r.handover for r in runs],
                    args.transitions,
                    target=TARGETS["transition"],
                    baseline=120.0,
                    baseline_text=MLFLOW["transition"],
                ),
                rate_figure(
                    backend,
                    f"governed flow: request_transition + approve_transition (N={args.flows:,}), informational",
                    "flows/s",
                    [r.governed for r in runs],
                    args.flows,
                    baseline_text=MLFLOW["governed"],
                    notes={"per flow": "2 durable transactions (request; approval + stage change), 3 events"},
                ),
            ]
        if "asof" in parts:
            common.progress(f"{backend}: as-of ledger of {args.asof_events:,} events")
            try:
                with asof_ledger(backend, args) as (uri, meta):
                    common.progress(f"{backend}: as-of lookups, {args.repeat} x {args.lookups:,}")
                    rounds = lookups(uri, meta, args.lookups, args.repeat)
            except BuildTooSlowError as e:
                skipped.append(
                    f"  {backend:<8} as-of lookup: SKIPPED, the build of {args.asof_events:,} events was abandoned "
                    f"({e}; --pg-build-limit {args.pg_build_limit:.0f} s)"
                )
                continue
            builds[backend] = {k: v for k, v in meta.items() if k != "timeline"}
            how = (
                f"reused {meta['where']}, built {meta['built_at']} in {meta['build_seconds']:.0f} s"
                if meta["reused"]
                else f"built {meta['where']} in {meta['build_seconds']:.1f} s ({meta['build_events_per_s']:,} events/s)"
            )
            common.print_facts(
                f"as-of ledger, {backend}",
                {
                    "events": f"{meta['events']:,}",
                    "registry": f"{meta['versions']} versions over {meta['models']} models, "
                    f"{meta['promotions']} Production promotions",
                    "history": f"{meta['history_from']} .. {meta['history_to']}",
                    "build": how,
                },
                out,
            )
            for label, fraction in (("median", 0.5), ("p99", 0.99)):
                seq_part = statistics.median(percentile(r.seq_ms, fraction) for r in rounds)
                view_part = statistics.median(percentile(r.view_ms, fraction) for r in rounds)
                whole = statistics.median(percentile(r.total_ms, fraction) for r in rounds)
                split = (
                    f"{whole:.3f} ms; registry_as_of(time) (time -> seq binary search) {seq_part:.3f} ms, "
                    f"version_in_stage (interval lookup) {view_part:.3f} ms, each at its own {label}"
                )
                figures.append(
                    Figure(
                        backend,
                        f"as-of version_in_stage at {meta['events']:,} events, {label} latency "
                        f"({args.lookups:,} random times per repetition)",
                        "ms",
                        [percentile(r.total_ms, fraction) for r in rounds],
                        higher_is_better=False,
                        target=TARGETS["asof_ms"],
                        baseline_text=MLFLOW["asof"],
                        notes={"parts": split},
                    )
                )
    common.progress("done", final=True)
    print("results:", file=out)
    common.print_figures(figures, out)
    print("summary (median of repetitions; target; baseline):", file=out)
    for fig in figures:
        print(summary_line(fig), file=out)
    for line in skipped:
        print(line, file=out)
    print(f"load average at the end (1, 5, 15 min; 2 shared cores): {common.load_average()}", file=out)
    common.write_json(
        args.json,
        {
            "benchmark": "registry",
            "workload": workload,
            "machine": machine,
            "backends": backend_facts,
            "asof_ledgers": builds,
            "figures": [f.to_json() for f in figures],
            "skipped": skipped,
            "load_average_end": os.getloadavg(),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
