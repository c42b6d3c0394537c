"""The lineage diagram's edges: once boxes and waypoints are placed, each
drawn edge (parallel edges merged, a folded node's edges drawn from its
"+ K more" box) becomes a ``Route``: smooth curves from the source box's
right side through a waypoint per column it crosses (so it passes between
boxes) to its own point on the target's left side, with its label on a
straight stub where the lines spread apart and nothing else is.

Where boxes and waypoints go is ``lineage.layout``'s business (it hands
over the placed slots and asks for the routes); what a label says is
``lineage.labels``'.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from reportlab.pdfbase.pdfmetrics import stringWidth  # type: ignore[import-untyped]

from lineage.columns import MORE, DrawnGraph, drawn_ends
from lineage.geometry import ARROW, BOX_HEIGHT, FONT, LABEL_SIZE, Flip
from lineage.labels import edge_label
from lineage.query import Edge

__all__ = ["Placed", "Route", "Router"]

CURVE_STEPS: Final = 16
Area = tuple[float, float, float, float]  # x0, y0, x1, y1 in the drawing's coordinates


@dataclass(frozen=True, slots=True)
class Route:
    """One drawn edge (parallel edges merged): ``points`` from the source
    box's right side to the tip of the arrow at the target's left side."""

    source: str
    target: str
    kinds: tuple[str, ...]
    points: tuple[tuple[float, float], ...]
    label: tuple[str, ...] = ()
    label_at: tuple[float, float] | None = None
    near_root: bool = False
    faded: bool = False


class Placed(Protocol):
    """A placed box or waypoint: its column and its centre (placement coordinates, y down)."""

    @property
    def column(self) -> int: ...

    @property
    def y(self) -> float: ...


class Router:
    """Edges as smooth curves from box to box through their waypoints, each
    arriving at its own point of the target's side, with labels placed
    where the lines spread apart and nothing else is."""

    def __init__(
        self,
        graph: DrawnGraph,
        hidden: Mapping[str, str],
        slots: Mapping[str, Placed],
        chains: Mapping[tuple[str, str], list[str]],
        box_width: float,
        x_of: list[float],
        flip: Flip,
        taken: Iterable[Area],
    ) -> None:
        """``chains`` holds each drawn edge's slots, source to target;
        ``x_of`` each column's left side; ``taken`` the areas (boxes) labels keep off."""
        self.graph = graph
        self.hidden = hidden
        self.slots = slots
        self.chains = chains
        self.box_width = box_width
        self.x_of = x_of
        self.flip = flip
        self.taken: list[Area] = list(taken)

    def routes(self) -> list[Route]:
        graph = self.graph
        merged: dict[tuple[str, str], list[Edge]] = defaultdict(list)
        for pair, between in graph.edges.items():
            merged[drawn_ends(pair, self.hidden)].extend(between)
        ports_out, ports_in = self._ports(list(merged))
        out_degree: dict[str, int] = defaultdict(int)
        in_degree: dict[str, int] = defaultdict(int)
        for source, target in merged:
            out_degree[source] += 1
            in_degree[target] += 1
        routes = []
        for (source, target), between in sorted(merged.items()):
            y_out, y_in = ports_out[(source, target)], ports_in[(source, target)]
            folded = source.startswith(MORE) or target.startswith(MORE)
            label = () if folded else edge_label(between)
            prefer_target = out_degree[source] >= in_degree[target]
            stub_out, stub_in, at = self._label_at(source, target, y_out, y_in, label, prefer_target)
            stops, straight = self._stops(source, target, y_out, y_in, stub_out, stub_in)
            near_root = graph.view.root in (source, target)
            faded = all(e.kind == "deployed_as" and not e.attrs.get("live") for e in between)
            kinds = tuple(sorted({e.kind for e in between}))
            points = tuple(self._points(stops, straight))
            routes.append(Route(source, target, kinds, points, label if at else (), at, near_root, faded))
        return routes

    def _ports(self, pairs: list[tuple[str, str]]) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]:
        """The y (placement coordinates) where each edge leaves and enters its boxes."""
        slots, chains = self.slots, self.chains
        leaving: dict[str, list[tuple[float, tuple[str, str]]]] = defaultdict(list)
        entering: dict[str, list[tuple[float, tuple[str, str]]]] = defaultdict(list)
        for pair in pairs:
            chain = chains[pair]
            leaving[pair[0]].append((slots[chain[1]].y, pair))
            entering[pair[1]].append((slots[chain[-2]].y, pair))
        return _spread(leaving, slots), _spread(entering, slots)

    def _stops(
        self, source: str, target: str, y_out: float, y_in: float, stub_out: float, stub_in: float
    ) -> tuple[list[tuple[float, float]], list[bool]]:
        """Where the line turns (placement coordinates), and which stretches
        between are straight: the stub under a label, the way through a
        waypoint's column; the rest are curves."""
        slots, width = self.slots, self.box_width
        start = self.x_of[slots[source].column] + width
        stops, straight = [(start, y_out)], []
        if stub_out:
            stops.append((start + stub_out, y_out))
            straight.append(True)
        for waypoint in self.chains[(source, target)][1:-1]:
            x, y = self.x_of[slots[waypoint].column], slots[waypoint].y
            stops.extend([(x, y), (x + width, y)])
            straight.extend([False, True])
        end = self.x_of[slots[target].column] - ARROW
        if stub_in:
            stops.append((end - stub_in, y_in))
            straight.append(False)
        stops.append((end, y_in))
        straight.append(bool(stub_in))
        return stops, straight

    def _points(self, stops: list[tuple[float, float]], straight: list[bool]) -> list[tuple[float, float]]:
        points = [stops[0]]
        for (a, b), line in zip(itertools.pairwise(stops), straight, strict=True):
            points.extend([b] if line else _curve(a, b)[1:])
        return [(round(x, 2), self.flip.y(y)) for x, y in points]

    def _label_at(
        self, source: str, target: str, y_out: float, y_in: float, label: tuple[str, ...], prefer_target: bool
    ) -> tuple[float, float, tuple[float, float] | None]:
        """(stub after the source, stub before the target, label centre): the
        label sits on a straight stub at the end where the lines spread apart
        (before the target when the source fans out), or at the other end when
        that spot is taken; no stub and no label when neither is free."""
        if not label:
            return 0.0, 0.0, None
        slots = self.slots
        width = max(stringWidth(line, FONT, LABEL_SIZE) for line in label) + 4
        height = len(label) * (LABEL_SIZE + 1) + 2
        stub = width + 2
        after_source = self.x_of[slots[source].column] + self.box_width + stub / 2
        before_target = self.x_of[slots[target].column] - ARROW - stub / 2
        spots = [(before_target, y_in, False), (after_source, y_out, True)]
        for x, y_down, at_source in spots if prefer_target else spots[::-1]:
            y = self.flip.y(y_down)
            area = (x - width / 2, y - height / 2, x + width / 2, y + height / 2)
            if not any(_overlap(area, other) for other in self.taken):
                self.taken.append(area)
                return (stub, 0.0, (round(x, 2), y)) if at_source else (0.0, stub, (round(x, 2), y))
        return 0.0, 0.0, None


