"""The lineage diagram's layout: where each box of a ``LineageView`` goes,
left to right, as a ``Layout`` of ``Box``es and ``Route``s in points.

Owns the order within each column and the vertical placement: the graph is
layered (a box per node, a "+ K more" box per crowded column, a waypoint
per column an edge crosses), columns are ordered by barycentre sweeps to
limit crossings, then each box is pulled level with its neighbours. Actors
(who started a run, registered or approved a version) go in a row below,
each box saying what they did rather than drawing a line to it.

Leaves to others: the columns and which nodes fold into "+ K more"
(``lineage.columns``), what boxes say (``lineage.labels``), the edges'
paths (``lineage.routing``), the shapes drawn (``lineage.shapes``).
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ledger.errors import ValidationError
from lineage.columns import MORE, DrawnGraph, assign_columns, collapse, drawn_ends, other_end
from lineage.geometry import (
    ACTOR_ROW_GAP,
    BOX_GAP,
    BOX_HEIGHT,
    BOX_WIDTH,
    COLUMN_GAP,
    HEADER,
    MARGIN,
    MIN_BOX_WIDTH,
    MIN_WIDTH,
    WAYPOINT_GAP,
    Flip,
)
from lineage.labels import actor_texts, caption, more_texts, node_texts
from lineage.query import LineageView
from lineage.routing import Route, Router

__all__ = ["MAX_PER_COLUMN", "Box", "Layout", "layout"]

MAX_PER_COLUMN: Final = 12


@dataclass(frozen=True, slots=True)
class Box:
    """One box: a node of the view, or a "+ K more" box (``kind`` "more",
    ``key`` more:<column>) standing for ``hidden`` nodes. ``x, y`` is the
    lower left corner in the drawing's coordinates (points, y up), before
    any scaling; ``column`` is -1 in the actor row."""

    key: str
    kind: str
    column: int
    x: float
    y: float
    width: float
    height: float
    label: str
    title: str
    detail: str
    badge: str = ""
    root: bool = False
    hidden: int = 0


@dataclass(frozen=True)
class Layout:
    """Where everything goes. ``hidden`` maps each node folded into a
    "+ K more" box to that box's key; ``scale`` is what ``drawing`` applies
    to fit the width it was asked for."""

    root: str
    caption: str
    width: float
    height: float
    scale: float
    boxes: dict[str, Box]
    routes: list[Route]
    hidden: dict[str, str] = field(default_factory=dict)
    rule_y: float | None = None


def layout(view: LineageView, *, width: float | None = None, max_per_column: int = MAX_PER_COLUMN) -> Layout:
    """Lay ``view`` out left to right; ``width`` (points) narrows the boxes
    and then scales the whole down to fit, as a PDF frame needs."""
    if max_per_column < 1:
        raise ValidationError(f"max_per_column must be 1 or more, not {max_per_column}")
    if width is not None and width <= 0:
        raise ValidationError(f"width must be positive, not {width}")
    graph = DrawnGraph.of(view)
    columns = assign_columns(graph)
    count = max(columns.values(), default=-1) + 1
    box_width = BOX_WIDTH
    if width is not None and count:
        fitted = (width - 2 * MARGIN - (count - 1) * COLUMN_GAP) / count
        box_width = max(MIN_BOX_WIDTH, min(BOX_WIDTH, fitted))
    shown, hidden = collapse(graph, columns, max_per_column)
    return _Placer(graph, columns, shown, hidden, box_width).place(width)


@dataclass
class _Slot:
    """A box or an edge's waypoint in one column, during placement (y down)."""

    key: str
    column: int
    height: float
    y: float = 0.0  # centre
    waypoint: str = ""  # for an edge's waypoint, the edge's source
    last: bool = False  # a "+ K more" box stays at the bottom of its column


