"""The provenance report as plain text: the same sections as the PDF, in the same order.

Owns ``render_text`` (what ``mlledger report --format text`` writes and
``mlledger models show`` prints: the one text view of a version) and the
small wording helpers both renderers share (``number``, ``delta``,
``short``, ``SECTIONS``, and the sentences a section says when it is
empty). Pure: a ``ProvenanceReport`` in, text out. A report tied to the
ledger's unsigned head (``models show`` when no stored checkpoint covers
the version) says so on its cover and in how to verify it.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable, Sequence
from typing import Final

from reports.model import (
    NONE_RECORDED,
    Approval,
    CodeChange,
    Cover,
    DataInput,
    DataVersionInfo,
    MetricSeries,
    ProvenanceReport,
    SearchSummary,
)

__all__ = [
    "SECTIONS",
    "approval_lines",
    "delta",
    "environment_rows",
    "number",
    "plural",
    "render_text",
    "short",
]

SECTIONS: Final = (
    "Cover",
    "Identity and inventory",
    "Changes from the previous version",
    "Training data provenance",
    "Training run",
    "Parameters and metrics",
    "Artifacts",
    "Promotion evidence",
    "Approvals and accountability",
    "Stage and alias history",
    "Deployments and downstream impact",
    "Redactions affecting this version",
    "Lineage and cited events",
    "How to verify this report",
)


def number(value: float | None) -> str:
    """A metric value as people read it: 6 significant digits."""
    if value is None:
        return "-"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return f"{value:.6g}"


def delta(value: float | None) -> str:
    return "-" if value is None else ("+" if value >= 0 else "") + number(value)


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def short(text: str | None, keep: int = 12) -> str:
    """A long hash or id cut to ``keep`` characters (``sha256:`` kept), with an ellipsis."""
    if not text:
        return "-"
    prefix = "sha256:" if text.startswith("sha256:") else ""
    body = text.removeprefix(prefix)
    return text if len(body) <= keep + 1 else f"{prefix}{body[:keep]}…"


def _section(number_: int, lines: Iterable[str]) -> list[str]:
    body = [f"  {line}" if line else "" for line in lines]
    title = f"{number_}. {SECTIONS[number_ - 1]}"
    return ["", title, "-" * len(title), *(body or [f"  {NONE_RECORDED}"])]


def _or_none(value: object) -> str:
    return NONE_RECORDED if value is None or value == "" else str(value)


def cover_lines(cover: Cover) -> list[str]:
    cp = cover.checkpoint
    if cp.signed:
        checkpoint = [
            f"checkpoint:       {cp.size} events, root {cp.root}",
            f"                  signed by {cp.key_name} (key id {cp.key_id}) at {cp.time}",
        ]
    else:
        checkpoint = [
            "checkpoint:       not tied to a signed checkpoint yet: no stored checkpoint covers the cited events",
            f"                  read at the ledger's head, unsigned: {cp.size} events, root {cp.root}",
            "                  `mlledger checkpoint create` signs one (with the ledger's signing key)",
        ]
    return [
        f"model:            {cover.model}",
        f"version:          {cover.version}",
        f"stage:            {cover.stage}",
        f"aliases:          {', '.join(cover.aliases) or NONE_RECORDED}",
        f"as of:            event {cover.as_of_seq} ({cover.as_of_time})",
        f"ledger:           {cover.ledger_id}",
        *checkpoint,
        f"verification:     {_verification_text(cover)}",
        *[f"                  fault: {fault}" for fault in cover.verification.faults],
        f"evidence:         {cover.evidence_digest} ({cover.evidence_bytes:,} bytes, {cover.cited_events} events)"
        if cp.signed
        else f"evidence:         none: nothing is signed to prove the {cover.cited_events} cited events against",
    ]


def _verification_text(cover: Cover) -> str:
    """The cover's verification sentence; when nothing was re-checked, where
    a verified document comes from (the text is no PDF to verify)."""
    v = cover.verification
    if v.checked:
        return v.summary
    cited = plural(v.evidence_events, "cited event")
    verified = f"`mlledger report {shlex.quote(cover.model)} {cover.version}` writes a verified PDF"
    if not cover.checkpoint.signed:
        return f"not re-checked: there is no signed checkpoint to check the {cited} against; {verified}"
    return f"not re-checked ({cited} read from the ledger, their multiproof checked as they were assembled); {verified}"


def _identity_lines(report: ProvenanceReport) -> list[str]:
    i = report.identity
    policy = i.policy
    return [
        f"owner:              {_or_none(i.owner)}",
        f"model description:  {_or_none(i.model_description)}",
        f"version description: {_or_none(i.version_description)}",
        f"business objective: {_or_none(i.business_objective)}",
        f"risk tier:          {_or_none(i.risk_tier)}",
        f"intended use:       {_or_none(i.intended_use)}",
        f"model tags:         {_tags(i.model_tags)}",
        f"version tags:       {_tags(i.version_tags)}",
        f"model registered:   by {i.model_registered_by} at {i.model_registered_time} (event {i.model_registered_seq})",
        f"version registered: by {i.registered_by} at {i.registered_time} (event {i.registered_seq})",
        f"source run:         {i.run_id}",
        f"artifact path:      {i.artifact_path}",
        f"artifact digest:    {i.artifact_digest}",
        f"versions of model:  {i.latest_version}",
        "policy:             " + policy_text(policy),
    ]


def policy_text(policy: dict[str, object]) -> str:
    stages = policy.get("approval_stages") or []
    signed = "required" if policy.get("signed_approvals") else "optional"
    return (
        f"approval for {', '.join(str(s) for s in stages) or 'no stage'} "  # type: ignore[attr-defined]
        f"(four-eyes {'on' if policy.get('four_eyes') else 'off'}, signed approvals {signed})"
        + ("" if policy.get("seq") is None else f", set at event {policy['seq']}")
    )


def _tags(tags: dict[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in tags.items()) or NONE_RECORDED


def _changes_lines(report: ProvenanceReport) -> list[str]:
    c = report.changes
    lines = [c.note]
    if c.previous_version is None:
        return lines
    lines.append("params changed:" + ("" if c.params else f" none ({c.unchanged_params} the same)"))
    lines += [f"  {p.key}: {p.previous or 'not logged'} → {p.current or 'not logged'}" for p in c.params]
    if c.params and c.unchanged_params:
        lines.append(f"  ({c.unchanged_params} other params the same)")
    lines.append("data inputs:" + ("" if c.inputs else f" {NONE_RECORDED}"))
    for change in c.inputs:
        same = change.previous == change.current
        lines.append(f"  {change.context}: {'unchanged' if same else 'changed'}")
        if not same:
            lines += [f"    was {item}" for item in change.previous or ("none",)]
            lines += [f"    now {item}" for item in change.current or ("none",)]
    lines.append("code: " + code_text(c.code))
    lines.append("metrics (final values):" + ("" if c.metrics else f" {NONE_RECORDED}"))
    lines += [f"  {m.key}: {number(m.previous)} → {number(m.current)} ({delta(m.delta)})" for m in c.metrics]
    return lines


def code_text(code: CodeChange | None) -> str:
    if code is None:
        return NONE_RECORDED

    def commit(sha: str | None, dirty: bool | None) -> str:
        if sha is None:
            return "no git commit recorded"
        return short(sha, 12) + (" (uncommitted changes)" if dirty else "")

    before, after = commit(code.previous_commit, code.previous_dirty), commit(code.current_commit, code.current_dirty)
    if before == after:
        return f"unchanged: {after}"
    return f"{before} → {after}"


def input_text(item: DataInput) -> str:
    if item.redacted_by is not None:
        return f"an input whose payload was redacted (event {item.seq}, by event {item.redacted_by})"
    rows = "" if item.num_rows is None else f", {item.num_rows:,} rows"
    return f"{item.name}@{item.version} ({item.context or 'no context'}{rows}) {item.digest}"


def version_text(info: DataVersionInfo) -> str:
    if info.redacted_by is not None:
        return f"{info.ref}: registration redacted (event {info.seq}, by event {info.redacted_by})"
    parts = [info.digest, f"source {_or_none(info.source)}"]
    if info.num_rows is not None:
        parts.append(f"{info.num_rows:,} rows")
    if info.columns:
        parts.append("schema " + ", ".join(f"{c['name']}:{c['type']}" for c in info.columns))
    if info.transform:
        parts.append(f"transform: {info.transform}")
    if info.derived_from:
        parts.append("derived from " + ", ".join(info.derived_from))
    parts.append(f"registered by {info.actor} at {info.time} (event {info.seq})")
    return f"{info.ref}: " + "; ".join(parts)


def _data_lines(report: ProvenanceReport) -> list[str]:
    d = report.data
    lines = [f"WARNING: {warning}" for warning in d.warnings]
    lines.append("inputs of the source run:" + ("" if d.inputs else f" {NONE_RECORDED}"))
    lines += [f"  {input_text(item)}" for item in d.inputs]
    if d.chains:
        lines.append("derivation (← derived from):")
        lines += [f"  {line}" for chain in d.chains for line in chain]
    lines.append("data versions:" + ("" if d.versions else f" {NONE_RECORDED}"))
    lines += [f"  {version_text(info)}" for info in d.versions]
    return lines


def environment_rows(environment: dict[str, object] | None) -> list[tuple[str, str]]:
    if environment is None:
        return [("environment", "not captured (capture_environment=False or MLLEDGER_CAPTURE_ENV=0)")]
    commit = environment.get("git_commit")
    dirty = environment.get("git_dirty")
    packages = environment.get("packages") or {}
    return [
        ("git commit", NONE_RECORDED if commit is None else f"{commit}" + (" (uncommitted changes)" if dirty else "")),
        ("python", _or_none(environment.get("python"))),
        ("platform", _or_none(environment.get("platform"))),
        ("host", _or_none(environment.get("host"))),
        (
            "packages",
            ", ".join(f"{name} {version}" for name, version in sorted(packages.items()))  # type: ignore[attr-defined]
            or NONE_RECORDED,
        ),
    ]


def _run_lines(report: ProvenanceReport) -> list[str]:
    r = report.run
    lines = [
        f"run:         {r.run_id} ({_or_none(r.name)})",
        f"experiment:  {_or_none(r.experiment)} ({r.experiment_id})",
        f"status:      {r.status}" + (f": {r.error}" if r.error else ""),
        f"author:      {r.author}",
        f"started:     {r.start_time} (event {r.start_seq})",
        f"ended:       {_or_none(r.end_time)}" + ("" if r.end_seq is None else f" (event {r.end_seq})"),
        "parent runs: " + (" ← ".join(f"{run} ({name or 'unnamed'})" for run, name in r.parents) or "none"),
        f"tags:        {_tags(r.tags)}",
    ]
    lines += [f"{key + ':':<12} {value}" for key, value in environment_rows(r.environment)]
    lines.append("hyperparameter search:" + ("" if report.search else " none (the run has no parent run)"))
    if report.search:
        lines += [f"  {line}" for line in search_lines(report.search)]
    return lines


def search_lines(search: SearchSummary) -> list[str]:
    lines = [
        f"search run {search.parent_run_id} ({_or_none(search.parent_name)}), {search.parent_status}: "
        f"{len(search.trials)} trials",
        f"search params: {_tags(search.params)}",
        f"search metrics: {', '.join(f'{k}={number(v)}' for k, v in search.metrics.items()) or NONE_RECORDED}",
        f"search tags: {_tags(search.tags)}",
    ]
    for trial in search.trials:
        figures = ", ".join(f"{k}={number(v)}" for k, v in trial.metrics.items())
        mark = "  <- this version's run" if trial.is_source else ""
        lines.append(f"  trial {trial.run_id[:8]} {trial.name or ''} ({trial.status}) {figures}{mark}")
    return lines


def metric_text(series: MetricSeries) -> str:
    if series.points == 0:
        return f"{series.key}: every point redacted (by event {', '.join(map(str, series.redacted_by))})"
    text = (
        f"{series.key}: final {number(series.final)} at step {series.final_step}; {plural(series.points, 'point')}, "
        f"min {number(series.minimum)}, max {number(series.maximum)}"
    )
    if series.non_finite:
        text += f", {series.non_finite} non-finite"
    if series.redacted_by:
        text += f"; some points redacted (by event {', '.join(map(str, series.redacted_by))})"
    return text


def _params_lines(report: ProvenanceReport) -> list[str]:
    lines = ["parameters:" + ("" if report.params else f" {NONE_RECORDED}")]
    lines += [f"  {key} = {value}" for key, value in report.params.items()]
    lines.append("metrics:" + ("" if report.metrics else f" {NONE_RECORDED}"))
    lines += [f"  {metric_text(series)}" for series in report.metrics]
    return lines


def _artifact_lines(report: ProvenanceReport) -> list[str]:
    lines = []
    for a in report.artifacts:
        pinned = "pinned" if a.pinned else "not pinned"
        lines.append(f"{a.path}  {a.size:,} bytes  sha256 {a.sha256}  {pinned}; stored file {a.stored}")
    return lines


def _promotion_lines(report: ProvenanceReport) -> list[str]:
    lines = []
    for p in report.promotions:
        champion = "no champion" if p.champion is None else f"version {p.champion} {number(p.champion_value)}"
        lines.append(
            f"event {p.seq} {p.time} by {p.actor}, this version as {p.role}: {p.metric} ({p.mode}, min_delta "
            f"{p.min_delta:g}) version {p.candidate} {number(p.candidate_value)} vs {champion} "
            f"→ {p.to_stage}: {p.outcome}"
        )
    return lines


def approval_lines(a: Approval) -> list[str]:
    lines = [
        f"request {a.request_id} → {a.to_stage}: {a.status}",
        f"  requested by {a.requester} ({', '.join(a.requester_roles) or 'no role'}) at {a.requested_time} "
        f"(event {a.requested_seq})" + (f": {a.reason}" if a.reason else ""),
    ]
    if a.decided_by is not None:
        lines.append(
            f"  {a.status} by {a.decided_by} ({', '.join(a.decider_roles) or 'no role'}) at {a.decided_time} "
            f"(event {a.decided_seq})" + (f": {a.comment}" if a.comment else "")
        )
        lines.append(f"  signature: {a.signature}")
    if a.executed_seq is not None:
        lines.append(f"  carried out at event {a.executed_seq}")
    return lines


def _stage_lines(report: ProvenanceReport) -> list[str]:
    lines = [
        f"event {e.seq}  {e.time}  {e.actor}: {e.summary}" + (f" — {e.reason}" if e.reason else "")
        for e in report.stage_events
    ]
    if report.intervals:
        lines.append("held:")
        lines += [
            f"  {i.lane}: {i.label} from event {i.start_seq} to "
            + ("now" if i.end_seq is None else f"event {i.end_seq}")
            for i in report.intervals
        ]
    return lines


def _deployment_lines(report: ProvenanceReport) -> list[str]:
    lines = [
        f"event {d.seq}  {d.time}  {d.target} ({d.environment}) by {d.actor}: "
        + ("live" if d.live else f"replaced at event {d.replaced_seq}")
        for d in report.deployments
    ] or [f"deployments: {NONE_RECORDED}"]
    lines.append("downstream (what depends on this version):" + ("" if report.downstream else " nothing recorded"))
    lines += [f"  {line}" for line in report.downstream]
    return lines


def _redaction_lines(report: ProvenanceReport) -> list[str]:
    return [
        f"event {r.target_seq} ({r.target_type}): {r.subject}; erased by event {r.seq} at {r.time} by {r.actor}; "
        f"reason: {r.reason}; legal basis: {r.legal_basis}"
        for r in report.redactions
    ]


def _lineage_lines(report: ProvenanceReport) -> list[str]:
    lines = list(report.lineage_lines)
    lines.append("")
    lines.append(f"cited events ({len(report.cited)}):")
    lines += [
        f"  {c.seq:>7}  {c.time}  {c.type:<28} {c.actor:<10} {c.hash}" + ("  [payload redacted]" if c.redacted else "")
        for c in report.cited
    ]
    return lines


def _verify_lines(report: ProvenanceReport) -> list[str]:
    lines = []
    for step in report.verify_steps:
        lines += [f"$ {step.command}", f"    {step.checks}"]
    if not report.cover.checkpoint.signed:
        unsigned = "none (nothing is signed yet)"
        return [*lines, "", f"verifier key: {unsigned}", f"checkpoint note: {unsigned}"]
    lines += ["", f"verifier key: {report.cover.verifier_key}", "checkpoint note:"]
    lines += [f"  {line}" for line in report.cover.checkpoint.note.splitlines()]
    return lines


def render_text(report: ProvenanceReport) -> str:
    """The report as text: a title, then the fourteen sections of the PDF."""
    cover = report.cover
    title = f"Provenance report: {cover.model} version {cover.version}"
    parts: Sequence[list[str]] = (
        cover_lines(cover),
        _identity_lines(report),
        _changes_lines(report),
        _data_lines(report),
        _run_lines(report),
        _params_lines(report),
        _artifact_lines(report),
        _promotion_lines(report),
        [line for approval in report.approvals for line in approval_lines(approval)],
        _stage_lines(report),
        _deployment_lines(report),
        _redaction_lines(report),
        _lineage_lines(report),
        _verify_lines(report),
    )
    lines = [title, "=" * len(title)]
    for index, body in enumerate(parts, 1):
        lines += _section(index, body)
    return "\n".join(lines) + "\n"
