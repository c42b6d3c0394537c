"""Shared helpers of the mlledger benchmark scripts (not a script itself).

Owns: the machine facts every script prints, timing and medians, a fresh
ledger URI per backend (a new SQLite file in a temporary directory, or a newly
created PostgreSQL database that is dropped afterwards), the benchmark event
shape, PASS/MISS verdicts, and the raw ``hashlib`` baseline: the SHA-256 rate
over the very header bytes the ledger hashes, obtained by exporting the ledger
(DESIGN §2) and rebuilding each header with ``ledger.encoding.header_bytes``.

Only the public API of ``ledger`` is used (``ledger.open``, ``append``,
``append_many``, ``verify``, ``export_jsonl``), plus
``ledger.encoding.header_bytes`` / ``canonical_json`` for the baseline.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import shutil
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy.engine import make_url

import ledger
from ledger.encoding import canonical_json, header_bytes

PG_ENV = "MLLEDGER_BENCH_PG_URI"
BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"
HEADER_FIELDS = ("v", "seq", "id", "type", "schema", "time", "actor", "payload_digest", "prev")

EVENT_TYPE = "run.metrics_logged"
ACTOR = "bench@example.org"
RUN_ID = "run-0f8e4c2a"
_EPOCH_MS = 1_764_154_203_123  # 2025-11-26T10:50:03.123Z


# -- the benchmark event ------------------------------------------------------


def metric_payloads(count: int, *, start: int = 0, seed: int = 1) -> list[dict[str, Any]]:
    """``count`` payloads of ``run.metrics_logged`` with one metric each.

    A training loop's loss curve: full-precision doubles in 0.05..2.5,
    ``step`` = index, millisecond timestamps a second apart.
    """
    rng = random.Random(seed * 1_000_003 + start)
    return [
        {
            "run_id": RUN_ID,
            "metrics": [{"key": "loss", "value": rng.uniform(0.05, 2.5), "step": i, "timestamp": _EPOCH_MS + 1000 * i}],
        }
        for i in range(start, start + count)
    ]


def start_run(lg: ledger.Ledger) -> int:
    """Append the experiment and the run the benchmark metrics belong to (the
    tracking rules refuse metrics for a run never started); returns 2."""
    lg.append("experiment.created", {"experiment_id": "bench", "name": "bench"}, actor=ACTOR)
    lg.append("run.started", {"run_id": RUN_ID, "experiment_id": "bench"}, actor=ACTOR)
    return 2


def event_shape() -> str:
    """One example payload as its RFC 8785 text, and its size."""
    text = canonical_json(metric_payloads(1)[0]).decode()
    return f"{EVENT_TYPE} by {ACTOR!r}, payload {len(text)} B JCS, e.g. {text}"


# -- machine facts -------------------------------------------------------------


def _cpuinfo() -> tuple[str, set[str]]:
    model, flags = "unknown", set[str]()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and model == "unknown":
                model = value.strip()
            elif key == "flags" and not flags:
                flags = set(value.split())
    return model, flags


def _meminfo_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    return None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO_DIR), *args], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def filesystem_of(path: str | Path) -> str:
    """The mount point and file-system type holding ``path`` (from /proc/mounts)."""
    target = os.path.realpath(path)
    best, kind = "", "unknown"
    with contextlib.suppress(OSError), open("/proc/mounts", encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            mount = parts[1]
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best):
                best, kind = mount, parts[2]
    return f"{kind} (mounted at {best or '?'})"


def machine_facts() -> dict[str, Any]:
    """CPU, cores, memory, OS, Python, SQLite, OpenSSL, mlledger and git revision."""
    model, flags = _cpuinfo()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    commit = _git("rev-parse", "--short=12", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    mem = _meminfo_gib()
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpu_model": model,
        "cpu_sha_extensions": "sha_ni" in flags,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "memory_gib": round(mem, 1) if mem else None,
        "load_average": os.getloadavg(),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "openssl": ssl.OPENSSL_VERSION,
        "mlledger": getattr(ledger, "__version__", "?"),
        "git_commit": (commit + (" (+uncommitted changes)" if status else "")) if commit else None,
    }


def print_facts(title: str, facts: dict[str, Any], out: IO[str]) -> None:
    print(f"{title}:", file=out)
    width = max(len(k) for k in facts)
    for key, value in facts.items():
        shown = value
        if isinstance(value, tuple | list):
            shown = ", ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in value)
        print(f"  {key:<{width}}  {shown}", file=out)


def print_header(title: str, workload: dict[str, Any], out: IO[str]) -> dict[str, Any]:
    """Print the benchmark's title, workload and machine facts; returns the machine facts."""
    machine = machine_facts()
    print(f"mlledger benchmark: {title}", file=out)
    print_facts("workload", workload, out)
    print_facts("machine", machine, out)
    return machine


# -- command line ----------------------------------------------------------------


