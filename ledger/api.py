"""The ``Ledger`` service: open a ledger, append events, read, verify, export.

Owns: the defaults a user expects (the embedded ledger under ``./mlledger/``,
``MLLEDGER_URI``, the actor from ``MLLEDGER_ACTOR`` or the OS user) and the
composition of the pure core (``events``, ``verify``) with the store.
Tracking and registry services build on ``append``/``append_many``.
"""

from __future__ import annotations

import getpass
import itertools
import multiprocessing
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Final

from ledger.artifacts import ArtifactProblem, ArtifactStore
from ledger.checkpoints import CheckpointCommands
from ledger.datasets import DatasetCommands
from ledger.encoding import export_line, format_time
from ledger.environment import capture_environment as capture_env
from ledger.errors import ConflictError, IntegrityError, NotFoundError, ValidationError
from ledger.events import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    PendingEvent,
    RecordedEvent,
    new_event_id,
    prepare,
    recorded,
)
from ledger.evidence import EvidenceCommands
from ledger.files import ledger_home
from ledger.redaction import RedactionCommands
from ledger.registry import RegistryCommands
from ledger.search import parse_filter, parse_order_by, search_runs_query
from ledger.signatures import SIGNATURE_TYPES, check_approval_signatures
from ledger.store import EventStore
from ledger.store.sql import Head, SqlEventStore, safe_uri
from ledger.tracking import ActiveRun, MetricValue, RunView, TrackingReader, _user_tags, new_run_id
from ledger.verify import (
    ChainVerifier,
    Fault,
    Segment,
    VerifyReport,
    check_redactions,
    combine,
    redaction_targets,
)

if TYPE_CHECKING:
    from lineage.service import Lineage

__all__ = ["DEFAULT_URI", "Ledger", "default_actor", "default_uri", "open"]

DEFAULT_URI: Final = "sqlite:///mlledger/ledger.db"
DEFAULT_EXPERIMENT: Final = "Default"
_PROGRESS_EVERY: Final = 10_000
_PARALLEL_FROM: Final = 250_000  # below this, starting processes costs more than it saves
_MIN_RANGE: Final = 50_000

Progress = Callable[[int], None]


def default_uri() -> str:
    """``MLLEDGER_URI``, else the embedded SQLite ledger in ./mlledger/."""
    return os.environ.get("MLLEDGER_URI") or DEFAULT_URI


def default_actor() -> str:
    """``MLLEDGER_ACTOR``, else the operating-system user."""
    explicit = os.environ.get("MLLEDGER_ACTOR")
    if explicit:
        return explicit
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def default_artifact_root(uri: str) -> Path:
    """``MLLEDGER_ARTIFACT_ROOT``, else ``artifacts/`` next to a SQLite file,
    else ``./mlledger/artifacts``."""
    configured = os.environ.get("MLLEDGER_ARTIFACT_ROOT")
    return Path(configured) if configured else ledger_home(uri) / "artifacts"


def _utc_now() -> str:
    return format_time(datetime.now(UTC))


