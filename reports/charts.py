"""The report's pictures, as reportlab drawings: metric histories, the stage
and alias timeline, and the QR code of the evidence digest.

Owns how each picture is laid out and coloured. Each function takes values
from a ``ProvenanceReport`` and returns a ``Drawing`` (a flowable the PDF
places as it is); nothing here reads the ledger or knows the page. The
lineage diagram is ``lineage.diagram``'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

from reportlab.graphics.barcode.qr import QrCodeWidget  # type: ignore[import-untyped]
from reportlab.graphics.shapes import Circle, Drawing, Line, PolyLine, Rect, String  # type: ignore[import-untyped]
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfmetrics import stringWidth  # type: ignore[import-untyped]

from reports.model import Interval, MetricSeries, StageEvent

__all__ = ["INK", "MUTED", "RULE", "STAGE_COLOURS", "metric_chart", "qr_code", "stage_timeline"]

FONT: Final = "Helvetica"
BOLD: Final = "Helvetica-Bold"
INK: Final = colors.HexColor("#1f2933")
MUTED: Final = colors.HexColor("#616e7c")
RULE: Final = colors.HexColor("#cbd2d9")
LINE: Final = colors.HexColor("#1d4e89")
ACCENT: Final = colors.HexColor("#c05621")
STAGE_COLOURS: Final = {
    "None": colors.HexColor("#9aa5b1"),
    "Staging": colors.HexColor("#d69e2e"),
    "Production": colors.HexColor("#2f855a"),
    "Archived": colors.HexColor("#52606d"),
}
ALIAS_COLOUR: Final = colors.HexColor("#2b6cb0")


# -- numbers on axes ------------------------------------------------------------------


def nice_ticks(low: float, high: float, count: int = 5, *, whole: bool = False) -> list[float]:
    """About ``count`` round values spanning [low, high] (``whole``: whole numbers only)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        pad = abs(low) * 0.05 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(1.0, math.ceil(step))
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 0.5:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _tick_label(value: float) -> str:
    if value == 0:
        return "0"
    if value == int(value) and abs(value) < 1e9:
        return f"{int(value):,}"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.2g}"
    return f"{value:.4g}"


# -- a metric's history ----------------------------------------------------------------


def metric_chart(series: MetricSeries, width: float, height: float = 150.0) -> Drawing:
    """The history of one metric: its (downsampled) points against the step,
    the final value marked and labelled."""
    picture = Drawing(width, height)
    picture.add(String(0, height - 11, series.key, fontName=BOLD, fontSize=9, fillColor=INK))
    final = "—" if series.final is None else f"final {series.final:.6g} at step {series.final_step}"
    subtitle = f"{final} · {series.points:,} point{'' if series.points == 1 else 's'}" + (
        f" (drawn: {len(series.drawn):,})" if len(series.drawn) < series.points else ""
    )
    picture.add(String(0, height - 22, subtitle, fontName=FONT, fontSize=7, fillColor=MUTED))
    left, bottom, top = 38.0, 22.0, height - 30.0
    right = width - 8.0
    points = series.drawn
    if not points:
        picture.add(Rect(left, bottom, right - left, top - bottom, fillColor=None, strokeColor=RULE, strokeWidth=0.5))
        note = "no finite points to draw" if series.points else "every point redacted"
        picture.add(
            String(
                (left + right) / 2,
                (bottom + top) / 2,
                note,
                fontName=FONT,
                fontSize=8,
                fillColor=MUTED,
                textAnchor="middle",
            )
        )
        return picture
    xs, ys = [x for x, _ in points], [y for _, y in points]
    y_ticks = nice_ticks(min(ys), max(ys), 5)
    x_ticks = nice_ticks(min(xs), max(xs), 6, whole=all(x == int(x) for x in xs))
    y_low, y_high = y_ticks[0], y_ticks[-1]  # the ticks span the values
    x_low, x_high = min(xs), max(xs)
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1

    def sx(x: float) -> float:
        return left + (x - x_low) / (x_high - x_low) * (right - left)

    def sy(y: float) -> float:
        return bottom + (y - y_low) / ((y_high - y_low) or 1.0) * (top - bottom)

    for tick in y_ticks:
        if y_low <= tick <= y_high:
            y = sy(tick)
            picture.add(Line(left, y, right, y, strokeColor=RULE, strokeWidth=0.4))
            picture.add(
                String(
                    left - 3, y - 2.5, _tick_label(tick), fontName=FONT, fontSize=6.5, fillColor=MUTED, textAnchor="end"
                )
            )
    for tick in x_ticks:
        if x_low <= tick <= x_high:
            x = sx(tick)
            picture.add(Line(x, bottom, x, bottom - 3, strokeColor=MUTED, strokeWidth=0.5))
            picture.add(
                String(
                    x, bottom - 11, _tick_label(tick), fontName=FONT, fontSize=6.5, fillColor=MUTED, textAnchor="middle"
                )
            )
    picture.add(Line(left, bottom, right, bottom, strokeColor=MUTED, strokeWidth=0.6))
    picture.add(String(right, bottom - 20, "step", fontName=FONT, fontSize=6.5, fillColor=MUTED, textAnchor="end"))
    flat = [coordinate for x, y in points for coordinate in (round(sx(x), 2), round(sy(y), 2))]
    if len(points) == 1:
        picture.add(Circle(flat[0], flat[1], 1.8, fillColor=LINE, strokeColor=None))
    else:
        picture.add(PolyLine(flat, strokeColor=LINE, strokeWidth=0.9))
    last_x, last_y = sx(xs[-1]), sy(ys[-1])
    picture.add(Circle(last_x, last_y, 2.2, fillColor=ACCENT, strokeColor=None))
    return picture


