"""Applies ``dataset.version_registered`` events to the data-version read
models (``dataset_versions``, ``dataset_parents``) inside the append
transaction, after checking the rules that need the ledger's state; and
reads those tables on a driver cursor.

Owns: the data-version rules of every append, whoever writes the event (a
version is registered once: a second registration is refused, the service
appending nothing for an identical one; each parent in ``derived_from`` is
registered already; a run's input of a registered version has its digest;
a new version has the digest of the inputs that named it before it was
registered, redacted ones aside), and the row changes of a registration.
The rules' words are ``ledger.dataset_rules``'s.

A replay (rebuild, migration, import past the rules) records what each
registration says, keeping the first registration of a version: the rules
that compare one event with another are checked on live appends only, so a
chain written under them replays to the rows the live ledger holds, and an
older chain, written before they existed, loses nothing it said (a
registration whose digest differs from an earlier input's included). An
erased registration is replayed as its stand-in (``ledger.redaction_rules``):
its name and version, the digest ``[redacted]``, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, NamedTuple

from ledger.dataset_rules import (
    DataVersionRef,
    check_lineage,
    content_differences,
    input_conflict,
    logged_input_conflict,
    missing_parent,
    registration_conflict,
)
from ledger.encoding import canonical_json, parse_json

__all__ = [
    "DATASET_TYPES",
    "DatasetProjector",
    "DatasetRow",
    "DatasetState",
    "LoggedInput",
    "check_input",
    "check_registration",
]

DATASET_TYPES: Final = ("dataset.version_registered",)

Handler = Callable[[Any, int, str, str, dict[str, Any]], None]

_SELECT: Final = (
    "SELECT v.seq, v.name, v.version, v.digest, v.source, v.transform, v.columns, v.num_rows, v.actor, v.time, "
    "r.seq, d.parent_name, d.parent_version FROM dataset_versions v "
    "LEFT JOIN redactions r ON r.target_seq = v.seq "
    "LEFT JOIN dataset_parents d ON d.seq = v.seq"
)
# The first input naming a version with another digest. A redacted input is
# left out by its redaction, not by its [redacted] name: a version may be
# called that too.
_OTHER_INPUT: Final = (
    "SELECT i.seq, i.run_id, i.digest FROM run_inputs i LEFT JOIN redactions r ON r.target_seq = i.seq "
    "WHERE i.name = ? AND i.version = ? AND i.digest <> ? AND r.seq IS NULL ORDER BY i.seq LIMIT 1"
)


class LoggedInput(NamedTuple):
    """A run's input (``run.input_logged`` event ``seq``) as ``run_inputs`` holds it."""

    seq: int
    run_id: str
    digest: str


class DatasetRow(NamedTuple):
    """A registered data version as the read models hold it; ``redacted_by``
    is the seq of the ``ledger.redacted`` event that erased its registration."""

    seq: int
    name: str
    version: str
    digest: str
    source: str | None
    transform: str | None
    columns: list[dict[str, str]] | None
    num_rows: int | None
    actor: str
    time: str
    redacted_by: int | None
    derived_from: tuple[DataVersionRef, ...]

    @property
    def ref(self) -> DataVersionRef:
        return DataVersionRef(self.name, self.version)

    def content(self) -> dict[str, Any]:
        """What the registration says about its data, as its payload held it."""
        return {
            "digest": self.digest,
            "source": self.source,
            "transform": self.transform,
            "columns": self.columns,
            "num_rows": self.num_rows,
            "derived_from": [ref.to_json() for ref in self.derived_from],
        }


