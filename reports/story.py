"""The body of the report PDF: its styles, tables and the fourteen sections as flowables.

Owns how each section of a ``ProvenanceReport`` is laid out with reportlab
platypus: tables whose cells wrap and whose header row repeats on every page
they span, "none recorded" in grey italics, long hashes shortened (the full
values are in the evidence) or wrapped, metric charts, the stage and alias
timeline and the lineage diagram. The pages around it (size, header, footer,
page numbers, the attachment, the document's metadata) are ``reports.pdf``'s.
Only the standard PDF fonts are used, so text outside their repertoire is
spelt in ASCII.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final
from xml.sax.saxutils import escape

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.enums import TA_LEFT  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfmetrics import stringWidth  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    CondPageBreak,
    Flowable,
    KeepTogether,
    PageBreak,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from lineage.diagram import drawing as lineage_drawing
from reports import charts
from reports.attachment import annotate
from reports.model import NONE_RECORDED, CitedEvent, ProvenanceReport
from reports.provenance import attachment_name
from reports.text import SECTIONS, code_text, delta, environment_rows, number, policy_text, short

__all__ = ["INK", "MUTED", "RULE", "Story", "ascii_text"]

BODY: Final = 8.6
CITED_IN_FULL: Final = 300  # cited events listed one per row; more are listed in runs
SMALL: Final = 7.4
_CELL_PADDING: Final = 9.0  # left and right padding of a table cell, and a point to spare
MONO: Final = "Courier"
INK, MUTED, RULE = charts.INK, charts.MUTED, charts.RULE
HEAD_FILL: Final = colors.HexColor("#e4e7eb")
ZEBRA: Final = colors.HexColor("#f5f7fa")
GOOD: Final = colors.HexColor("#276749")
GOOD_FILL: Final = colors.HexColor("#e6f4ea")
BAD: Final = colors.HexColor("#9b2c2c")
BAD_FILL: Final = colors.HexColor("#fdecea")
NOTE_FILL: Final = colors.HexColor("#f0f4f8")
# Text the standard fonts cannot show, spelt in what they can.
_ASCII: Final = str.maketrans(
    {"→": "->", "←": "<-", "≥": ">=", "≤": "<=", "✓": "ok", "└": "`", "├": "|", "─": "-", "│": "|"}
)


# -- text and tables ---------------------------------------------------------------------------


def ascii_text(text: str) -> str:
    """``text`` with what the standard fonts cannot show spelt in ASCII."""
    return text.translate(_ASCII)


def _esc(value: object) -> str:
    return escape(ascii_text(str(value)))


def _style(name: str, **overrides: Any) -> ParagraphStyle:
    base: dict[str, Any] = {
        "fontName": "Helvetica",
        "fontSize": BODY,
        "leading": BODY * 1.3,
        "textColor": INK,
        "alignment": TA_LEFT,
        "splitLongWords": 1,
    }
    base.update(overrides)
    return ParagraphStyle(name, **base)


STYLES: Final = {
    "body": _style("body", spaceAfter=4),
    "cell": _style("cell", fontSize=SMALL + 0.4, leading=(SMALL + 0.4) * 1.25),
    "none_cell": _style(
        "none_cell", fontName="Helvetica-Oblique", fontSize=SMALL + 0.4, leading=(SMALL + 0.4) * 1.25, textColor=MUTED
    ),
    "small": _style("small", fontSize=SMALL - 0.2, leading=(SMALL - 0.2) * 1.25),
    "cell_bold": _style("cell_bold", fontName="Helvetica-Bold", fontSize=SMALL + 0.4, leading=(SMALL + 0.4) * 1.25),
    "head": _style("head", fontName="Helvetica-Bold", fontSize=SMALL, leading=SMALL * 1.25, textColor=INK),
    "mono": _style("mono", fontName=MONO, fontSize=SMALL, leading=SMALL * 1.25),
    "note": _style("note", fontSize=SMALL, leading=SMALL * 1.35, textColor=MUTED, spaceBefore=2, spaceAfter=4),
    "h1": _style("h1", fontName="Helvetica-Bold", fontSize=13, leading=16, spaceBefore=10, spaceAfter=6),
    "h2": _style("h2", fontName="Helvetica-Bold", fontSize=9.5, leading=12, spaceBefore=8, spaceAfter=3),
    "kicker": _style("kicker", fontName="Helvetica-Bold", fontSize=8, leading=10, textColor=MUTED),
    "title": _style("title", fontName="Helvetica-Bold", fontSize=22, leading=27, spaceBefore=4, spaceAfter=4),
    "subtitle": _style("subtitle", fontSize=9.5, leading=13, textColor=MUTED, spaceAfter=10),
    "none": _style("none", fontName="Helvetica-Oblique", textColor=MUTED, spaceAfter=4),
    "warning": _style("warning", fontName="Helvetica-Bold", fontSize=BODY, leading=BODY * 1.3, textColor=BAD),
}


def para(text: object, style: str = "cell") -> Paragraph:
    """A table cell's text; "none recorded" in grey italics, so an empty fact stands out."""
    if style == "cell" and str(text).strip().lower() == NONE_RECORDED:
        style = "none_cell"
    return Paragraph(_esc(text), STYLES[style])


