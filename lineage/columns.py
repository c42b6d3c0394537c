"""The lineage diagram's first step: a ``LineageView`` reduced to what is
drawn (``DrawnGraph``), the column each node goes in, and which nodes a
crowded column folds into a "+ K more" box.

Columns, left to right: data versions (ancestors further left, a
``derived_from`` chain taking a column per step, with code commits and
erased inputs in the column next to the runs), runs (a parent left of the
runs nested in it), artifacts, model versions, deployments; actors go in a
row below, not in a column. A run's ``registered_from`` edge to a model is
left out when one of its artifacts already leads there. Where boxes go
within a column is ``lineage.layout``'s business; what they say,
``lineage.labels``'.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from lineage.query import Edge, LineageView

__all__ = [
    "MORE",
    "DrawnGraph",
    "assign_columns",
    "collapse",
    "drawn_ends",
    "implied_registrations",
    "longest_paths",
    "other_end",
]

MORE: Final = "more:"  # key prefix of a "+ K more" box: more:<column>, or more:actors
BANDS: Final = {"dataset": 0, "commit": 0, "redacted": 0, "run": 1, "artifact": 2, "model": 3, "deployment": 4}
OTHER_BAND: Final = 5


@dataclass
class DrawnGraph:
    """The view reduced to what is drawn: nodes, merged edges between them
    (actors apart), and what each actor did."""

    view: LineageView
    nodes: dict[str, dict[str, Any]]
    edges: dict[tuple[str, str], list[Edge]]  # (source, target) -> its Edges, by seq
    actors: dict[str, list[Edge]]  # actor node -> its Edges
    into: dict[str, list[Edge]]  # node -> the Edges drawn into it
    out_of: dict[str, list[Edge]]  # node -> the Edges drawn out of it

    @classmethod
    def of(cls, view: LineageView) -> DrawnGraph:
        nodes = view.nodes
        edges: dict[tuple[str, str], list[Edge]] = defaultdict(list)
        actors: dict[str, list[Edge]] = defaultdict(list)
        for edge in view.edges:
            if edge.source not in nodes or edge.target not in nodes:
                continue
            if edge.source == edge.target:
                continue  # a data version derived from itself: nothing to draw
            if nodes[edge.source]["kind"] == "actor" or nodes[edge.target]["kind"] == "actor":
                actors[edge.source if nodes[edge.source]["kind"] == "actor" else edge.target].append(edge)
                continue
            edges[(edge.source, edge.target)].append(edge)
        for pair in implied_registrations(nodes, edges):
            del edges[pair]
        into: dict[str, list[Edge]] = defaultdict(list)
        out_of: dict[str, list[Edge]] = defaultdict(list)
        for (source, target), between in edges.items():
            out_of[source].extend(between)
            into[target].extend(between)
        return cls(view, nodes, dict(edges), dict(actors), dict(into), dict(out_of))

    def kind(self, node: str) -> str:
        return str(self.nodes[node]["kind"])

    def sort_key(self, node: str) -> tuple[int, int, int, str]:
        data = self.nodes[node]
        return (node != self.view.root, int(data.get("depth", 0)), int(data.get("seq", 0)), node)


def implied_registrations(
    nodes: Mapping[str, Any], edges: Mapping[tuple[str, str], list[Edge]]
) -> list[tuple[str, str]]:
    """The run -> model edges a run -> artifact -> model path already shows."""
    generated: dict[str, set[str]] = defaultdict(set)
    registered: dict[str, set[str]] = defaultdict(set)
    for (source, target), between in edges.items():
        kinds = {e.kind for e in between}
        if "generated" in kinds:
            generated[source].add(target)
        if "registered_from" in kinds and nodes[source]["kind"] == "artifact":
            registered[target].add(source)
    return [
        (source, target)
        for (source, target), between in edges.items()
        if nodes[source]["kind"] == "run"
        and {e.kind for e in between} == {"registered_from"}
        and generated[source] & registered[target]
    ]


def assign_columns(graph: DrawnGraph) -> dict[str, int]:
    """Each drawn node's column: data (ancestors left), runs (parents left),
    artifacts, model versions, deployments; empty bands take no column."""
    bands: dict[int, list[str]] = defaultdict(list)
    for node, data in graph.nodes.items():
        if data["kind"] != "actor":
            bands[BANDS.get(data["kind"], OTHER_BAND)].append(node)
    levels: dict[str, int] = {}
    datasets = [n for n in bands[0] if graph.kind(n) == "dataset"]
    derived = [(t, s) for (s, t), es in graph.edges.items() if any(e.kind == "derived_from" for e in es)]
    below = longest_paths(datasets, derived)  # steps down to the last derived version
    deepest = max(below.values(), default=0)
    for node in bands[0]:
        levels[node] = deepest - below.get(node, 0)
    nested = [(s, t) for (s, t), es in graph.edges.items() if any(e.kind == "parent_of" for e in es)]
    levels.update(longest_paths(bands[1], nested))
    columns: dict[str, int] = {}
    offset = 0
    for band in sorted(b for b, members in bands.items() if members):
        members = bands[band]
        for node in members:
            columns[node] = offset + levels.get(node, 0)
        offset += max((levels.get(n, 0) for n in members), default=0) + 1
    return columns


def longest_paths(nodes: Sequence[str], edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    """The number of edges on the longest path reaching each node (a cycle,
    which events could make, is cut where the walk meets it)."""
    members = set(nodes)
    successors: dict[str, list[str]] = defaultdict(list)
    waiting = dict.fromkeys(nodes, 0)
    for source, target in edges:
        if source in members and target in members and source != target:
            successors[source].append(target)
            waiting[target] += 1
    level = dict.fromkeys(nodes, 0)
    queue = deque(sorted(n for n in nodes if waiting[n] == 0))
    while queue:
        node = queue.popleft()
        for nxt in sorted(successors[node]):
            level[nxt] = max(level[nxt], level[node] + 1)
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                queue.append(nxt)
    return level


def collapse(graph: DrawnGraph, columns: Mapping[str, int], limit: int) -> tuple[set[str], dict[str, str]]:
    """The nodes to draw, and the others each mapped to the "+ K more" box of
    their column (more:<column>) or of the actor row (more:actors). Columns
    are filled outwards from the root's, the actor row last: the root first,
    then nodes linked to ones already kept, nearest to the root first."""
    groups: dict[str, list[str]] = defaultdict(list)
    for node, column in columns.items():
        groups[f"{MORE}{column}"].append(node)
    groups[f"{MORE}actors"] = [n for n, data in graph.nodes.items() if data["kind"] == "actor"]
    neighbours: dict[str, set[str]] = defaultdict(set)
    for source, target in [*graph.edges, *((a, other_end(e, a)) for a, es in graph.actors.items() for e in es)]:
        neighbours[source].add(target)
        neighbours[target].add(source)
    start = columns.get(graph.view.root, 0)

    def distance(key: str) -> tuple[float, int]:
        column = key.removeprefix(MORE)
        return (abs(int(column) - start), int(column)) if column.isdigit() else (math.inf, 0)

    kept: set[str] = set()
    hidden: dict[str, str] = {}
    for key in sorted(groups, key=distance):
        members = sorted(groups[key], key=lambda n: (not neighbours[n] & kept, *graph.sort_key(n)))
        kept.update(members[:limit])
        hidden.update((node, key) for node in members[limit:])
    return kept, hidden


def other_end(edge: Edge, node: str) -> str:
    return edge.target if edge.source == node else edge.source


def drawn_ends(pair: tuple[str, str], hidden: Mapping[str, str]) -> tuple[str, str]:
    """The boxes an edge is drawn between: a folded end's "+ K more" box."""
    source, target = pair
    return hidden.get(source, source), hidden.get(target, target)
