"""The lineage diagram's look: a ``Layout`` turned into one reportlab
``Drawing`` (edges under labels under boxes, the caption on top), with the
colours of each node kind, stage and status.

The drawing is what the PDF report embeds and what ``lineage.diagram``
writes as SVG, PDF or PNG (through ``lineage.png``); where things go is
``lineage.layout``'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from reportlab.graphics.shapes import Drawing, Group, Line, Polygon, PolyLine, Rect, String  # type: ignore[import-untyped]
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfmetrics import stringWidth  # type: ignore[import-untyped]

from lineage.geometry import (
    ARROW,
    BOLD,
    DETAIL_SIZE,
    FONT,
    HEADER_SIZE,
    KIND_SIZE,
    LABEL_SIZE,
    MARGIN,
    PAD,
    TITLE_SIZE,
    fit_text,
)
from lineage.layout import Box, Layout
from lineage.routing import Route

__all__ = ["STYLES", "Style", "render"]

INK: Final = colors.HexColor("#111827")
MUTED: Final = colors.HexColor("#4B5563")
EDGE: Final = colors.HexColor("#9CA3AF")
EDGE_NEAR_ROOT: Final = colors.HexColor("#4B5563")
EDGE_FADED: Final = colors.HexColor("#D1D5DB")
RULE: Final = colors.HexColor("#E5E7EB")
WHITE: Final = colors.white


@dataclass(frozen=True, slots=True)
class Style:
    """A kind's colours: the border and kind label, the fill, the root's fill."""

    accent: Any
    fill: Any
    root_fill: Any


def _style(accent: str, fill: str, root_fill: str) -> Style:
    return Style(colors.HexColor(accent), colors.HexColor(fill), colors.HexColor(root_fill))


STYLES: Final = {
    "dataset": _style("#1D4ED8", "#EFF6FF", "#DBEAFE"),
    "commit": _style("#475569", "#F8FAFC", "#E2E8F0"),
    "redacted": _style("#B91C1C", "#FEF2F2", "#FEE2E2"),
    "run": _style("#6D28D9", "#F5F3FF", "#EDE9FE"),
    "artifact": _style("#0F766E", "#F0FDFA", "#CCFBF1"),
    "model": _style("#B45309", "#FFFBEB", "#FEF3C7"),
    "deployment": _style("#15803D", "#F0FDF4", "#DCFCE7"),
    "actor": _style("#374151", "#F9FAFB", "#F3F4F6"),
    "more": _style("#6B7280", "#F3F4F6", "#F3F4F6"),
}
OTHER_STYLE: Final = _style("#374151", "#F9FAFB", "#F3F4F6")
BADGE_COLOURS: Final = {
    "PRODUCTION": "#15803D",
    "STAGING": "#B45309",
    "ARCHIVED": "#6B7280",
    "FINISHED": "#15803D",
    "RUNNING": "#1D4ED8",
    "FAILED": "#B91C1C",
    "KILLED": "#B91C1C",
    "LIVE": "#15803D",
    "REPLACED": "#6B7280",
    "ROOT": "#111827",
}


def render(plan: Layout) -> Drawing:
    """The drawing of a layout: edges under labels under boxes."""
    content = Group()
    if plan.rule_y is not None:
        content.add(Line(MARGIN, plan.rule_y, plan.width - MARGIN, plan.rule_y, strokeColor=RULE, strokeWidth=0.6))
    for route in plan.routes:
        _draw_route(content, route)
    for route in plan.routes:
        if route.label_at is not None:
            _draw_label(content, route.label, route.label_at)
    for box in plan.boxes.values():
        _draw_box(content, box)
    _draw_caption(content, plan)
    scale = plan.scale
    content.transform = (scale, 0, 0, scale, 0, 0)
    result = Drawing(round(plan.width * scale, 2), round(plan.height * scale, 2))
    result.add(content)
    return result


def _draw_caption(group: Group, plan: Layout) -> None:
    """The subject in bold, then what the view holds."""
    subject, _, rest = plan.caption.partition(" · ")
    room = plan.width - 2 * MARGIN
    baseline = plan.height - MARGIN - TITLE_SIZE
    subject = fit_text(subject, BOLD, TITLE_SIZE, room)
    group.add(String(MARGIN, baseline, subject, fontName=BOLD, fontSize=TITLE_SIZE, fillColor=INK))
    x = MARGIN + stringWidth(subject + "   ", BOLD, TITLE_SIZE)
    if rest and room - x > 40:
        rest = fit_text(rest, FONT, HEADER_SIZE, plan.width - MARGIN - x)
        group.add(String(x, baseline, rest, fontName=FONT, fontSize=HEADER_SIZE, fillColor=MUTED))


def _draw_route(group: Group, route: Route) -> None:
    colour = EDGE_NEAR_ROOT if route.near_root else EDGE
    if route.faded:
        colour = EDGE_FADED
    width = 1.0 if route.near_root else 0.8
    flat = [value for point in route.points for value in point]
    group.add(PolyLine(flat, strokeColor=colour, strokeWidth=width, strokeLineJoin=1, strokeLineCap=1))
    x, y = route.points[-1]
    tip = (x + ARROW, y, x, y + ARROW * 0.55, x, y - ARROW * 0.55)
    group.add(Polygon(list(tip), fillColor=colour, strokeColor=None, strokeWidth=0))


def _draw_label(group: Group, lines: tuple[str, ...], at: tuple[float, float]) -> None:
    x, y = at
    width = max(stringWidth(line, FONT, LABEL_SIZE) for line in lines) + 4
    height = len(lines) * (LABEL_SIZE + 1) + 2
    backdrop = Rect(x - width / 2, y - height / 2, width, height, rx=2, ry=2, fillColor=WHITE, strokeColor=None)
    backdrop.strokeWidth = 0
    group.add(backdrop)
    for i, line in enumerate(lines):
        baseline = y + height / 2 - 1 - (i + 1) * (LABEL_SIZE + 1) + 1.6
        group.add(String(x, baseline, line, fontName=FONT, fontSize=LABEL_SIZE, fillColor=MUTED, textAnchor="middle"))


def _draw_box(group: Group, box: Box) -> None:
    style = STYLES.get(box.kind, OTHER_STYLE)
    x, y, w, h = box.x, box.y, box.width, box.height
    fill, stroke = (style.root_fill, 1.8) if box.root else (style.fill, 0.7)
    group.add(Rect(x, y, w, h, rx=4, ry=4, fillColor=fill, strokeColor=style.accent, strokeWidth=stroke))
    room = w - 2 * PAD
    top = y + h
    badge = fit_text(box.badge.upper(), BOLD, KIND_SIZE, room / 2) if box.badge else ""
    badge_width = stringWidth(badge, BOLD, KIND_SIZE) + 6 if badge else 0
    label = box.label
    if stringWidth(label, BOLD, KIND_SIZE) > room - badge_width:  # MODEL VERSION -> MODEL, NESTED RUN -> NESTED
        label = fit_text(label.split()[0], BOLD, KIND_SIZE, room - badge_width)
    group.add(String(x + PAD, top - 10.5, label, fontName=BOLD, fontSize=KIND_SIZE, fillColor=style.accent))
    if badge:
        tint = colors.HexColor(BADGE_COLOURS.get(badge, "#374151"))
        corner = String(x + w - PAD, top - 10.5, badge, fontName=BOLD, fontSize=KIND_SIZE, fillColor=tint)
        corner.textAnchor = "end"
        group.add(corner)
    title = fit_text(box.title, BOLD, TITLE_SIZE, room)
    group.add(String(x + PAD, top - 22, title, fontName=BOLD, fontSize=TITLE_SIZE, fillColor=INK))
    if box.detail:
        detail = fit_text(box.detail, FONT, DETAIL_SIZE, room)
        group.add(String(x + PAD, top - 32.5, detail, fontName=FONT, fontSize=DETAIL_SIZE, fillColor=MUTED))