def mono(text: object) -> Paragraph:
    return Paragraph(_esc(text), STYLES["mono"])


def _none(what: str = NONE_RECORDED) -> Paragraph:
    return Paragraph(_esc(what[0].upper() + what[1:] + "."), STYLES["none"])


def table(
    header: Sequence[str] | None,
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    *,
    highlight: Iterable[int] = (),
    label_column: bool = False,
    style: str = "cell",
    mono_columns: Sequence[int] | None = None,
) -> Table:
    """A table whose cells wrap, whose header row repeats on every page it
    spans, zebra-striped; ``highlight`` rows (body index) shaded blue.

    With ``mono_columns`` (a long table of short values, such as 1,000
    params), a text cell that fits on one line is drawn as a plain string,
    in the monospaced font in those columns: a paragraph per cell would take
    most of a report's rendering time. Longer text still wraps."""
    data: list[list[Any]] = []
    if header:
        data.append([para(h, "head") for h in header])
    for row in rows:
        if mono_columns is None:
            data.append([cell if isinstance(cell, Flowable | list) else para(cell, style) for cell in row])
        else:
            data.append([_plain_cell(cell, widths[i], i in mono_columns, style) for i, cell in enumerate(row)])
    offset = 1 if header else 0
    commands: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 4),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
        ("TOPPADDING", (0, 0), (-1, -1), 2.2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.6),
        ("LINEBELOW", (0, -1), (-1, -1), 0.5, RULE),
    ]
    if header:
        commands += [("BACKGROUND", (0, 0), (-1, 0), HEAD_FILL), ("LINEBELOW", (0, 0), (-1, 0), 0.7, MUTED)]
    for index in range(len(rows)):
        if index % 2 == 1:
            commands.append(("BACKGROUND", (0, index + offset), (-1, index + offset), ZEBRA))
    for index in highlight:
        commands.append(("BACKGROUND", (0, index + offset), (-1, index + offset), colors.HexColor("#e3effa")))
    if label_column:
        commands.append(("BACKGROUND", (0, offset), (0, -1), colors.HexColor("#f0f2f5")))
    for column in range(len(widths)) if mono_columns is not None else ():
        font = STYLES["mono" if column in (mono_columns or ()) else style]
        commands += [
            ("FONT", (column, offset), (column, -1), font.fontName, font.fontSize, font.leading),
            ("TEXTCOLOR", (column, offset), (column, -1), font.textColor),
        ]
    result = Table(data, colWidths=list(widths), repeatRows=offset, hAlign="LEFT")
    result.setStyle(TableStyle(commands))
    return result


def _plain_cell(cell: Any, width: float, monospaced: bool, style: str) -> Any:
    """``cell`` as a plain string when it is text that fits on one line of ``width``, else as a paragraph."""
    if isinstance(cell, Flowable | list):
        return cell
    text = str(cell)
    font = STYLES["mono" if monospaced else style]
    fits = "\n" not in text and stringWidth(text, font.fontName, font.fontSize) <= width - _CELL_PADDING
    if fits and text.strip().lower() != NONE_RECORDED and text.isascii():
        return text
    return mono(text) if monospaced else para(text, style)


def facts(rows: Sequence[tuple[str, Any]], width: float, label: float = 38 * mm) -> Table:
    """A two-column table of labels and values."""
    body = [
        [para(name, "cell_bold"), value if isinstance(value, Flowable | list) else para(value)] for name, value in rows
    ]
    return table(None, body, [label, width - label], label_column=True)


class _Paperclip(Flowable):  # type: ignore[misc]
    """A paperclip (a ``/FileAttachment`` annotation that opens the attached
    evidence) followed by ``label``."""

    ICON: Final = 11.0

    def __init__(self, label: str, contents: str) -> None:
        super().__init__()
        self.label = label
        self.contents = contents
        self.width = self.ICON + 4 + stringWidth(label, "Helvetica-Bold", SMALL + 0.4)
        self.height = self.ICON + 3

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        canvas = self.canv
        canvas.saveState()
        canvas.setFillColor(colors.HexColor("#1d4e89"))
        canvas.setFont("Helvetica-Bold", SMALL + 0.4)
        canvas.drawString(self.ICON + 4, 3.5, ascii_text(self.label))
        canvas.restoreState()
        x0, y0 = canvas.absolutePosition(0, 1)
        x1, y1 = canvas.absolutePosition(self.ICON, 1 + self.ICON)
        annotate(canvas, canvas.evidence_spec, (x0, y0, x1, y1), self.contents)


class _Bookmark(Flowable):  # type: ignore[misc]
    """An outline entry (bookmark) for the place it stands, drawing nothing."""

    def __init__(self, title: str, key: str) -> None:
        super().__init__()
        self.title, self.key = ascii_text(title), key
        self.width = self.height = 0

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return 0, 0

    def draw(self) -> None:
        _, top = self.canv.absolutePosition(0, 0)
        self.canv.bookmarkPage(self.key, fit="XYZ", left=0, top=top + 6)
        self.canv.addOutlineEntry(self.title, self.key, level=0)


