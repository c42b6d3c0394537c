"""A Pillow painter for the reportlab shapes the lineage diagram uses: PNG
without cairo, which reportlab's own PNG renderer needs.

Paints Groups with translate/scale transforms, Rect, Line, PolyLine,
Polygon and String, supersampled and averaged down for smooth lines; text
is set in reportlab's Vera, squeezed to Helvetica's widths so that it sits
where the layout put it. What to paint is ``lineage.shapes``' business,
writing the file ``lineage.diagram``'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import reportlab  # type: ignore[import-untyped]
from PIL import Image, ImageDraw, ImageFont
from reportlab.graphics.shapes import Drawing, Group, Line, Polygon, PolyLine, Rect, String  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfmetrics import stringWidth  # type: ignore[import-untyped]

from lineage.geometry import BOLD, FONT

__all__ = ["PNG_PIXELS_PER_POINT", "to_image"]

PNG_PIXELS_PER_POINT: Final = 2  # 144 dpi
SUPERSAMPLE: Final = 3  # paint 3x larger, then average down: smooth lines and edges
FONT_FILES: Final = {FONT: "Vera.ttf", BOLD: "VeraBd.ttf"}  # shipped with reportlab
Matrix = tuple[float, float, float, float, float, float]


def to_image(picture: Drawing, pixels_per_point: int = PNG_PIXELS_PER_POINT) -> Image.Image:
    """Paint ``picture`` (Groups with translate/scale transforms, Rect, Line,
    PolyLine, Polygon, String) with Pillow. Text uses reportlab's Vera,
    squeezed to Helvetica's widths so that it sits where the layout put it."""
    width = math.ceil(picture.width * pixels_per_point)
    height = math.ceil(picture.height * pixels_per_point)
    k = pixels_per_point * SUPERSAMPLE
    image = Image.new("RGB", (width * SUPERSAMPLE, height * SUPERSAMPLE), (255, 255, 255))
    painter = _Painter(image)
    painter.paint(picture, (k, 0.0, 0.0, -k, 0.0, float(height * SUPERSAMPLE)))
    return image.reduce(SUPERSAMPLE)


class _Painter:
    def __init__(self, image: Image.Image) -> None:
        self.image = image
        self.draw = ImageDraw.Draw(image)
        self.fonts: dict[tuple[str, int], ImageFont.FreeTypeFont] = {}

    def paint(self, shape: Any, matrix: Matrix) -> None:
        if isinstance(shape, Group):  # a Drawing is a Group too
            if shape.transform[1] or shape.transform[2]:
                raise TypeError("the PNG painter draws translated and scaled groups, not rotated or skewed ones")
            inner = _compose(matrix, tuple(shape.transform))
            for child in shape.contents:
                self.paint(child, inner)
        elif isinstance(shape, Rect):
            self._rect(shape, matrix)
        elif isinstance(shape, Line):
            points = [_apply(matrix, shape.x1, shape.y1), _apply(matrix, shape.x2, shape.y2)]
            self._lines(points, shape.strokeColor, shape.strokeWidth, matrix)
        elif isinstance(shape, Polygon):
            points = _pairs(shape.points, matrix)
            self.draw.polygon(points, fill=_rgb(shape.fillColor), outline=None)
        elif isinstance(shape, PolyLine):
            self._lines(_pairs(shape.points, matrix), shape.strokeColor, shape.strokeWidth, matrix)
        elif isinstance(shape, String):
            self._string(shape, matrix)
        else:
            raise TypeError(f"the PNG painter cannot draw a {type(shape).__name__}")

    def _rect(self, rect: Any, matrix: Matrix) -> None:
        (x0, y0), (x1, y1) = _apply(matrix, rect.x, rect.y), _apply(matrix, rect.x + rect.width, rect.y + rect.height)
        stroke = _rgb(rect.strokeColor) if rect.strokeWidth else None
        half = rect.strokeWidth * abs(matrix[0]) / 2 if stroke else 0.0
        box = [min(x0, x1) - half, min(y0, y1) - half, max(x0, x1) + half, max(y0, y1) + half]
        width = max(1, round(rect.strokeWidth * abs(matrix[0]))) if stroke else 0
        radius = rect.rx * abs(matrix[0]) + half
        self.draw.rounded_rectangle(box, radius=radius, fill=_rgb(rect.fillColor), outline=stroke, width=width)

    def _lines(self, points: list[tuple[float, float]], colour: Any, width: float, matrix: Matrix) -> None:
        if colour is None or not width:
            return
        pixels = max(1, round(width * abs(matrix[0])))
        self.draw.line(points, fill=_rgb(colour), width=pixels, joint="curve")

    def _string(self, shape: Any, matrix: Matrix) -> None:
        if not shape.text:
            return
        scale = abs(matrix[0])
        font = self._font(shape.fontName, round(shape.fontSize * scale))
        target = stringWidth(shape.text, shape.fontName, shape.fontSize) * scale
        x, baseline = _apply(matrix, shape.x, shape.y)
        x -= {"middle": target / 2, "end": target}.get(shape.textAnchor, 0.0)
        left, top, right, bottom = font.getbbox(shape.text, anchor="ls")
        natural = font.getlength(shape.text)
        squeeze = target / natural if natural else 1.0
        mask = Image.new("L", (math.ceil(right - left) + 2, math.ceil(bottom - top) + 2), 0)
        ImageDraw.Draw(mask).text((1 - left, 1 - top), shape.text, font=font, fill=255, anchor="ls")
        mask = mask.resize((max(1, round(mask.width * squeeze)), mask.height), Image.Resampling.LANCZOS)
        corner = (round(x + (left - 1) * squeeze), round(baseline + top - 1))
        box = (*corner, corner[0] + mask.width, corner[1] + mask.height)
        self.image.paste(_rgb(shape.fillColor) or (0, 0, 0), box, mask)

    def _font(self, name: str, size: int) -> ImageFont.FreeTypeFont:
        key = (FONT_FILES.get(name, FONT_FILES[BOLD if "Bold" in name else FONT]), size)
        if key not in self.fonts:
            path = Path(reportlab.__file__).parent / "fonts" / key[0]
            self.fonts[key] = ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)
        return self.fonts[key]


def _compose(outer: Matrix, inner: Sequence[float]) -> Matrix:
    a, b, c, d, e, f = outer
    p, q, r, s, t, u = inner
    return (a * p + c * q, b * p + d * q, a * r + c * s, b * r + d * s, a * t + c * u + e, b * t + d * u + f)


def _apply(matrix: Matrix, x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = matrix
    return (a * x + c * y + e, b * x + d * y + f)


def _pairs(flat: Sequence[float], matrix: Matrix) -> list[tuple[float, float]]:
    return [_apply(matrix, flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def _rgb(colour: Any) -> tuple[int, int, int] | None:
    if colour is None:
        return None
    return (round(colour.red * 255), round(colour.green * 255), round(colour.blue * 255))