class Ledger(RegistryCommands, DatasetCommands, CheckpointCommands, RedactionCommands, EvidenceCommands):
    """An open ledger. Use as a context manager, or call ``close()``."""

    def __init__(
        self,
        store: EventStore,
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        clock: Callable[[], str] = _utc_now,
        artifact_root: str | Path | None = None,
    ) -> None:
        self.store = store
        self.uri = store.uri
        self.artifact_root = Path(artifact_root) if artifact_root else default_artifact_root(store.uri)
        # Per thread, as in mlflow: a thread's active runs and experiment are its own.
        self._local = threading.local()
        self._experiment_ids: dict[str, str] = {}
        self.max_payload_bytes = max_payload_bytes
        self._clock = clock

    @classmethod
    def open(
        cls,
        uri: str | None = None,
        *,
        create: bool = True,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        clock: Callable[[], str] = _utc_now,
        artifact_root: str | Path | None = None,
    ) -> Ledger:
        """Open the ledger at ``uri`` (default: ``default_uri()``).

        With ``create`` (the default) a missing ledger is created and an older
        schema migrated; without it, a missing ledger is a ``NotFoundError``.
        """
        uri = uri or default_uri()
        store = SqlEventStore.open(uri, create=create)
        return cls(store, max_payload_bytes=max_payload_bytes, clock=clock, artifact_root=artifact_root)

    def close(self) -> None:
        self.store.close()

    def _who(self, actor: str | None) -> str:
        return default_actor() if actor is None else actor

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- writing -------------------------------------------------------------

    def append(
        self, type: str, payload: dict[str, Any], *, actor: str | None = None, id: str | None = None
    ) -> RecordedEvent:
        """Append one event in its own durable transaction.

        Retrying with the same ``id`` returns the event already stored.
        """
        event = PendingEvent(
            type,
            payload,
            default_actor() if actor is None else actor,
            new_event_id() if id is None else id,
        )
        return self.append_many([event])[0]

    def append_many(self, events: Iterable[PendingEvent]) -> list[RecordedEvent]:
        """Append a batch atomically: all of it gets consecutive seqs, or none.

        Every event is validated before anything is written; a bad one
        raises ``ValidationError`` and the ledger is unchanged.
        """
        pending = list(events)
        if not pending:
            return []
        for item in pending:
            if not isinstance(item, PendingEvent):
                raise ValidationError(f"append_many takes PendingEvent items, got {type(item).__name__}")
        limit = self.max_payload_bytes
        prepared = [prepare(event, max_payload_bytes=limit) for event in pending]
        ids = [p.id for p in prepared]
        if len(set(ids)) != len(ids):
            duplicate = next(i for i in ids if ids.count(i) > 1)
            raise ValidationError(f"event id {duplicate} appears twice in one batch")
        sealed = self._append_sealed(prepared)
        payloads = {p.id: p.payload for p in prepared}
        return [recorded(s, payloads.get(s.id)) for s in sealed]

    # -- tracking ------------------------------------------------------------

    @property
    def tracking(self) -> TrackingReader:
        """Reads of the current tracking state (runs, params, metrics, ...)."""
        return TrackingReader(self.store.engine)

    @property
    def lineage(self) -> Lineage:
        """The lineage graph: ``lg.lineage.upstream("model:credit-model/7")``,
        ``lg.lineage.downstream("dataset:loans@2026-03")``, ``path``; kept up to
        date incrementally between questions."""
        # The one import upward (DESIGN §1): the graph belongs to lineage/, the entry point to the Ledger.
        from lineage.service import Lineage  # noqa: PLC0415

        found: Lineage | None = getattr(self, "_lineage", None)
        if found is None:
            found = self._lineage = Lineage(self.store, self._seq_of)
        return found

    @property
    def artifacts(self) -> ArtifactStore:
        """The content-addressed artifact store of this ledger."""
        return ArtifactStore(self.artifact_root)

    @property
    def _active_runs(self) -> list[ActiveRun]:
        runs: list[ActiveRun] | None = getattr(self._local, "runs", None)
        if runs is None:
            runs = self._local.runs = []
        return runs

    @property
    def _experiment(self) -> str:
        return str(getattr(self._local, "experiment", DEFAULT_EXPERIMENT))

    def set_experiment(self, name: str, *, tags: dict[str, str] | None = None, actor: str | None = None) -> str:
        """The id of the experiment called ``name``, created if it is new; it
        becomes this thread's experiment for runs started without one."""
        experiment_id = self._experiment_id(name, tags=tags, actor=actor)
        self._local.experiment = name
        return experiment_id

    def _experiment_id(self, name: str, *, tags: dict[str, str] | None = None, actor: str | None = None) -> str:
        """The id of the experiment called ``name``, created if it is new."""
        experiment_id = self._experiment_ids.get(name) or self.tracking.experiment_id(name)
        if experiment_id is None:
            experiment_id = new_run_id()
            payload = {"experiment_id": experiment_id, "name": name, "tags": tags or {}}
            try:
                self.append("experiment.created", payload, actor=actor)
            except ConflictError:  # created meanwhile by another writer
                experiment_id = self.tracking.experiment_id(name) or experiment_id
        self._experiment_ids[name] = experiment_id  # an experiment's id never changes
        return experiment_id

    def start_run(
        self,
        experiment: str | None = None,
        run_name: str | None = None,
        tags: dict[str, str] | None = None,
        actor: str | None = None,
        parent_run_id: str | None = None,
        *,
        nested: bool = False,
        capture_environment: bool = True,
    ) -> ActiveRun:
        """Start a run (use it in a ``with`` block). ``nested=True`` makes it a
        child of the innermost active run; ``capture_environment=False``
        (or ``MLLEDGER_CAPTURE_ENV=0``) skips recording the environment."""
        if nested and parent_run_id is None:
            if not self._active_runs:
                raise ValidationError("nested=True needs an active run to nest under")
            parent_run_id = self._active_runs[-1].run_id
        parent = next((run for run in self._active_runs if run.run_id == parent_run_id), None)
        if experiment is None and parent is not None:  # a nested run belongs to its parent's experiment
            experiment_id = parent.experiment_id
        else:
            experiment_id = self._experiment_id(experiment or self._experiment, actor=actor)
        who = default_actor() if actor is None else actor
        capture = capture_environment and os.environ.get("MLLEDGER_CAPTURE_ENV", "1") not in ("0", "false", "no")
        payload = {
            "run_id": new_run_id(),
            "experiment_id": experiment_id,
            "run_name": run_name,
            "parent_run_id": parent_run_id,
            "tags": _user_tags(tags or {}),
            "environment": capture_env() if capture else None,
        }
        self.append("run.started", payload, actor=who)
        run = ActiveRun(self, str(payload["run_id"]), experiment_id, who)
        self._active_runs.append(run)
        return run

    def active_run(self) -> ActiveRun | None:
        """The innermost run started here and not yet ended."""
        return self._active_runs[-1] if self._active_runs else None

    def _run_ended(self, run: ActiveRun) -> None:
        if run in self._active_runs:
            self._active_runs.remove(run)

    def get_run(self, run_id: str, *, as_of: int | str | datetime | None = None) -> RunView:
        """Info, params, latest metrics, tags, inputs and artifacts of a run,
        now or as of a seq or a time (replayed from the events)."""
        return self._reader(as_of).get_run(run_id)

    def get_metric_history(
        self, run_id: str, key: str, *, as_of: int | str | datetime | None = None
    ) -> list[MetricValue]:
        """Every value logged for a metric, in logging order."""
        return self._reader(as_of).metric_history(run_id, key)

    def search_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str = "",
        order_by: Sequence[str] | None = None,
        max_results: int = 100,
    ) -> list[RunView]:
        """Runs matching an MLflow-style filter, e.g.
        ``"metrics.rmse < 3 and params.alpha = '0.1' and tags.team = 'risk'"``."""
        names = [experiment] if isinstance(experiment, str) else list(experiment or [])
        reader = self.tracking
        ids = [reader.experiment_id(name) for name in names]
        if any(i is None for i in ids):
            missing = [n for n, i in zip(names, ids, strict=True) if i is None]
            raise NotFoundError(f"no experiment named {missing[0]!r}")
        query = search_runs_query(
            parse_filter(filter),
            parse_order_by(order_by or []),
            experiment_ids=[i for i in ids if i] if names else None,
            max_results=max_results,
        )
        with self.store.engine.connect() as conn:
            run_ids = [row[0] for row in conn.execute(query)]
        return reader.get_runs(run_ids)

    def list_experiments(self) -> list[dict[str, Any]]:
        return self.tracking.experiments()

    def rebuild(self) -> int:
        """Drop the read models and replay every event into them."""
        return self.store.rebuild()

    def verify_artifacts(self) -> list[ArtifactProblem]:
        """Re-hash every logged artifact; returns the modified or missing ones."""
        return self.artifacts.verify(self.tracking.artifact_records())

    def _reader(self, as_of: int | str | datetime | None) -> TrackingReader:
        if as_of is None:
            return self.tracking
        return TrackingReader(self.store.read_models_as_of(self._seq_of(as_of) + 1))

    def _seq_of(self, moment: int | str | datetime) -> int:
        """The last seq at or before ``moment`` (a seq, an RFC 3339 time or a datetime)."""
        if isinstance(moment, int) and not isinstance(moment, bool):
            head = self.store.head()
            if head is None or not 0 <= moment <= head.seq:
                events = "it has no events" if head is None else f"its events are 0..{head.seq}"
                raise ValidationError(f"as_of {moment} is not an event of this ledger ({events})")
            return moment
        if isinstance(moment, datetime):
            moment = format_time(moment)
        try:
            stamp = format_time(datetime.fromisoformat(str(moment).replace("Z", "+00:00")))
        except ValueError as e:
            raise ValidationError(f"as_of {moment!r} is neither a seq nor an RFC 3339 time") from e
        return self.store.last_seq_at(stamp)

    # -- reading -------------------------------------------------------------

    @property
    def display_uri(self) -> str:
        """The URI with any password hidden, for messages and logs."""
        return safe_uri(self.uri)

    @property
    def ledger_id(self) -> str:
        return self.store.ledger_id()

    def head(self) -> Head | None:
        """The last event's seq, hash and time; None when the ledger is empty."""
        return self.store.head()

    def size(self) -> int:
        head = self.store.head()
        return head.size if head else 0

    def event(self, seq: int) -> RecordedEvent:
        """One event by seq (``NotFoundError`` when out of range)."""
        return recorded(self.store.row(seq))

    def events(self, start: int = 0, stop: int | None = None) -> Iterator[RecordedEvent]:
        """Events with ``start <= seq < stop``, streamed in seq order."""
        for row in self.store.scan(start, stop):
            yield recorded(row)

    # -- the Merkle tree (DESIGN §4) ---------------------------------------------

    def merkle_root(self, size: int | None = None) -> bytes:
        """The RFC 9162 root hash of the tree over the first ``size`` events
        (default: all of them); ``ledger.merkle.EMPTY_ROOT`` for size 0."""
        current = self.size()
        size = current if size is None else _in_range("size", size, 0, current, f"the ledger has {current} events")
        return self.store.merkle_root(size)

    def inclusion_proof(self, seq: int, size: int | None = None) -> list[bytes]:
        """The RFC 9162 inclusion proof of event ``seq`` in the tree of ``size``
        events (default: all of them); check it with ``ledger.merkle.verify_inclusion``
        against ``merkle_root(size)`` and the event's hash bytes."""
        current = self.size()
        size = current if size is None else _in_range("size", size, 1, current, f"the ledger has {current} events")
        seq = _in_range("seq", seq, 0, size - 1, f"the tree has {size} events")
        return self.store.inclusion_proof(seq, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The RFC 9162 consistency proof from the tree of ``old_size`` events
        to the tree of ``new_size`` (default: all events); check it with
        ``ledger.merkle.verify_consistency``."""
        current = self.size()
        if new_size is None:
            new_size = current
        else:
            new_size = _in_range("new_size", new_size, 0, current, f"the ledger has {current} events")
        old_size = _in_range("old_size", old_size, 0, new_size, f"new_size is {new_size}")
        return self.store.consistency_proof(old_size, new_size)

    # -- checking and exporting ----------------------------------------------

    def verify(self, progress: Progress | None = None, *, workers: int | None = None) -> VerifyReport:
        """Recompute every digest and hash and check the chain, streaming.

        The ledger is read in ranges of seqs; with ``workers`` > 1 the ranges
        are checked by that many processes at once and their boundaries
        joined (``ledger.verify.combine``). Default: one process per core
        (at most 4) from 250,000 events, else one; ``MLLEDGER_VERIFY_WORKERS``
        overrides. ``progress`` is called with the number of events checked.
        """
        head = self.store.head()
        redaction_rows = self.store.redaction_rows()
        redactions = redaction_targets(redaction_rows)
        if head is None:
            return ChainVerifier(redactions=redactions).report()
        workers = _verify_workers(head.size) if workers is None else max(1, workers)
        if workers == 1:
            report = combine([_verify_rows(self.store, None, head.size, redactions, progress)])
        else:
            report = self._verify_in_processes(head.size, redactions, workers, progress)
        if any(fault.kind == "payload_missing" for fault in report.faults):
            redaction_rows = self.store.redaction_rows()  # again: some may have committed during the scan
            report = report.explain_redactions(redaction_targets(redaction_rows))
        if report.redacted:
            erased = {seq: self.store.row(seq)[3] for seq in report.redacted}
            roles = self.store.rows_of_types(("actor.role_granted", "actor.role_revoked"))
            report = report.with_faults(check_redactions(erased, redaction_rows, roles))
        if report.ok:  # with the chain intact, the stored tree must be the tree of its hashes
            report = report.with_faults(self._tree_faults(head.size, report.root))
        return report.with_signatures(*check_approval_signatures(self.store.rows_of_types(SIGNATURE_TYPES)))

    def _tree_faults(self, size: int, root: bytes | None) -> list[Fault]:
        """A fault when the stored Merkle tree does not hash to ``root``, the
        root verify recomputed from the events (None: the chain is broken,
        and its faults say so)."""
        if root is None:
            return []
        try:
            stored = self.store.merkle_root(size)
        except IntegrityError:
            stored = None
        if stored == root:
            return []
        start, end = self.store.merkle_divergence(size) or (0, size)
        found = "lacks nodes" if stored is None else f"has root {stored.hex()[:12]}…"
        detail = (
            f"the stored Merkle tree {found}, the events give {root.hex()[:12]}…; it first disagrees over "
            f"seqs {start}..{end - 1} (merkle_nodes or the events there were altered)"
        )
        return [Fault(start, "merkle_mismatch", detail)]

    def _verify_in_processes(
        self, size: int, redactions: dict[int, int], workers: int, progress: Progress | None
    ) -> VerifyReport:
        """Ranges of seqs checked by ``workers - 1`` processes and this one."""
        step = max(_MIN_RANGE, -(-size // (workers * 4)))
        # The first range has no lower bound, so rows below seq 0 are seen too.
        queue: deque[tuple[int, tuple[int | None, int]]] = deque(
            enumerate((start or None, min(start + step, size)) for start in range(0, size, step))
        )
        count = len(queue)
        segments: dict[int, Segment] = {}

        def done(index: int, segment: Segment) -> None:
            segments[index] = segment
            if progress:
                progress(sum(s.events for s in segments.values()))

        # Forked workers must not share the parent's pooled connections; fork
        # only a single-threaded process (a fork copies no other thread's locks).
        self.store.release_connections()
        fork = sys.platform == "linux" and threading.active_count() == 1
        context = multiprocessing.get_context("fork" if fork else "spawn")
        with ProcessPoolExecutor(
            workers - 1, mp_context=context, initializer=_open_worker_store, initargs=(self.uri,)
        ) as pool:
            running: dict[Future[Segment], int] = {}
            while queue or running:
                while queue and len(running) < 2 * (workers - 1):  # workers take from the front
                    index, (start, stop) = queue.popleft()
                    running[pool.submit(_verify_range, start, stop, redactions)] = index
                if queue:  # this process takes from the back
                    index, (start, stop) = queue.pop()
                    done(index, _verify_rows(self.store, start, stop, redactions))
                finished, _ = wait(running, timeout=0 if queue else None, return_when=FIRST_COMPLETED)
                for job in finished:
                    done(running.pop(job), job.result())
        return combine(segments[index] for index in range(count))

    def export_jsonl(self, sink: IO[str], progress: Progress | None = None) -> int:
        """Write every event as one JSON line (DESIGN §2); returns the count."""
        head = self.store.head()
        if head is None:
            return 0
        count = 0
        for row in self.store.scan(0, head.size):
            sink.write(export_line(row[:9], row[9], row[10]))
            sink.write("\n")
            count += 1
            if progress and count % _PROGRESS_EVERY == 0:
                progress(count)
        if progress:
            progress(count)
        return count


def open(uri: str | None = None, **options: Any) -> Ledger:  # noqa: A001 - mirrors ledger.open()
    """Open or create a ledger: ``MLLEDGER_URI``, or the embedded default."""
    return Ledger.open(uri, **options)


def _in_range(name: str, value: int, low: int, high: int, why: str) -> int:
    """``value`` if it is a whole number in ``[low, high]``, else a ValidationError naming the range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        expected = f"expected {low} <= {name} <= {high}" if low <= high else f"no {name} is possible"
        raise ValidationError(f"{name} {value} is out of range: {why} ({expected})")
    return value


def _verify_workers(size: int) -> int:
    configured = os.environ.get("MLLEDGER_VERIFY_WORKERS")
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            raise ValidationError(f"MLLEDGER_VERIFY_WORKERS={configured!r} is not a whole number") from None
    if size < _PARALLEL_FROM:
        return 1
    return max(1, min(os.cpu_count() or 1, 4))


_worker_store: SqlEventStore | None = None


def _open_worker_store(uri: str) -> None:
    global _worker_store  # noqa: PLW0603 - one store per worker process
    _worker_store = SqlEventStore.open(uri, create=False)


def _verify_range(start: int | None, stop: int, redactions: dict[int, int]) -> Segment:
    """Check seqs [start, stop) in a worker process."""
    assert _worker_store is not None, "worker store not opened"
    return _verify_rows(_worker_store, start, stop, redactions)


def _verify_rows(
    store: EventStore, start: int | None, stop: int, redactions: dict[int, int], progress: Progress | None = None
) -> Segment:
    verifier = ChainVerifier(redactions=redactions)
    rows = store.scan(start, stop)
    # A chunk at a time, for progress, without ever holding a list of rows.
    while verifier.feed(itertools.islice(rows, _PROGRESS_EVERY)):
        if progress:
            progress(verifier.events_seen)
    return verifier.segment()
