"""Gathering a provenance report: everything the ledger holds about one model
version, as of one signed checkpoint, with the evidence every statement rests on
(or, for a read-only view that may not sign, as of the ledger's unsigned head).

Owns ``gather`` and ``gather_provenance``: which events the report cites
(the version's evidence bundle, ``lg.evidence``, bounded to the report's
moment, plus the events the report reads beyond it: the previous version's
run for the comparison, and the hyperparameter search's parent and trials),
the checkpoint they are proven against, and turning those events and the
registry's as-of views into a ``ProvenanceReport``. Rendering is left to
``reports.text`` and ``reports.pdf``.

The report is a function of the ledger up to its checkpoint (and of the
artifact store, for whether stored files still match): the run's params,
metrics, tags, inputs and artifacts, the data versions and the redactions
are read from the cited events themselves; registry state (stage, aliases,
requests, history, deployments), roles and lineage come from as-of reads
bounded at the report's moment. Nobody's name and no clock reading of the
generation goes in: that belongs to the ``report.generated`` event.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import shlex
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Final

import ledger
from ledger.bundle import Citation, zip_bundle
from ledger.checkpoint import open_note, parse_verifier_key
from ledger.checkpoints import StoredCheckpoint
from ledger.collector import no_collections
from ledger.errors import LedgerError, ValidationError
from ledger.evidence import EvidenceBundle, EvidenceSelection
from ledger.keys import key_id, verify_approval
from ledger.registry_views import HistoryEntry, ModelVersionView, RegistryView, TransitionRequestView
from ledger.signatures import SIGNATURE_TYPES, check_approval_signatures
from ledger.verify import ChainVerifier, check_events, check_redactions, redaction_targets
from lineage.build import model_id
from lineage.build import run_id as run_node
from lineage.query import Edge, LineageView
from lineage.tree import describe
from lineage.tree import render as tree_lines
from reports.model import (
    REDACTED_VALUE,
    Approval,
    Artifact,
    Changes,
    CheckpointInfo,
    CitedEvent,
    CodeChange,
    Cover,
    DataInput,
    DataProvenance,
    DataVersionInfo,
    Deployment,
    Identity,
    InputChange,
    Interval,
    MetricChange,
    MetricSeries,
    ParamChange,
    Promotion,
    ProvenanceReport,
    RedactionInfo,
    RunSummary,
    SearchSummary,
    StageEvent,
    Trial,
    Verification,
    VerifyStep,
)
from reports.runs import RedactionNote, Row, RunFold, payload_of, run_rows
from reports.series import downsample

__all__ = ["Gathered", "gather", "gather_provenance"]

Moment = int | str | datetime
_ROLE_TYPES: Final = ("actor.role_granted", "actor.role_revoked")
# Tags that answer section 2's questions, by the names teams tend to log them under.
_OBJECTIVE_TAGS: Final = ("business_objective", "objective", "purpose", "use_case")
_RISK_TAGS: Final = ("risk_tier", "risk", "risk_level", "risk_class")
_USE_TAGS: Final = ("intended_use", "intended_uses", "use", "usage")
_TRIAL_METRICS: Final = 4  # metric columns in the search's trial table


@dataclass(frozen=True)
class Gathered:
    """A report, the evidence bundle it cites, and that bundle's zip (what the PDF embeds)."""

    report: ProvenanceReport
    evidence: EvidenceBundle
    evidence_zip: bytes


def gather_provenance(
    lg: ledger.Ledger, name: str, version: int, *, as_of: Moment | None = None, verify: bool = True
) -> ProvenanceReport:
    """The provenance report of ``version`` of model ``name`` (see ``gather``)."""
    return gather(lg, name, version, as_of=as_of, verify=verify).report


def gather(
    lg: ledger.Ledger,
    name: str,
    version: int,
    *,
    as_of: Moment | None = None,
    verify: bool = True,
    check_ledger: bool = False,
    sign: bool = True,
) -> Gathered:
    """Everything the ledger holds about ``version`` of ``name`` and the evidence for it.

    Without ``as_of`` the report shows the ledger as of the checkpoint of its
    evidence bundle (the latest stored checkpoint covering every event about
    the version; one is signed when none does, which needs the ledger's
    signing key). With ``as_of`` (a seq, an RFC 3339 time or a datetime) it
    shows the state after the last event at or before that moment, proven
    against the smallest stored checkpoint covering it. With ``verify`` (the
    default) the cover's verification result comes from re-hashing every
    cited event, checking their multiproof and the checkpoint's signature and
    that the ledger's tree still has the checkpoint's root: time in
    proportion to the cited events. ``check_ledger`` adds a pass over every
    event up to the checkpoint (as ``mlledger verify`` does): seconds per
    million events. Without ``verify`` the cover says nothing was re-checked.

    Without ``sign`` nothing is signed or written, and no signing key is
    needed (``mlledger models show``; a document handed out keeps ``sign``):
    the checkpoint is chosen as above among the stored ones, and when none
    covers the cited events the report is tied to the ledger's head,
    unsigned (``cover.checkpoint.signed`` false: no key, time or note), and
    is never re-checked, as there is no signature to check it against.

    Raises ``NotFoundError`` for an unknown model or version (or one not yet
    registered at ``as_of``), ``ValidationError`` for a moment before the
    ledger's first event, and ``IntegrityError`` when the stored tree gives
    no valid multiproof of the cited events (no report is made from a damaged
    tree: ``mlledger verify`` says where).
    """
    # 100,000 cited events are that many rows, payloads and tuples, and no cycles: no collections meanwhile,
    # unless the pass over the whole ledger is asked for (unbounded, and the pause is process-wide).
    with nullcontext() if check_ledger else no_collections():
        base = lg.select_evidence(name, version, sign=sign)
        at = base.checkpoint.size - 1
        if as_of is not None:
            moment = lg.registry_as_of(as_of).at
            if moment is None or moment < 0:
                raise ValidationError(f"as_of {as_of!r} is before the ledger's first event")
            at = min(at, moment)
        view = lg.registry_as_of(at)
        found = view.get_model_version(name, version)
        cited = _Cited.from_selection(lg, base, at)
        cited.checkpoint = _checkpoint_for(lg, base, at, cited.last)
        facts = _Facts(lg, view, found, at, cited)
        report_parts = facts.read()
        selection = cited.selection(base)
        bundle = lg.prove_selection(selection)
        if not bundle.checkpoint.signed:  # nothing to prove against: no bundle, nothing re-checked
            verification, evidence_zip = Verification.skipped(len(bundle.citations)), b""
        else:
            with ThreadPoolExecutor(1) as pool:  # zlib lets go of the GIL: the zip is made on another core meanwhile
                zipping = pool.submit(zip_bundle, bundle.files())
                if verify:
                    verification = _verification(
                        lg, bundle, report_parts["approvals"], cited.redaction_rows.values(), check_ledger=check_ledger
                    )
                else:
                    verification = Verification.skipped(len(bundle.citations))
                evidence_zip = zipping.result()
        report = ProvenanceReport(
            cover=_cover(lg, bundle, found, at, evidence_zip, verification),
            **report_parts,
            cited=_cited_events(bundle),
            verify_steps=_verify_steps(bundle, evidence_zip),
        )
        return Gathered(report, bundle, evidence_zip)


