"""Metric histories made small enough to draw: min/max buckets.

Owns ``downsample``: at most ``MAX_POINTS`` points of a series, keeping the
first and last points and, from each of up to ``MAX_POINTS // 2`` buckets of
consecutive points, the lowest and the highest (in their logged order), so
every spike and dip of 100,000 points still shows in a chart a few hundred
points wide. Non-finite values cannot be drawn and are left out (the report
counts them). Pure: numbers in, numbers out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

__all__ = ["MAX_POINTS", "downsample"]

MAX_POINTS: Final = 1000


def downsample(points: Sequence[tuple[float, float]], limit: int = MAX_POINTS) -> list[tuple[float, float]]:
    """At most ``limit`` (>= 4) of the finite ``(x, y)`` points, in order:
    all of them when they fit, else the first, the last and each bucket's
    minimum and maximum."""
    finite = [(x, y) for x, y in points if math.isfinite(y) and math.isfinite(x)]
    if len(finite) <= limit:
        return finite
    inner = finite[1:-1]
    buckets = (limit - 2) // 2
    size = len(inner) / buckets
    kept: list[tuple[float, float]] = [finite[0]]
    for bucket in range(buckets):
        start, stop = round(bucket * size), round((bucket + 1) * size)
        if start >= stop:
            continue
        low = min(range(start, stop), key=lambda i: inner[i][1])
        high = max(range(start, stop), key=lambda i: inner[i][1])
        for index in sorted({low, high}):
            kept.append(inner[index])
    kept.append(finite[-1])
    return kept