def print_backend_facts(backends: Sequence[str], args: argparse.Namespace, out: IO[str]) -> dict[str, dict[str, Any]]:
    """Print and return, per backend, where the ledgers live and how they are set up."""
    facts: dict[str, dict[str, Any]] = {}
    for backend in backends:
        if backend == "sqlite":
            where = args.tmpdir or tempfile.gettempdir()
            facts[backend] = {
                "directory": where,
                "filesystem": filesystem_of(where),
                "settings": "library defaults (WAL, synchronous=FULL)",
            }
        else:
            facts[backend] = postgres_facts(args.pg_admin)
        print_facts(f"backend {backend}", facts[backend], out)
    out.flush()
    return facts


def add_common_args(parser: argparse.ArgumentParser, *, default_repeat: int) -> None:
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgres", "both"),
        default="sqlite",
        help="which store to measure (default: sqlite)",
    )
    parser.add_argument(
        "--pg-admin",
        metavar="URI",
        default=os.environ.get(PG_ENV),
        help=f"admin URI of a PostgreSQL role with CREATEDB; a new database is created for each "
        f"measurement and dropped afterwards (default: ${PG_ENV}), e.g. "
        "postgresql+psycopg://mlledger_test:mlledger_test@127.0.0.1:5432/postgres",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=default_repeat,
        metavar="R",
        help=f"repetitions of each measurement; the median is reported (default: {default_repeat})",
    )
    parser.add_argument(
        "--tmpdir",
        metavar="DIR",
        default=None,
        help="where temporary SQLite ledgers go (default: the system temp dir); "
        "use a disk, not tmpfs, or durable commits cost nothing",
    )
    parser.add_argument(
        "--json",
        metavar="PATH",
        default=None,
        help="also write the figures as JSON to PATH ('-' = stdout; the text report then goes to stderr)",
    )


