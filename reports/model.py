"""The provenance report of one model version as plain values: what
``reports.provenance`` reads from the ledger and every renderer writes out.

Owns: ``ProvenanceReport`` and its sections (frozen dataclasses of strings,
numbers, tuples and dicts, plus the ``LineageView`` the diagram is drawn
from), and ``to_json``, which turns a report into JSON-ready data (non-finite
numbers as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``, as the
ledger stores them). Reading the ledger is ``reports.provenance``'s; writing text
and PDF is ``reports.text``'s and ``reports.pdf``'s.

Every section is present in every report; an empty one means the ledger
recorded nothing there, and renderers say "none recorded".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from lineage.query import LineageView

__all__ = [
    "FORMAT",
    "NONE_RECORDED",
    "REDACTED_VALUE",
    "Approval",
    "Artifact",
    "Changes",
    "CheckpointInfo",
    "CitedEvent",
    "CodeChange",
    "Cover",
    "DataInput",
    "DataProvenance",
    "DataVersionInfo",
    "Deployment",
    "Identity",
    "InputChange",
    "Interval",
    "MetricChange",
    "MetricSeries",
    "ParamChange",
    "Promotion",
    "ProvenanceReport",
    "RedactionInfo",
    "RunSummary",
    "SearchSummary",
    "StageEvent",
    "Trial",
    "Verification",
    "VerifyStep",
    "plain",
]

FORMAT: Final = "mlledger-provenance-report/1"
NONE_RECORDED: Final = "none recorded"
REDACTED_VALUE: Final = "[redacted]"


# -- 1. cover -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    """The signed checkpoint the report is tied to (DESIGN §5). A read-only
    view that may not sign (``mlledger models show``) is tied to the
    ledger's head instead when no stored checkpoint covers its events:
    ``signed`` false, and no key, time or note (empty strings)."""

    origin: str
    size: int
    root: str  # hex
    key_name: str
    key_id: str  # 8 hex digits
    time: str  # when the ledger signed and stored it
    note: str  # the signed note, verbatim
    signed: bool


@dataclass(frozen=True, slots=True)
class Verification:
    """What was checked when the report was gathered (``checked``; else nothing).

    ``evidence_*``, in time proportional to the cited events: the
    checkpoint note's signature with the verifier key the ledger records,
    and that the note signs the stored checkpoint's size and root (an auditor
    checks with the key they hold: ``mlledger report verify --key``); every cited
    event's header hash and payload digest recomputed from the stored event
    (an erased payload named by a cited redaction); their multiproof against
    the signed root; and the cited approvals' Ed25519 signatures
    (``signatures_checked``). ``tree_matches``: the ledger's stored Merkle
    tree still has the checkpoint's root at its size. ``chain_*``, only when
    the whole ledger was checked (``chain_checked``, a pass over every event
    up to the checkpoint): hash chain, payload digests, redaction rules,
    signed approvals, and the Merkle root of the events (``root_matches``)."""

    checked: bool
    evidence_ok: bool | None
    evidence_events: int
    evidence_detail: str
    tree_matches: bool | None
    signatures_checked: int
    chain_checked: bool
    chain_ok: bool | None
    chain_events: int
    root_matches: bool | None
    redacted_payloads: int
    faults: tuple[str, ...]

    @classmethod
    def skipped(cls, events: int) -> Verification:
        detail = "not re-checked (the multiproof was checked as the evidence was assembled)"
        return cls(False, None, events, detail, None, 0, False, None, 0, None, 0, ())

    @property
    def ok(self) -> bool:
        """Nothing failed (also true when nothing was checked: see ``checked``)."""
        return self.evidence_ok is not False and self.tree_matches is not False and self.chain_ok is not False

    @property
    def summary(self) -> str:
        """One sentence for the cover."""
        if not self.checked:
            return (
                f"not re-checked when the report was made ({self.evidence_events} cited events, their multiproof "
                "checked as the evidence was assembled): `mlledger report verify` checks a report file"
            )
        if not self.evidence_ok:
            return f"FAILED: {self.evidence_detail}"
        if not self.tree_matches:
            return "FAILED: the ledger's Merkle tree no longer has the checkpoint's root at its size"
        if self.chain_checked and not self.chain_ok:
            return f"FAILED: {len(self.faults)} integrity fault(s) in the ledger up to the checkpoint"
        signed = f"; {self.signatures_checked} signed approval(s) re-checked" if self.signatures_checked else ""
        whole = (
            f"; all {self.chain_events} events up to the checkpoint re-hashed, chain and Merkle root match"
            if self.chain_checked
            else ""
        )
        return (
            f"intact: {self.evidence_events} cited events re-hashed and proven against the signed checkpoint, "
            f"whose root the ledger's tree still has{signed}{whole}"
        )


@dataclass(frozen=True, slots=True)
class Cover:
    model: str
    version: int
    stage: str
    aliases: tuple[str, ...]
    as_of_seq: int  # the report shows the ledger's state after this event
    as_of_time: str
    ledger_id: str
    checkpoint: CheckpointInfo
    verifier_key: str  # "" when the checkpoint is not signed
    verification: Verification
    evidence_digest: str  # "sha256:<hex>" of the embedded evidence bundle (a zip)
    evidence_bytes: int
    cited_events: int


# -- 2. identity and inventory ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Identity:
    model: str
    version: int
    owner: str | None
    model_description: str | None
    version_description: str | None
    business_objective: str | None  # from a tag, when one was logged
    risk_tier: str | None
    intended_use: str | None
    model_tags: dict[str, str]
    version_tags: dict[str, str]
    model_registered_by: str
    model_registered_time: str
    model_registered_seq: int
    registered_by: str
    registered_time: str
    registered_seq: int
    run_id: str
    artifact_path: str
    artifact_digest: str
    latest_version: int
    policy: dict[str, Any]


# -- 3. changes from the previous version -------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParamChange:
    key: str
    previous: str | None  # None: not logged
    current: str | None


@dataclass(frozen=True, slots=True)
class MetricChange:
    key: str
    previous: float | None
    current: float | None
    delta: float | None  # current - previous, when both are numbers


@dataclass(frozen=True, slots=True)
class InputChange:
    context: str
    previous: tuple[str, ...]  # "name@version sha256:…" of each input in this context
    current: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CodeChange:
    previous_commit: str | None
    previous_dirty: bool | None
    current_commit: str | None
    current_dirty: bool | None


@dataclass(frozen=True, slots=True)
class Changes:
    """This version against ``previous_version`` (None: there is none)."""

    previous_version: int | None
    previous_run_id: str | None
    note: str
    params: tuple[ParamChange, ...] = ()  # the changed ones
    unchanged_params: int = 0
    metrics: tuple[MetricChange, ...] = ()  # the final value of every metric either run logged
    inputs: tuple[InputChange, ...] = ()
    code: CodeChange | None = None


# -- 4. training data ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataInput:
    """One ``run.input_logged`` of the source run."""

    name: str
    version: str
    digest: str
    source: str | None
    context: str | None
    num_rows: int | None
    columns: tuple[dict[str, str], ...] | None
    seq: int
    redacted_by: int | None = None


@dataclass(frozen=True, slots=True)
class DataVersionInfo:
    """One registered data version an input is, or derives from."""

    name: str
    version: str
    digest: str
    source: str | None
    transform: str | None
    columns: tuple[dict[str, str], ...] | None
    num_rows: int | None
    derived_from: tuple[str, ...]  # "name@version"
    seq: int
    actor: str
    time: str
    redacted_by: int | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True, slots=True)
class DataProvenance:
    inputs: tuple[DataInput, ...]
    versions: tuple[DataVersionInfo, ...]  # every input's registration, then their upstream, nearest first
    chains: tuple[tuple[str, ...], ...]  # per input data version: the lines of its derivation tree (indented)
    warnings: tuple[str, ...]


# -- 5. training run -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: str
    name: str | None
    experiment_id: str
    experiment: str | None
    status: str
    error: str | None
    author: str
    start_time: str
    end_time: str | None
    start_seq: int
    end_seq: int | None
    parents: tuple[tuple[str, str | None], ...]  # (run id, name) up the chain, nearest first
    tags: dict[str, str]
    environment: dict[str, Any] | None  # as run.started recorded it; None: not captured


@dataclass(frozen=True, slots=True)
class Trial:
    run_id: str
    name: str | None
    status: str
    seq: int
    metrics: dict[str, float | None]  # final values of the source run's metrics
    is_source: bool


@dataclass(frozen=True, slots=True)
class SearchSummary:
    """The hyperparameter search the source run was a trial of: its parent
    run's own params, metrics and tags, and every trial (run nested in it)."""

    parent_run_id: str
    parent_name: str | None
    parent_status: str
    params: dict[str, str]
    metrics: dict[str, float | None]
    tags: dict[str, str]
    metric_keys: tuple[str, ...]
    trials: tuple[Trial, ...]