# -- what the report cites --------------------------------------------------------------


class _Cited:
    """The cited rows by seq, each with why; the checkpoint they are proven against."""

    def __init__(self, lg: ledger.Ledger, at: int) -> None:
        self.lg = lg
        self.at = at
        self.rows: dict[int, Row] = {}
        self.reasons: dict[int, list[str]] = {}
        self.checkpoint: StoredCheckpoint | None = None

    @classmethod
    def from_selection(cls, lg: ledger.Ledger, bundle: EvidenceSelection, at: int) -> _Cited:
        """The selection's events up to ``at``, and the redactions that erased any of them (whenever those came)."""
        cited = cls(lg, at)
        by_seq = {row[0]: row for row in bundle.rows}
        kept = [c for c in bundle.citations if c.seq <= at]
        for citation in kept:
            cited._put(by_seq[citation.seq], citation.reason)
        erased = {c.seq for c in kept if by_seq[c.seq][10] is None}
        for row in bundle.rows:
            note = RedactionNote.of(row) if row[3] == "ledger.redacted" else None
            if note is not None and note.target_seq in erased and row[0] > at:
                cited._put(row, f"redaction of event {note.target_seq}")
        return cited

    def _put(self, row: Row, reason: str) -> None:
        seq = row[0]
        self.rows[seq] = row
        reasons = self.reasons.setdefault(seq, [])
        if reason not in reasons:
            reasons.append(reason)

    @property
    def last(self) -> int:
        return max(self.rows)

    def notes(self) -> dict[int, RedactionNote]:
        """The cited redactions, by the seq of the event each erased."""
        found: dict[int, RedactionNote] = {}
        for row in self.rows.values():
            note = RedactionNote.of(row) if row[3] == "ledger.redacted" else None
            if note is not None and note.target_seq not in found:
                found[note.target_seq] = note
        return found

    def add(self, row: Row, reason: str) -> bool:
        """Cite ``row`` too (it must be at or before the report's moment); an
        erased one only with the redaction that explains it. False when it
        cannot be cited (erased by a redaction the checkpoint does not cover)."""
        assert self.checkpoint is not None
        if row[0] > self.at:
            return False
        if row[10] is None:
            redaction = self._redaction_of(row[0])
            if redaction is None or redaction[0] >= self.checkpoint.size:
                return False
            self._put(redaction, f"redaction of event {row[0]}")
        self._put(row, reason)
        return True

    @cached_property
    def redaction_rows(self) -> dict[int, tuple[Any, ...]]:
        """Every ``ledger.redacted`` event of the ledger, by seq: read once per report."""
        return {row[0]: tuple(row) for row in self.lg.store.redaction_rows()}

    @cached_property
    def _redaction_targets(self) -> dict[int, int]:
        return redaction_targets(self.redaction_rows.values())

    def _redaction_of(self, seq: int) -> Row | None:
        target = self._redaction_targets.get(seq)
        return None if target is None else self.redaction_rows[target]

    def selection(self, base: EvidenceSelection) -> EvidenceSelection:
        """The cited rows, against the report's checkpoint."""
        checkpoint = self.checkpoint
        assert checkpoint is not None
        seqs = sorted(self.rows)
        citations = tuple(Citation(seq, self.rows[seq][3], "; ".join(self.reasons[seq])) for seq in seqs)
        return dataclasses.replace(
            base, checkpoint=checkpoint, citations=citations, rows=tuple(tuple(self.rows[s]) for s in seqs)
        )


def _checkpoint_for(lg: ledger.Ledger, base: EvidenceSelection, at: int, last: int) -> StoredCheckpoint:
    """The bundle's checkpoint, or for an earlier moment the smallest stored
    checkpoint covering both the moment and every cited event."""
    if at == base.checkpoint.size - 1:
        return base.checkpoint
    need = max(at, last)
    covering = [c for c in lg.checkpoints() if c.size > need]
    return min(covering, key=lambda c: c.size) if covering else base.checkpoint


