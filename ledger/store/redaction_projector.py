"""Applies ``ledger.redacted`` events (DESIGN §6) inside the append
transaction, and replays them.

Owns: the redaction rules that need the ledger's state (the target exists
and comes before the redaction; the actor is an admin; the target is not
redacted already; a run's metrics that ``promote_if_better`` compared stay;
the recorded ``target_type`` and ``subject`` match the target), deleting the
target's ``payloads`` row in the same transaction, and what a redaction
changes in the read models: a param, or a tag's current value the target
wrote, becomes ``[redacted]``; the target's metric points go and the latest
values are recomputed from the rest; an input row keeps only its run and
seq; a data version keeps its name and version (its digest reads
``[redacted]``, its other fields and its parents are gone); a model's tags
in ``registry_log`` and ``model_version_tags`` become ``[redacted]``;
``redactions`` records the redaction. Which types may be
redacted, and the subject, are pure rules (``ledger.redaction_rules``).

A replay (rebuild, migration, as-of read) cannot read an erased payload.
It is given the ledger's erasures up front (``erasures``): the tracking
projector projects each erased event from its redaction's subject
(``stand_in_payload``), and the redaction is then applied as on a live
append, so a rebuild yields the rows the live ledger holds. A replay never
deletes anything but read-model rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from ledger.encoding import canonical_json
from ledger.errors import ConflictError, IntegrityError, LedgerError, NotFoundError, ValidationError
from ledger.events import decode_payload
from ledger.governance import policy_error
from ledger.redaction_rules import REDACTED, Redaction, check_redactable, redaction_subject, stand_in_payload
from ledger.store.registry_state import RegistryState

__all__ = ["REDACTION_TYPES", "RedactionProjector", "Target", "erasures", "redaction_target", "stand_in"]

REDACTION_TYPES = ("ledger.redacted",)

Handler = Callable[[Any, int, str, str, dict[str, Any]], None]


class Target(NamedTuple):
    """The event a redaction erases: its type and its payload."""

    type: str
    payload: dict[str, Any]


def redaction_target(cursor: Any, placeholder: str, *, seq: int, actor: str, target_seq: int) -> Target:
    """The event that a redaction appended at ``seq`` by ``actor`` would
    erase, once every rule that does not depend on the redaction's own payload
    holds. ``Ledger.redact`` calls it under the append lock to build the
    payload; the projector calls it again on the event it appends."""
    state = RegistryState(cursor, placeholder)
    sql = "SELECT e.type, p.body FROM events e LEFT JOIN payloads p ON p.seq = e.seq WHERE e.seq = ?"
    found = state.rows(sql, target_seq) if 0 <= target_seq < seq else []
    if not found:
        raise NotFoundError(f"redaction: event {target_seq} does not exist (the ledger has {seq} events)")
    target_type, body = found[0]
    _need_admin(state, actor)
    check_redactable(target_seq, target_type)
    already = state.integer("SELECT seq FROM redactions WHERE target_seq = ?", target_seq)
    if already is not None:
        raise ConflictError(f"event {target_seq} is already redacted by event {already}")
    if body is None:
        raise IntegrityError(
            f"redaction: event {target_seq} has no payload row and no redaction names it: "
            "the database was altered outside mlledger (run `mlledger verify`)"
        )
    payload = decode_payload(body) or {}
    if target_type == "run.metrics_logged":
        _check_not_compared(state, target_seq, payload)
    return Target(target_type, payload)


def _need_admin(state: RegistryState, actor: str) -> None:
    if "admin" in state.roles(actor):
        return
    if state.role_holders("admin"):
        raise policy_error("admin_only", f"only an admin can redact events; {actor!r} is not one")
    raise policy_error(
        "admin_only",
        f"only an admin can redact events; {actor!r} is not one, and the ledger has no admin yet "
        "(`mlledger init` makes the actor running it the first admin; in Python, lg.claim_admin())",
    )


def _check_not_compared(state: RegistryState, target_seq: int, payload: Mapping[str, Any]) -> None:
    """A metric value ``promote_if_better`` compared after it was logged is
    the evidence of a recorded decision: a rebuild without it would judge
    that comparison differently, so it is kept."""
    run_id = payload["run_id"]
    keys = {m["key"] for m in payload["metrics"]}
    rows = state.rows(
        "SELECT seq, detail FROM registry_log WHERE seq > ? AND type = 'model.promotion_evaluated' ORDER BY seq",
        target_seq,
    )
    for seq, detail in rows:
        evaluation = json.loads(detail)
        if evaluation["metric"] in keys and run_id in (evaluation["candidate_run_id"], evaluation["champion_run_id"]):
            raise policy_error(
                "compared_metrics",
                f"event {target_seq} logged metric {evaluation['metric']!r} of run {run_id}, which promote_if_better "
                f"compared in event {seq} (model {evaluation['name']!r}): the evidence of a promotion decision "
                "cannot be redacted",
            )


def erasures(cursor: Any, placeholder: str) -> dict[int, Redaction]:
    """Every erased payload: target seq -> the first ``ledger.redacted`` event
    after it (the one verification counts), for targets whose payload row is
    gone. What a replay needs before it meets the erased events."""
    cursor.execute(
        "SELECT e.seq, e.actor, e.time, p.body FROM events e JOIN payloads p ON p.seq = e.seq "
        "WHERE e.type = 'ledger.redacted' ORDER BY e.seq"
    )
    first: dict[int, tuple[int, str, str, dict[str, Any]]] = {}
    for seq, actor, time, body in cursor.fetchall():
        try:
            payload = decode_payload(body)
        except LedgerError:
            continue  # unreadable: verification reports it
        target = payload.get("target_seq") if payload else None
        if type(target) is int and 0 <= target < seq and target not in first:
            first[target] = (seq, actor, time, payload or {})
    found: dict[int, Redaction] = {}
    targets = sorted(first)
    for start in range(0, len(targets), 500):
        chunk = targets[start : start + 500]
        cursor.execute(
            "SELECT e.seq, e.type FROM events e LEFT JOIN payloads p ON p.seq = e.seq "
            f"WHERE p.seq IS NULL AND e.seq IN ({', '.join([placeholder] * len(chunk))})",
            tuple(chunk),
        )
        for target, target_type in cursor.fetchall():
            seq, actor, time, payload = first[target]
            subject = payload.get("subject")
            found[target] = Redaction(
                seq,
                target,
                target_type,
                subject if isinstance(subject, dict) else None,
                str(payload.get("reason", "")),
                str(payload.get("legal_basis", "")),
                actor,
                time,
            )
    return found


def stand_in(erased: Mapping[int, Redaction], seq: int, event_type: str) -> dict[str, Any] | None:
    """The payload a replay projects for event ``seq``, whose payload row is
    gone: the stand-in its redaction's subject gives; None when it projects
    nothing once erased, or no redaction explains the missing row."""
    found = erased.get(seq)
    if found is None or found.subject is None or found.target_type != event_type:
        return None
    return stand_in_payload(event_type, found.subject)


class RedactionProjector:
    """The ``ledger.redacted`` handler, for ``Projector``."""

    def __init__(self, placeholder: str) -> None:
        self.p = placeholder

    def handlers(self) -> dict[str, Handler]:
        return {"ledger.redacted": self._redacted}

    # -- plumbing ------------------------------------------------------------

    def _write(self, work: Any, sql: str, *params: Any) -> None:
        work.cursor.execute(sql.replace("?", self.p), params)

    def _rows(self, work: Any, sql: str, *params: Any) -> list[Sequence[Any]]:
        work.cursor.execute(sql.replace("?", self.p), params)
        return list(work.cursor.fetchall())

    # -- the handler ---------------------------------------------------------

    def _redacted(self, work: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        if work.erased is None:  # a live append
            redaction = self._check(work, seq, time, actor, p)
            self._write(work, "DELETE FROM payloads WHERE seq = ?", redaction.target_seq)
        else:  # a replay: the erasure happened when this event was appended
            target = p.get("target_seq")
            found = work.erased.get(target) if type(target) is int else None
            if found is None or found.seq != seq:
                raise ConflictError(f"event {seq} erased no payload")  # skipped: a replay is lenient
            redaction = found
        self._apply(work, redaction)

    def _check(self, work: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> Redaction:
        """The rules of a live redaction; the redaction it makes. (``p.get``:
        an import, past the rules, may bring a schema-1 payload, without
        ``target_type`` and ``subject``: it is then skipped.)"""
        target_seq = p.get("target_seq")
        if type(target_seq) is not int:
            raise ValidationError(f"redaction: target_seq must be the seq of the event to redact, got {target_seq!r}")
        target = redaction_target(work.cursor, self.p, seq=seq, actor=actor, target_seq=target_seq)
        if p.get("target_type") != target.type:
            raise ConflictError(
                f"redaction of event {target_seq}: target_type {p.get('target_type')!r} does not match the event's "
                f"type, {target.type}"
            )
        expected = redaction_subject(target.type, target.payload)
        if p.get("subject") != expected:
            raise ConflictError(
                f"redaction of event {target_seq}: subject {_text(p.get('subject'))} does not match the event's "
                f"payload (expected {_text(expected)})"
            )
        return Redaction(seq, target_seq, target.type, expected, p["reason"], p["legal_basis"], actor, time)

    def _apply(self, work: Any, r: Redaction) -> None:
        """The read-model changes of redaction ``r``: the same whether the
        target was projected with its payload (live) or as a stand-in (replay)."""
        subject = r.subject
        if subject is not None:
            match r.target_type:
                case "run.params_logged":
                    self._write(
                        work,
                        "UPDATE run_params SET value = ? WHERE run_id = ? AND seq = ?",
                        REDACTED,
                        subject["run_id"],
                        r.target_seq,
                    )
                case "run.tags_set":
                    self._write(
                        work,
                        "UPDATE run_tags SET value = ? WHERE run_id = ? AND seq = ?",
                        REDACTED,
                        subject["run_id"],
                        r.target_seq,
                    )
                case "run.metrics_logged":
                    self._erase_points(work, r.target_seq, subject["run_id"], subject["keys"])
                case "run.input_logged":
                    self._write(
                        work,
                        "UPDATE run_inputs SET name = ?, version = ?, digest = ?, source = NULL, context = NULL, "
                        "columns = NULL, num_rows = NULL WHERE seq = ?",
                        REDACTED,
                        REDACTED,
                        REDACTED,
                        r.target_seq,
                    )
                case "dataset.version_registered":
                    self._write(
                        work,
                        "UPDATE dataset_versions SET digest = ?, source = NULL, transform = NULL, columns = NULL, "
                        "num_rows = NULL WHERE seq = ?",
                        REDACTED,
                        r.target_seq,
                    )
                    self._write(work, "DELETE FROM dataset_parents WHERE seq = ?", r.target_seq)
                case "model.tags_set":
                    self._erase_model_tags(work, r.target_seq, subject)
        self._write(
            work,
            "INSERT INTO redactions (target_seq, seq, target_type, subject, run_id, reason, legal_basis, actor, time) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            r.target_seq,
            r.seq,
            r.target_type,
            None if subject is None else _text(subject),
            None if subject is None else subject.get("run_id"),
            r.reason,
            r.legal_basis,
            r.actor,
            r.time,
        )

    def _erase_points(self, work: Any, target_seq: int, run_id: str, keys: Sequence[str]) -> None:
        """Remove the target's metric points; where one was a latest value,
        the latest becomes what it would be had the target never been logged."""
        self._write(work, "DELETE FROM metric_history WHERE seq = ?", target_seq)
        for key in keys:
            latest = self._rows(work, "SELECT seq FROM latest_metrics WHERE run_id = ? AND key = ?", run_id, key)
            if not latest or latest[0][0] != target_seq:
                continue
            # The projector's rule: highest (step, timestamp), the later point winning ties.
            rest = self._rows(
                work,
                "SELECT value, step, timestamp, seq FROM metric_history WHERE run_id = ? AND key = ? "
                "ORDER BY step DESC, timestamp DESC, seq DESC, position DESC LIMIT 1",
                run_id,
                key,
            )
            if rest:
                self._write(
                    work,
                    "UPDATE latest_metrics SET value = ?, step = ?, timestamp = ?, seq = ? "
                    "WHERE run_id = ? AND key = ?",
                    *rest[0],
                    run_id,
                    key,
                )
            else:
                self._write(work, "DELETE FROM latest_metrics WHERE run_id = ? AND key = ?", run_id, key)

    def _erase_model_tags(self, work: Any, target_seq: int, subject: Mapping[str, Any]) -> None:
        """The target's entry in ``registry_log`` becomes its stand-in, and a
        version tag whose current value it wrote becomes ``[redacted]``."""
        stand_in = stand_in_payload("model.tags_set", subject)
        self._write(work, "UPDATE registry_log SET detail = ? WHERE seq = ?", _text(stand_in), target_seq)
        name, version = subject["name"], subject["version"]
        if version is None:
            return  # a model's tags are folded from registry_log
        later = self._rows(
            work,
            "SELECT detail FROM registry_log WHERE name = ? AND version = ? AND type = 'model.tags_set' AND seq > ?",
            name,
            version,
            target_seq,
        )
        rewritten = {key for (detail,) in later for key in json.loads(detail).get("tags", {})}
        for key in subject["keys"]:
            if key not in rewritten:
                self._write(
                    work,
                    "UPDATE model_version_tags SET value = ? WHERE name = ? AND version = ? AND key = ?",
                    REDACTED,
                    name,
                    version,
                    key,
                )


def _text(value: Any) -> str:
    return canonical_json(value).decode("utf-8")
