"""Evidence bundles (``mlledger evidence MODEL VERSION``): every event the
ledger holds about one model version and its lineage, with their proof.

Owns: which events the bundle of a version cites and why, the one signed
checkpoint they are all proven against (the latest stored checkpoint that
covers them, else a new one), and writing the bundle to a file once, never
over another. The bundle's files and bytes and their offline check are
``ledger.bundle``'s (pure); export lines are ``ledger.proofs``'; registry
facts come from ``RegistryView`` bounded by the checkpoint, proofs from the
store.

What a bundle cites, and where each is found (every lookup is bounded by
the checkpoint's size and uses an index, unless said otherwise):

- registry events of the model (``registry_log`` through
  ``RegistryView.history``): its registration, tags and every policy; this
  version's registration, tags, stage and alias changes, the stage changes
  that archived it, its transition requests and their approvals and
  rejections, the ``promote_if_better`` comparisons it was in (as candidate
  or champion) and its deployments;
- for each decided request of the version: the decider's role grants in
  force then (``role_intervals``) and, for a signed approval, the
  ``actor.key_registered`` event of the key (``actor_keys``);
- the source run: ``run.started`` and ``run.finished`` (``runs``), its
  experiment (``experiments``), metrics (``metric_history``), inputs
  (``run_inputs``), and the ``run.started`` of each parent up the chain;
- the source run's params, tags and artifacts: read from the events between
  its ``run.started`` and ``run.finished`` (a primary-key range filtered by
  type), because their read models keep one row per key and so miss an event
  whose keys were logged before (a repeated param or artifact, a tag set
  again); a run logs nothing outside that range;
- the run's redacted events (``redactions.run_id``: a redacted metric
  leaves no ``metric_history`` row) and the ``ledger.redacted`` event of
  every cited event (``redactions``);
- ``dataset.version_registered`` of the run's inputs and, through
  ``derived_from``, of their upstream versions (``dataset_versions`` and
  ``dataset_parents``: a version is registered once, so one event each; an
  erased registration is cited without its upstream, which went with it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from sqlalchemy import Connection, or_, select

from ledger.bundle import Citation, bundle_files, zip_bundle
from ledger.checkpoint import origin_for
from ledger.encoding import export_line
from ledger.errors import ConflictError, LedgerError, NotFoundError, ValidationError
from ledger.events import decode_payload
from ledger.files import write_new
from ledger.redaction_rules import REDACTED
from ledger.registry_views import HistoryEntry, RegistryView, TransitionRequestView
from ledger.store.read_models import (
    DatasetParent,
    DatasetVersion,
    Experiment,
    MetricPoint,
    RedactionRecord,
    Run,
    RunInput,
)
from ledger.store.registry_models import ActorKey, RoleInterval
from ledger.store.tables import Event, PayloadRow

if TYPE_CHECKING:
    from ledger.checkpoints import SigningKey, StoredCheckpoint
    from ledger.store import EventStore

__all__ = ["EvidenceBundle", "EvidenceCommands", "EvidenceSelection"]

_RUN_LOGS: Final = ("run.params_logged", "run.tags_set", "run.artifact_logged")
_RUN_PARTS: Final = {
    "run.params_logged": "params",
    "run.tags_set": "tags",
    "run.artifact_logged": "artifact",
    "run.metrics_logged": "metrics",
    "run.input_logged": "input",
}
_CHUNK: Final = 500  # seqs per IN (...) list
_RUN: Final = 16  # consecutive seqs read with one range query
_ATTEMPTS: Final = 5  # selections tried while writers redact what the last one cited


@dataclass(frozen=True)
class EvidenceSelection:
    """The events cited as evidence of ``model`` version ``version``: stored
    rows in seq order, each with why it is cited, all covered by ``checkpoint``."""

    model: str
    version: int
    checkpoint: StoredCheckpoint
    citations: tuple[Citation, ...]
    rows: tuple[Sequence[Any], ...]

    @property
    def seqs(self) -> list[int]:
        return [citation.seq for citation in self.citations]

    @property
    def redacted(self) -> list[int]:
        """The cited events whose payload was erased."""
        return [row[0] for row in self.rows if row[10] is None]


@dataclass(frozen=True)
class EvidenceBundle(EvidenceSelection):
    """A selection with its multiproof in the tree ``checkpoint`` signs: what
    a bundle file holds."""

    origin: str
    verifier_key: str
    proof: tuple[bytes, ...] = field(repr=False)

    def files(self) -> dict[str, bytes]:
        """The bundle's files by name (``ledger.bundle``); ``ValidationError``
        for a bundle tied to the unsigned head, which no one could check."""
        if not self.checkpoint.signed:
            raise ValidationError("an evidence bundle needs a signed checkpoint; this one is the unsigned head")
        return bundle_files(
            model=self.model,
            version=self.version,
            origin=self.origin,
            tree_size=self.checkpoint.size,
            root=self.checkpoint.root,
            note=self.checkpoint.note,
            verifier_key=self.verifier_key,
            citations=self.citations,
            lines=[export_line(tuple(row[:9]), row[9], row[10]) for row in self.rows],
            proof=self.proof,
        )

    def to_bytes(self) -> bytes:
        """The zip: the same bytes for the same ledger and checkpoint."""
        return zip_bundle(self.files())


class _RunRow(NamedTuple):
    experiment_id: str
    parent_run_id: str | None
    start_seq: int
    end_seq: int | None


class _Citations:
    """The seqs a selection cites (below ``stop``), each with its reasons;
    the cited redactions by target; redactions of cited events appended at
    or after ``stop``."""

    def __init__(self, stop: int) -> None:
        self.stop = stop
        self.reasons: dict[int, list[str]] = {}
        self.redactions: dict[int, int] = {}
        self.late: list[int] = []

    def add(self, seq: int | None, reason: str) -> None:
        if seq is None or seq >= self.stop:
            return
        reasons = self.reasons.setdefault(seq, [])
        if reason not in reasons:
            reasons.append(reason)

    @property
    def last(self) -> int:
        """The highest seq a checkpoint must cover."""
        return max([*self.reasons, *self.late])


class _Reads:
    """The read-model and event lookups of one selection, on one connection
    (one snapshot on SQLite), bounded to ``seq < stop``."""

    def __init__(self, conn: Connection, stop: int) -> None:
        self.conn = conn
        self.stop = stop

    def run(self, run_id: str) -> _RunRow | None:
        query = select(Run.experiment_id, Run.parent_run_id, Run.start_seq, Run.end_seq).where(
            Run.run_id == run_id, Run.start_seq < self.stop
        )
        row = self.conn.execute(query).first()
        return None if row is None else _RunRow(*row)

    def experiment_seq(self, experiment_id: str) -> int | None:
        return self.conn.scalar(select(Experiment.seq).where(Experiment.experiment_id == experiment_id))

    def metric_seqs(self, run_id: str) -> list[int]:
        query = select(MetricPoint.seq).where(MetricPoint.run_id == run_id, MetricPoint.seq < self.stop).distinct()
        return list(self.conn.scalars(query))

    def inputs(self, run_id: str) -> list[tuple[int, str, str]]:
        query = select(RunInput.seq, RunInput.name, RunInput.version).where(
            RunInput.run_id == run_id, RunInput.seq < self.stop
        )
        return [(seq, name, version) for seq, name, version in self.conn.execute(query)]

    def run_logs(self, run_id: str, after: int, before: int) -> Iterator[tuple[int, str]]:
        """(seq, type) of the run's params, tags and artifact events with
        ``after < seq < before`` whose payload is still there."""
        query = (
            select(Event.seq, Event.type, PayloadRow.body)
            .outerjoin(PayloadRow, PayloadRow.seq == Event.seq)
            .where(Event.seq > after, Event.seq < min(before, self.stop), Event.type.in_(_RUN_LOGS))
        )
        for seq, event_type, body in self.conn.execute(query):
            payload = _payload(body)
            if payload is not None and payload.get("run_id") == run_id:
                yield seq, event_type

    def run_redactions(self, run_id: str) -> list[tuple[int, str]]:
        """(target seq, target type) of the run's events whose payload was erased."""
        query = select(RedactionRecord.target_seq, RedactionRecord.target_type).where(
            RedactionRecord.run_id == run_id, RedactionRecord.target_seq < self.stop
        )
        return [(target, target_type) for target, target_type in self.conn.execute(query)]

    def redactions_of(self, targets: Sequence[int]) -> list[tuple[int, int]]:
        """(target seq, redaction seq) of the redactions of ``targets``, at any
        seq: one range query over the targets' span (redactions are few)."""
        if not targets:
            return []
        wanted = set(targets)
        query = select(RedactionRecord.target_seq, RedactionRecord.seq).where(
            RedactionRecord.target_seq.between(min(wanted), max(wanted))
        )
        return [(target, seq) for target, seq in self.conn.execute(query) if target in wanted]

    def data_version(self, name: str, version: str) -> tuple[int, list[tuple[str, str]]] | None:
        """(seq, derived from) of the registration of data version ``name@version``."""
        query = select(DatasetVersion.seq).where(
            DatasetVersion.name == name, DatasetVersion.version == version, DatasetVersion.seq < self.stop
        )
        seq = self.conn.scalar(query)
        if seq is None:
            return None
        parents = (
            select(DatasetParent.parent_name, DatasetParent.parent_version)
            .where(DatasetParent.seq == seq)
            .order_by(DatasetParent.position)
        )
        return seq, [(parent, parent_version) for parent, parent_version in self.conn.execute(parents)]

    def key_seq(self, actor: str, key_id: str) -> int | None:
        query = select(ActorKey.seq).where(ActorKey.actor == actor, ActorKey.key_id == key_id)
        return self.conn.scalar(query)

    def roles_at(self, actor: str, seq: int) -> list[tuple[int, str]]:
        """(grant seq, role) of the roles ``actor`` held when event ``seq`` was appended."""
        query = select(RoleInterval.start_seq, RoleInterval.role).where(
            RoleInterval.actor == actor,
            RoleInterval.start_seq < seq,
            or_(RoleInterval.end_seq.is_(None), RoleInterval.end_seq > seq),
        )
        return [(start, role) for start, role in self.conn.execute(query)]

    def rows(self, seqs: Sequence[int]) -> list[tuple[Any, ...]]:
        """The stored rows (``StoredRow`` shape: header, hash, payload text or
        None) of ``seqs``, in seq order: a range query for each run of
        consecutive seqs (a run's metric events), IN lists for the rest."""
        columns = [getattr(Event, name) for name in _ROW_COLUMNS]
        query = select(*columns, PayloadRow.body).outerjoin(PayloadRow, PayloadRow.seq == Event.seq)
        ranges, scattered = _runs(sorted(seqs))
        found: list[tuple[Any, ...]] = []
        for first, last in ranges:
            found.extend(tuple(row) for row in self.conn.execute(query.where(Event.seq.between(first, last))))
        for chunk in _chunks(scattered):
            found.extend(tuple(row) for row in self.conn.execute(query.where(Event.seq.in_(chunk))))
        found.sort(key=lambda row: row[0])
        return found