# -- reading the facts ------------------------------------------------------------------


class _Facts:
    """Reads every section but the cover from the cited rows and the registry as of ``at``."""

    def __init__(self, lg: ledger.Ledger, view: RegistryView, found: ModelVersionView, at: int, cited: _Cited) -> None:
        self.lg = lg
        self.view = view
        self.found = found
        self.at = at
        self.cited = cited
        self.notes = cited.notes()
        self.rows = sorted(cited.rows.values(), key=lambda row: row[0])
        self.run = RunFold(found.run_id, self.notes).feed(self.rows)
        self.history = view.history(found.name)
        self._notes_all: dict[int, RedactionNote] | None = None

    def read(self) -> dict[str, Any]:
        lineage = self.lg.lineage.neighbourhood(model_id(self.found.name, self.found.version), as_of=self.at)
        search = self._search()
        changes = self._changes()
        self.notes = self.cited.notes()  # the extras may have brought redactions in
        return {
            "identity": self._identity(),
            "changes": changes,
            "data": self._data(),
            "run": self._run_summary(),
            "search": search,
            "params": dict(sorted(self.run.params.items())),
            "metrics": tuple(self._series(key) for key in sorted({*self.run.metrics, *self.run.redacted_metrics})),
            "artifacts": self._artifacts(),
            "promotions": self._promotions(),
            "approvals": self._approvals(),
            "stage_events": self._stage_events(),
            "intervals": self._intervals(),
            "deployments": self._deployments(),
            "downstream": _downstream(lineage),
            "redactions": self._redactions(),
            "lineage": lineage,
            "lineage_lines": tuple(tree_lines(lineage)),
        }

    # -- 2. identity ---------------------------------------------------------------

    def _identity(self) -> Identity:
        model, v = self.view.get_model(self.found.name), self.found
        tags = {**model.tags, **v.tags}
        return Identity(
            model=v.name,
            version=v.version,
            owner=model.owner,
            model_description=model.description,
            version_description=v.description,
            business_objective=_tag(tags, _OBJECTIVE_TAGS),
            risk_tier=_tag(tags, _RISK_TAGS),
            intended_use=_tag(tags, _USE_TAGS),
            model_tags=dict(sorted(model.tags.items())),
            version_tags=dict(sorted(v.tags.items())),
            model_registered_by=model.creator,
            model_registered_time=model.time,
            model_registered_seq=model.seq,
            registered_by=v.creator,
            registered_time=v.time,
            registered_seq=v.seq,
            run_id=v.run_id,
            artifact_path=v.artifact_path,
            artifact_digest=v.artifact_digest,
            latest_version=model.latest_version,
            policy=dict(model.policy),
        )

    # -- 3. changes from the previous version ---------------------------------------

    def _changes(self) -> Changes:
        number = self.found.version - 1
        if number < 1:
            return Changes(None, None, f"version {self.found.version} is the model's first version: nothing to compare")
        previous = self.view.get_model_version(self.found.name, number)
        prior = self._fold_run(previous.run_id, f"previous version {number}")
        self.cited.add(self.lg.store.row(previous.seq), f"registration of the previous version {number}")
        if prior is None:
            return Changes(number, previous.run_id, f"the source run of version {number} is not in the ledger")
        keys = sorted({*self.run.params, *prior.params})
        changed = tuple(
            ParamChange(key, prior.params.get(key), self.run.params.get(key))
            for key in keys
            if prior.params.get(key) != self.run.params.get(key)
        )
        metrics = tuple(
            _metric_change(key, prior.final_value(key), self.run.final_value(key))
            for key in sorted({*self.run.metrics, *prior.metrics})
        )
        this_env, prior_env = self.run.environment or {}, prior.environment or {}
        return Changes(
            previous_version=number,
            previous_run_id=previous.run_id,
            note=f"version {self.found.version} (run {_short(self.found.run_id)}) against version {number} "
            f"(run {_short(previous.run_id)})",
            params=changed,
            unchanged_params=len(keys) - len(changed),
            metrics=metrics,
            inputs=_input_changes(prior, self.run),
            code=CodeChange(
                prior_env.get("git_commit"),
                prior_env.get("git_dirty"),
                this_env.get("git_commit"),
                this_env.get("git_dirty"),
            ),
        )

    def _fold_run(self, run_id: str, whose: str, *, finals_only: bool = False) -> RunFold | None:
        return self._fold_runs({run_id: (whose, finals_only)}).get(run_id)

    def _fold_runs(self, wanted: Mapping[str, tuple[str, bool]]) -> dict[str, RunFold]:
        """The runs of ``wanted`` (run id -> (whose, finals only)) folded from
        their events up to the report's moment, in one scan over their span,
        citing the events the report uses: each run's start and end and the
        events holding each metric's final value, and unless ``finals only``
        its params, inputs and tags."""
        spans = {run: self._span(run) for run in wanted}
        found = {run: span for run, span in spans.items() if span is not None}
        if not found:
            return {}
        start, stop = min(a for a, _ in found.values()), max(b for _, b in found.values())
        notes = self._all_notes()
        decoded = [item for item in run_rows(self.lg.store.scan(start, stop), notes) if item[0] in found]
        rows = {row[0]: row for _, row, _ in decoded}
        folds = {}
        for run, (whose, finals_only) in wanted.items():
            if run not in found:
                continue
            fold = folds[run] = RunFold(run, notes).feed_decoded(decoded)
            cite = [fold.started, fold.finished, *(rows[seq] for seq in fold.final_seqs())]
            if not finals_only:
                kinds = ("run.params_logged", "run.input_logged", "run.tags_set")
                cite += [rows[seq] for seq in fold.seqs if rows[seq][3] in kinds]
            for row in cite:
                if row is not None:
                    what = str(row[3]).removeprefix("run.").replace("_", " ")
                    self.cited.add(row, f"{whose}: run {_short(run)} {what}")
        return folds

    def _span(self, run_id: str) -> tuple[int, int] | None:
        """[first, last + 1) of the seqs of a run's events, up to the report's moment."""
        node = self._run_node(run_id)
        if node is None:
            return None
        end = node.get("ended_seq")
        return int(node["seq"]), min(self.at, self.at if end is None else int(end)) + 1

    def _run_node(self, run_id: str) -> dict[str, Any] | None:
        try:
            return self.lg.lineage.node(run_node(run_id), as_of=self.at)
        except LedgerError:
            return None

    def _all_notes(self) -> dict[int, RedactionNote]:
        """Every redaction in the ledger, by target: an erased payload reads as
        redacted at any moment, as the read models show it (one erased after
        the checkpoint cannot be cited, and its event is left out of the evidence)."""
        if self._notes_all is None:
            self._notes_all = {}
            for row in self.cited.redaction_rows.values():
                note = RedactionNote.of(row)
                if note is not None:
                    self._notes_all.setdefault(note.target_seq, note)
        return self._notes_all

    # -- 4. data ---------------------------------------------------------------------

    def _data(self) -> DataProvenance:
        versions: dict[tuple[str, str], DataVersionInfo] = {}
        for row in self.rows:
            if row[3] == "dataset.version_registered":
                info = self._data_version(row)
                if info is not None:
                    versions.setdefault((info.name, info.version), info)
        inputs = tuple(self._input(row, payload) for row, payload in self.run.inputs)
        order: list[DataVersionInfo] = []
        chains = []
        for key in dict.fromkeys((item.name, item.version) for item in inputs if item.redacted_by is None):
            lines: list[str] = []
            _chain(versions, key, 0, lines, order, set())
            chains.append(tuple(lines))
        remaining = [v for key, v in versions.items() if v not in order]
        return DataProvenance(inputs, tuple(order + remaining), tuple(chains), _overlap_warnings(inputs))

    def _data_version(self, row: Row) -> DataVersionInfo | None:
        payload, note = payload_of(row), self.notes.get(row[0])
        if payload is None:
            if note is None:
                return None
            return DataVersionInfo(
                str(note.subject.get("name")),
                str(note.subject.get("version")),
                REDACTED_VALUE,
                None,
                None,
                None,
                None,
                (),
                row[0],
                row[6],
                row[5],
                note.seq,
            )
        return DataVersionInfo(
            name=payload["name"],
            version=payload["version"],
            digest=payload["digest"],
            source=payload.get("source"),
            transform=payload.get("transform"),
            columns=None if payload.get("columns") is None else tuple(payload["columns"]),
            num_rows=payload.get("num_rows"),
            derived_from=tuple(f"{p['name']}@{p['version']}" for p in payload.get("derived_from") or ()),
            seq=row[0],
            actor=row[6],
            time=row[5],
        )

    def _input(self, row: Row, payload: dict[str, Any] | None) -> DataInput:
        if payload is None:
            note = self.notes.get(row[0])
            return DataInput(
                REDACTED_VALUE,
                REDACTED_VALUE,
                REDACTED_VALUE,
                None,
                None,
                None,
                None,
                row[0],
                None if note is None else note.seq,
            )
        return DataInput(
            name=payload["name"],
            version=payload["version"],
            digest=payload["digest"],
            source=payload.get("source"),
            context=payload.get("context"),
            num_rows=payload.get("num_rows"),
            columns=None if payload.get("columns") is None else tuple(payload["columns"]),
            seq=row[0],
        )

    # -- 5. the run and its search ----------------------------------------------------

    def _run_summary(self) -> RunSummary:
        fold = self.run
        start = fold.started
        assert start is not None, "the evidence cites the source run's start"
        experiment_id = str(fold.start_payload.get("experiment_id", ""))
        return RunSummary(
            run_id=fold.run_id,
            name=fold.name,
            experiment_id=experiment_id,
            experiment=self._experiment(experiment_id),
            status=fold.status,
            error=fold.error,
            author=start[6],
            start_time=start[5],
            end_time=None if fold.finished is None else fold.finished[5],
            start_seq=start[0],
            end_seq=None if fold.finished is None else fold.finished[0],
            parents=self._parents(fold.parent),
            tags=dict(sorted(fold.tags.items())),
            environment=fold.environment,
        )

    def _experiment(self, experiment_id: str) -> str | None:
        for row in self.rows:
            payload = payload_of(row) if row[3] == "experiment.created" else None
            if payload is not None and payload.get("experiment_id") == experiment_id:
                return str(payload.get("name"))
        return None

    def _parents(self, parent: str | None) -> tuple[tuple[str, str | None], ...]:
        starts = {}
        for row in self.rows:
            payload = payload_of(row) if row[3] == "run.started" else None
            if payload is not None:
                starts[payload["run_id"]] = payload
        chain: list[tuple[str, str | None]] = []
        while parent is not None and parent not in dict(chain):
            payload = starts.get(parent, {})
            chain.append((parent, payload.get("run_name")))
            parent = payload.get("parent_run_id")
        return tuple(chain)

    def _search(self) -> SearchSummary | None:
        """The search the source run was a trial of: its parent and the runs nested in it."""
        parent = self.run.parent
        if parent is None:
            return None
        try:
            around = self.lg.lineage.downstream(run_node(parent), depth=1, as_of=self.at)
        except LedgerError:
            return None
        trial_ids = sorted(
            (e.target.removeprefix("run:") for e in around.edges if e.kind == "parent_of" and e.source == around.root),
            key=lambda run: int(around.nodes[run_node(run)]["seq"]),
        )
        keys = tuple(sorted(self.run.metrics))[:_TRIAL_METRICS]
        wanted = {parent: ("hyperparameter search (parent run)", False)}
        wanted |= {trial: ("hyperparameter search trial", True) for trial in trial_ids if trial != self.run.run_id}
        folds = self._fold_runs(wanted) | {self.run.run_id: self.run}
        own = folds.get(parent)
        trials = []
        for trial in trial_ids:
            fold = folds.get(trial)
            if fold is None or fold.started is None:
                continue
            finals = fold.finals()
            metrics = {key: finals.get(key) for key in keys}
            trials.append(Trial(trial, fold.name, fold.status, fold.started[0], metrics, trial == self.run.run_id))
        return SearchSummary(
            parent_run_id=parent,
            parent_name=None if own is None else own.name,
            parent_status="unknown" if own is None else own.status,
            params={} if own is None else dict(sorted(own.params.items())),
            metrics={} if own is None else own.finals(),
            tags={} if own is None else dict(sorted(own.tags.items())),
            metric_keys=keys,
            trials=tuple(trials),
        )

    # -- 6, 7. metrics and artifacts --------------------------------------------------------

    def _series(self, key: str) -> MetricSeries:
        points = self.run.metrics.get(key, [])
        finite = [p.value for p in points if math.isfinite(p.value)]
        last = points[-1] if points else None
        return MetricSeries(
            key=key,
            final=None if last is None else last.value,
            final_step=None if last is None else last.step,
            points=len(points),
            minimum=min(finite) if finite else None,
            maximum=max(finite) if finite else None,
            non_finite=len(points) - len(finite),
            first_step=points[0].step if points else None,
            last_step=None if last is None else last.step,
            drawn=tuple(downsample([(float(p.step), p.value) for p in points])),
            redacted_by=tuple(sorted(set(self.run.redacted_metrics.get(key, [])))),
        )

    def _artifacts(self) -> tuple[Artifact, ...]:
        records = sorted(self.run.artifacts.items())
        problems = {
            p.path: p.kind for p in self.lg.artifacts.verify([(path, sha, size) for path, (sha, size, _) in records])
        }
        pinned = self.found.artifact_path
        return tuple(
            Artifact(path, size, sha, _pinned(path, pinned), seq, problems.get(path, "matches"))
            for path, (sha, size, seq) in records
        )

    # -- 8, 9. promotions and approvals ------------------------------------------------------

    def _promotions(self) -> tuple[Promotion, ...]:
        version = self.found.version
        return tuple(
            Promotion(
                seq=e.seq,
                time=e.time,
                actor=e.actor,
                role="candidate" if e.version == version else "champion",
                candidate=int(e.detail["candidate"]),
                candidate_value=e.detail.get("candidate_value"),
                champion=e.detail.get("champion"),
                champion_value=e.detail.get("champion_value"),
                metric=str(e.detail["metric"]),
                mode=str(e.detail["mode"]),
                min_delta=float(e.detail.get("min_delta", 0.0)),
                to_stage=str(e.detail["to_stage"]),
                outcome=str(e.detail["outcome"]),
            )
            for e in self.history
            if e.compares(version)
        )

    def _approvals(self) -> tuple[Approval, ...]:
        requests = [r for r in self.view.requests(self.found.name) if r.version == self.found.version]
        return tuple(self._approval(request) for request in requests)

    def _approval(self, request: TransitionRequestView) -> Approval:
        signature, ok = self._signature(request)
        return Approval(
            request_id=request.request_id,
            to_stage=request.to_stage,
            requester=request.requester,
            requester_roles=self._roles(request.requester, request.seq),
            requested_time=request.time,
            requested_seq=request.seq,
            reason=request.reason,
            status=request.status,
            decided_by=request.decided_by,
            decider_roles=()
            if request.decided_by is None or request.decided_seq is None
            else self._roles(request.decided_by, request.decided_seq),
            decided_time=request.decided_time,
            decided_seq=request.decided_seq,
            comment=request.comment,
            key_id=request.key_id,
            signature=signature,
            signature_ok=ok,
            executed_seq=request.executed_seq,
        )

    def _roles(self, actor: str, seq: int) -> tuple[str, ...]:
        """The roles ``actor`` held just before event ``seq``."""
        if seq <= 0:
            return ()
        return tuple(sorted(self.lg.registry_as_of(seq - 1).roles().get(actor, [])))

    def _signature(self, request: TransitionRequestView) -> tuple[str, bool | None]:
        """Re-check a signed approval from the cited events: the approver's
        registered key, over the hash of the request event."""
        if request.status != "approved":
            return ("no decision yet" if request.status == "pending" else "not applicable (rejected)"), None
        if request.signature is None or request.key_id is None:
            return "unsigned (the policy then did not require a signature)", None
        actor = request.decided_by or ""
        request_row = self.cited.rows.get(request.seq)
        key_row = next((row for row in self.rows if _registers(row, actor, request.key_id)), None)
        if request_row is None or key_row is None:
            missing = "request event" if request_row is None else f"key {request.key_id} of {actor}"
            return f"INVALID: the {missing} is not among the cited events", False
        public_key = str((payload_of(key_row) or {}).get("public_key"))
        if not verify_approval(public_key, request_row[9], request.signature):
            return f"INVALID: the signature by key {request.key_id} does not verify over event {request.seq}", False
        return (
            f"valid: Ed25519 signature by {actor}'s key {request.key_id} (registered at event {key_row[0]}) "
            f"over the hash of request event {request.seq}"
        ), True

    # -- 10, 11. stages, aliases, deployments ------------------------------------------------

    def _stage_events(self) -> tuple[StageEvent, ...]:
        version = self.found.version
        held: set[str] = set()
        events = []
        for entry in self.history:
            alias = str(entry.detail.get("alias"))
            taken = entry.type == "model.alias_set" and entry.version != version and alias in held
            if entry.type == "model.alias_set":
                (held.add if entry.version == version else held.discard)(alias)
            elif entry.type == "model.alias_removed" and entry.version == version:
                held.discard(alias)
            if entry.touches_stage(version):
                events.append(StageEvent(entry.seq, entry.time, entry.actor, entry.summary, entry.reason))
            elif taken:
                summary = f"alias {alias!r} moved to version {entry.version} (was this version)"
                events.append(StageEvent(entry.seq, entry.time, entry.actor, summary, entry.reason))
        return tuple(events)

    def _intervals(self) -> tuple[Interval, ...]:
        times = {entry.seq: entry.time for entry in self.history}
        stages = [
            Interval("stage", row["stage"], row["from_seq"], row["to_seq"], times.get(row["from_seq"], ""))
            for row in self.view.stage_history(self.found.name, self.found.version)
        ]
        return tuple(stages + _alias_intervals(self.history, self.found.version))

    def _deployments(self) -> tuple[Deployment, ...]:
        return tuple(
            Deployment(d.seq, d.time, d.actor, d.target, d.environment, d.live, d.replaced_seq)
            for d in self.view.deployments(self.found.name)
            if d.version == self.found.version
        )

    # -- 12. redactions -----------------------------------------------------------------------

    def _redactions(self) -> tuple[RedactionInfo, ...]:
        return tuple(
            RedactionInfo(
                n.seq, n.time, n.actor, n.target_seq, n.target_type, _subject(n.subject), n.reason, n.legal_basis
            )
            for n in sorted(self.cited.notes().values(), key=lambda n: (n.target_seq, n.seq))
            if self.cited.rows.get(n.target_seq) is not None and self.cited.rows[n.target_seq][10] is None
        )


