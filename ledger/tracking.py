"""The tracking service: runs, params, metrics, tags, inputs and artifacts,
as MLflow users know them, written as ledger events.

Owns: turning calls into payloads (stringified params, non-finite metrics as
their strings, validated keys, captured environment) and the run life cycle
(``with lg.start_run(...)`` ends FINISHED, FAILED when the body raises, KILLED
on KeyboardInterrupt). Rules that depend on the ledger's state are enforced
under the append lock by ``ledger.store.projector``; reads come from the read
models through ``TrackingReader``.
"""

from __future__ import annotations

import math
import numbers
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal

from sqlalchemy import Engine, select

from ledger.dataset_rules import columns_of
from ledger.encoding import parse_json
from ledger.errors import ConflictError, NotFoundError, ValidationError
from ledger.events import PendingEvent, RecordedEvent
from ledger.store.read_models import (
    Experiment,
    LatestMetric,
    MetricPoint,
    RedactionRecord,
    Run,
    RunArtifact,
    RunInput,
    RunParam,
    RunTag,
)

if TYPE_CHECKING:
    from ledger.api import Ledger

__all__ = ["ActiveRun", "MetricValue", "RunInfo", "RunView", "TrackingReader", "check_key"]

_KEY: Final = re.compile(r"[A-Za-z0-9_\-. /:]{1,250}")
_RESERVED_TAG_PREFIX: Final = "mlledger."
RunStatus = Literal["FINISHED", "FAILED", "KILLED"]