class DatasetState:
    """Data versions through one cursor; ``at`` bounds them to ``seq <= at``.

    A redaction shows at any ``at``, as in an as-of replay: an erased payload
    cannot be shown as it was.
    """

    def __init__(self, cursor: Any, placeholder: str, at: int | None = None) -> None:
        self.cursor = cursor
        self.p = placeholder
        self.at = at

    def version(self, name: str, version: str) -> DatasetRow | None:
        found = self._select("v.name = ? AND v.version = ?", name, version)
        return found[0] if found else None

    def versions(self, name: str | None = None) -> list[DatasetRow]:
        """Every version (of ``name``), in registration order."""
        return self._select("1 = 1") if name is None else self._select("v.name = ?", name)

    def missing(self, refs: Sequence[DataVersionRef]) -> list[DataVersionRef]:
        """The versions of ``refs`` that are not registered."""
        return [ref for ref in refs if self._seq_of(ref) is None]

    def input_with_other_digest(self, ref: DataVersionRef, digest: str) -> LoggedInput | None:
        """The first input of ``ref`` logged with a digest other than ``digest``
        (redacted inputs aside), None when there is none."""
        self.cursor.execute(_OTHER_INPUT.replace("?", self.p), (ref.name, ref.version, digest))
        row = self.cursor.fetchone()
        return None if row is None else LoggedInput(int(row[0]), row[1], row[2])

    def _seq_of(self, ref: DataVersionRef) -> int | None:
        self.cursor.execute(
            f"SELECT seq FROM dataset_versions WHERE name = {self.p} AND version = {self.p}", (ref.name, ref.version)
        )
        row = self.cursor.fetchone()
        return None if row is None else int(row[0])

    def _select(self, where: str, *params: Any) -> list[DatasetRow]:
        bound = "" if self.at is None else f" AND v.seq <= {int(self.at)}"
        sql = f"{_SELECT} WHERE {where}{bound} ORDER BY v.seq, d.position".replace("?", self.p)
        self.cursor.execute(sql, params)
        rows: list[DatasetRow] = []
        for *fields, redacted_by, parent_name, parent_version in self.cursor.fetchall():
            if not rows or rows[-1].seq != fields[0]:
                seq, name, version, digest, source, transform, columns, num_rows, actor, time = fields
                rows.append(
                    DatasetRow(
                        int(seq),
                        name,
                        version,
                        digest,
                        source,
                        transform,
                        parse_json(columns) if columns is not None else None,
                        None if num_rows is None else int(num_rows),
                        actor,
                        time,
                        None if redacted_by is None else int(redacted_by),
                        (),
                    )
                )
            if parent_name is not None:
                last = rows[-1]
                rows[-1] = last._replace(derived_from=(*last.derived_from, DataVersionRef(parent_name, parent_version)))
        return rows


def check_input(cursor: Any, placeholder: str, run_id: str, payload: dict[str, Any]) -> None:
    """ConflictError when a run's input names a registered version with
    another digest, or one whose registration was erased (its digest cannot
    be compared). An input of an unregistered version is not checked."""
    ref = DataVersionRef(payload["name"], payload["version"])
    held = DatasetState(cursor, placeholder).version(*ref)
    if held is not None and (held.redacted_by is not None or held.digest != payload["digest"]):
        raise input_conflict(run_id, ref, payload["digest"], held.seq, held.digest, held.redacted_by)


def check_registration(state: DatasetState, payload: dict[str, Any]) -> DatasetRow | None:
    """The rules of a live registration that may be idempotent: the version
    it names when that is registered with the same content (the service then
    appends nothing), None when it is new and may be appended; else the
    rule's error (``ledger.dataset_rules``). A new version's digest must be
    the one its earlier inputs were logged with (inputs logged before the
    version was registered: raw appends, or a ledger older than schema 6)."""
    ref = DataVersionRef(payload["name"], payload["version"])
    parents = [DataVersionRef(p["name"], p["version"]) for p in payload["derived_from"]]
    check_lineage(ref.name, ref.version, parents)
    held = state.version(*ref)
    if held is not None:
        if held.redacted_by is not None:
            raise registration_conflict(ref, held.seq, redacted_by=held.redacted_by)
        differences = content_differences(held.content(), payload)
        if differences:
            raise registration_conflict(ref, held.seq, differences=differences)
        return held
    logged = state.input_with_other_digest(ref, payload["digest"])
    if logged is not None:
        raise logged_input_conflict(ref, payload["digest"], logged.run_id, logged.seq, logged.digest)
    for parent in state.missing(parents):
        raise missing_parent(ref, parent)
    return None


class DatasetProjector:
    """The ``dataset.version_registered`` handler, for ``Projector``."""

    def __init__(self, placeholder: str) -> None:
        self.p = placeholder
        p = placeholder
        self._insert_version = (
            "INSERT INTO dataset_versions (seq, name, version, digest, source, transform, columns, num_rows, actor, "
            f"time) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
        )
        self._insert_parent = (
            "INSERT INTO dataset_parents (seq, position, name, version, parent_name, parent_version) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p})"
        )

    def handlers(self) -> dict[str, Handler]:
        return {"dataset.version_registered": self._registered}

    def _registered(self, work: Any, seq: int, time: str, actor: str, p: dict[str, Any]) -> None:
        state = DatasetState(work.cursor, self.p)
        # Live: every rule; a registration repeating one (which the service
        # never appends) is refused too. A replay keeps the first.
        held = check_registration(state, p) if work.strict else state.version(p["name"], p["version"])
        if held is not None:
            raise registration_conflict(held.ref, held.seq)
        columns = None if p["columns"] is None else canonical_json(p["columns"]).decode("utf-8")
        row = (seq, p["name"], p["version"], p["digest"], p["source"], p["transform"], columns, p["num_rows"])
        work.cursor.execute(self._insert_version, (*row, actor, time))
        parents = [
            (seq, position, p["name"], p["version"], parent["name"], parent["version"])
            for position, parent in enumerate(p["derived_from"])
        ]
        if parents:
            work.cursor.executemany(self._insert_parent, parents)
