"""The data-version service: register a version of a dataset with its digest
and lineage, link runs to the versions they read, and read the versions now
or as of any moment.

Owns: turning ``register_dataset_version`` and ``ActiveRun.log_input`` into
their events. Each is a *plan* run under the ledger's append lock
(``RegistryCommands._run_plan``): it reads the version it names and returns
the events to append, nothing when the same content is registered already,
so a retried call appends nothing and two writers cannot both register one
version. The store checks the same rules on every append
(``ledger.store.dataset_projector``); their words are
``ledger.dataset_rules``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ledger.dataset_rules import DataVersionRef, check_lineage, columns_of, parse_refs
from ledger.encoding import format_time
from ledger.errors import NotFoundError, ValidationError
from ledger.events import PendingEvent, RecordedEvent
from ledger.payloads import payload_model
from ledger.store.dataset_projector import DatasetRow, DatasetState, check_input, check_registration

if TYPE_CHECKING:
    from ledger.store import EventStore
    from ledger.store.registry_state import RegistryState

__all__ = ["DataVersion", "DataVersionRef", "DatasetCommands"]

Schema = Mapping[str, str] | Sequence[Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class DataVersion:
    """A registered data version. ``columns`` is its schema as
    ``({"name", "type"}, ...)``; ``derived_from`` the versions it was made
    from; ``seq``, ``actor`` and ``time`` those of its registration. Once the
    registration is redacted (``redacted_by``: the redaction's seq), the
    digest reads ``[redacted]`` and source, transform, schema, row count and
    parents are empty."""

    name: str
    version: str
    digest: str
    source: str | None
    transform: str | None
    columns: tuple[dict[str, str], ...] | None
    num_rows: int | None
    derived_from: tuple[DataVersionRef, ...]
    seq: int
    actor: str
    time: str
    redacted_by: int | None = None

    @property
    def ref(self) -> DataVersionRef:
        """``name@version``."""
        return DataVersionRef(self.name, self.version)

    @property
    def redacted(self) -> bool:
        return self.redacted_by is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "digest": self.digest,
            "source": self.source,
            "transform": self.transform,
            "columns": None if self.columns is None else list(self.columns),
            "num_rows": self.num_rows,
            "derived_from": [ref.to_json() for ref in self.derived_from],
            "seq": self.seq,
            "actor": self.actor,
            "time": self.time,
            "redacted_by": self.redacted_by,
        }


# A parent or a list of them: "name@version", (name, version), {name, version}, a DataVersion.
Refs = str | Mapping[str, str] | DataVersion | Sequence[Any]


def _view(row: DatasetRow) -> DataVersion:
    return DataVersion(
        name=row.name,
        version=row.version,
        digest=row.digest,
        source=row.source,
        transform=row.transform,
        columns=None if row.columns is None else tuple(row.columns),
        num_rows=row.num_rows,
        derived_from=row.derived_from,
        seq=row.seq,
        actor=row.actor,
        time=row.time,
        redacted_by=row.redacted_by,
    )


def _check_text(value: object, what: str) -> None:
    if not isinstance(value, str):
        raise ValidationError(f"a data version's {what} is a string, got {type(value).__name__} {value!r}")


class DatasetCommands:
    """The data-version half of ``Ledger`` (a mixin: it needs ``store``,
    ``_who``, ``_seq_of``, and ``RegistryCommands``'s ``_run_plan`` and
    ``_placeholder``)."""

    store: EventStore

    if TYPE_CHECKING:

        def _who(self, actor: str | None) -> str: ...

        def _seq_of(self, moment: int | str | datetime) -> int: ...

        def _placeholder(self) -> str: ...

        def _run_plan(self, plan: Callable[[RegistryState], Sequence[PendingEvent]]) -> list[RecordedEvent]: ...

    def _dataset_plan(self, plan: Callable[[DatasetState], list[PendingEvent]]) -> list[RecordedEvent]:
        return self._run_plan(lambda state: plan(DatasetState(state.cursor, state.p)))

    def register_dataset_version(
        self,
        name: str,
        version: str,
        *,
        digest: str,
        source: str | None = None,
        derived_from: Refs = (),
        transform: str | None = None,
        schema: Schema | None = None,
        num_rows: int | None = None,
        actor: str | None = None,
    ) -> DataVersion:
        """Register ``version`` of dataset ``name``: its content ``digest``,
        where it came from, the versions it was ``derived_from`` (each
        ``"name@version"``, a ``(name, version)`` pair, a ``{name, version}``
        mapping or a ``DataVersion``) and by what ``transform``, its
        ``schema`` ({column: type} or [{name, type}]) and ``num_rows``.

        A version is registered once: the same content again appends nothing
        and returns the registered version (a retried call); other content is
        a ``ConflictError``, and so is a digest other than the one a run's
        earlier input of the version was logged with (an input logged before
        any registration: a raw append, or a ledger older than schema 6).
        Every parent must be registered already (``NotFoundError``); a
        version cannot derive from itself or name a parent twice
        (``ValidationError``). A refused call appends nothing.
        """
        parents = parse_refs(derived_from)
        payload = {
            "name": name,
            "version": version,
            "digest": digest,
            "source": source,
            "derived_from": [ref.to_json() for ref in parents],
            "transform": transform,
            "columns": columns_of(schema),
            "num_rows": num_rows,
        }
        payload = payload_model("dataset.version_registered").check(payload)  # clear errors before the lock
        check_lineage(name, version, parents)
        who = self._who(actor)

        def plan(state: DatasetState) -> list[PendingEvent]:
            if check_registration(state, payload) is not None:
                return []  # registered already, with this content
            return [PendingEvent("dataset.version_registered", payload, who)]

        self._dataset_plan(plan)
        return self.dataset_version(name, version)

    def dataset_version(self, name: str, version: str, *, as_of: int | str | datetime | None = None) -> DataVersion:
        """One data version, now or as of a seq or a time (``NotFoundError``
        when it was not registered then; ``ValidationError`` for a time
        before the ledger's first event)."""
        _check_text(name, "name")
        _check_text(version, "version")
        at = self._dataset_seq_of(as_of)

        def read(state: DatasetState) -> list[DatasetRow]:
            row = state.version(name, version)
            return [] if row is None else [row]

        found = self._dataset_rows(read, at)
        if not found:
            when = "" if at is None else f" as of event {at}"
            raise NotFoundError(f"data version {DataVersionRef(name, version)} is not registered{when}")
        return found[0]

    def dataset_versions(
        self, name: str | None = None, *, as_of: int | str | datetime | None = None
    ) -> list[DataVersion]:
        """Every data version (of dataset ``name``), in registration order, now
        or as of a seq or a time (``ValidationError`` for a time before the
        ledger's first event)."""
        if name is not None:
            _check_text(name, "name")
        return self._dataset_rows(lambda state: state.versions(name), self._dataset_seq_of(as_of))

    def _dataset_seq_of(self, as_of: int | str | datetime | None) -> int | None:
        """The seq an as-of read of data versions is bounded at (None: now);
        a ValidationError for a time before the ledger's first event, where
        ``_seq_of`` answers -1."""
        if as_of is None:
            return None
        at = self._seq_of(as_of)
        if at < 0:
            shown = format_time(as_of) if isinstance(as_of, datetime) else as_of
            raise ValidationError(f"as_of {shown!r} is before the ledger's first event")
        return at

    def _dataset_rows(self, read: Callable[[DatasetState], list[DatasetRow]], at: int | None) -> list[DataVersion]:
        """What ``read`` finds, in one statement (one snapshot) on a pooled connection."""
        raw = self.store.engine.raw_connection()
        try:
            return [_view(row) for row in read(DatasetState(raw.cursor(), self._placeholder(), at))]
        finally:
            raw.rollback()
            raw.close()

    def _log_input(self, run_id: str, actor: str, payload: dict[str, Any]) -> None:
        """Append a run's input (``ActiveRun.log_input``): when its version is
        registered, its digest must match; when not, the version is registered
        from the input in the same batch, under the rules of any registration
        (the store's: ``check_registration``)."""
        payload = payload_model("run.input_logged").check(payload)  # clear errors before the lock

        def plan(state: DatasetState) -> list[PendingEvent]:
            events = []
            if state.version(payload["name"], payload["version"]) is None:
                data = {key: payload[key] for key in ("name", "version", "digest", "source", "columns", "num_rows")}
                events.append(PendingEvent("dataset.version_registered", data, actor))
            else:
                check_input(state.cursor, state.p, run_id, payload)
            events.append(PendingEvent("run.input_logged", payload, actor))
            return events

        self._dataset_plan(plan)
