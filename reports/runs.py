"""A run as its events tell it: params, metrics, tags, inputs and artifacts
folded from stored rows, the way the read models fold them.

Owns ``RunFold`` (feed it a run's rows in seq order) and ``Row``, the stored
event row the report reads (``seq, v, id, type, schema, time, actor,
payload_digest, prev, hash, payload text or None``). The report reads a run
from the very events it cites, so each figure is one an auditor can find in
the embedded evidence. A payload that was erased is known only through its
``ledger.redacted`` event's subject: its params and tags read
``[redacted]``, its metric points are gone and counted. Pure: rows in,
values out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ledger.encoding import parse_stored_json
from ledger.errors import LedgerError
from reports.model import REDACTED_VALUE

__all__ = ["Point", "RedactionNote", "Row", "RunFold", "payload_of", "run_of", "run_rows"]

Row = Sequence[Any]


def payload_of(row: Row) -> dict[str, Any] | None:
    """The payload of a stored row; None when it was erased (or unreadable:
    ``mlledger verify`` reports that, and the report's verification too)."""
    if row[10] is None:
        return None
    try:
        payload = parse_stored_json(row[10])
    except LedgerError:
        return None
    return payload if isinstance(payload, dict) else None


@dataclass(frozen=True, slots=True)
class RedactionNote:
    """What a ``ledger.redacted`` event says about the payload it erased."""

    seq: int
    time: str
    actor: str
    target_seq: int
    target_type: str
    subject: dict[str, Any]
    reason: str
    legal_basis: str

    @classmethod
    def of(cls, row: Row) -> RedactionNote | None:
        payload = payload_of(row)
        if payload is None or type(payload.get("target_seq")) is not int:
            return None
        subject = payload.get("subject")
        return cls(
            seq=row[0],
            time=row[5],
            actor=row[6],
            target_seq=payload["target_seq"],
            target_type=str(payload.get("target_type", "")),
            subject=subject if isinstance(subject, dict) else {},
            reason=str(payload.get("reason", "")),
            legal_basis=str(payload.get("legal_basis", "")),
        )


def run_of(row: Row, payload: Mapping[str, Any] | None, redactions: Mapping[int, RedactionNote]) -> str | None:
    """The run a ``run.*`` row (whose payload is ``payload``) belongs to: from
    its payload, or from the subject of the redaction that erased it."""
    if payload is not None:
        run_id = payload.get("run_id")
        return run_id if isinstance(run_id, str) else None
    note = redactions.get(row[0])
    run_id = None if note is None else note.subject.get("run_id")
    return run_id if isinstance(run_id, str) else None


def run_rows(rows: Iterable[Row], redactions: Mapping[int, RedactionNote]) -> Iterator[tuple[str, Row, Any]]:
    """(run id, row, payload) of each ``run.*`` row, each payload decoded once."""
    for row in rows:
        if str(row[3]).startswith("run."):
            payload = payload_of(row)
            run_id = run_of(row, payload, redactions)
            if run_id is not None:
                yield run_id, row, payload


class Point(NamedTuple):  # a tuple: a run may log 100,000 points
    step: int
    value: float
    seq: int


def _number(value: Any) -> float:
    if isinstance(value, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(value, math.nan)
    return float(value)


@dataclass
class RunFold:
    """One run, folded from its rows. ``seqs`` are the rows that make each
    figure (what the report cites for it)."""

    run_id: str
    redactions: Mapping[int, RedactionNote] = field(default_factory=dict)
    started: Row | None = None
    start_payload: dict[str, Any] = field(default_factory=dict)
    finished: Row | None = None
    status: str = "RUNNING"
    error: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    param_seqs: dict[str, int] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, list[Point]] = field(default_factory=dict)
    redacted_metrics: dict[str, list[int]] = field(default_factory=dict)  # key -> redaction seqs
    inputs: list[tuple[Row, dict[str, Any] | None]] = field(default_factory=list)
    artifacts: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # path -> (sha256, size, seq)
    seqs: list[int] = field(default_factory=list)

    def feed(self, rows: Iterable[Row]) -> RunFold:
        """Fold the rows of this run (rows of other runs are skipped)."""
        return self.feed_decoded(run_rows(rows, self.redactions))

    def feed_decoded(self, items: Iterable[tuple[str, Row, Any]]) -> RunFold:
        """Fold (run id, row, payload) items of this run, as ``run_rows`` gives them."""
        for run_id, row, payload in items:
            if run_id == self.run_id:
                self._apply(row, payload)
        return self

    def _apply(self, row: Row, payload: dict[str, Any] | None) -> None:
        kind = row[3]
        self.seqs.append(row[0])
        if kind == "run.started":
            self.started, self.start_payload = row, payload or {}
            self.tags.update({key: str(value) for key, value in self.start_payload.get("tags", {}).items()})
        elif kind == "run.finished":
            self.finished = row
            self.status = str((payload or {}).get("status", "FINISHED"))
            self.error = None if payload is None else payload.get("error")
        elif payload is None:
            self._apply_redacted(row)
        elif kind == "run.params_logged":
            for key, value in payload.get("params", {}).items():
                if key not in self.params:  # a param keeps its first value
                    self.params[key], self.param_seqs[key] = str(value), row[0]
        elif kind == "run.tags_set":
            self.tags.update({key: str(value) for key, value in payload.get("tags", {}).items()})
        elif kind == "run.metrics_logged":
            seq, metrics = row[0], self.metrics  # the hot path: one row per point in a training loop
            for entry in payload.get("metrics", ()):
                value = entry.get("value")
                point = Point(int(entry.get("step", 0)), value if type(value) is float else _number(value), seq)
                key = str(entry["key"])
                points = metrics.get(key)
                if points is None:
                    points = metrics[key] = []
                points.append(point)
        elif kind == "run.input_logged":
            self.inputs.append((row, payload))
        elif kind == "run.artifact_logged":
            self.artifacts[str(payload["path"])] = (str(payload["sha256"]), int(payload["size"]), row[0])

    def _apply_redacted(self, row: Row) -> None:
        note = self.redactions.get(row[0])
        keys = [] if note is None else [str(key) for key in note.subject.get("keys", [])]
        redaction = -1 if note is None else note.seq
        if row[3] == "run.params_logged":
            for key in keys:
                if key not in self.params:
                    self.params[key], self.param_seqs[key] = REDACTED_VALUE, row[0]
        elif row[3] == "run.tags_set":
            self.tags.update(dict.fromkeys(keys, REDACTED_VALUE))
        elif row[3] == "run.metrics_logged":
            for key in keys:
                self.redacted_metrics.setdefault(key, []).append(redaction)
        elif row[3] == "run.input_logged":
            self.inputs.append((row, None))

    def final(self, key: str) -> Point | None:
        """The last point logged of metric ``key`` (the latest value, as the read models keep it)."""
        points = self.metrics.get(key)
        return points[-1] if points else None

    def finals(self) -> dict[str, float | None]:
        return {key: self.final_value(key) for key in sorted(self.metrics)}

    def final_value(self, key: str) -> float | None:
        point = self.final(key)
        return None if point is None else point.value

    def final_seqs(self) -> list[int]:
        """The rows holding each metric's final value."""
        return sorted({points[-1].seq for points in self.metrics.values() if points})

    @property
    def name(self) -> str | None:
        value = self.start_payload.get("run_name")
        return value if isinstance(value, str) else None

    @property
    def parent(self) -> str | None:
        value = self.start_payload.get("parent_run_id")
        return value if isinstance(value, str) else None

    @property
    def environment(self) -> dict[str, Any] | None:
        value = self.start_payload.get("environment")
        return value if isinstance(value, dict) else None