_ROW_COLUMNS: Final = ("seq", "v", "id", "type", "schema", "time", "actor", "payload_digest", "prev", "hash")


def _runs(seqs: Sequence[int]) -> tuple[list[tuple[int, int]], list[int]]:
    """(first, last) of each run of at least ``_RUN`` consecutive ``seqs`` (sorted), and the seqs outside them."""
    ranges: list[tuple[int, int]] = []
    scattered: list[int] = []
    start = 0
    for i in range(1, len(seqs) + 1):
        if i == len(seqs) or seqs[i] != seqs[i - 1] + 1:
            if i - start >= _RUN:
                ranges.append((seqs[start], seqs[i - 1]))
            else:
                scattered += seqs[start:i]
            start = i
    return ranges, scattered


def _chunks(values: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(values), _CHUNK):
        yield list(values[start : start + _CHUNK])


def _payload(body: str | None) -> dict[str, Any] | None:
    try:
        return decode_payload(body)
    except LedgerError:
        return None  # unreadable: `mlledger verify` reports it; it cites nothing


def _registry_reason(entry: HistoryEntry, version: int) -> str | None:  # noqa: PLR0911 - a line per type
    """Why a registry event of the model belongs in the evidence of ``version`` (None: it does not)."""
    detail, mine = entry.detail, entry.version == version
    match entry.type:
        case "model.registered":
            return "registration of the model"
        case "policy.set":
            return "policy of the model"
        case "model.tags_set" if entry.version is None:
            return "tags of the model"
        case "model.tags_set" if mine:
            return "tags of this version"
        case "model.version_created" if mine:
            return "registration of this version"
        case "model.stage_changed" if entry.touches_stage(version):
            if mine:
                return f"stage change of this version to {detail.get('to_stage')}"
            return f"archived this version (version {entry.version} moved to {detail.get('to_stage')})"
        case "model.alias_set" | "model.alias_removed" if mine:
            verb = "set on" if entry.type == "model.alias_set" else "removed from"
            return f"alias {detail.get('alias')!r} {verb} this version"
        case "model.transition_requested" if mine:
            return f"request {detail.get('request_id')} to move this version to {detail.get('to_stage')}"
        case "model.transition_approved" if mine:
            return f"approval of request {detail.get('request_id')}"
        case "model.transition_rejected" if mine:
            return f"rejection of request {detail.get('request_id')}"
        case "model.promotion_evaluated" if entry.compares(version):
            return f"promote_if_better comparison, this version as {'candidate' if mine else 'champion'}"
        case "model.deployed" if mine:
            return f"deployment to {detail.get('target')} ({detail.get('environment')})"
    return None