# -- small pure helpers -------------------------------------------------------------------


def _tag(tags: Mapping[str, str], names: Sequence[str]) -> str | None:
    lowered = {key.lower().replace("-", "_").replace(" ", "_"): value for key, value in tags.items()}
    return next((lowered[name] for name in names if name in lowered), None)


def _short(text: str, keep: int = 8) -> str:
    return text if len(text) <= keep else text[:keep]


def _pinned(path: str, artifact_path: str) -> bool:
    return artifact_path in ("", ".") or path == artifact_path or path.startswith(artifact_path.rstrip("/") + "/")


def _metric_change(key: str, previous: float | None, current: float | None) -> MetricChange:
    delta = None if previous is None or current is None else current - previous
    return MetricChange(key, previous, current, delta)


def _input_text(payload: dict[str, Any] | None) -> str:
    if payload is None:
        return REDACTED_VALUE
    return f"{payload['name']}@{payload['version']} {payload['digest']}"


def _input_changes(prior: RunFold, current: RunFold) -> tuple[InputChange, ...]:
    def by_context(fold: RunFold) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for _, payload in fold.inputs:
            context = "(erased)" if payload is None else str(payload.get("context") or "no context")
            found.setdefault(context, []).append(_input_text(payload))
        return found

    before, after = by_context(prior), by_context(current)
    return tuple(
        InputChange(context, tuple(before.get(context, [])), tuple(after.get(context, [])))
        for context in sorted({*before, *after})
    )


