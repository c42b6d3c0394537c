"""The lineage diagram's measures: sizes in points, the fonts and font sizes
text is measured in, text cut to fit a width, and the flip from placement
coordinates (y down) to the drawing's (y up).

Shared by the layout, the router and the drawing; owns no decision about
where anything goes or what it looks like beyond these numbers.
"""

from __future__ import annotations

from typing import Final

from reportlab.pdfbase.pdfmetrics import stringWidth  # type: ignore[import-untyped]

__all__ = [
    "ACTOR_ROW_GAP",
    "ARROW",
    "BOLD",
    "BOX_GAP",
    "BOX_HEIGHT",
    "BOX_WIDTH",
    "COLUMN_GAP",
    "DETAIL_SIZE",
    "FONT",
    "HEADER",
    "HEADER_SIZE",
    "KIND_SIZE",
    "LABEL_SIZE",
    "LABEL_WIDTH",
    "MARGIN",
    "MIN_BOX_WIDTH",
    "MIN_WIDTH",
    "PAD",
    "TITLE_SIZE",
    "WAYPOINT_GAP",
    "Flip",
    "fit_text",
    "wrap",
]

BOX_WIDTH: Final = 150.0  # natural width; narrowed down to MIN_BOX_WIDTH to fit a page
MIN_BOX_WIDTH: Final = 96.0
BOX_HEIGHT: Final = 40.0
COLUMN_GAP: Final = 54.0  # room for an edge label on a straight stub and a curve
LABEL_WIDTH: Final = 33.0
BOX_GAP: Final = 12.0  # between two boxes of a column
WAYPOINT_GAP: Final = 6.0  # between an edge passing through a column and its neighbours
MARGIN: Final = 14.0
HEADER: Final = 26.0
ACTOR_ROW_GAP: Final = 30.0
MIN_WIDTH: Final = 330.0
PAD: Final = 7.0  # text inset in a box
ARROW: Final = 5.0

FONT: Final = "Helvetica"
BOLD: Final = "Helvetica-Bold"
KIND_SIZE, TITLE_SIZE, DETAIL_SIZE, LABEL_SIZE, HEADER_SIZE = 5.8, 8.5, 6.8, 6.0, 7.5


def wrap(text: str, font: str, size: float, width: float, most: int = 2) -> list[str]:
    """``text`` in at most ``most`` lines of ``width`` points, the last cut short if need be."""
    lines: list[str] = []
    words = text.split()
    while words and len(lines) < most - 1:
        line = words.pop(0)
        while words and stringWidth(f"{line} {words[0]}", font, size) <= width:
            line = f"{line} {words.pop(0)}"
        if stringWidth(line, font, size) > width:
            words.insert(0, line)
            break
        lines.append(line)
    if words:
        lines.append(fit_text(" ".join(words), font, size, width))
    return lines


def fit_text(text: str, font: str, size: float, width: float) -> str:
    """``text``, cut short with "…" to fit ``width`` points."""
    if stringWidth(text, font, size) <= width:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with the ellipsis
        mid = (low + high + 1) // 2
        if stringWidth(text[:mid].rstrip() + "…", font, size) <= width:
            low = mid
        else:
            high = mid - 1
    return text[:low].rstrip() + "…"


class Flip:
    """From placement coordinates (y down from the top) to the drawing's (y up)."""

    def __init__(self, height: float) -> None:
        self.height = height

    def y(self, y_down: float) -> float:
        return round(self.height - y_down, 2)

    def rect(self, top: float, height: float) -> float:
        return round(self.height - top - height, 2)
