"""Applies tracking events to the read models, inside the append transaction.

Owns: the tracking rules that need the ledger's current state (a run must
exist and be running to be logged into; a param keeps its first value; an
experiment name is unique; a logged artifact never changes; an input of a
registered data version has its digest) and the row changes each event
makes. Raising here rolls the whole append back, so a refused call appends
nothing. Replaying the events through the same code rebuilds the read
models exactly (``SqlEventStore.rebuild``); an erased payload is replayed
as the stand-in its redaction gives (``ledger.store.redaction_projector``,
which applies ``ledger.redacted``). Data versions are
``ledger.store.dataset_projector``'s.

SQL is plain and portable: ``INSERT ... ON CONFLICT ... DO UPDATE`` works on
SQLite (3.24+) and PostgreSQL alike; only the placeholder differs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from ledger.encoding import canonical_json
from ledger.errors import ConflictError, NotFoundError, PolicyError, ValidationError
from ledger.events import decode_payload
from ledger.governance import policy_error
from ledger.payloads import payload_model
from ledger.redaction_rules import REDACTED, Redaction
from ledger.store.dataset_projector import DATASET_TYPES, DatasetProjector, check_input
from ledger.store.dialects import Dialect
from ledger.store.redaction_projector import REDACTION_TYPES, RedactionProjector, erasures, stand_in
from ledger.store.registry_projector import REGISTRY_TYPES, RegistryProjector

__all__ = ["PROJECTED_TYPES", "TRACKING_TYPES", "Projector", "metric_value", "projected_rows_sql", "time_ms"]

TRACKING_TYPES: Final = (
    "experiment.created",
    "run.started",
    "run.params_logged",
    "run.metrics_logged",
    "run.tags_set",
    "run.input_logged",
    "run.artifact_logged",
    "run.finished",
)
PROJECTED_TYPES: Final = TRACKING_TYPES + DATASET_TYPES + REGISTRY_TYPES + REDACTION_TYPES
_REPLAY_BATCH: Final = 2000
# The rule violations a lenient replay skips (the event then changes nothing).
_REFUSALS: Final = (ConflictError, NotFoundError, PolicyError, ValidationError)
# Replayed payloads checked again: defaults filled in, shapes (and text the
# read models can store) checked, for events stored by older code or past the rules.
_RECHECKED: Final = frozenset(REGISTRY_TYPES + DATASET_TYPES)
# Event types whose rules read (or whose rows change) the metric rows.
_READS_METRICS: Final = frozenset({"model.promotion_evaluated", "ledger.redacted"})


def projected_rows_sql(stop: int | None = None, types: Sequence[str] = PROJECTED_TYPES) -> str:
    """The stored events of ``types`` (``seq < stop``) in seq order, with their
    payload text (NULL when erased), the server-recorded ``db_user``, the hash
    and the id: what a replay reads."""
    where = "" if stop is None else f" AND e.seq < {int(stop)}"
    listed = ", ".join(f"'{t}'" for t in types)
    return (
        "SELECT e.seq, e.type, e.time, e.actor, p.body, e.db_user, e.hash, e.id FROM events e "
        f"LEFT JOIN payloads p ON p.seq = e.seq WHERE e.type IN ({listed}){where} ORDER BY e.seq"
    )


_NON_FINITE: Final = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def time_ms(rfc3339: str) -> int:
    """Milliseconds since the epoch of a ledger time (``...Z``)."""
    moment = datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    return int(moment.timestamp() * 1000)


def metric_value(value: float | str) -> float | None:
    """A stored metric value: NaN becomes NULL, infinities stay floats."""
    number = _NON_FINITE[value] if isinstance(value, str) else float(value)
    return None if math.isnan(number) else number


def _json(value: Any) -> str | None:
    return None if value is None else canonical_json(value).decode("utf-8")


def _latest_per_key(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """One (run_id, key, value, step, timestamp, seq) row per metric of a batch:
    the one the upsert's rule would keep, so each latest row is written once
    per batch rather than once per point (on PostgreSQL every update of a row
    leaves a dead tuple behind)."""
    winners: dict[tuple[Any, Any], tuple[Any, ...]] = {}
    for row in rows:
        held = winners.get((row[0], row[1]))
        if held is None or row[3] > held[3] or (row[3] == held[3] and row[4] >= held[4]):
            winners[(row[0], row[1])] = row
    return list(winners.values())


class _Work:
    """One ``apply`` call: the cursor, the run statuses seen so far, and the
    metric rows buffered until the batch ends (per call, so threads sharing a
    store never share this state). ``erased`` is None on a live append; a
    replay gives the ledger's erased payloads (``redaction_projector.erasures``)."""

    def __init__(self, cursor: Any, *, strict: bool, erased: Mapping[int, Redaction] | None) -> None:
        self.cursor = cursor
        self.strict = strict
        self.erased = erased
        self.status: dict[str, str | None] = {}
        self.points: list[tuple[Any, ...]] = []
        self.latest: list[tuple[Any, ...]] = []
        self.approved: dict[str, int] = {}  # requests approved in this batch and not yet carried out

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.cursor.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        return self.cursor.executemany(sql, rows)

    def fetchone(self) -> Any:
        return self.cursor.fetchone()