def _chain(
    versions: Mapping[tuple[str, str], DataVersionInfo],
    key: tuple[str, str],
    depth: int,
    lines: list[str],
    order: list[DataVersionInfo],
    seen: set[tuple[str, str]],
) -> None:
    """The derivation tree of data version ``key`` as indented lines, upstream first-parent order."""
    info = versions.get(key)
    indent = "  " * depth + ("← " if depth else "")
    ref = f"{key[0]}@{key[1]}"
    if info is None:
        lines.append(f"{indent}{ref} (not registered as a data version)")
        return
    if info not in order:
        order.append(info)
    how = f" — {info.transform}" if info.transform else ""
    if info.redacted_by is not None:
        how = f" — registration redacted (event {info.redacted_by})"
    lines.append(f"{indent}{ref} {_digest_short(info.digest)}{how}")
    if key in seen:
        return
    seen.add(key)
    for parent in info.derived_from:
        name, _, version = parent.rpartition("@")
        _chain(versions, (name, version), depth + 1, lines, order, seen)


def _digest_short(digest: str) -> str:
    algorithm, _, value = digest.rpartition(":")
    return digest if not value or len(value) <= 16 else f"{algorithm or 'sha256'}:{value[:12]}…"


def _overlap_warnings(inputs: Sequence[DataInput]) -> tuple[str, ...]:
    """A warning for each data digest read both for training and for evaluation."""
    contexts: dict[str, dict[str, list[str]]] = {}
    for item in inputs:
        if item.redacted_by is None:
            contexts.setdefault(item.digest, {}).setdefault(item.context or "no context", []).append(
                f"{item.name}@{item.version}"
            )
    warnings = []
    for digest, where in sorted(contexts.items()):
        evaluation = [c for c in ("test", "validation") if c in where]
        if "training" in where and evaluation:
            names = sorted({ref for refs in where.values() for ref in refs})
            warnings.append(
                f"the same data (digest {digest}) was used for training and for {' and '.join(evaluation)}: "
                f"{', '.join(names)}; evaluation on training data overstates the model's performance"
            )
    return tuple(warnings)


