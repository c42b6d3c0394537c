"""A lineage view as a readable tree of text lines.

Owns how a node and an edge read to a person (``describe``, ``edge_label``)
and the tree layout: upstream trees grow towards the inputs, downstream trees
towards the deployments; a node reached twice is written once and then
referred to. Pure; the CLI prints the lines and reports reuse them.
"""

from __future__ import annotations

from typing import Any

from lineage.query import Edge, LineageView

__all__ = ["describe", "edge_label", "render", "short"]

_LIMIT = 200  # children listed under one node before "... and N more"


def short(text: str, keep: int = 12) -> str:
    """A long hash or id cut to ``keep`` characters, with an ellipsis."""
    return text if len(text) <= keep + 1 else text[:keep] + "…"


def describe(node: str, data: dict[str, Any]) -> str:
    """One line about a node: its id and what matters about it."""
    kind = data["kind"]
    facts: list[str] = []
    if kind == "model":
        facts.append(f"stage {data.get('stage', 'None')}")
    elif kind == "run":
        facts += [
            data.get("name") or "",
            data.get("status") or "",
            f"experiment {data['experiment']}" if data.get("experiment") else "",
        ]
    elif kind == "dataset":
        if data.get("redacted"):
            facts.append("registration redacted")
        facts += [_digest(data.get("digest")), data.get("source") or ""]
        if data.get("num_rows") is not None:
            facts.append(f"{data['num_rows']:,} rows")
    elif kind == "artifact":
        facts += [_digest(data.get("sha256")), f"{data['size']:,} bytes" if data.get("size") is not None else ""]
    elif kind == "redacted":
        facts.append(f"an input whose payload was redacted (event {data['redacted_seq']})")
    facts.append(f"seq {data['seq']}")
    return "  ".join([node, *(f for f in facts if f)])


def _digest(value: str | None) -> str:
    if not value:
        return ""
    algorithm, _, hexdigest = value.rpartition(":")
    return f"{algorithm or 'sha256'}:{short(hexdigest)}"


def edge_label(edge: Edge) -> str:
    """How an edge reads: its kind and the attributes that qualify it."""
    attrs = edge.attrs
    extra = [
        attrs.get("context") or "",
        f"transform: {attrs['transform']}" if attrs.get("transform") else "",
        f"{attrs['environment']}, {'live' if attrs.get('live') else 'replaced'}" if edge.kind == "deployed_as" else "",
        f"to {attrs['to_stage']}, requested by {attrs['requester']}" if edge.kind == "approved_by" else "",
        attrs.get("role") or "",
    ]
    qualifiers = ", ".join(x for x in extra if x)
    return f"{edge.kind} ({qualifiers})" if qualifiers else edge.kind


def render(view: LineageView) -> list[str]:
    """The view as tree lines (upstream, downstream, both, or a path)."""
    lines = [describe(view.root, view.nodes[view.root])] if view.root else []
    if view.direction == "path":
        for edge in view.edges:
            lines.append(f"  └─ {edge_label(edge)} → {describe(edge.target, view.nodes[edge.target])}")
        return lines
    if view.direction == "all":
        return [describe(node, data) for node, data in view.nodes.items()]
    for backwards in {"upstream": (True,), "downstream": (False,), "both": (True, False)}[view.direction]:
        if view.direction == "both":
            lines.append("upstream (what went into it):" if backwards else "downstream (what it went into):")
        children = _children(view, backwards)
        before = len(lines)
        _grow(view, children, view.root, "", backwards, {view.root}, lines)
        if len(lines) == before:
            lines.append("  (nothing recorded)")
    return lines


def _children(view: LineageView, backwards: bool) -> dict[str, list[Edge]]:
    children: dict[str, list[Edge]] = {}
    for edge in view.edges:
        children.setdefault(edge.target if backwards else edge.source, []).append(edge)
    return children


def _grow(
    view: LineageView,
    children: dict[str, list[Edge]],
    node: str,
    indent: str,
    backwards: bool,
    shown: set[str],
    lines: list[str],
) -> None:
    edges = children.get(node, [])
    arrow = "←" if backwards else "→"
    for i, edge in enumerate(edges[:_LIMIT]):
        last = i == len(edges) - 1
        other = edge.source if backwards else edge.target
        branch, more = ("└─ ", "   ") if last else ("├─ ", "│  ")
        seen = other in shown
        text = f"{other}  (shown above)" if seen else describe(other, view.nodes[other])
        lines.append(f"{indent}{branch}{edge_label(edge)} {arrow} {text}")
        if not seen:
            shown.add(other)
            _grow(view, children, other, indent + more, backwards, shown, lines)
    if len(edges) > _LIMIT:
        lines.append(f"{indent}└─ … and {len(edges) - _LIMIT} more (--json lists them all)")