class Projector:
    """Applies events, one after another, to the read-model tables."""

    def __init__(self, placeholder: str) -> None:
        p = self.placeholder = placeholder
        self._sql = {
            "experiment_by_id": f"SELECT name FROM experiments WHERE experiment_id = {p}",
            "experiment_by_name": f"SELECT experiment_id FROM experiments WHERE name = {p}",
            "insert_experiment": "INSERT INTO experiments (experiment_id, name, tags, creation_time, seq) "
            f"VALUES ({p}, {p}, {p}, {p}, {p})",
            "run_status": f"SELECT status FROM runs WHERE run_id = {p}",
            # db_user comes from the events row the server stamped (NULL on SQLite).
            "insert_run": "INSERT INTO runs (run_id, experiment_id, run_name, parent_run_id, status, author, "
            "start_time, end_time, environment, start_seq, end_seq, db_user) "
            f"SELECT {p}, {p}, {p}, {p}, 'RUNNING', {p}, {p}, NULL, {p}, seq, NULL, db_user "
            f"FROM events WHERE seq = {p}",
            "finish_run": f"UPDATE runs SET status = {p}, end_time = {p}, end_seq = {p} WHERE run_id = {p}",
            "param": f"SELECT value FROM run_params WHERE run_id = {p} AND key = {p}",
            "insert_param": f"INSERT INTO run_params (run_id, key, value, seq) VALUES ({p}, {p}, {p}, {p})",
            "upsert_tag": f"INSERT INTO run_tags (run_id, key, value, seq) VALUES ({p}, {p}, {p}, {p}) "
            "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, seq = excluded.seq",
            "insert_point": "INSERT INTO metric_history (seq, position, run_id, key, value, step, timestamp) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})",
            "upsert_latest": "INSERT INTO latest_metrics (run_id, key, value, step, timestamp, seq) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT (run_id, key) DO UPDATE SET "
            "value = excluded.value, step = excluded.step, timestamp = excluded.timestamp, seq = excluded.seq "
            "WHERE excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step "
            "AND excluded.timestamp >= latest_metrics.timestamp)",
            "insert_input": "INSERT INTO run_inputs (seq, run_id, name, version, digest, source, context, "
            f"columns, num_rows) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})",
            "artifact": f"SELECT sha256 FROM run_artifacts WHERE run_id = {p} AND path = {p}",
            "insert_artifact": f"INSERT INTO run_artifacts (run_id, path, sha256, size, seq) VALUES ({p}, {p}, {p}, "
            f"{p}, {p})",
        }
        self._handlers: dict[str, Callable[[Any, int, str, str, dict[str, Any]], None]] = {
            "experiment.created": self._experiment_created,
            "run.started": self._run_started,
            "run.params_logged": self._params_logged,
            "run.metrics_logged": self._metrics_logged,
            "run.tags_set": self._tags_set,
            "run.input_logged": self._input_logged,
            "run.artifact_logged": self._artifact_logged,
            "run.finished": self._run_finished,
            **DatasetProjector(placeholder).handlers(),
            **RegistryProjector(placeholder).handlers(),
            **RedactionProjector(placeholder).handlers(),
        }

    def replay(
        self, connection: Any, dialect: Dialect, *, stop: int | None = None, types: Sequence[str] = PROJECTED_TYPES
    ) -> int:
        """Apply every stored event of ``types`` with ``seq < stop`` in order,
        inside the caller's transaction (rebuild, migration). Returns the count."""
        erased = erasures(connection.cursor(), dialect.placeholder)
        rows = dialect.stream(connection, projected_rows_sql(stop, types), (), _REPLAY_BATCH, own_transaction=False)
        return self.replay_rows(connection.cursor(), rows, erased=erased)

    def replay_rows(
        self,
        writer: Any,
        rows: Iterable[Sequence[Any]],
        *,
        erased: Mapping[int, Redaction],
        each: Callable[[Sequence[Any]], None] | None = None,
    ) -> int:
        """Apply rows of ``projected_rows_sql`` leniently, in batches; ``each``
        sees every row first. An erased payload (no row) is projected as the
        stand-in its redaction in ``erased`` gives, or not at all."""
        count = 0
        batch: list[tuple[int, str, str, str, dict[str, Any]]] = []
        for row in rows:
            if each is not None:
                each(row)
            seq, event_type, time, actor, body = row[:5]
            payload = decode_payload(body) if body is not None else stand_in(erased, seq, event_type)
            if payload is None:
                continue
            batch.append((seq, event_type, time, actor, payload))
            if len(batch) == _REPLAY_BATCH:
                self.apply(writer, batch, strict=False, erased=erased)
                count, batch = count + len(batch), []
        self.apply(writer, batch, strict=False, erased=erased)
        return count + len(batch)

    def apply(
        self,
        cursor: Any,
        events: Sequence[tuple[int, str, str, str, dict[str, Any]]],
        *,
        strict: bool = True,
        erased: Mapping[int, Redaction] | None = None,
    ) -> int:
        """Apply (seq, type, time, actor, payload) events in order.

        ``strict`` (live appends): an event that breaks a rule raises a
        LedgerError and the caller rolls back. Not strict (replays of a chain
        already written): such an event changes nothing and is counted, so a
        chain appended without these rules (an import, the golden vectors)
        still replays. ``erased`` marks a replay (see ``_Work``). Returns how
        many events were skipped.
        """
        handlers = self._handlers
        work = _Work(cursor, strict=strict, erased=erased)
        skipped = 0
        for seq, event_type, time, actor, payload in events:
            handler = handlers.get(event_type)
            if handler is None:
                continue
            if work.points and event_type in _READS_METRICS:
                self._flush(work)  # the rule compares latest metrics: they must be written first
            if strict:
                handler(work, seq, time, actor, payload)
                continue
            try:
                # Stored by older code, perhaps: defaults filled in, shapes checked.
                checked = payload_model(event_type).check(payload) if event_type in _RECHECKED else payload
                handler(work, seq, time, actor, checked)
            except _REFUSALS:
                skipped += 1
        if strict and work.approved:
            request_id, seq = next(iter(work.approved.items()))
            raise policy_error(
                "approval_required",
                f"the approval of request {request_id} (event {seq}) must be followed, in the same append, "
                "by the model.stage_changed that carries it out",
            )
        self._flush(work)
        return skipped

    def _flush(self, work: _Work) -> None:
        """Write the metric rows buffered so far."""
        if work.points:
            work.executemany(self._sql["insert_point"], work.points)
            work.executemany(self._sql["upsert_latest"], _latest_per_key(work.latest))
            work.points, work.latest = [], []

    # -- helpers ---------------------------------------------------------------

    def _one(self, cursor: Any, name: str, *params: Any) -> Any:
        cursor.execute(self._sql[name], params)
        row = cursor.fetchone()
        return None if row is None else row[0]

    def _running(self, cursor: Any, run_id: str) -> None:
        status = cursor.status.get(run_id) or self._one(cursor, "run_status", run_id)
        cursor.status[run_id] = status
        if status is None:
            raise NotFoundError(f"run {run_id!r} does not exist")
        if status != "RUNNING":
            raise ConflictError(f"run {run_id!r} is {status}: nothing can be logged into a finished run")

    # -- handlers --------------------------------------------------------------

    def _experiment_created(self, cursor: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        if self._one(cursor, "experiment_by_id", p["experiment_id"]) is not None:
            raise ConflictError(f"experiment id {p['experiment_id']!r} already exists")
        if self._one(cursor, "experiment_by_name", p["name"]) is not None:
            raise ConflictError(f"an experiment named {p['name']!r} already exists")
        cursor.execute(
            self._sql["insert_experiment"], (p["experiment_id"], p["name"], _json(p["tags"]), time_ms(time), seq)
        )

    def _run_started(self, cursor: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        if self._one(cursor, "experiment_by_id", p["experiment_id"]) is None:
            raise NotFoundError(f"experiment {p['experiment_id']!r} does not exist")
        if self._one(cursor, "run_status", p["run_id"]) is not None:
            raise ConflictError(f"run {p['run_id']!r} already exists")
        parent = p["parent_run_id"]
        if parent is not None and self._one(cursor, "run_status", parent) is None:
            raise NotFoundError(f"parent run {parent!r} does not exist")
        cursor.execute(
            self._sql["insert_run"],
            (
                p["run_id"],
                p["experiment_id"],
                p["run_name"],
                parent,
                actor,
                time_ms(time),
                _json(p["environment"]),
                seq,
            ),
        )
        cursor.status[p["run_id"]] = "RUNNING"
        if p["tags"]:
            cursor.executemany(self._sql["upsert_tag"], [(p["run_id"], k, v, seq) for k, v in p["tags"].items()])

    def _params_logged(self, cursor: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        run_id = p["run_id"]
        self._running(cursor, run_id)
        new = []
        for key, value in p["params"].items():  # check every key before writing any
            logged = self._one(cursor, "param", run_id, key)
            if logged is None:
                new.append((run_id, key, value, seq))
            elif logged != value and (cursor.strict or REDACTED not in (logged, value)):
                # Not strict (a replay): a value cannot be compared with an
                # erased one (the marker on either side); the append did it.
                raise ConflictError(
                    f"param {key!r} of run {run_id!r} is already {logged!r}; a param keeps its first value "
                    f"(refused {value!r})"
                )
        cursor.executemany(self._sql["insert_param"], new)

    def _metrics_logged(self, cursor: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        run_id = p["run_id"]
        self._running(cursor, run_id)
        points = [
            (seq, i, run_id, m["key"], metric_value(m["value"]), m["step"], m["timestamp"])
            for i, m in enumerate(p["metrics"])
        ]
        # Buffered for the whole batch: two executemany calls instead of two per event.
        cursor.points.extend(points)
        cursor.latest.extend((r, k, v, s, t, seq) for seq, _, r, k, v, s, t in points)

    def _tags_set(self, cursor: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        self._running(cursor, p["run_id"])
        cursor.executemany(self._sql["upsert_tag"], [(p["run_id"], k, v, seq) for k, v in p["tags"].items()])

    def _input_logged(self, cursor: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        self._running(cursor, p["run_id"])
        if cursor.strict:  # a replay records the input as logged (``ledger.store.dataset_projector``)
            check_input(cursor.cursor, self.placeholder, p["run_id"], p)
        cursor.execute(
            self._sql["insert_input"],
            (
                seq,
                p["run_id"],
                p["name"],
                p["version"],
                p["digest"],
                p["source"],
                p["context"],
                _json(p["columns"]),
                p["num_rows"],
            ),
        )

    def _artifact_logged(self, cursor: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        run_id, path = p["run_id"], p["path"]
        self._running(cursor, run_id)
        digest = p["sha256"].removeprefix("sha256:")  # one spelling of a digest in the read model
        logged = self._one(cursor, "artifact", run_id, path)
        if logged is None:
            cursor.execute(self._sql["insert_artifact"], (run_id, path, digest, p["size"], seq))
        elif logged != digest:
            raise ConflictError(
                f"artifact {path!r} of run {run_id!r} was logged with sha256 {logged[:12]}…; "
                "a logged artifact never changes"
            )

    def _run_finished(self, cursor: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        self._running(cursor, p["run_id"])
        cursor.execute(self._sql["finish_run"], (p["status"], time_ms(time), seq, p["run_id"]))
        cursor.status[p["run_id"]] = p["status"]
