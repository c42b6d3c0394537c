"""Everything known about one model version, gathered and then written as text.

Owns: ``gather_version_report`` (the source run, stage, aliases, history,
approvals, promotion comparisons and deployments of a version, now or as of a
moment) and ``version_report_text``, a pure function of what was gathered,
which ``mlledger models show`` prints and the PDF report will reuse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import ledger
from ledger.encoding import format_time
from ledger.registry_views import (
    DeploymentView,
    HistoryEntry,
    ModelVersionView,
    RegistryView,
    TransitionRequestView,
)
from ledger.tracking import RunView

__all__ = [
    "NONE_RECORDED",
    "VersionReport",
    "event_time",
    "gather_version_report",
    "number",
    "version_report_text",
]

NONE_RECORDED = "none recorded"


# -- the version report: gathered, then rendered -----------------------------


@dataclass(frozen=True, slots=True)
class VersionReport:
    """Everything the ledger holds about one model version, now or as of ``as_of``."""

    version: ModelVersionView
    run: RunView
    stage_history: list[HistoryEntry]  # registration, stage and alias events touching this version
    requests: list[TransitionRequestView]
    promotions: list[HistoryEntry]  # model.promotion_evaluated with this version as candidate or champion
    deployments: list[DeploymentView]
    as_of: int | None = None  # the seq the view is bounded at; None: now
    as_of_time: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "as_of_time": self.as_of_time,
            "model_version": self.version.to_json(),
            "run": self.run.to_json(),
            "stage_history": [entry.to_json() for entry in self.stage_history],
            "requests": [request.to_json() for request in self.requests],
            "promotions": [entry.to_json() for entry in self.promotions],
            "deployments": [deployment.to_json() for deployment in self.deployments],
        }


def gather_version_report(lg: ledger.Ledger, name: str, version: int, moment: int | str | None = None) -> VersionReport:
    """Read everything about ``version`` of ``name`` from the registry (now, or
    as of ``moment``: a seq or an RFC 3339 time) and its source run."""
    view: RegistryView = lg.registry if moment is None else lg.registry_as_of(moment)
    found = view.get_model_version(name, version)
    history = view.history(name)
    return VersionReport(
        version=found,
        run=lg.get_run(found.run_id, as_of=view.at),
        stage_history=[entry for entry in history if entry.touches_stage(version)],
        requests=[request for request in view.requests(name) if request.version == version],
        promotions=[entry for entry in history if entry.compares(version)],
        deployments=[deployment for deployment in view.deployments(name) if deployment.version == version],
        as_of=view.at,
        as_of_time=None if view.at is None else event_time(lg, view.at),
    )


def event_time(lg: ledger.Ledger, seq: int) -> str | None:
    """The time of event ``seq``; None when the ledger has no such event."""
    head = lg.head()
    return lg.event(seq).time if head is not None and 0 <= seq <= head.seq else None


def _millis(stamp: int | None) -> str:
    return "-" if stamp is None else format_time(datetime.fromtimestamp(stamp / 1000, UTC))


def _section(title: str, lines: Iterable[str]) -> list[str]:
    body = [f"  {line}" for line in lines]
    return ["", title, *(body or [f"  {NONE_RECORDED}"])]


def number(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


def _source_lines(v: ModelVersionView) -> list[str]:
    return [
        f"run:             {v.run_id}",
        f"artifact path:   {v.artifact_path}",
        f"artifact digest: {v.artifact_digest}",
        f"description:     {v.description or '-'}",
        f"registered:      by {v.creator} at {v.time} (event {v.seq})",
    ]


def _run_lines(run: RunView, artifact_path: str) -> list[str]:
    info = run.info
    return [
        f"status:  {info.status}",
        f"author:  {info.user}",
        f"started: {_millis(info.start_time)} (event {info.start_seq})",
        f"ended:   {_millis(info.end_time)}" + ("" if info.end_seq is None else f" (event {info.end_seq})"),
        f"parent:  {info.parent_run_id or 'none'}",
        "params:",
        *([f"  {key} = {value}" for key, value in run.params.items()] or [f"  {NONE_RECORDED}"]),
        "metrics (latest):",
        *([f"  {key} = {number(value)}" for key, value in run.metrics.items()] or [f"  {NONE_RECORDED}"]),
        "data inputs:",
        *([_input_line(item) for item in run.inputs] or [f"  {NONE_RECORDED}"]),
        "artifacts (* pinned by this version):",
        *([_artifact_line(item, artifact_path) for item in run.artifacts] or [f"  {NONE_RECORDED}"]),
    ]


def _input_line(item: dict[str, Any]) -> str:
    context = item.get("context") or "no context"
    rows = "" if item.get("num_rows") is None else f", {item['num_rows']} rows"
    source = "" if not item.get("source") else f", from {item['source']}"
    return f"  {item['name']} {item['version']}  {item['digest']}  ({context}{rows}{source})"


def _artifact_line(item: dict[str, Any], artifact_path: str) -> str:
    path = str(item["path"])
    pinned = artifact_path in ("", ".") or path == artifact_path or path.startswith(artifact_path.rstrip("/") + "/")
    return f"{'*' if pinned else ' '} {path}  sha256 {item['sha256']}  {item['size']} bytes"


def _entry_line(entry: HistoryEntry) -> str:
    reason = f" — {entry.reason}" if entry.reason else ""
    return f"event {entry.seq}  {entry.time}  {entry.actor}: {entry.summary}{reason}"


def _request_lines(request: TransitionRequestView) -> list[str]:
    lines = [
        f"request {request.request_id} → {request.to_stage}: {request.status}",
        f"  requested by {request.requester} at {request.time} (event {request.seq})"
        + (f": {request.reason}" if request.reason else ""),
    ]
    if request.status != "pending":
        signed = f"signed with key {request.key_id}" if request.signature else "unsigned"
        comment = f", comment: {request.comment}" if request.comment else ""
        lines.append(
            f"  {request.status} by {request.decided_by} at {request.decided_time} "
            f"(event {request.decided_seq}), {signed}{comment}"
        )
    if request.executed_seq is not None:
        lines.append(f"  carried out at event {request.executed_seq}")
    return lines


def _promotion_line(entry: HistoryEntry, version: int) -> str:
    role = "candidate" if entry.version == version else "champion"
    return f"as {role}: {_entry_line(entry)}"


def _deployment_line(deployment: DeploymentView) -> str:
    state = "live" if deployment.live else f"replaced at event {deployment.replaced_seq}"
    return (
        f"event {deployment.seq}  {deployment.time}  {deployment.target} ({deployment.environment})"
        f" by {deployment.actor}: {state}"
    )


def version_report_text(report: VersionReport) -> str:
    """The readable text of a ``VersionReport``: one section per heading,
    "none recorded" where a section is empty. Pure: values in, text out."""
    v = report.version
    when = "now" if report.as_of is None else f"as of event {report.as_of}"
    if report.as_of_time:
        when += f", {report.as_of_time}"
    requests = [line for request in report.requests for line in _request_lines(request)]
    lines = [
        f"{v.name} version {v.version} ({when})",
        *_section("Source (pinned)", _source_lines(v)),
        *_section("Stage", [f"{v.stage} since event {v.stage_since_seq}"]),
        *_section("Aliases", v.aliases),
        *_section("Tags", [f"{key} = {value}" for key, value in sorted(v.tags.items())]),
        *_section(f"Source run {report.run.run_id}", _run_lines(report.run, v.artifact_path)),
        *_section("Stage and alias history", [_entry_line(entry) for entry in report.stage_history]),
        *_section("Approvals", requests),
        *_section("Promotion comparisons", [_promotion_line(entry, v.version) for entry in report.promotions]),
        *_section("Deployments", [_deployment_line(deployment) for deployment in report.deployments]),
    ]
    return "\n".join(lines)