class EvidenceCommands:
    """The evidence half of ``ledger.Ledger``."""

    store: EventStore

    if TYPE_CHECKING:

        @property
        def ledger_id(self) -> str: ...

        def size(self) -> int: ...

        def registry_as_of(self, moment: int) -> RegistryView: ...

        def covering_checkpoint(
            self, seq: int, *, key: SigningKey | None = None, sign: bool = True
        ) -> StoredCheckpoint: ...

        def checked_multiproof(self, rows: Sequence[Sequence[Any]], signed: StoredCheckpoint) -> list[bytes]: ...

        def verifier_key(self) -> str: ...

    def write_evidence(
        self, name: str, version: int, path: str | Path, *, key: SigningKey | None = None
    ) -> EvidenceBundle:
        """Write the evidence bundle of ``version`` of ``name`` to ``path``, a
        file that must not exist yet (``ConflictError``; nothing is written
        when the version is unknown). Returns what was written."""
        target = Path(path)
        if target.exists():
            raise ConflictError(f"{target} exists: an evidence bundle is never written over a file")
        bundle = self.evidence(name, version, key=key)
        if not write_new(target, bundle.to_bytes()):
            raise ConflictError(f"{target} exists: an evidence bundle is never written over a file")
        return bundle

    def evidence(self, name: str, version: int, *, key: SigningKey | None = None) -> EvidenceBundle:
        """Every event about ``version`` of ``name`` and its lineage, with
        their multiproof against one signed checkpoint: the latest stored one
        covering them all, else a new one signed with ``key`` (default: the
        ledger's signing key). ``NotFoundError`` for an unknown model or
        version."""
        return self.prove_selection(self.select_evidence(name, version, key=key))

    def select_evidence(
        self, name: str, version: int, *, key: SigningKey | None = None, sign: bool = True
    ) -> EvidenceSelection:
        """The events ``evidence`` cites and the checkpoint it proves them
        against, without the proof (a report adds events of its own first).
        Without ``sign`` nothing is signed or written: when no stored
        checkpoint covers the events, the checkpoint is the ledger's head,
        unsigned (``StoredCheckpoint.signed``; a read-only view's)."""
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValidationError(f"model version must be a whole number >= 1, got {version!r}")
        stop = self.size()
        for _ in range(_ATTEMPTS):
            seen = self._select(name, version, stop)
            checkpoint = self.covering_checkpoint(seen.last, key=key, sign=sign)
            cited = seen if checkpoint.size == stop else self._select(name, version, checkpoint.size)
            if not cited.late:
                selection = self._selection(name, version, checkpoint, cited)
                if selection is not None:
                    return selection
            # A redaction of a cited event landed after the checkpoint: it
            # must be cited too, so the bundle needs a newer checkpoint.
            stop = self.size()
        raise ConflictError(
            f"evidence of {name!r} version {version}: its events were redacted while the bundle was made, "
            f"{_ATTEMPTS} times: try again"
        )

    def prove_selection(self, selection: EvidenceSelection) -> EvidenceBundle:
        """``selection`` with the multiproof of its rows, checked against its
        checkpoint's root before it is handed out. A selection tied to the
        unsigned head (``select_evidence(sign=False)``) gets no verifier key:
        nothing is signed, and the ledger may have no key at all."""
        return EvidenceBundle(
            **{f.name: getattr(selection, f.name) for f in fields(EvidenceSelection)},
            origin=origin_for(self.ledger_id),
            verifier_key=self.verifier_key() if selection.checkpoint.signed else "",
            proof=tuple(self.checked_multiproof(selection.rows, selection.checkpoint)),
        )

    def _selection(
        self, name: str, version: int, checkpoint: StoredCheckpoint, cited: _Citations
    ) -> EvidenceSelection | None:
        """The selection of the cited events; None when a cited payload is
        gone without a cited redaction (erased meanwhile: select again)."""
        seqs = sorted(cited.reasons)
        with self.store.engine.connect() as conn:
            rows = _Reads(conn, checkpoint.size).rows(seqs)
        types = {row[0]: row[3] for row in rows}
        erased = {row[0] for row in rows if row[10] is None}
        if erased - set(cited.redactions):
            return None
        return EvidenceSelection(
            model=name,
            version=version,
            checkpoint=checkpoint,
            citations=tuple(Citation(seq, types[seq], "; ".join(cited.reasons[seq])) for seq in seqs),
            rows=tuple(rows),
        )

    # -- the selection -----------------------------------------------------------

    def _select(self, name: str, version: int, stop: int) -> _Citations:
        """The events below ``stop`` about ``version`` of ``name``, with why each is cited."""
        if stop <= 0:
            raise NotFoundError(f"model {name!r} is not registered (the ledger is empty)")
        view = self.registry_as_of(stop - 1)
        found = view.get_model_version(name, version)
        cited = _Citations(stop)
        for entry in view.history(name):
            reason = _registry_reason(entry, version)
            if reason is not None:
                cited.add(entry.seq, reason)
        requests = [request for request in view.requests(name) if request.version == version]
        with self.store.engine.connect() as conn:
            reads = _Reads(conn, stop)
            _cite_deciders(cited, reads, requests)
            _cite_run(cited, reads, found.run_id)
            _cite_redactions(cited, reads)
        return cited