def _spread(
    ends: Mapping[str, list[tuple[float, tuple[str, str]]]], slots: Mapping[str, Placed]
) -> dict[tuple[str, str], float]:
    """Edges meeting one box side by side, in the order of where they come from."""
    ports = {}
    for key, arriving in ends.items():
        arriving.sort()
        count = len(arriving)
        step = min(6.0, BOX_HEIGHT * 0.6 / (count - 1)) if count > 1 else 0.0
        first = slots[key].y - step * (count - 1) / 2
        for i, (_, pair) in enumerate(arriving):
            ports[pair] = first + i * step
    return ports


def _curve(a: tuple[float, float], b: tuple[float, float]) -> list[tuple[float, float]]:
    """A horizontal-tangent cubic Bézier from ``a`` to ``b``, flattened."""
    if abs(b[1] - a[1]) < 0.01:
        return [a, b]
    return [_bezier(a, b, i / CURVE_STEPS) for i in range(CURVE_STEPS + 1)]


def _bezier(a: tuple[float, float], b: tuple[float, float], t: float) -> tuple[float, float]:
    """The point at ``t`` of the curve leaving ``a`` and reaching ``b`` horizontally."""
    (x0, y0), (x1, y1) = a, b
    k, u = (x1 - x0) / 2, 1 - t
    x = u**3 * x0 + 3 * u * u * t * (x0 + k) + 3 * u * t * t * (x1 - k) + t**3 * x1
    y = u**3 * y0 + 3 * u * u * t * y0 + 3 * u * t * t * y1 + t**3 * y1
    return (x, y)


def _overlap(a: Area, b: Area) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