class _Heading(Paragraph):  # type: ignore[misc]
    """A section heading that is also an entry of the PDF's outline (bookmarks)."""

    def __init__(self, title: str, key: str) -> None:
        super().__init__(_esc(title), STYLES["h1"])
        self.title = ascii_text(title)
        self.key = key

    def draw(self) -> None:
        super().draw()
        _, top = self.canv.absolutePosition(0, self.height)
        self.canv.bookmarkPage(self.key, fit="XYZ", left=0, top=top + 6)
        self.canv.addOutlineEntry(self.title, self.key, level=0)


# -- the story -------------------------------------------------------------------------------


class Story:
    """The flowables of the report, section by section."""

    def __init__(self, report: ProvenanceReport, width: float, height: float) -> None:
        self.r = report
        self.width = width
        self.height = height
        self.flow: list[Any] = []

    def build(self) -> list[Any]:
        self._cover()
        sections = (
            self._identity,
            self._changes,
            self._data,
            self._run,
            self._params_metrics,
            self._artifacts,
            self._promotions,
            self._approvals,
            self._stages,
            self._deployments,
            self._redactions,
            self._lineage,
            self._how_to_verify,
        )
        self.lineage = _fit(lineage_drawing(self.r.lineage, width=self.width), self.width, self.height * 0.62)
        for index, section in enumerate(sections, 2):
            # Section 13 opens with the diagram: its heading goes where the diagram fits.
            self._heading(index, self.lineage.height + 30 * mm if section == self._lineage else 45 * mm)
            section()
        return self.flow

    def add(self, *items: Any) -> None:
        self.flow.extend(items)

    # Headings start a new page when less than ``need`` is left below them
    # (not keepWithNext: reportlab would move a long table whole to the next
    # page, leaving the rest of this one blank).

    def _heading(self, index: int, need: float) -> None:
        self.add(CondPageBreak(need), _Heading(f"{index}. {SECTIONS[index - 1]}", f"section-{index}"))

    def _sub(self, text: str, need: float = 30 * mm) -> None:
        self.add(CondPageBreak(need), Paragraph(_esc(text), STYLES["h2"]))

    def _note(self, text: str) -> None:
        self.add(Paragraph(_esc(text), STYLES["note"]))

    # -- 1. cover ---------------------------------------------------------------

    def _cover(self) -> None:
        r, c = self.r, self.r.cover
        cp, v = c.checkpoint, c.verification
        self.add(
            _Bookmark(f"1. {SECTIONS[0]}", "section-1"),
            Paragraph("PROVENANCE REPORT · MODEL VERSION", STYLES["kicker"]),
            Paragraph(f"{_esc(c.model)} — version {c.version}", STYLES["title"]),
            Paragraph(
                _esc(
                    f"Everything the ledger records about this model version, as of signed checkpoint {cp.size} "
                    f"(the state after event {c.as_of_seq}, {c.as_of_time}). Each statement rests on the "
                    f"{c.cited_events} events listed in section 13; the evidence bundle attached to this PDF "
                    "proves each of them against the checkpoint."
                ),
                STYLES["subtitle"],
            ),
        )
        qr_size = 34 * mm
        left = self.width - qr_size - 6 * mm
        status = para(v.summary, "cell_bold")
        status.style = _style(
            "status",
            fontName="Helvetica-Bold",
            fontSize=SMALL + 0.4,
            leading=(SMALL + 0.4) * 1.25,
            textColor=(GOOD if v.checked else INK) if v.ok else BAD,
        )
        evidence = [
            mono(c.evidence_digest),
            para(f"{c.cited_events} events, {c.evidence_bytes:,} bytes"),
            _Paperclip(
                f"attached: {attachment_name(c.model, c.version)}",
                f"Evidence bundle of {c.model} version {c.version} (SHA-256 {c.evidence_digest})",
            ),
        ]
        since = next((i.start_seq for i in r.intervals if i.lane == "stage" and i.end_seq is None), None)
        rows = [
            ("Model", f"{c.model} (owner {r.identity.owner or NONE_RECORDED})"),
            ("Version", f"{c.version} of {r.identity.latest_version}"),
            ("Stage", c.stage + ("" if since is None else f" (since event {since})")),
            ("Aliases", ", ".join(c.aliases) or NONE_RECORDED),
            ("State as of", f"event {c.as_of_seq} · {c.as_of_time}"),
            ("Ledger", c.ledger_id),
            ("Checkpoint", [para(f"{cp.size} events, signed {cp.time}"), mono(f"root {cp.root}")]),
            ("Signed by", [mono(cp.key_name), para(f"key id {cp.key_id}")]),
            ("Verification", status),
            ("Evidence", evidence),
        ]
        key_facts = facts(rows, left, 30 * mm)
        qr = Table(
            [
                [charts.qr_code(c.evidence_digest, qr_size)],
                [Paragraph("SHA-256 of the attached evidence bundle", STYLES["note"])],
            ],
            colWidths=[qr_size + 4],
        )
        qr.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("ALIGN", (0, 0), (-1, -1), "CENTER")]))
        layout = Table([[key_facts, qr]], colWidths=[left + 6 * mm, qr_size + 4])
        layout.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ]
            )
        )
        self.add(layout, Spacer(1, 6 * mm))
        if v.faults:
            self.add(Paragraph("Integrity faults found up to the checkpoint:", STYLES["warning"]))
            self.add(*[Paragraph(_esc(fault), STYLES["cell"]) for fault in v.faults[:20]])
        self._sub("At a glance")
        self.add(facts(self._glance(), self.width, 38 * mm))
        self._sub("Contents")
        contents = [[f"{i}.", name] for i, name in enumerate(SECTIONS[1:], 2)]
        half = (len(contents) + 1) // 2
        pairs = [
            a + (contents[half + k] if half + k < len(contents) else ["", ""]) for k, a in enumerate(contents[:half])
        ]
        toc = Table(
            [[para(cell) for cell in row] for row in pairs],
            colWidths=[8 * mm, self.width / 2 - 8 * mm, 8 * mm, self.width / 2 - 8 * mm],
            hAlign="LEFT",
        )
        toc.setStyle(
            TableStyle(
                [
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("TOPPADDING", (0, 0), (-1, -1), 1),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                ]
            )
        )
        self.add(toc)
        self._sub("About this report")
        for text in (
            f"Generated from the mlledger audit ledger {c.ledger_id}, an append-only, hash-chained record of every "
            "training run, data version, registration, approval and deployment. The report is a function of the "
            f"ledger up to checkpoint {cp.size}: made again from the same ledger and checkpoint it is the same "
            "file, byte for byte. Who generated it, and when, is recorded in the ledger rather than here.",
            "Every fact is read from the events listed in section 13, which are attached with proofs that they are "
            "in the signed ledger unchanged. Where the ledger holds nothing for an item, the report says "
            f"'{NONE_RECORDED}'. Section 14 says how to check the report independently.",
        ):
            self.add(Paragraph(_esc(text), STYLES["body"]))
        self.add(PageBreak())

    def _glance(self) -> list[tuple[str, Any]]:
        r = self.r
        run = r.run
        trained = [
            f"{i.name}@{i.version} ({i.context or 'no context'})" for i in r.data.inputs if i.redacted_by is None
        ]
        finals = ", ".join(f"{m.key} {number(m.final)}" for m in r.metrics) or NONE_RECORDED
        approvals = [
            f"{a.to_stage}: {a.status}"
            + (f" by {a.decided_by}" if a.decided_by else "")
            + (", signature valid" if a.signature_ok else ", SIGNATURE INVALID" if a.signature_ok is False else "")
            for a in r.approvals
        ]
        deployed = [f"{d.target} ({d.environment}), {'live' if d.live else 'replaced'}" for d in r.deployments]
        rows: list[tuple[str, Any]] = [
            ("Source run", f"{run.name or 'unnamed'} ({run.run_id[:12]}…), {run.status}, by {run.author}"),
            ("Data", "; ".join(trained) or NONE_RECORDED),
            ("Final metrics", finals),
            ("Approvals", "; ".join(approvals) or NONE_RECORDED),
            ("Deployments", "; ".join(deployed) or NONE_RECORDED),
            ("Redactions", f"{len(r.redactions)} erased payload(s), see section 12" if r.redactions else NONE_RECORDED),
        ]
        if r.data.warnings:
            rows.append(("Warnings", Paragraph(_esc("; ".join(r.data.warnings)), STYLES["warning"])))
        return rows

    # -- 2. identity -------------------------------------------------------------------

    def _identity(self) -> None:
        i = self.r.identity
        self.add(
            facts(
                [
                    ("Model", i.model),
                    ("Owner", i.owner or NONE_RECORDED),
                    ("Model description", i.model_description or NONE_RECORDED),
                    ("Version description", i.version_description or NONE_RECORDED),
                    ("Business objective", i.business_objective or NONE_RECORDED),
                    ("Risk tier", i.risk_tier or NONE_RECORDED),
                    ("Intended use", i.intended_use or NONE_RECORDED),
                    ("Model tags", _tags(i.model_tags)),
                    ("Version tags", _tags(i.version_tags)),
                    (
                        "Model registered",
                        f"by {i.model_registered_by} at {i.model_registered_time} (event {i.model_registered_seq})",
                    ),
                    ("Version registered", f"by {i.registered_by} at {i.registered_time} (event {i.registered_seq})"),
                    ("Source run", mono(i.run_id)),
                    ("Artifact path", i.artifact_path),
                    ("Artifact digest", mono(i.artifact_digest)),
                    ("Approval policy", policy_text(i.policy)),
                ],
                self.width,
            )
        )
        self._note(
            "Business objective, risk tier and intended use are read from the model's and the version's tags "
            "(business_objective, risk_tier, intended_use and similar names) when they were logged."
        )

    # -- 3. changes -------------------------------------------------------------------------

    def _changes(self) -> None:
        c = self.r.changes
        self.add(Paragraph(_esc(c.note), STYLES["body"]))
        if c.previous_version is None:
            return
        before, after = f"version {c.previous_version}", f"version {self.r.cover.version}"
        w = self.width
        self._sub("Parameters")
        if c.params:
            rows = [
                [
                    p.key,
                    mono(p.previous if p.previous is not None else "not logged"),
                    mono(p.current if p.current is not None else "not logged"),
                ]
                for p in c.params
            ]
            self.add(table(["parameter", before, after], rows, [0.3 * w, 0.35 * w, 0.35 * w]))
            self._note(f"{c.unchanged_params} other parameter(s) unchanged.")
        else:
            self.add(_none(f"no parameter changed ({c.unchanged_params} the same)"))
        self._sub("Data")
        if c.inputs:
            rows = [
                [
                    i.context,
                    _inputs_cell(i.previous),
                    _inputs_cell(i.current),
                    "same" if i.previous == i.current else "changed",
                ]
                for i in c.inputs
            ]
            self.add(table(["context", before, after, ""], rows, [0.14 * w, 0.38 * w, 0.38 * w, 0.1 * w]))
        else:
            self.add(_none("no data inputs recorded for either version"))
        self._sub("Code")
        self.add(Paragraph(_esc(code_text(c.code)), STYLES["body"]))
        self._sub("Metrics (final values)")
        if c.metrics:
            rows = [[m.key, number(m.previous), number(m.current), delta(m.delta)] for m in c.metrics]
            self.add(table(["metric", before, after, "change"], rows, [0.34 * w, 0.22 * w, 0.22 * w, 0.22 * w]))
        else:
            self.add(_none())

    # -- 4. data ---------------------------------------------------------------------------

    def _data(self) -> None:
        d, w = self.r.data, self.width
        for warning in d.warnings:
            box = Table([[Paragraph("WARNING: " + _esc(warning), STYLES["warning"])]], colWidths=[w])
            box.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), BAD_FILL), ("BOX", (0, 0), (-1, -1), 0.8, BAD)]))
            self.add(box, Spacer(1, 4))
        self._sub("Inputs of the source run")
        if d.inputs:
            rows: list[list[Any]] = []
            for item in d.inputs:
                if item.redacted_by is not None:
                    rows.append(
                        [f"[redacted] (event {item.seq})", "-", "-", f"erased by event {item.redacted_by}", "-"]
                    )
                    continue
                rows.append(
                    [
                        f"{item.name}@{item.version}",
                        item.context or "no context",
                        "-" if item.num_rows is None else f"{item.num_rows:,}",
                        mono(item.digest),
                        item.source or NONE_RECORDED,
                    ]
                )
            self.add(
                table(
                    ["data version", "context", "rows", "digest", "source"],
                    rows,
                    [0.22 * w, 0.1 * w, 0.08 * w, 0.36 * w, 0.24 * w],
                )
            )
        else:
            self.add(_none("no data inputs recorded: the run logged none"))
        if d.chains:
            self._sub("Derivation (each version, then what it was derived from)")
            lines = "<br/>".join(_esc(line).replace("  ", "&nbsp;&nbsp;") for chain in d.chains for line in chain)
            self.add(Paragraph(lines, STYLES["mono"]))
        self._sub("Data versions")
        if d.versions:
            rows = []
            for info in d.versions:
                if info.redacted_by is not None:
                    rows.append(
                        [
                            info.ref,
                            "[redacted]",
                            f"registration erased by event {info.redacted_by}",
                            "-",
                            f"event {info.seq}",
                        ]
                    )
                    continue
                schema = ", ".join(f"{col['name']}:{col['type']}" for col in info.columns or ()) or NONE_RECORDED
                detail = [
                    para(f"source: {info.source or NONE_RECORDED}"),
                    para(f"schema: {schema}"),
                    para(f"transform: {info.transform or NONE_RECORDED}"),
                    para("derived from: " + (", ".join(info.derived_from) or "nothing recorded")),
                ]
                rows.append(
                    [
                        info.ref,
                        mono(info.digest),
                        detail,
                        "-" if info.num_rows is None else f"{info.num_rows:,}",
                        f"{info.actor}, event {info.seq}",
                    ]
                )
            self.add(
                table(
                    ["data version", "digest", "provenance", "rows", "registered"],
                    rows,
                    [0.2 * w, 0.25 * w, 0.35 * w, 0.08 * w, 0.12 * w],
                    style="small",
                )
            )
        else:
            self.add(_none())

    # -- 5. the run ------------------------------------------------------------------------

    def _run(self) -> None:
        run, w = self.r.run, self.width
        parents = " <- ".join(f"{rid[:12]}… ({name or 'unnamed'})" for rid, name in run.parents) or "none"
        self.add(
            facts(
                [
                    ("Run", [mono(run.run_id), para(run.name or "unnamed")]),
                    ("Experiment", f"{run.experiment or NONE_RECORDED} ({run.experiment_id})"),
                    ("Status", run.status + (f": {run.error}" if run.error else "")),
                    ("Author", run.author),
                    ("Started", f"{run.start_time} (event {run.start_seq})"),
                    ("Ended", "not ended" if run.end_time is None else f"{run.end_time} (event {run.end_seq})"),
                    ("Parent runs", parents),
                    ("Tags", _tags(run.tags)),
                ],
                w,
            )
        )
        self._sub("Captured environment")
        self.add(facts([(k[0].upper() + k[1:], v) for k, v in environment_rows(run.environment)], w))
        self._sub("Hyperparameter search")
        s = self.r.search
        if s is None:
            self.add(_none("none: the run was not nested in a search run"))
            return
        this = next((t for t in s.trials if t.is_source), None)
        self.add(
            Paragraph(
                _esc(
                    f"The source run is one of {len(s.trials)} trials nested in search run {s.parent_run_id} "
                    f"({s.parent_name or 'unnamed'}, {s.parent_status})."
                    + ("" if this is None else " Its trial is shaded below.")
                ),
                STYLES["body"],
            )
        )
        self.add(
            facts(
                [
                    ("Search params", _tags(s.params)),
                    ("Search metrics", _figures(s.metrics)),
                    ("Search tags", _tags(s.tags, mark=self.r.run.run_id)),
                ],
                w,
            )
        )
        if s.trials:
            keys = list(s.metric_keys)
            key_width = (0.5 * w) / max(1, len(keys))
            rows = [
                [t.run_id[:12] + "…", t.name or "unnamed", t.status, *[number(t.metrics.get(k)) for k in keys]]
                for t in s.trials
            ]
            marked = [index for index, t in enumerate(s.trials) if t.is_source]
            self.add(
                Spacer(1, 4),
                table(
                    ["trial run", "name", "status", *keys],
                    rows,
                    [0.17 * w, 0.2 * w, 0.13 * w, *[key_width] * len(keys)],
                    highlight=marked,
                ),
            )

    # -- 6. params and metrics ----------------------------------------------------------------

    def _params_metrics(self) -> None:
        w = self.width
        self._sub(f"Parameters ({len(self.r.params):,})")
        params = list(self.r.params.items())
        if not params:
            self.add(_none())
        elif len(params) <= 16:
            self.add(table(["parameter", "value"], [[k, mono(v)] for k, v in params], [0.35 * w, 0.65 * w]))
        else:
            half = (len(params) + 1) // 2
            rows = [[*params[i], *(params[half + i] if half + i < len(params) else ("", ""))] for i in range(half)]
            widths = [0.22 * w, 0.28 * w, 0.22 * w, 0.28 * w]
            self.add(table(["parameter", "value", "parameter", "value"], rows, widths, mono_columns=(1, 3)))
        self._sub("Metrics")
        metrics = self.r.metrics
        if not metrics:
            self.add(_none())
            return
        rows = []
        for m in metrics:
            note = []
            if m.non_finite:
                note.append(f"{m.non_finite} non-finite")
            if m.redacted_by:
                note.append("points redacted by event " + ", ".join(map(str, m.redacted_by)))
            rows.append(
                [
                    m.key,
                    number(m.final),
                    "-" if m.final_step is None else str(m.final_step),
                    f"{m.points:,}",
                    number(m.minimum),
                    number(m.maximum),
                    "; ".join(note) or "-",
                ]
            )
        self.add(
            table(
                ["metric", "final", "at step", "points", "min", "max", "notes"],
                rows,
                [0.2 * w, 0.13 * w, 0.09 * w, 0.1 * w, 0.13 * w, 0.13 * w, 0.22 * w],
            )
        )
        self._note(
            "Charts show every point up to 1,000 per metric; longer histories keep the first and last point "
            "and each interval's lowest and highest, so no spike is lost. The dot marks the final value."
        )
        column = (w - 6 * mm) / 2
        pictures = [charts.metric_chart(m, column, 140) for m in metrics]
        grid = [
            pictures[i : i + 2] + ([""] if len(pictures[i : i + 2]) == 1 else []) for i in range(0, len(pictures), 2)
        ]
        layout = Table(grid, colWidths=[column + 3 * mm] * 2, hAlign="LEFT")
        layout.setStyle(
            TableStyle(
                [
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
                ]
            )
        )
        self.add(layout)

    # -- 7. artifacts ---------------------------------------------------------------------------

    def _artifacts(self) -> None:
        w = self.width
        artifacts = self.r.artifacts
        if not artifacts:
            self.add(_none())
            return
        rows, bad = [], []
        for index, a in enumerate(artifacts):
            state = {"matches": "matches", "missing": "MISSING", "modified": "MODIFIED"}.get(a.stored, a.stored)
            if a.stored != "matches":
                bad.append(index)
            rows.append([a.path, f"{a.size:,}", mono(a.sha256), "yes" if a.pinned else "no", state])
        result = table(
            ["path", "bytes", "SHA-256", "pinned", "stored file"],
            rows,
            [0.27 * w, 0.1 * w, 0.41 * w, 0.08 * w, 0.14 * w],
        )
        for index in bad:
            result.setStyle(
                TableStyle(
                    [
                        ("TEXTCOLOR", (4, index + 1), (4, index + 1), BAD),
                        ("BACKGROUND", (4, index + 1), (4, index + 1), BAD_FILL),
                    ]
                )
            )
        self.add(result)
        self._note(
            f"Pinned artifacts (at or under {self.r.identity.artifact_path!r}) make up the version's artifact digest "
            f"{self.r.identity.artifact_digest}. 'Stored file' is the artifact store re-hashed when this report was "
            "made."
        )

    # -- 8. promotions --------------------------------------------------------------------------

    def _promotions(self) -> None:
        w = self.width
        if not self.r.promotions:
            self.add(_none("no promote_if_better comparison involved this version"))
            return
        rows = []
        for p in self.r.promotions:
            champion = "no champion" if p.champion is None else f"v{p.champion}: {number(p.champion_value)}"
            rule = f"{p.metric}, {p.mode}, min_delta {p.min_delta:g}, to {p.to_stage}"
            outcome = f"candidate {p.outcome}"
            rows.append(
                [
                    f"{p.seq}",
                    p.time[:19].replace("T", " "),
                    p.actor,
                    p.role,
                    f"v{p.candidate}: {number(p.candidate_value)}",
                    champion,
                    rule,
                    outcome,
                ]
            )
        self.add(
            table(
                ["event", "time (UTC)", "by", "this version", "candidate", "champion", "rule", "outcome"],
                rows,
                [0.06 * w, 0.17 * w, 0.07 * w, 0.1 * w, 0.13 * w, 0.13 * w, 0.21 * w, 0.13 * w],
            )
        )

    # -- 9. approvals -----------------------------------------------------------------------------

    def _approvals(self) -> None:
        w = self.width
        if not self.r.approvals:
            self.add(_none("no transition was requested for this version"))
            return
        for a in self.r.approvals:
            signature = para(a.signature)
            if a.signature_ok is not None:
                signature.style = _style(
                    "sig",
                    fontName="Helvetica-Bold",
                    fontSize=SMALL + 0.4,
                    leading=(SMALL + 0.4) * 1.25,
                    textColor=GOOD if a.signature_ok else BAD,
                )
            rows: list[tuple[str, Any]] = [
                ("Request", [mono(a.request_id), para(f"to {a.to_stage}: {a.status}")]),
                (
                    "Requested",
                    f"by {a.requester} (roles: {', '.join(a.requester_roles) or 'none'}) at "
                    f"{a.requested_time}, event {a.requested_seq}",
                ),
                ("Reason", a.reason or NONE_RECORDED),
            ]
            if a.decided_by is not None:
                rows += [
                    (
                        "Decided",
                        f"{a.status} by {a.decided_by} (roles: {', '.join(a.decider_roles) or 'none'}) at "
                        f"{a.decided_time}, event {a.decided_seq}",
                    ),
                    ("Comment", a.comment or NONE_RECORDED),
                    ("Signature", signature),
                ]
            rows.append(("Carried out", "not carried out" if a.executed_seq is None else f"event {a.executed_seq}"))
            self.add(KeepTogether([facts(rows, w), Spacer(1, 5)]))
        self._note(
            "Roles are those held just before each event. A signed approval is an Ed25519 signature over the hash "
            "of the request event, re-checked here with the approver's registered key (both events are cited)."
        )

    # -- 10. stages and aliases ------------------------------------------------------------------

    def _stages(self) -> None:
        w = self.width
        picture = charts.stage_timeline(
            self.r.intervals, self.r.stage_events, self.r.cover.as_of_seq, self.r.cover.as_of_time, w
        )
        if picture is not None:
            self.add(picture, Spacer(1, 4))
            legend = " · ".join(f"{stage}" for stage in charts.STAGE_COLOURS)
            self._note(
                f"Bars run from the event that began each stage or alias to the one that ended it (or to the "
                f"report's moment). Stages: {legend}; aliases in blue."
            )
        if not self.r.stage_events:
            self.add(_none())
            return
        rows = [
            [f"{e.seq}", e.time[:19].replace("T", " "), e.actor, e.summary, e.reason or "-"]
            for e in self.r.stage_events
        ]
        self.add(
            table(
                ["event", "time (UTC)", "by", "what changed", "reason"],
                rows,
                [0.07 * w, 0.18 * w, 0.08 * w, 0.41 * w, 0.26 * w],
            )
        )

    # -- 11. deployments ---------------------------------------------------------------------------

    def _deployments(self) -> None:
        w = self.width
        if self.r.deployments:
            rows = [
                [
                    f"{d.seq}",
                    d.time[:19].replace("T", " "),
                    d.actor,
                    d.target,
                    d.environment,
                    "live" if d.live else f"replaced at event {d.replaced_seq}",
                ]
                for d in self.r.deployments
            ]
            self.add(
                table(
                    ["event", "time (UTC)", "by", "target", "environment", "status"],
                    rows,
                    [0.08 * w, 0.18 * w, 0.1 * w, 0.24 * w, 0.15 * w, 0.25 * w],
                )
            )
        else:
            self.add(_none("no deployment recorded"))
        self._sub("Downstream impact (what depends on this version)")
        if self.r.downstream:
            self.add(*[Paragraph(_esc(line), STYLES["cell"]) for line in self.r.downstream])
        else:
            self.add(_none("nothing in the lineage graph depends on this version"))

    # -- 12. redactions ---------------------------------------------------------------------------

    def _redactions(self) -> None:
        w = self.width
        if not self.r.redactions:
            self.add(_none("no payload about this version was erased"))
            return
        rows = [
            [
                f"{x.target_seq}",
                x.target_type,
                x.subject,
                f"{x.seq}",
                x.time[:19].replace("T", " "),
                x.actor,
                x.reason,
                x.legal_basis,
            ]
            for x in self.r.redactions
        ]
        self.add(
            table(
                ["event", "type", "what", "erased by", "when (UTC)", "by", "reason", "legal basis"],
                rows,
                [0.06 * w, 0.17 * w, 0.2 * w, 0.07 * w, 0.15 * w, 0.07 * w, 0.14 * w, 0.14 * w],
                style="small",
            )
        )
        self._note(
            "The erased payloads' digests stay in the events' headers, so the chain and every proof still "
            "hold; the values read [redacted] throughout this report."
        )

    # -- 13. lineage and cited events ------------------------------------------------------------------

    def _lineage(self) -> None:
        w = self.width
        self._sub("Lineage diagram", need=self.lineage.height + 12 * mm)
        self.add(self.lineage)
        self._sub(f"Cited events ({len(self.r.cited):,})")
        grouped = len(self.r.cited) > CITED_IN_FULL
        rows = [_cited_row(run) for run in _runs(self.r.cited, grouped)]
        self.add(
            table(
                ["seq", "time (UTC)", "type", "actor", "hash", "why it is cited"],
                rows,
                [0.07 * w, 0.17 * w, 0.21 * w, 0.08 * w, 0.14 * w, 0.33 * w],
                style="small",
            )
        )
        self._note(
            "Hashes are shortened here; the attached evidence bundle holds every event in full, with one "
            "multiproof that they are all in the signed tree."
            + (
                f" With more than {CITED_IN_FULL} events, consecutive events of one type, actor and reason are "
                "listed as one row (first and last seq, time and hash)."
                if grouped
                else ""
            )
        )

    # -- 14. how to verify -----------------------------------------------------------------------------

    def _how_to_verify(self) -> None:
        w, c = self.width, self.r.cover
        self.add(
            Paragraph(
                _esc(
                    "This PDF carries its evidence: the attached zip holds every cited event as the ledger exports "
                    "it, and one multiproof (built from RFC 9162 tree hashes; its algorithm is in the bundle's "
                    "README.md) that they are all in the tree of the signed checkpoint below. Checking it "
                    "needs the ledger's verifier key, obtained from the ledger's operator by another channel than "
                    "this document."
                ),
                STYLES["body"],
            )
        )
        rows = [[mono(step.command), para(step.checks)] for step in self.r.verify_steps]
        self.add(table(["command", "what it checks"], rows, [0.45 * w, 0.55 * w]))
        self._sub("Verifier key (for comparison with the one you hold)")
        self.add(mono(c.verifier_key))
        self._sub("Checkpoint note (save as checkpoint.note)")
        note = "<br/>".join(_esc(line) for line in c.checkpoint.note.splitlines())
        box = Table([[Paragraph(note, STYLES["mono"])]], colWidths=[w])
        box.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), NOTE_FILL), ("BOX", (0, 0), (-1, -1), 0.5, RULE)]))
        self.add(box)
        self._note(
            "What the evidence proves: each cited event is in the ledger's signed tree unchanged. What it cannot "
            "prove offline: that no event was left out, and that the text of this PDF is the text the ledger "
            "produced; regenerate the report from the ledger (same checkpoint, same bytes) or compare this PDF's "
            "SHA-256 with the ledger's record of generated reports."
        )