def _alias_intervals(history: Sequence[HistoryEntry], version: int) -> list[Interval]:
    """When each alias pointed at ``version``: from its alias_set to the next
    set (on any version) or removal of that alias."""
    open_: dict[str, HistoryEntry] = {}
    found = []
    for entry in history:
        alias = entry.detail.get("alias")
        if entry.type not in ("model.alias_set", "model.alias_removed") or not isinstance(alias, str):
            continue
        start = open_.pop(alias, None)
        if start is not None:
            found.append(Interval(f"alias {alias}", alias, start.seq, entry.seq, start.time))
        if entry.type == "model.alias_set" and entry.version == version:
            open_[alias] = entry
    found += [Interval(f"alias {alias}", alias, e.seq, None, e.time) for alias, e in open_.items()]
    return sorted(found, key=lambda i: (i.lane, i.start_seq))


def _downstream(view: LineageView) -> tuple[str, ...]:
    """What the version went into: the nodes reached along the edges from the root, one line each."""
    reached, queue, lines = {view.root}, [view.root], []
    while queue:
        node = queue.pop(0)
        for edge in view.out_edges(node):
            if edge.target in reached:
                continue
            reached.add(edge.target)
            queue.append(edge.target)
            lines.append(_downstream_line(view, edge))
    return tuple(lines)


