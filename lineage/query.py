"""Questions asked of a lineage graph: upstream, downstream, path, neighbourhood.

Owns ``LineageView`` (the answer: the nodes and edges reached, with each
node's depth, model versions' stage and deployments' liveness as of the
read) and the traversals that produce it. Pure: works on a networkx graph
built by ``lineage.build``, never on the database.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Any, Literal, NamedTuple

import networkx as nx

from ledger.errors import NotFoundError, ValidationError

__all__ = ["Direction", "Edge", "LineageView", "find_path", "resolve", "stage_at", "traverse"]

Direction = Literal["upstream", "downstream", "both", "path", "all"]
PREFIXES = ("model:", "dataset:", "run:", "deployment:", "artifact:", "actor:", "commit:", "redacted:")


class Edge(NamedTuple):
    """One edge of a view: ``source`` went into ``target``. ``attrs`` holds
    all the edge's attributes (``kind`` and ``seq`` too, and the others, such
    as a data version's ``context``); as with networkx's edge data, it is the
    graph's own dict: read it, never modify it."""

    source: str
    target: str
    kind: str
    seq: int
    attrs: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "kind": self.kind, "seq": self.seq, **self.attrs}


@dataclass(frozen=True)
class LineageView:
    """What a query reached from ``root``: nodes (id -> attributes, with
    ``depth``, the number of edges from the root) and the edges between them,
    read as of seq ``as_of`` (the ledger's last event when not asked)."""

    root: str
    direction: Direction
    as_of: int
    nodes: dict[str, dict[str, Any]]
    edges: list[Edge] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[str]:
        """The ids of the reached nodes of ``kind``, nearest first, then by id."""
        found = [n for n, data in self.nodes.items() if data["kind"] == kind]
        return sorted(found, key=lambda n: (self.nodes[n]["depth"], n))

    def out_edges(self, node: str) -> list[Edge]:
        return [e for e in self.edges if e.source == node]

    def in_edges(self, node: str) -> list[Edge]:
        return [e for e in self.edges if e.target == node]

    def impact(self) -> list[dict[str, Any]]:
        """Each model version reached, with its stage and live deployments
        (``[{"model", "stage", "deployments": [{"target", "environment", "seq"}]}]``)."""
        result = []
        for model in self.of_kind("model"):
            live = [
                {"target": self.nodes[e.target]["target"], "environment": e.attrs["environment"], "seq": e.seq}
                for e in self.out_edges(model)
                if e.kind == "deployed_as" and e.attrs.get("live")
            ]
            result.append({"model": model, "stage": self.nodes[model]["stage"], "deployments": live})
        return result

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "direction": self.direction,
            "as_of": self.as_of,
            "nodes": [{"id": node, **_plain(data)} for node, data in self.nodes.items()],
            "edges": [edge.to_json() for edge in self.edges],
            **({"impact": self.impact()} if self.direction in ("downstream", "both") else {}),
        }


def _plain(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: [list(s) for s in v] if k == "stages" else v for k, v in data.items()}


def stage_at(stages: Sequence[tuple[int, str]], stop: int) -> str:
    """The stage of a model version at seq ``stop`` from its (seq, stage) history."""
    current = "None"
    for seq, stage in stages:
        if seq > stop:
            break
        current = stage
    return current


def resolve(graph: nx.MultiDiGraph, text: str, stop: int) -> str:
    """The node ``text`` names: an exact id, or an id without its kind
    prefix (``credit-model/7``, ``loans@2026-03``) when only one kind has it."""
    candidates = [text] if text in graph else [p + text for p in PREFIXES if p + text in graph]
    if len(candidates) > 1:
        raise ValidationError(f"{text!r} is ambiguous: it could be {' or '.join(candidates)}; give the full id")
    if not candidates:
        raise NotFoundError(
            f"no node {text!r} in the lineage graph; ids look like dataset:NAME@VERSION, run:RUN_ID, "
            "model:NAME/VERSION, deployment:TARGET, artifact:RUN_ID/PATH, actor:NAME, commit:SHA"
        )
    node = candidates[0]
    if graph.nodes[node]["seq"] > stop:
        raise NotFoundError(
            f"{node} did not exist yet as of seq {stop} (it appeared at seq {graph.nodes[node]['seq']})"
        )
    return node


def traverse(
    graph: nx.MultiDiGraph, root: str, direction: Direction, stop: int, depth: int | None = None
) -> LineageView:
    """The nodes reachable from ``root`` against (upstream) or along
    (downstream) the edges, or both, through at most ``depth`` edges, using
    only parts that existed at seq ``stop``."""
    if depth is not None and depth < 0:
        raise ValidationError(f"depth must be 0 or more, not {depth}")
    found: dict[int, Edge] = {}  # id(edge data) -> the edge: an edge reached twice is one edge
    if direction == "both":
        up, down = _walk(graph, root, True, stop, depth, found), _walk(graph, root, False, stop, depth, found)
        depths = {node: min(d, up.get(node, d)) for node, d in down.items()} | {
            node: d for node, d in up.items() if node not in down
        }
    else:
        depths = _walk(graph, root, direction == "upstream", stop, depth, found)
    return _view(graph, root, direction, stop, depths, list(found.values()))