def _runs(cited: Sequence[CitedEvent], grouped: bool) -> list[list[CitedEvent]]:
    """The cited events one by one, or (``grouped``) in runs of consecutive
    events with the same type, actor, reason and redaction."""
    runs: list[list[CitedEvent]] = []
    for event in cited:
        last = runs[-1][-1] if runs else None
        same = last is not None and (last.type, last.actor, last.reason, last.redacted) == (
            event.type,
            event.actor,
            event.reason,
            event.redacted,
        )
        if grouped and same:
            runs[-1].append(event)
        else:
            runs.append([event])
    return runs


def _cited_row(run: Sequence[CitedEvent]) -> list[Any]:
    first, last = run[0], run[-1]
    kind = first.type + (" [payload redacted]" if first.redacted else "")
    if len(run) == 1:
        return [f"{first.seq}", _time(first.time), kind, first.actor, mono(short(first.hash, 12)), first.reason]
    return [
        f"{first.seq}–{last.seq}",
        f"{_time(first.time)} – {_time(last.time)}",
        f"{kind} × {len(run):,}",
        first.actor,
        [mono(short(first.hash, 12)), mono(short(last.hash, 12))],
        first.reason,
    ]


def _time(moment: str) -> str:
    return moment[:19].replace("T", " ")


def _tags(tags: dict[str, str], mark: str | None = None) -> str:
    if not tags:
        return NONE_RECORDED
    return ", ".join(f"{k}={v}" + (" (the source run)" if mark and v == mark else "") for k, v in tags.items())


def _figures(values: dict[str, float | None]) -> str:
    return ", ".join(f"{k} {number(v)}" for k, v in values.items()) or NONE_RECORDED


def _inputs_cell(items: Sequence[str]) -> Any:
    if not items:
        return para("none")
    return [mono(_hash_words(item)) for item in items]


def _hash_words(text: str) -> str:
    return " ".join(short(word, 16) if word.startswith("sha256:") else word for word in text.split(" "))


def _fit(picture: Any, width: float, height: float) -> Any:
    """``picture`` scaled down to fit ``width`` x ``height`` (never up)."""
    scale = min(1.0, width / picture.width, height / picture.height)
    if scale >= 1.0:
        return picture
    picture.scale(scale, scale)
    picture.width, picture.height = picture.width * scale, picture.height * scale
    return picture