def _downstream_line(view: LineageView, edge: Edge) -> str:
    data = view.nodes[edge.target]
    if data.get("kind") != "deployment":
        return f"{describe(edge.target, data)} ({edge.kind} {edge.source}, event {edge.seq})"
    serving = data.get("serving") or {}
    now = "; ".join(f"{env}: serving {str(model).removeprefix('model:')}" for env, model in sorted(serving.items()))
    state = "live" if edge.attrs.get("live") else "since replaced"
    return (
        f"deployment target {data.get('target', edge.target)}: {edge.source.removeprefix('model:')} deployed to "
        f"{edge.attrs.get('environment')} at event {edge.seq} ({state}); as of the report {now or 'serving nothing'}"
    )


def _subject(subject: Mapping[str, Any]) -> str:
    parts = []
    if subject.get("run_id"):
        parts.append(f"run {subject['run_id']}")
    if subject.get("name"):
        version = subject.get("version")
        parts.append(f"{subject['name']}" + ("" if version is None else f" version {version}"))
    if subject.get("keys"):
        parts.append("keys " + ", ".join(str(k) for k in subject["keys"]))
    return "; ".join(parts) or "not stated (a schema 1 redaction)"


def _registers(row: Row, actor: str, wanted: str) -> bool:
    if row[3] != "actor.key_registered":
        return False
    payload = payload_of(row)
    if payload is None or payload.get("actor") != actor:
        return False
    try:
        return key_id(actor, str(payload.get("public_key"))) == wanted
    except LedgerError:
        return False


# -- the cover, the checks, the cited events -------------------------------------------------


def _cover(
    lg: ledger.Ledger,
    bundle: EvidenceBundle,
    found: ModelVersionView,
    at: int,
    evidence_zip: bytes,
    verification: Verification,
) -> Cover:
    checkpoint = bundle.checkpoint
    key = parse_verifier_key(bundle.verifier_key) if checkpoint.signed else None
    return Cover(
        model=found.name,
        version=found.version,
        stage=found.stage,
        aliases=tuple(sorted(found.aliases)),
        as_of_seq=at,
        as_of_time=lg.event(at).time,
        ledger_id=lg.ledger_id,
        checkpoint=CheckpointInfo(
            origin=bundle.origin,
            size=checkpoint.size,
            root=checkpoint.root.hex(),
            key_name="" if key is None else key.name,
            key_id="" if key is None else key.key_id.hex(),
            time=checkpoint.time,
            note=checkpoint.note,
            signed=checkpoint.signed,
        ),
        verifier_key=bundle.verifier_key,
        verification=verification,
        evidence_digest="sha256:" + hashlib.sha256(evidence_zip).hexdigest() if evidence_zip else "",
        evidence_bytes=len(evidence_zip),
        cited_events=len(bundle.citations),
    )


