"""Generating a report, and recording that it was generated.

Owns ``generate_report``: gather, render in the asked format, and append the
``report.generated`` event (who asked for which version, the document's
SHA-256, the checkpoint it rests on), because access to evidence is itself
evidence. The document is handed to a ``deliver`` callback before the event
is appended; if delivering fails nothing is recorded, and if recording fails
the caller is told (the delivered file is then removed by the CLI).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import ledger
from ledger.events import RecordedEvent

__all__ = ["Generated", "ReportFormat", "generate_report"]

ReportFormat = Literal["pdf", "json", "text"]


@dataclass(frozen=True)
class Generated:
    """A generated report: its bytes, their SHA-256 and the event recording it."""

    document: bytes
    sha256: str
    event: RecordedEvent
    tree_size: int


def generate_report(
    lg: ledger.Ledger,
    name: str,
    version: int,
    *,
    fmt: ReportFormat = "pdf",
    page_size: str = "A4",
    as_of: int | str | datetime | None = None,
    verify: bool = True,
    check_ledger: bool = False,
    deliver: Callable[[bytes], object] = lambda document: None,
    actor: str | None = None,
) -> Generated:
    """The report of ``version`` of ``name`` in ``fmt``, delivered, then
    recorded (``verify`` and ``check_ledger``: see ``reports.provenance.gather``)."""
    from reports.pdf import render_pdf  # noqa: PLC0415 - reportlab loads only for a PDF
    from reports.provenance import gather  # noqa: PLC0415
    from reports.text import render_text  # noqa: PLC0415

    gathered = gather(lg, name, version, as_of=as_of, verify=verify, check_ledger=check_ledger)
    if fmt == "pdf":
        document = render_pdf(gathered.report, gathered.evidence_zip, page_size=page_size)  # type: ignore[arg-type]
    elif fmt == "json":
        document = (json.dumps(gathered.report.to_json(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    else:
        document = render_text(gathered.report).encode("utf-8")
    deliver(document)
    digest = hashlib.sha256(document).hexdigest()
    cover = gathered.report.cover
    payload = {
        "name": name,
        "version": version,
        "format": fmt,
        "sha256": "sha256:" + digest,
        "tree_size": cover.checkpoint.size,
        "root": cover.checkpoint.root,
        "as_of": None if as_of is None else cover.as_of_seq,
    }
    event = lg.append("report.generated", payload, actor=actor)
    return Generated(document, digest, event, cover.checkpoint.size)