def check_key(key: object, what: str) -> str:
    """A param, metric or tag name: 1-250 of letters, digits, _ - . / : and space."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValidationError(f"{what} name {key!r} is not valid: use 1-250 letters, digits, spaces or _ - . / :")
    return key


def _param_text(key: str, value: object) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        return str(value)
    raise ValidationError(f"param {key!r} must be a string, number or boolean, got {type(value).__name__}")


def _metric_number(key: str, value: object) -> float | str:
    if type(value) is float and value - value == 0.0:  # the common case: a finite float
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValidationError(f"metric {key!r} must be a number, got {type(value).__name__} {value!r:.40}")
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return number


def _now_ms() -> int:
    return int(time.time() * 1000)


def new_run_id() -> str:
    """A run id as MLflow writes them: 32 lowercase hex digits."""
    return uuid.uuid4().hex


class ActiveRun:
    """A run being recorded. Use as a context manager, or call ``end()``."""

    def __init__(self, ledger: Ledger, run_id: str, experiment_id: str, actor: str) -> None:
        self._ledger = ledger
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.actor = actor
        self.status: str = "RUNNING"
        self._params: dict[str, str] = {}  # what this handle logged: repeats need no read

    def __repr__(self) -> str:
        return f"<ActiveRun {self.run_id} {self.status}>"

    def _append(self, event_type: str, payload: dict[str, Any]) -> RecordedEvent:
        return self._ledger.append_many([PendingEvent(event_type, payload, self.actor)])[0]

    def log_param(self, key: str, value: object) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, object]) -> None:
        """Log params in one event. A param keeps its first value: the same
        value again is a no-op, another value is a ConflictError."""
        values = {check_key(k, "param"): _param_text(k, v) for k, v in params.items()}
        new = {k: v for k, v in values.items() if self._params.get(k) != v}
        if not new:
            return
        # A value that differs from the first one is refused by the ledger's
        # rule, under the append lock, whoever logged the first one.
        self._append("run.params_logged", {"run_id": self.run_id, "params": new})
        self._params.update(new)

    def log_metric(self, key: str, value: float, step: int = 0, timestamp: int | None = None) -> None:
        self.log_metrics({key: value}, step=step, timestamp=timestamp)

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0, timestamp: int | None = None) -> None:
        """Log metrics in one event; NaN and ±inf are kept and read back as such."""
        if not metrics:
            return
        stamp = _now_ms() if timestamp is None else timestamp
        entries = [
            {"key": check_key(k, "metric"), "value": _metric_number(k, v), "step": step, "timestamp": stamp}
            for k, v in metrics.items()
        ]
        self._append("run.metrics_logged", {"run_id": self.run_id, "metrics": entries})

    def set_tag(self, key: str, value: object) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, object]) -> None:
        if tags:
            self._append("run.tags_set", {"run_id": self.run_id, "tags": _user_tags(tags)})

    def log_input(
        self,
        name: str,
        version: str,
        digest: str,
        source: str | None = None,
        context: str | None = None,
        schema: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
        num_rows: int | None = None,
    ) -> None:
        """Record a dataset version this run read (``context``: training,
        validation or test; ``schema``: {column: type} or [{name, type}]).

        When ``name``@``version`` is a registered data version, ``digest``
        must be its digest (``ConflictError`` otherwise); when it is not,
        it is registered from these arguments in the same atomic batch."""
        payload = {
            "run_id": self.run_id,
            "name": name,
            "version": version,
            "digest": digest,
            "source": source,
            "context": context,
            "columns": columns_of(schema),
            "num_rows": num_rows,
        }
        self._ledger._log_input(self.run_id, self.actor, payload)

    def log_artifact(self, local_path: str, artifact_path: str | None = None) -> list[str]:
        """Store a file or a directory (content-addressed) and record each
        file in one atomic batch; returns the logical paths."""
        stored = self._ledger.artifacts.store(local_path, artifact_path)
        events = [
            PendingEvent(
                "run.artifact_logged",
                {"run_id": self.run_id, "path": item.path, "sha256": item.sha256, "size": item.size},
                self.actor,
            )
            for item in stored
        ]
        self._ledger.append_many(events)
        return [item.path for item in stored]

    def end(self, status: RunStatus = "FINISHED", error: str | None = None) -> None:
        """End the run: FINISHED, FAILED or KILLED. Ending twice is an error."""
        try:
            self._append("run.finished", {"run_id": self.run_id, "status": status, "error": error})
        except ConflictError:
            # Ended already (elsewhere): it is no longer this thread's active run.
            self.status = "ENDED"
            self._ledger._run_ended(self)
            raise
        self.status = status
        self._ledger._run_ended(self)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self.status != "RUNNING":
            return
        if error is None:
            self.end("FINISHED")
        elif isinstance(error, KeyboardInterrupt):
            self.end("KILLED", "KeyboardInterrupt")
        else:
            self.end("FAILED", f"{type(error).__name__}: {error}"[:2000])


def _user_tags(tags: Mapping[str, object]) -> dict[str, str]:
    checked = {}
    for key, value in tags.items():
        check_key(key, "tag")
        if key.startswith(_RESERVED_TAG_PREFIX):
            raise ValidationError(f"tag {key!r}: names starting with {_RESERVED_TAG_PREFIX!r} are reserved")
        checked[key] = str(value)
    return checked


@dataclass(frozen=True, slots=True)
class MetricValue:
    key: str
    value: float
    step: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str | None
    parent_run_id: str | None
    status: str
    user: str
    start_time: int
    end_time: int | None
    start_seq: int
    end_seq: int | None
    environment: dict[str, Any] | None
    db_user: str | None = None  # on PostgreSQL: the database session user, recorded server-side


@dataclass(frozen=True, slots=True)
class RunView:
    """Everything about a run: info, params, latest metrics, tags, inputs,
    artifacts, and the redactions that erased some of it (a redacted param,
    tag or input reads ``[redacted]``; redacted metric values are gone)."""

    info: RunInfo
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    redactions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.info.run_id

    def to_json(self) -> dict[str, Any]:
        info = {name: getattr(self.info, name) for name in RunInfo.__slots__}
        metrics = {k: _json_number(v) for k, v in self.metrics.items()}
        return {
            "info": info,
            "params": self.params,
            "metrics": metrics,
            "tags": self.tags,
            "inputs": self.inputs,
            "artifacts": self.artifacts,
            "redactions": self.redactions,
        }


def _json_number(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _view(run: Any, parts: dict[str, Any]) -> RunView:
    info = RunInfo(
        run.run_id,
        run.experiment_id,
        run.run_name,
        run.parent_run_id,
        run.status,
        run.author,
        run.start_time,
        run.end_time,
        run.start_seq,
        run.end_seq,
        parse_json(run.environment) if run.environment else None,
        run.db_user,
    )
    return RunView(
        info=info,
        params=dict(sorted(parts["params"].items())),
        metrics=dict(sorted(parts["metrics"].items())),
        tags=dict(sorted(parts["tags"].items())),
        inputs=parts["inputs"],
        artifacts=parts["artifacts"],
        redactions=parts["redactions"],
    )


def _value(stored: float | None) -> float:
    return math.nan if stored is None else float(stored)


class TrackingReader:
    """Reads the tracking read models (of the live ledger, or of a snapshot
    replayed to an earlier seq)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def experiment_id(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.scalar(select(Experiment.experiment_id).where(Experiment.name == name))

    def experiments(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(Experiment.__table__).order_by(Experiment.creation_time, Experiment.name))
            return [
                {
                    "experiment_id": r.experiment_id,
                    "name": r.name,
                    "tags": parse_json(r.tags),
                    "creation_time": r.creation_time,
                }
                for r in rows
            ]

    def get_run(self, run_id: str) -> RunView:
        found = self.get_runs([run_id])
        if not found:
            raise NotFoundError(f"run {run_id!r} does not exist")
        return found[0]

    def get_runs(self, run_ids: Sequence[str]) -> list[RunView]:
        """The runs with these ids, in that order (unknown ids are left out);
        seven queries whatever the number of runs."""
        ids = list(dict.fromkeys(run_ids))
        parts: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            runs = {r.run_id: r for r in conn.execute(select(Run.__table__).where(Run.run_id.in_(ids)))}
            parts = {
                run_id: {"params": {}, "metrics": {}, "tags": {}, "inputs": [], "artifacts": [], "redactions": []}
                for run_id in runs
            }
            for table, name in ((RunParam, "params"), (LatestMetric, "metrics"), (RunTag, "tags")):
                for run_id, key, value in conn.execute(
                    select(table.run_id, table.key, table.value).where(table.run_id.in_(ids))
                ):
                    parts[run_id][name][key] = _value(value) if name == "metrics" else value  # type: ignore[arg-type]
            for i in conn.execute(select(RunInput.__table__).where(RunInput.run_id.in_(ids)).order_by(RunInput.seq)):
                parts[i.run_id]["inputs"].append(
                    {
                        "name": i.name,
                        "version": i.version,
                        "digest": i.digest,
                        "source": i.source,
                        "context": i.context,
                        "num_rows": i.num_rows,
                        "schema": parse_json(i.columns) if i.columns else None,
                        "seq": i.seq,
                    }
                )
            for a in conn.execute(
                select(RunArtifact.__table__).where(RunArtifact.run_id.in_(ids)).order_by(RunArtifact.path)
            ):
                parts[a.run_id]["artifacts"].append({"path": a.path, "sha256": a.sha256, "size": a.size, "seq": a.seq})
            for r in conn.execute(
                select(RedactionRecord.__table__)
                .where(RedactionRecord.run_id.in_(ids))
                .order_by(RedactionRecord.target_seq)
            ):
                parts[str(r.run_id)]["redactions"].append(
                    {
                        "target_seq": r.target_seq,
                        "target_type": r.target_type,
                        "subject": parse_json(r.subject) if r.subject else None,
                        "seq": r.seq,
                        "time": r.time,
                        "actor": r.actor,
                        "reason": r.reason,
                        "legal_basis": r.legal_basis,
                    }
                )
        return [_view(runs[run_id], parts[run_id]) for run_id in ids if run_id in runs]

    def metric_history(self, run_id: str, key: str) -> list[MetricValue]:
        with self.engine.connect() as conn:
            if conn.scalar(select(Run.run_id).where(Run.run_id == run_id)) is None:
                raise NotFoundError(f"run {run_id!r} does not exist")
            rows = conn.execute(
                select(MetricPoint.value, MetricPoint.step, MetricPoint.timestamp)
                .where(MetricPoint.run_id == run_id, MetricPoint.key == key)
                .order_by(MetricPoint.seq, MetricPoint.position)
            ).all()
        return [MetricValue(key, _value(value), step, stamp) for value, step, stamp in rows]

    def artifact_records(self) -> list[tuple[str, str, int]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(RunArtifact.run_id, RunArtifact.path, RunArtifact.sha256, RunArtifact.size))
            return [(f"{run_id}/{path}", sha, size) for run_id, path, sha, size in rows]