# -- the stage and alias timeline -------------------------------------------------------------


def stage_timeline(
    intervals: Sequence[Interval], events: Sequence[StageEvent], until: int, until_time: str, width: float
) -> Drawing | None:
    """The stages this version held and the aliases that pointed at it, one
    lane each, up to seq ``until`` (the report's moment); None when there is
    nothing to draw. The axis is the ledger's order of the events that
    changed something, evenly spaced (seqs and times are far from even)."""
    if not intervals:
        return None
    lanes = list(dict.fromkeys(i.lane for i in intervals))
    lane_height, gap, label_width = 16.0, 7.0, 78.0
    axis = 34.0
    height = axis + len(lanes) * (lane_height + gap) + 8.0
    picture = Drawing(width, height)
    times = {e.seq: e.time for e in events} | {i.start_seq: i.start_time for i in intervals} | {until: until_time}
    marks = sorted({i.start_seq for i in intervals} | {i.end_seq for i in intervals if i.end_seq is not None} | {until})
    left, right = label_width, width - 24.0
    step = (right - left) / max(1, len(marks) - 1)
    position = {seq: left + index * step for index, seq in enumerate(marks)}
    for index, lane in enumerate(lanes):
        y = height - 4.0 - (index + 1) * (lane_height + gap) + gap
        name = "stage" if lane == "stage" else lane.replace("alias ", "alias: ")
        picture.add(String(0, y + 4.5, name, fontName=BOLD, fontSize=7.5, fillColor=INK))
        picture.add(Line(left, y + lane_height / 2, right, y + lane_height / 2, strokeColor=RULE, strokeWidth=0.4))
        for interval in (i for i in intervals if i.lane == lane):
            end = until if interval.end_seq is None else interval.end_seq
            _bar(picture, interval, position[interval.start_seq], position[end], y, lane_height, lane)
    base = axis - 6
    picture.add(Line(left, base, right, base, strokeColor=MUTED, strokeWidth=0.6))
    for seq in marks:
        x = position[seq]
        picture.add(Line(x, base, x, base + 4, strokeColor=MUTED, strokeWidth=0.6))
        label = f"event {seq}" + (" (as of)" if seq == until else "")
        anchor = "end" if seq == marks[-1] and len(marks) > 1 else "middle"
        x_text = x + 4 if anchor == "end" else x
        picture.add(String(x_text, base - 9, label, fontName=FONT, fontSize=6.5, fillColor=INK, textAnchor=anchor))
        when = times.get(seq, "")[:19].replace("T", " ")
        picture.add(String(x_text, base - 17, when, fontName=FONT, fontSize=5.8, fillColor=MUTED, textAnchor=anchor))
    return picture


def _bar(picture: Drawing, interval: Interval, x0: float, x1: float, y: float, height: float, lane: str) -> None:
    colour = ALIAS_COLOUR if lane != "stage" else STAGE_COLOURS.get(interval.label, MUTED)
    width = max(3.0, x1 - x0)
    picture.add(Rect(x0, y, width, height, fillColor=colour, strokeColor=colors.white, strokeWidth=0.8))
    label = interval.label + (" (still)" if interval.end_seq is None else "")
    if stringWidth(label, BOLD, 7) + 6 > width:
        label = interval.label
    if stringWidth(label, BOLD, 7) + 6 <= width:
        picture.add(String(x0 + 3, y + 4.5, label, fontName=BOLD, fontSize=7, fillColor=colors.white))


# -- the QR code ---------------------------------------------------------------------------


def qr_code(text: str, size: float) -> Any:
    """A ``size`` x ``size`` QR code of ``text`` (error correction M)."""
    widget = QrCodeWidget(text, barLevel="M", barBorder=2)
    picture = Drawing(size, size)
    widget.barWidth = size
    widget.barHeight = size
    picture.add(widget)
    return picture