def _walk(
    graph: nx.MultiDiGraph, root: str, backwards: bool, stop: int, depth: int | None, found: dict[int, Edge]
) -> dict[str, int]:
    """Breadth first from ``root``: each node reached with its depth, in the
    order reached (so by depth); the edges used go into ``found``."""
    nodes, adjacency = graph._node, graph._pred if backwards else graph._succ
    # A read of the current graph needs no seq checks: the hot path of a query.
    current = stop >= graph.graph.get("last_seq", -1)
    seen = {root: 0}
    queue = deque([root])
    while queue:
        node = queue.popleft()
        level = seen[node] + 1
        if depth is not None and level > depth:
            continue
        for other, keyed in adjacency[node].items():
            if current:
                reached: Any = keyed.values()
            elif nodes[other]["seq"] > stop:
                continue
            else:
                reached = [data for data in keyed.values() if data["seq"] <= stop]  # may be empty
            for data in reached:
                found[id(data)] = _edge(other, node, data) if backwards else _edge(node, other, data)
            if reached and other not in seen:
                seen[other] = level
                queue.append(other)
    return seen


def everything(graph: nx.MultiDiGraph, stop: int) -> LineageView:
    """The whole graph as of seq ``stop`` (every node at depth 0, root "")."""
    depths = {node: 0 for node, seq in graph.nodes(data="seq") if seq <= stop}
    edges = [_edge(u, v, data) for u, v, data in graph.edges(data=True) if data["seq"] <= stop]
    return _view(graph, "", "all", stop, depths, edges)


def find_path(graph: nx.MultiDiGraph, a: str, b: str, stop: int) -> LineageView:
    """The shortest chain of edges from ``a`` down to ``b`` (or from ``b``
    down to ``a``) using parts that existed at seq ``stop``."""
    current = nx.subgraph_view(
        graph,
        filter_node=lambda n: graph.nodes[n]["seq"] <= stop,
        filter_edge=lambda u, v, k: graph.edges[u, v, k]["seq"] <= stop,
    )
    for start, end in ((a, b), (b, a)):
        try:
            nodes = nx.shortest_path(current, start, end)
        except nx.NetworkXNoPath:
            continue
        chain = [min(_edges_between(graph, u, v, stop), key=lambda e: e.seq) for u, v in itertools.pairwise(nodes)]
        return _view(graph, start, "path", stop, {n: i for i, n in enumerate(nodes)}, chain)
    raise NotFoundError(f"no lineage path between {a} and {b} as of seq {stop}: neither is upstream of the other")


def _edges_between(graph: nx.MultiDiGraph, u: str, v: str, stop: int) -> list[Edge]:
    return [_edge(u, v, data) for data in graph._succ[u][v].values() if data["seq"] <= stop]


def _edge(source: str, target: str, data: dict[str, Any]) -> Edge:
    # tuple.__new__ skips NamedTuple's Python-level __new__: a third of a large query's time.
    return tuple.__new__(Edge, (source, target, data["kind"], data["seq"], data))


def _view(
    graph: nx.MultiDiGraph, root: str, direction: Direction, stop: int, depths: dict[str, int], edges: list[Edge]
) -> LineageView:
    """The answer: each node's attributes as they were at ``stop``, with its
    depth; the edges in seq order, deployments marked live or not."""
    # One walk reaches nodes in order of depth already; two are merged by it (a stable sort).
    order = sorted(depths.items(), key=itemgetter(1)) if direction in ("both", "all") else depths.items()
    attributes = graph._node
    nodes: dict[str, dict[str, Any]] = {}
    deployments = []
    for node, d in order:
        data = {**attributes[node], "depth": d}
        kind = data["kind"]
        if kind == "run":
            if data.get("ended_seq", -1) > stop:  # ended later: running then
                data = {k: v for k, v in data.items() if k not in ("ended", "ended_seq", "error")}
                data["status"] = "RUNNING"
        elif kind == "model":
            data["stages"] = [s for s in data["stages"] if s[0] <= stop]
            data["stage"] = stage_at(data["stages"], stop)
        elif kind == "dataset" and data.get("registered_seq", -1) > stop:  # named by inputs only, then
            data = {k: v for k, v in data.items() if k not in ("registered_seq", "transform", "redacted")}
        elif kind == "deployment":
            deployments.append(node)
        nodes[node] = data
    edges.sort(key=attrgetter("seq"))  # stable: the fold's order among one event's edges
    live: set[tuple[str, int]] = set()
    for node in deployments:
        serving = _serving(graph, node, stop)
        nodes[node]["serving"] = {env: model for env, (_, model) in sorted(serving.items())}
        live.update((node, seq) for seq, _ in serving.values())
    for i, e in enumerate(edges):
        if e.kind == "deployed_as":
            edges[i] = Edge(e.source, e.target, e.kind, e.seq, {**e.attrs, "live": (e.target, e.seq) in live})
    return LineageView(root, direction, stop, nodes, edges)


def _serving(graph: nx.MultiDiGraph, target: str, stop: int) -> dict[str, tuple[int, str]]:
    """What deployment ``target`` serves at seq ``stop``, per environment:
    (seq, model version) of the latest deployment there."""
    latest: dict[str, tuple[int, str]] = {}
    for model, keyed in graph._pred[target].items():
        for data in keyed.values():
            if data["kind"] == "deployed_as" and data["seq"] <= stop:
                env = data["environment"]
                if data["seq"] > latest.get(env, (-1, ""))[0]:
                    latest[env] = (data["seq"], model)
    return latest