def _cite_deciders(cited: _Citations, reads: _Reads, requests: Sequence[TransitionRequestView]) -> None:
    """The roles each decider held when deciding, and the key of each signed approval."""
    for request in requests:
        actor, decided = request.decided_by, request.decided_seq
        if actor is None or decided is None:
            continue
        verb = "approving" if request.status == "approved" else "rejecting"
        for grant, role in reads.roles_at(actor, decided):
            cited.add(grant, f"role {role!r} of {actor}, held when {verb} request {request.request_id}")
        if request.key_id is not None:
            cited.add(
                reads.key_seq(actor, request.key_id),
                f"key {request.key_id} of {actor}, which signed the approval of request {request.request_id}",
            )


def _cite_run(cited: _Citations, reads: _Reads, run_id: str) -> None:
    """The source run's events, its experiment, its parents and the data it read."""
    run = reads.run(run_id)
    if run is None:
        raise NotFoundError(f"the source run {run_id!r} is not in the read models: run `mlledger rebuild`")
    cited.add(run.start_seq, "source run started")
    cited.add(run.end_seq, "source run finished")
    cited.add(reads.experiment_seq(run.experiment_id), "experiment of the source run")
    before = cited.stop if run.end_seq is None else run.end_seq
    for seq, event_type in reads.run_logs(run_id, run.start_seq, before):
        cited.add(seq, f"source run {_RUN_PARTS[event_type]}")
    for seq in reads.metric_seqs(run_id):
        cited.add(seq, "source run metrics")
    inputs = reads.inputs(run_id)
    for seq, data, data_version in inputs:
        if data != REDACTED:  # an erased input comes with the run's redactions below
            cited.add(seq, f"source run input {data} {data_version}")
    for target, target_type in reads.run_redactions(run_id):
        cited.add(target, f"source run {_RUN_PARTS.get(target_type, target_type)} (payload redacted)")
    _cite_parents(cited, reads, run, run_id)
    wanted = {(data, data_version) for _, data, data_version in inputs if data != REDACTED}
    if wanted:
        _cite_data(cited, reads, wanted)


