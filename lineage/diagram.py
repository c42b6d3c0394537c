"""The lineage diagram: a ``LineageView`` laid out left to right as one
reportlab ``Drawing``, which the PDF report embeds as it is and which
``write`` turns into SVG, PDF or PNG.

This module is the entry point and the file writer; the work is done in

* ``lineage.columns``: the view as drawn, each node's column, which nodes a
  crowded column folds into a "+ K more" box;
* ``lineage.layout``: the order within columns and where each box goes;
* ``lineage.routing``: the edges' paths and where their labels sit;
* ``lineage.labels``: what each box, edge and the caption say;
* ``lineage.shapes``: the drawing made from a layout, and its colours;
* ``lineage.png``: a Pillow painter for the drawing (reportlab's own PNG
  renderer needs cairo);
* ``lineage.geometry``: the sizes and fonts they share.

What the view holds (and as of when) is ``lineage.query``'s business; the
page around the drawing is ``reports/``'.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Final
from xml.sax.saxutils import escape

from reportlab.graphics import renderPDF, renderSVG  # type: ignore[import-untyped]
from reportlab.graphics.shapes import Drawing  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

from ledger.errors import ValidationError
from lineage.geometry import BOLD, FONT, MIN_BOX_WIDTH
from lineage.layout import MAX_PER_COLUMN, Box, Layout, layout
from lineage.png import PNG_PIXELS_PER_POINT, to_image
from lineage.query import LineageView
from lineage.routing import Route
from lineage.shapes import STYLES, render

__all__ = [
    "MAX_PER_COLUMN",
    "MIN_BOX_WIDTH",
    "PNG_PIXELS_PER_POINT",
    "STYLES",
    "SUFFIXES",
    "Box",
    "Layout",
    "Route",
    "drawing",
    "layout",
    "render",
    "to_image",
    "write",
]

SUFFIXES: Final = (".svg", ".png", ".pdf")
SVG_FONTS: Final = {
    FONT: {"family": "Helvetica, Arial, sans-serif"},
    BOLD: {"family": "Helvetica, Arial, sans-serif", "weight": "bold"},
}


def drawing(view: LineageView, *, width: float | None = None, max_per_column: int = MAX_PER_COLUMN) -> Drawing:
    """The lineage of ``view`` as a reportlab ``Drawing`` (a flowable the PDF
    report can add as it is); with ``width``, no wider than that."""
    return render(layout(view, width=width, max_per_column=max_per_column))


def write(view: LineageView, path: str | os.PathLike[str], *, max_per_column: int = MAX_PER_COLUMN) -> Path:
    """Write the diagram of ``view`` to ``path``, as SVG, PNG or PDF by its
    suffix; returns the path. The same view gives the same bytes in each format.
    A path that cannot be written is a ``ValidationError``, and leaves no file."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValidationError(
            f"cannot write a lineage diagram to {target}: unknown suffix {target.suffix or '(none)'!r}; "
            f"use one of {', '.join(SUFFIXES)}"
        )
    _save(target, _encode(layout(view, max_per_column=max_per_column), suffix))
    return target


def _encode(plan: Layout, suffix: str) -> bytes:
    """The file's bytes, made in memory so that nothing is written until they all are."""
    picture = render(plan)
    if suffix == ".svg":
        text: str = renderSVG.drawToString(picture, fontHacks=SVG_FONTS)
        text = text.replace("<title>...</title>", f"<title>{escape(plan.caption)}</title>", 1)
        return text.encode("utf-8")
    buffer = io.BytesIO()
    if suffix == ".pdf":
        page = Canvas(buffer, pagesize=(picture.width, picture.height), invariant=1)
        page.setTitle(plan.caption)
        renderPDF.draw(picture, page, 0, 0)
        page.showPage()
        page.save()
    else:
        dpi = 72 * PNG_PIXELS_PER_POINT
        to_image(picture).save(buffer, format="PNG", dpi=(dpi, dpi))
    return buffer.getvalue()


def _save(target: Path, data: bytes) -> None:
    existed = os.path.lexists(target)
    try:
        target.write_bytes(data)
    except OSError as e:
        if not existed:  # a file cut short (the disk filled up, say) is no diagram
            with contextlib.suppress(OSError):
                target.unlink()
        raise ValidationError(f"cannot write {target}: {e.strerror or e}") from e