def _verification(
    lg: ledger.Ledger,
    bundle: EvidenceBundle,
    approvals: Sequence[Approval],
    ledger_redactions: Iterable[tuple[Any, ...]],
    *,
    check_ledger: bool,
) -> Verification:
    """The evidence re-checked from the stored events; with ``check_ledger``, the whole ledger up to the checkpoint."""
    size, root = bundle.checkpoint.size, bundle.checkpoint.root
    store = lg.store
    redaction_rows = [row for row in ledger_redactions if row[0] < size]
    redactions = redaction_targets(redaction_rows)
    cited = {row[0] for row in bundle.rows}
    problems = []
    try:  # the multiproof was checked against the stored root as the bundle was made: tie that root to the note
        note = open_note(bundle.checkpoint.note, parse_verifier_key(bundle.verifier_key))
        stated = (bundle.origin, size, root)
        if (note.origin, note.size, note.root) != stated:
            problems.append(
                f"the checkpoint note signs {note.origin} at size {note.size} with root "
                f"{note.root.hex()[:16]}…, but the ledger's stored checkpoint is {stated[0]} at size {size} with "
                f"root {root.hex()[:16]}…: the stored checkpoint or the tree was rewritten"
            )
    except LedgerError as e:
        problems.append(f"the checkpoint note: {e}")
    found = check_events(
        (tuple(row) for row in bundle.rows), {target: seq for target, seq in redactions.items() if seq in cited}
    )
    problems += [str(fault) for fault in found.faults]
    signed = [a.signature_ok for a in approvals if a.signature_ok is not None]
    problems += [f"approval of request {a.request_id}: {a.signature}" for a in approvals if a.signature_ok is False]
    tree_matches = store.merkle_root(size) == root
    count = len(problems) + found.fault_total - len(found.faults)  # faults beyond the verifier's cap count too
    detail = (
        f"{len(cited)} events, {len(found.redacted)} with erased payloads, in the tree of {size}"
        if not problems
        else f"{count} problem(s) in the evidence: " + "; ".join(problems[:5])
    )
    chain = _chain_check(lg, size, root, redaction_rows, redactions) if check_ledger else None
    return Verification(
        checked=True,
        evidence_ok=not problems,
        evidence_events=len(cited),
        evidence_detail=detail,
        tree_matches=tree_matches,
        signatures_checked=len(signed),
        chain_checked=chain is not None,
        chain_ok=None if chain is None else not chain[2],
        chain_events=0 if chain is None else chain[0],
        root_matches=None if chain is None else chain[1],
        redacted_payloads=len(found.redacted),
        faults=tuple(problems) + (() if chain is None else chain[2]),
    )


def _chain_check(
    lg: ledger.Ledger, size: int, root: bytes, redaction_rows: list[tuple[Any, ...]], redactions: Mapping[int, int]
) -> tuple[int, bool, tuple[str, ...]]:
    """(events, root matches, faults) of every event up to ``size``, as ``mlledger verify`` checks them."""
    store = lg.store
    verifier = ChainVerifier(redactions=redactions)
    verifier.feed(store.scan(0, size))
    result = verifier.report()
    erased = {seq: store.row(seq)[3] for seq in result.redacted}
    roles = (row for row in store.rows_of_types(_ROLE_TYPES) if row[0] < size)
    faults = [*result.faults, *check_redactions(erased, redaction_rows, roles)]
    faults += check_approval_signatures(row for row in store.rows_of_types(SIGNATURE_TYPES) if row[0] < size)[1]
    messages = [str(fault) for fault in sorted(faults, key=lambda f: f.seq)]
    if result.root != root:
        messages.append(f"the Merkle root of the first {size} events is not the checkpoint's root {root.hex()[:16]}…")
    return result.events, result.root == root, tuple(messages)


def _cited_events(bundle: EvidenceBundle) -> tuple[CitedEvent, ...]:
    reasons = {c.seq: c.reason for c in bundle.citations}
    return tuple(
        CitedEvent(row[0], row[5], row[3], row[6], row[9], reasons[row[0]], row[10] is None) for row in bundle.rows
    )


def _verify_steps(bundle: EvidenceBundle, evidence_zip: bytes) -> tuple[VerifyStep, ...]:
    model, version = bundle.model, bundle.version
    if not bundle.checkpoint.signed:  # nothing to verify against yet: how to get there
        return (
            VerifyStep(
                "mlledger checkpoint create",
                "signs a checkpoint of every event so far with the ledger's signing key and stores it: this "
                "view is then tied to it",
            ),
            VerifyStep(
                f"mlledger report {shlex.quote(model)} {version}",
                "writes this report as a PDF tied to a signed checkpoint (one is signed when none covers the "
                "cited events), with its evidence attached and re-checked, and the steps to verify it",
            ),
        )
    attachment = attachment_name(model, version)
    digest = hashlib.sha256(evidence_zip).hexdigest()
    return (
        VerifyStep(
            "mlledger report verify REPORT.pdf --key VERIFIER_KEY",
            "offline: extracts the embedded evidence, checks its SHA-256 against the digest this report states, "
            "the checkpoint's signature, each cited event's hash and payload digest, and their multiproof",
        ),
        VerifyStep(
            "mlledger --uri LEDGER_URI report verify REPORT.pdf --key VERIFIER_KEY",
            "also against the ledger: every cited event is there with the same hash, and the ledger extends "
            "the checkpoint",
        ),
        VerifyStep(
            f"pdfdetach -save 1 -o {attachment} REPORT.pdf",
            "saves the embedded evidence bundle (or open the PDF's attachments panel)",
        ),
        VerifyStep(f"sha256sum {attachment}", f"must print {digest}, the digest on the cover and in its QR code"),
        VerifyStep(
            f"python examples/verify_bundle.py {attachment} --key VERIFIER_KEY",
            "the independent verifier, written from DESIGN.md alone (or: mlledger evidence verify)",
        ),
        VerifyStep(
            "mlledger verify --checkpoint checkpoint.note --key VERIFIER_KEY",
            "with the note below saved as checkpoint.note: today's ledger still extends the checkpoint this "
            "report is tied to (no event before it was changed or removed)",
        ),
    )


def attachment_name(model: str, version: int) -> str:
    """The file name the evidence bundle is embedded under."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
    return f"{safe}-v{version}-evidence.zip"
