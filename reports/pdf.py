"""The provenance report as a PDF a compliance officer can file, print and hand over.

Owns the document around the story (``reports.story``): A4 or US Letter
pages with a header naming the model, version and checkpoint and a footer
with "page N of M" on every page; the evidence bundle embedded as a file
attachment (``reports.attachment``); and the document's metadata.

Deterministic: the same report and evidence give the same bytes. reportlab
runs in invariant mode, and what it would take from the clock or the machine
is fixed from the content: the creation date is the checkpoint's time, the
document id the SHA-256 of the report's JSON (less the cited events, which
the evidence lists) and the evidence.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, Literal

from reportlab.lib.pagesizes import A4, LETTER  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.lib.utils import TimeStamp  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfdoc import DummyDoc, PDFText  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfmetrics import stringWidth  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate  # type: ignore[import-untyped]

from ledger.collector import no_collections
from ledger.errors import ValidationError
from reports.attachment import embed
from reports.model import ProvenanceReport
from reports.provenance import attachment_name
from reports.story import INK, MUTED, RULE, Story, ascii_text

__all__ = ["PAGE_SIZES", "PageSize", "render_pdf"]

PageSize = Literal["A4", "letter"]
PAGE_SIZES: Final = {"A4": A4, "letter": LETTER}
MARGIN: Final = 18 * mm
TOP: Final = 24 * mm
BOTTOM: Final = 20 * mm
_PAGE_COUNT: Final = "pageCount"  # the form holding the number of pages
_FOOTER_FONT: Final = "Helvetica-Bold"
_FOOTER_SIZE: Final = 7.2


def render_pdf(report: ProvenanceReport, evidence_zip: bytes, *, page_size: PageSize = "A4") -> bytes:
    """The PDF of ``report`` with ``evidence_zip`` (the bundle it cites, as
    ``reports.provenance`` made it) attached. ``ValidationError`` when the
    evidence is not the one the report states, or the page size is unknown."""
    if page_size not in PAGE_SIZES:
        raise ValidationError(f"page size {page_size!r}: expected one of {', '.join(PAGE_SIZES)}")
    if not report.cover.checkpoint.signed:
        raise ValidationError(
            "this report is not tied to a signed checkpoint (it was gathered with sign=False): a PDF is a "
            "document to hand over, so gather it with sign=True (the default)"
        )
    digest = "sha256:" + hashlib.sha256(evidence_zip).hexdigest()
    if digest != report.cover.evidence_digest:
        raise ValidationError(
            f"the evidence given hashes to {digest[:19]}…, the report states {report.cover.evidence_digest[:19]}…: "
            "render a report with the evidence it was gathered with"
        )
    size = PAGE_SIZES[page_size]
    buffer = io.BytesIO()
    document = _document(buffer, report, size)
    with no_collections():  # reportlab's tables allocate many small objects, and no cycles that outlive the build
        story = Story(report, size[0] - 2 * MARGIN, size[1] - TOP - BOTTOM).build()
        document.build(story, canvasmaker=_canvas_maker(report, evidence_zip))
    return buffer.getvalue()


# -- the document and its pages ------------------------------------------------------------


def _document(buffer: io.BytesIO, report: ProvenanceReport, size: tuple[float, float]) -> BaseDocTemplate:
    cover = report.cover
    document = BaseDocTemplate(
        buffer,
        pagesize=size,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=TOP,
        bottomMargin=BOTTOM,
        invariant=1,
        pageCompression=1,
        title=f"Provenance report: {cover.model} version {cover.version}",
        author="mlledger",
        subject=(
            f"{cover.model} version {cover.version} as of checkpoint {cover.checkpoint.size} of ledger "
            f"{cover.ledger_id}"
        ),
        creator=f"mlledger reports ({report.format})",
        keywords=f"mlledger provenance evidence {cover.evidence_digest} checkpoint {cover.checkpoint.size}",
        lang="en",
    )
    frame = Frame(
        MARGIN,
        BOTTOM,
        size[0] - 2 * MARGIN,
        size[1] - TOP - BOTTOM,
        id="body",
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    document.addPageTemplates([PageTemplate(id="page", frames=[frame])])
    return document


def _canvas_maker(report: ProvenanceReport, evidence_zip: bytes) -> Callable[..., Canvas]:
    def make(*args: Any, **kwargs: Any) -> Canvas:
        return _ReportCanvas(*args, report=report, evidence=evidence_zip, **kwargs)

    return make


class _ReportCanvas(Canvas):  # type: ignore[misc]
    """Draws the header and footer of every page, attaches the evidence and
    fixes the document's date and id from its content. "Page N of M": M is a
    form (a PDF XObject) each page refers to and ``save`` fills in once the
    last page is known, so no page is held back."""

    def __init__(self, *args: Any, report: ProvenanceReport, evidence: bytes, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._report = report
        cover = report.cover
        content = json.dumps(report.to_json(cited=False), sort_keys=True, ensure_ascii=True).encode() + evidence
        self._doc._ID = _document_id(hashlib.sha256(content).digest()[:16])
        self._doc._timeStamp = _timestamp(cover.checkpoint.time)
        self.showOutline()  # readers open with the sections listed
        self.evidence_spec = embed(
            self,
            evidence,
            name=attachment_name(cover.model, cover.version),
            description=(
                f"Evidence bundle of {cover.model} version {cover.version}: {cover.cited_events} events with "
                f"their multiproof against checkpoint {cover.checkpoint.size}"
            ),
            sha256=cover.evidence_digest.removeprefix("sha256:"),
            tree_size=cover.checkpoint.size,
            root=cover.checkpoint.root,
        )

    def showPage(self) -> None:  # noqa: N802 - reportlab's name
        self._chrome()
        super().showPage()

    def save(self) -> None:
        self.beginForm(_PAGE_COUNT)
        self.setFont(_FOOTER_FONT, _FOOTER_SIZE)
        self.setFillColor(INK)
        self.drawString(0, 0, str(self._pageNumber - 1))
        self.endForm()
        super().save()

    def _chrome(self) -> None:
        cover = self._report.cover
        width, height = self._pagesize
        top = height - 14 * mm
        self.saveState()
        self.setFillColor(INK)
        self.setFont("Helvetica-Bold", 8)
        self.drawString(MARGIN, top, ascii_text(f"Provenance report: {cover.model} version {cover.version}"))
        self.setFont("Helvetica", 7.2)
        self.setFillColor(MUTED)
        checkpoint = cover.checkpoint
        right = f"checkpoint {checkpoint.size} · root {checkpoint.root[:16]}… · key {checkpoint.key_id}"
        self.drawRightString(width - MARGIN, top, right)
        self.setStrokeColor(RULE)
        self.setLineWidth(0.6)
        self.line(MARGIN, top - 3.5, width - MARGIN, top - 3.5)
        bottom = 11 * mm
        self.line(MARGIN, bottom + 8, width - MARGIN, bottom + 8)
        self.drawString(
            MARGIN,
            bottom,
            ascii_text(f"ledger {cover.ledger_id} · evidence {cover.evidence_digest[:23]}… attached"),
        )
        self.setFillColor(INK)
        self.setFont(_FOOTER_FONT, _FOOTER_SIZE)
        count_at = width - MARGIN - stringWidth("0000", _FOOTER_FONT, _FOOTER_SIZE)
        self.drawRightString(count_at, bottom, f"Page {self._pageNumber} of ")
        self.saveState()
        self.translate(count_at, bottom)
        self.doForm(_PAGE_COUNT)
        self.restoreState()
        self.restoreState()


def _document_id(digest: bytes) -> bytes:
    """The trailer's /ID, in the form reportlab writes it, from ``digest``."""
    text: bytes = PDFText(digest, enc="raw").format(DummyDoc())
    return b"\n[" + text + text + b"]\n% ReportLab generated PDF document -- digest (opensource)\n"


def _timestamp(moment: str) -> TimeStamp:
    """The document's creation date: ``moment`` (RFC 3339, UTC), never the clock."""
    stamp = TimeStamp(invariant=1)
    when = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    stamp.t = when.timestamp()
    stamp.YMDhms = (when.year, when.month, when.day, when.hour, when.minute, when.second)
    stamp.dhh = stamp.dmm = 0
    return stamp