class _Placer:
    """Orders each column, places boxes and waypoints, has the edges routed."""

    def __init__(
        self,
        graph: DrawnGraph,
        columns: Mapping[str, int],
        shown: set[str],
        hidden: dict[str, str],
        box_width: float,
    ) -> None:
        self.graph = graph
        self.columns = dict(columns)
        self.shown = shown
        self.hidden = hidden
        self.box_width = box_width
        self.slots: dict[str, _Slot] = {}
        self.chains: dict[tuple[str, str], list[str]] = {}  # drawn edge -> its slots, source to target
        self.layers: list[list[str]] = []

    # The layered graph: boxes, "+ K more" boxes, a waypoint per crossed column.

    def _build(self) -> None:
        for node in sorted(self.shown):
            if node in self.columns:
                self.slots[node] = _Slot(node, self.columns[node], BOX_HEIGHT)
        for key in sorted(set(self.hidden.values()) - {f"{MORE}actors"}):
            column = int(key.removeprefix(MORE))
            self.columns[key] = column
            self.slots[key] = _Slot(key, column, BOX_HEIGHT, last=True)
        for source, target in sorted({drawn_ends(pair, self.hidden) for pair in self.graph.edges}):
            start, end = self.columns[source], self.columns[target]
            chain = [source]
            for column in range(start + 1, end):
                waypoint = f"~{source}>{target}@{column}"
                self.slots[waypoint] = _Slot(waypoint, column, 0.0, waypoint=source)
                chain.append(waypoint)
            self.chains[(source, target)] = [*chain, target]
        count = max((s.column for s in self.slots.values()), default=-1) + 1
        self.layers = [[] for _ in range(count)]
        for key in sorted(self.slots, key=self._initial_key):
            self.layers[self.slots[key].column].append(key)

    def _initial_key(self, key: str) -> tuple[Any, ...]:
        source = self.slots[key].waypoint
        if source:
            return (1, *self._initial_key(source)[1:], key)
        if key.startswith(MORE):
            return (2, 0, 0, 0, key, "")
        return (0, *self.graph.sort_key(key), "")

    def _links(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """Neighbours one column left and one column right of each slot."""
        left: dict[str, list[str]] = defaultdict(list)
        right: dict[str, list[str]] = defaultdict(list)
        for (source, target), chain in self.chains.items():
            if self.columns[source] >= self.columns[target]:
                continue  # a cycle in the events: drawn, but no help for ordering
            for a, b in itertools.pairwise(chain):
                right[a].append(b)
                left[b].append(a)
        return left, right

    # Ordering: barycentre sweeps, keeping the order with the fewest crossings.

    def _order(self, sweeps: int = 8) -> None:
        left, right = self._links()
        best = [list(layer) for layer in self.layers]
        best_crossings = self._crossings(right)
        for sweep in range(sweeps):
            forward = sweep % 2 == 0
            indices = range(1, len(self.layers)) if forward else range(len(self.layers) - 2, -1, -1)
            for i in indices:
                other = self.layers[i - 1] if forward else self.layers[i + 1]
                self.layers[i] = _by_barycentre(self.layers[i], other, left if forward else right, self.slots)
            crossings = self._crossings(right)
            if crossings < best_crossings:
                best, best_crossings = [list(layer) for layer in self.layers], crossings
        self.layers = best

    def _crossings(self, right: Mapping[str, list[str]]) -> int:
        total = 0
        for layer, nxt in itertools.pairwise(self.layers):
            position = {key: i for i, key in enumerate(nxt)}
            pairs = sorted((i, position[b]) for i, a in enumerate(layer) for b in right.get(a, ()) if b in position)
            seen: list[int] = []
            for _, j in pairs:
                total += len(seen) - bisect.bisect_right(seen, j)
                bisect.insort(seen, j)
        return total

    # Vertical placement: each column fitted to its neighbours' heights.

    def _place_vertically(self, passes: int = 4) -> None:
        left, right = self._links()
        for layer in self.layers:
            _fit(layer, self.slots, dict.fromkeys(layer, 0.0))
        for _ in range(passes):
            for i in range(1, len(self.layers)):
                self._pull(self.layers[i], left)
            for i in range(len(self.layers) - 2, -1, -1):
                self._pull(self.layers[i], right)
        both = {key: [*left.get(key, ()), *right.get(key, ())] for key in self.slots}
        for layer in self.layers:
            self._pull(layer, both)

    def _pull(self, layer: list[str], neighbours: Mapping[str, list[str]]) -> None:
        wanted = {}
        for key in layer:
            linked = neighbours.get(key, ())
            wanted[key] = sum(self.slots[n].y for n in linked) / len(linked) if linked else self.slots[key].y
        _fit(layer, self.slots, wanted)

    # Putting it together.

    def place(self, width: float | None) -> Layout:
        self._build()
        self._order()
        self._place_vertically()
        x_of = [round(MARGIN + i * (self.box_width + COLUMN_GAP), 2) for i in range(len(self.layers))]
        top = min((s.y - s.height / 2 for s in self.slots.values()), default=0.0)
        shift = MARGIN + HEADER - top
        for slot in self.slots.values():
            slot.y += shift
        graph_bottom = max((s.y + s.height / 2 for s in self.slots.values()), default=MARGIN + HEADER)
        graph_right = x_of[-1] + self.box_width if x_of else MARGIN
        actors = self._actor_row(graph_right, x_of, graph_bottom + ACTOR_ROW_GAP)
        natural_width = max(MIN_WIDTH, graph_right + MARGIN, *(b[1] + self.box_width + MARGIN for b in actors))
        bottom = max([graph_bottom, *(b[2] + BOX_HEIGHT for b in actors)]) + MARGIN
        flip = Flip(bottom)
        boxes = {
            key: self._box(key, x_of[slot.column], slot, flip) for key, slot in self.slots.items() if not slot.waypoint
        }
        for key, x, y_top in actors:
            boxes[key] = self._actor_box(key, x, flip.rect(y_top, BOX_HEIGHT))
        taken = [(b.x, b.y, b.x + b.width, b.y + b.height) for b in boxes.values()]
        routes = Router(self.graph, self.hidden, self.slots, self.chains, self.box_width, x_of, flip, taken).routes()
        scale = 1.0 if width is None or natural_width <= width else width / natural_width
        return Layout(
            root=self.graph.view.root,
            caption=caption(self.graph.view, len(self.shown)),
            width=natural_width,
            height=bottom,
            scale=scale,
            boxes=boxes,
            routes=routes,
            hidden=dict(self.hidden),
            rule_y=flip.y(graph_bottom + ACTOR_ROW_GAP / 2) if actors else None,
        )

    def _box(self, key: str, x: float, slot: _Slot, flip: Flip) -> Box:
        y = flip.rect(slot.y - slot.height / 2, slot.height)
        if key.startswith(MORE):
            return self._more_box(key, slot.column, x, y)
        label, title, detail, badge = node_texts(self.graph, key)
        size = (self.box_width, BOX_HEIGHT)
        root = key == self.graph.view.root
        return Box(key, self.graph.kind(key), slot.column, x, y, *size, label, title, detail, badge, root)

    def _more_box(self, key: str, column: int, x: float, y: float) -> Box:
        members = [n for n, k in self.hidden.items() if k == key]
        size = (self.box_width, BOX_HEIGHT)
        return Box(key, "more", column, x, y, *size, *more_texts(self.graph, members), hidden=len(members))

    # The actor row.

    def _actor_row(self, graph_right: float, x_of: list[float], y_top: float) -> list[tuple[str, float, float]]:
        """(key, x, y top) of each actor box: under the boxes of what they did,
        in as many rows as the diagram's width needs."""
        actors = [n for n, data in self.graph.nodes.items() if data["kind"] == "actor" and n in self.shown]
        wanted: dict[str, float] = {}
        for actor in actors:
            xs = []
            for edge in self.graph.actors.get(actor, []):
                target = other_end(edge, actor)
                drawn = self.hidden.get(target, target)
                if drawn in self.slots:
                    xs.append(x_of[self.slots[drawn].column])
            wanted[actor] = sum(xs) / len(xs) if xs else graph_right
        keys = sorted(actors, key=lambda a: (wanted[a], a))
        if f"{MORE}actors" in self.hidden.values():
            keys.append(f"{MORE}actors")
            wanted[keys[-1]] = graph_right
        per_row = max(1, int((graph_right - MARGIN + BOX_GAP) // (self.box_width + BOX_GAP)))
        if len(keys) <= per_row:
            xs = _fit_positions(
                [wanted[k] for k in keys], self.box_width + BOX_GAP, MARGIN, graph_right - self.box_width
            )
            return [(k, x, y_top) for k, x in zip(keys, xs, strict=True)]
        step = self.box_width + BOX_GAP
        placed = []
        for i, key in enumerate(keys):
            row, col = divmod(i, per_row)
            placed.append((key, MARGIN + col * step, y_top + row * (BOX_HEIGHT + BOX_GAP)))
        return placed

    def _actor_box(self, key: str, x: float, y: float) -> Box:
        if key.startswith(MORE):
            return self._more_box(key, -1, x, y)
        size = (self.box_width, BOX_HEIGHT)
        root = key == self.graph.view.root
        return Box(key, "actor", -1, x, y, *size, *actor_texts(self.graph, key), root=root)


def _by_barycentre(
    layer: list[str], other: list[str], neighbours: Mapping[str, list[str]], slots: Mapping[str, _Slot]
) -> list[str]:
    """``layer`` sorted by the mean position of each slot's neighbours in
    ``other`` (a slot with none keeps its place, scaled to ``other``)."""
    position = {key: i for i, key in enumerate(other)}
    ratio = len(other) / max(1, len(layer))

    def key(item: tuple[int, str]) -> tuple[bool, float, int]:
        index, slot = item
        linked = [position[n] for n in neighbours.get(slot, ()) if n in position]
        centre = sum(linked) / len(linked) if linked else index * ratio
        return (slots[slot].last, centre, index)

    return [slot for _, slot in sorted(enumerate(layer), key=key)]


def _fit(layer: list[str], slots: Mapping[str, _Slot], wanted: Mapping[str, float]) -> None:
    """Set the centres of ``layer``'s slots, kept in order and apart, as near
    as they can be to ``wanted`` (least squares: pool adjacent violators)."""
    if not layer:
        return
    offsets = [0.0]
    for a, b in itertools.pairwise(layer):
        gap = WAYPOINT_GAP if slots[a].waypoint or slots[b].waypoint else BOX_GAP
        offsets.append(offsets[-1] + slots[a].height / 2 + gap + slots[b].height / 2)
    weights = [2.0 if slots[k].waypoint else 1.0 for k in layer]
    fitted = _isotonic([wanted[k] - o for k, o in zip(layer, offsets, strict=True)], weights)
    for key, offset, z in zip(layer, offsets, fitted, strict=True):
        slots[key].y = z + offset


def _fit_positions(wanted: list[float], step: float, low: float, high: float) -> list[float]:
    """Positions in order, ``step`` apart, near ``wanted``, within [low, high] where they fit."""
    offsets = [i * step for i in range(len(wanted))]
    shifted = _isotonic([w - o for w, o in zip(wanted, offsets, strict=True)], [1.0] * len(wanted))
    fitted = [z + o for z, o in zip(shifted, offsets, strict=True)]
    if fitted and fitted[-1] > high:
        fitted = [x - (fitted[-1] - high) for x in fitted]
    if fitted and fitted[0] < low:
        fitted = [x + (low - fitted[0]) for x in fitted]
    return fitted


def _isotonic(values: list[float], weights: list[float]) -> list[float]:
    """The non-decreasing sequence nearest ``values`` in weighted least squares."""
    blocks: list[list[float]] = []  # [mean, weight, length]
    for value, weight in zip(values, weights, strict=True):
        blocks.append([value, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, w, n = blocks.pop()
            last = blocks[-1]
            total = last[1] + w
            last[0] = (last[0] * last[1] + mean * w) / total
            last[1], last[2] = total, last[2] + n
    return [mean for mean, _, n in blocks for _ in range(int(n))]