def _cite_parents(cited: _Citations, reads: _Reads, run: _RunRow, run_id: str) -> None:
    seen = {run_id}
    parent = run.parent_run_id
    while parent is not None and parent not in seen:
        seen.add(parent)
        found = reads.run(parent)
        if found is None:
            return
        child = "the source run" if len(seen) == 2 else "a parent run"
        cited.add(found.start_seq, f"run {parent} started, parent of {child}")
        if found.experiment_id != run.experiment_id:
            cited.add(reads.experiment_seq(found.experiment_id), f"experiment of parent run {parent}")
        parent = found.parent_run_id


def _cite_data(cited: _Citations, reads: _Reads, wanted: set[tuple[str, str]]) -> None:
    """The registrations of the input data versions and, through ``derived_from``, of their upstream."""
    queue, seen = sorted(wanted), set(wanted)
    while queue:
        data, data_version = queue.pop(0)
        found = reads.data_version(data, data_version)
        if found is None:
            continue
        role = "input of the source run" if (data, data_version) in wanted else "upstream of an input"
        seq, upstream = found
        cited.add(seq, f"data version {data} {data_version}, {role}")
        for item in upstream:
            if item not in seen:
                seen.add(item)
                queue.append(item)


def _cite_redactions(cited: _Citations, reads: _Reads) -> None:
    """The ``ledger.redacted`` event of every cited event whose payload was erased."""
    for target, seq in reads.redactions_of(list(cited.reasons)):
        if seq < cited.stop:
            cited.add(seq, f"redaction of event {target}")
            cited.redactions[target] = seq
        else:
            cited.late.append(seq)