# -- 6. params and metrics ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """One metric of the source run: its final value and its history,
    downsampled for drawing (first, last and extreme points kept)."""

    key: str
    final: float | None
    final_step: int | None
    points: int
    minimum: float | None
    maximum: float | None
    non_finite: int
    first_step: int | None
    last_step: int | None
    drawn: tuple[tuple[float, float], ...]  # (step, value), at most reports.series.MAX_POINTS
    redacted_by: tuple[int, ...] = ()  # redactions that erased some of its points


# -- 7. artifacts -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Artifact:
    path: str
    size: int
    sha256: str
    pinned: bool  # at or under the version's artifact path: part of its artifact digest
    seq: int
    stored: str  # "matches", "missing", "modified" (the artifact store, when the report was made)


# -- 8, 9. promotion evidence and approvals --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Promotion:
    seq: int
    time: str
    actor: str
    role: str  # candidate or champion
    candidate: int
    candidate_value: float | None
    champion: int | None
    champion_value: float | None
    metric: str
    mode: str
    min_delta: float
    to_stage: str
    outcome: str  # won or lost


@dataclass(frozen=True, slots=True)
class Approval:
    request_id: str
    to_stage: str
    requester: str
    requester_roles: tuple[str, ...]
    requested_time: str
    requested_seq: int
    reason: str | None
    status: str  # pending, approved, rejected
    decided_by: str | None
    decider_roles: tuple[str, ...]
    decided_time: str | None
    decided_seq: int | None
    comment: str | None
    key_id: str | None
    signature: str  # "unsigned", "valid ...", "INVALID: ..."
    signature_ok: bool | None  # None: unsigned or undecided
    executed_seq: int | None


# -- 10, 11. stages, aliases, deployments ------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageEvent:
    seq: int
    time: str
    actor: str
    summary: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class Interval:
    """A stage held, or an alias pointing at this version, from one event to
    another (``end_seq`` None: still, as of the report)."""

    lane: str  # "stage" or "alias <name>"
    label: str
    start_seq: int
    end_seq: int | None
    start_time: str


@dataclass(frozen=True, slots=True)
class Deployment:
    seq: int
    time: str
    actor: str
    target: str
    environment: str
    live: bool
    replaced_seq: int | None


# -- 12, 13. redactions and the events cited ---------------------------------------------


@dataclass(frozen=True, slots=True)
class RedactionInfo:
    seq: int
    time: str
    actor: str
    target_seq: int
    target_type: str
    subject: str
    reason: str
    legal_basis: str


class CitedEvent(NamedTuple):  # a tuple: a report may cite 100,000 events
    seq: int
    time: str
    type: str
    actor: str
    hash: str
    reason: str
    redacted: bool


# -- 14. how to verify ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifyStep:
    command: str
    checks: str


# -- the report ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProvenanceReport:
    """Everything the ledger holds about one model version, as of one signed checkpoint."""

    cover: Cover
    identity: Identity
    changes: Changes
    data: DataProvenance
    run: RunSummary
    search: SearchSummary | None
    params: dict[str, str]
    metrics: tuple[MetricSeries, ...]
    artifacts: tuple[Artifact, ...]
    promotions: tuple[Promotion, ...]
    approvals: tuple[Approval, ...]
    stage_events: tuple[StageEvent, ...]
    intervals: tuple[Interval, ...]
    deployments: tuple[Deployment, ...]
    downstream: tuple[str, ...]  # lines: what depends on this version in the lineage graph
    redactions: tuple[RedactionInfo, ...]
    lineage: LineageView = field(repr=False)
    lineage_lines: tuple[str, ...]
    cited: tuple[CitedEvent, ...]
    verify_steps: tuple[VerifyStep, ...]
    format: str = FORMAT

    @property
    def title(self) -> str:
        return f"{self.cover.model} version {self.cover.version}"

    def to_json(self, *, cited: bool = True) -> dict[str, Any]:
        """The report as JSON-ready data: the same for the same report.
        Without ``cited``, the list of cited events is left out (the
        evidence bundle holds it: seq, type and why, in its manifest)."""
        result: dict[str, Any] = {"format": self.format}
        for item in dataclasses.fields(self):
            if item.name != "format" and (cited or item.name != "cited"):
                result[item.name] = plain(getattr(self, item.name))
        result["cover"]["verification"]["ok"] = self.cover.verification.ok
        result["cover"]["verification"]["summary"] = self.cover.verification.summary
        return result


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses as objects, tuples as lists,
    non-finite floats as the ledger's strings."""
    if isinstance(value, LineageView):
        return value.to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: plain(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # a NamedTuple
        value = value._asdict()
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value