def backends_of(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[str]:
    chosen = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if "postgres" in chosen and not args.pg_admin:
        parser.error(f"--backend {args.backend} needs --pg-admin URI or ${PG_ENV}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return chosen


def report_stream(args: argparse.Namespace) -> IO[str]:
    """Where the human-readable report goes: stderr when JSON goes to stdout."""
    return sys.stderr if args.json == "-" else sys.stdout


def progress(message: str, *, final: bool = False) -> None:
    """A progress line on stderr: rewritten in place on a terminal, else one line each."""
    sys.stdout.flush()
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K" + message + ("\n" if final else ""))
    else:
        sys.stderr.write(message + "\n")
    sys.stderr.flush()


def write_json(path: str | None, document: dict[str, Any]) -> None:
    if not path:
        return
    text = json.dumps(document, indent=2, default=str) + "\n"
    if path == "-":
        sys.stdout.write(text)
    else:
        Path(path).write_text(text, encoding="utf-8")
        print(f"figures written to {path}", file=sys.stderr)


# -- ledgers per backend -----------------------------------------------------------


def _libpq(uri: str) -> str:
    return make_url(uri).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_connect(admin: str) -> Any:
    import psycopg

    return psycopg.connect(_libpq(admin), autocommit=True)


def postgres_facts(admin: str) -> dict[str, Any]:
    """Server version and the durability settings that decide append speed."""
    with _pg_connect(admin) as conn:
        facts: dict[str, Any] = {"server": conn.execute("SELECT version()").fetchone()[0]}
        for setting in ("fsync", "synchronous_commit", "wal_level", "shared_buffers"):
            facts[setting] = conn.execute(f"SHOW {setting}").fetchone()[0]
    url = make_url(admin)
    facts["host"] = f"{url.host}:{url.port or 5432}"
    return facts


@contextlib.contextmanager
def fresh_ledger_uri(backend: str, *, pg_admin: str | None = None, tmpdir: str | None = None) -> Iterator[str]:
    """The URI of a brand-new, empty ledger location, removed afterwards.

    SQLite: a new file in a new temporary directory. PostgreSQL: a newly
    created database (``CREATE DATABASE``), dropped with ``FORCE`` at the end.
    """
    if backend == "sqlite":
        directory = tempfile.mkdtemp(prefix="mlledger-bench-", dir=tmpdir)
        try:
            yield f"sqlite:///{directory}/ledger.db"
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    elif backend == "postgres":
        if not pg_admin:
            raise SystemExit(f"PostgreSQL needs --pg-admin URI or ${PG_ENV}")
        name = f"mlledger_bench_{uuid.uuid4().hex[:16]}"
        with _pg_connect(pg_admin) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield (
                make_url(pg_admin)
                .set(drivername="postgresql+psycopg", database=name)
                .render_as_string(hide_password=False)
            )
        finally:
            with _pg_connect(pg_admin) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        raise ValueError(f"unknown backend {backend!r}")


def safe_uri(uri: str) -> str:
    return make_url(uri).render_as_string(hide_password=True)


# -- timing ------------------------------------------------------------------------


@dataclass
class Figure:
    """One measured figure: samples, median, baseline and target."""

    backend: str
    name: str
    unit: str
    samples: list[float]
    higher_is_better: bool = True
    target: float | None = None
    target_text: str = ""
    baseline: float | None = None
    baseline_text: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def ratio(self) -> float | None:
        """measured / target (≥ 1 passes a floor; ≤ 1 passes a ceiling)."""
        if self.target is None or self.target == 0:
            return None
        return self.median / self.target

    @property
    def status(self) -> str | None:
        if self.target is None:
            return None
        ok = self.median >= self.target if self.higher_is_better else self.median <= self.target
        return "PASS" if ok else "MISS"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            median=self.median,
            min=min(self.samples),
            max=max(self.samples),
            repetitions=len(self.samples),
            ratio_to_target=self.ratio,
            status=self.status,
        )
        return data


def time_call(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds taken by ``fn()``, and its result."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def rates(count: int, seconds: Sequence[float]) -> list[float]:
    return [count / s for s in seconds]


def fmt_num(value: float, unit: str, *, with_unit: bool = True) -> str:
    if unit == "s":
        text = f"{value:.3f}"
    elif unit in ("MB", "%", "ms"):
        text = f"{value:.1f}"
    else:
        text = f"{value:,.0f}"
    return f"{text} {unit}" if with_unit else text


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def print_figures(figures: Sequence[Figure], out: IO[str]) -> None:
    """One block per figure: median [min … max], baseline, target, PASS/MISS."""
    for fig in figures:
        low, high = (fmt_num(x, fig.unit, with_unit=False) for x in (min(fig.samples), max(fig.samples)))
        spread = f"[{low} … {high}, n={len(fig.samples)}]"
        print(f"  {fig.backend:<8} {fig.name}", file=out)
        print(f"           median    {fmt_num(fig.median, fig.unit):<22}   {spread}", file=out)
        if fig.baseline_text:
            print(f"           baseline  {fig.baseline_text}", file=out)
        if fig.target is not None:
            sign = "≥" if fig.higher_is_better else "≤"
            text = fig.target_text or f"{sign} {fmt_num(fig.target, fig.unit)}"
            verdict = f"{fig.status}  (measured/target = {fig.ratio:.2f}×)"
            print(f"           target    {text:<22}   {verdict}", file=out)
        for key, value in fig.notes.items():
            print(f"           {key:<9} {value}", file=out)


# -- the raw hashlib baseline --------------------------------------------------------


def export_hash_inputs(lg: ledger.Ledger, *, with_payloads: bool = False) -> tuple[list[bytes], list[bytes]]:
    """The header bytes (and optionally payload bytes) the ledger hashes, from its export.

    Each export line carries the nine header fields; ``header_bytes`` rebuilds
    the canonical header, and its SHA-256 is checked against the exported
    ``hash`` so the baseline provably hashes the same bytes as the ledger.
    """
    headers: list[bytes] = []
    payloads: list[bytes] = []
    sha256 = hashlib.sha256
    with tempfile.TemporaryFile("w+", encoding="utf-8") as sink:
        lg.export_jsonl(sink)
        sink.seek(0)
        for number, line in enumerate(sink):
            obj = json.loads(line)
            header = header_bytes(**{k: obj[k] for k in HEADER_FIELDS})
            if sha256(header).hexdigest() != obj["hash"]:
                raise SystemExit(f"export line {number}: rebuilt header does not hash to the exported hash")
            headers.append(header)
            if with_payloads and obj["payload"] is not None:
                body = canonical_json(obj["payload"])
                if sha256(body).hexdigest() != obj["payload_digest"]:
                    raise SystemExit(f"export line {number}: payload does not hash to its payload_digest")
                payloads.append(body)
    return headers, payloads


def sha256_seconds(inputs: Sequence[bytes], repeat: int) -> list[float]:
    """Seconds for ``hashlib.sha256(b).hexdigest()`` over every input, ``repeat`` times."""
    sha256 = hashlib.sha256
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for b in inputs:
            sha256(b).hexdigest()
        samples.append(time.perf_counter() - start)
    return samples


def raw_sha256_rate(headers: Sequence[bytes], repeat: int) -> float:
    """Median hashes/s of raw SHA-256 over ``headers``."""
    return len(headers) / statistics.median(sha256_seconds(headers, repeat))


def baseline_text(raw_rate: float, measured: float, headers: Sequence[bytes]) -> str:
    mean = sum(map(len, headers)) / len(headers) if headers else 0
    return (
        f"raw hashlib SHA-256 of the same {len(headers):,} header bytes (mean {mean:.0f} B): "
        f"{raw_rate:,.0f} hashes/s -> ledger at {100 * measured / raw_rate:.2f}% of raw"
    )
