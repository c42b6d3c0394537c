"""What the lineage diagram says: each box's kind label, title, detail line
and badge (per node kind, for actors and for "+ K more" boxes), the label on
an edge, and the caption above the drawing.

Texts only: where boxes go is ``lineage.layout``'s business, how they look
``lineage.shapes``'. Box texts are cut to fit when drawn; edge labels are
wrapped here, since the router needs their size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from lineage.columns import DrawnGraph, other_end
from lineage.geometry import FONT, LABEL_SIZE, LABEL_WIDTH, wrap
from lineage.query import Edge, LineageView
from lineage.tree import short

__all__ = ["actor_texts", "caption", "edge_label", "more_texts", "node_texts"]

Texts = tuple[str, str, str, str]  # (kind label, title, detail, badge)

PLURALS: Final = {
    "dataset": "data versions",
    "commit": "commits",
    "redacted": "erased inputs",
    "run": "runs",
    "artifact": "artifacts",
    "model": "model versions",
    "deployment": "deployments",
    "actor": "actors",
}
DIRECTIONS: Final = {
    "upstream": "upstream (provenance)",
    "downstream": "downstream (impact)",
    "both": "upstream and downstream",
    "path": "path",
    "all": "whole graph",
}


def caption(view: LineageView, drawn: int) -> str:
    """The subject, the direction, the moment, and how many nodes (of how many) are drawn."""
    subject = f"Lineage of {view.root}" if view.root else "Lineage"
    parts = [subject, DIRECTIONS.get(view.direction, view.direction), f"as of event {view.as_of}"]
    total = len(view.nodes)
    counted = f"{total:,} node{'' if total == 1 else 's'}"
    parts.append(counted if drawn == total else f"{counted}, {drawn:,} shown")
    return " · ".join(parts)


# -- boxes -------------------------------------------------------------------------


def node_texts(graph: DrawnGraph, node: str) -> Texts:
    """(kind label, title, detail, badge) of a node's box."""
    data = graph.nodes[node]
    kind = data["kind"]
    writer = _TEXTS.get(kind)
    if writer is None:
        return kind.upper(), node.partition(":")[2] or node, f"seq {data.get('seq')}", ""
    label, title, detail, badge = writer(graph, node, data)
    if node == graph.view.root and not badge:
        badge = "ROOT"
    return label, title, detail, badge


def more_texts(graph: DrawnGraph, members: list[str]) -> tuple[str, str, str]:
    """(kind label, title, detail) of a "+ K more" box standing for ``members``."""
    kinds = sorted({graph.kind(n) for n in members})
    what = " and ".join(PLURALS.get(k, k + "s") for k in kinds)
    return "COLLAPSED", f"+ {len(members):,} more", what


def actor_texts(graph: DrawnGraph, actor: str) -> tuple[str, str, str]:
    """(kind label, title, detail) of an actor's box: who, and what they did."""
    name = str(graph.nodes[actor].get("name", actor.removeprefix("actor:")))
    started, registered, approved = [], [], []  # what, for each edge
    for edge in graph.actors.get(actor, []):
        target = other_end(edge, actor)
        if edge.kind == "approved_by":
            approved.append(f"{model_name(graph.nodes[target])} to {edge.attrs.get('to_stage')}")
        elif edge.attrs.get("role") == "started":
            started.append(target)
        elif edge.attrs.get("role") == "registered":
            registered.append(model_name(graph.nodes[target]))
    parts = [
        f"started {len(set(started)):,} run{'' if len(set(started)) == 1 else 's'}" if started else "",
        _deed("registered", registered, "versions"),
        _deed("approved", approved, "transitions"),
    ]
    return "ACTOR", name, " · ".join(p for p in parts if p) or "linked"


def _deed(verb: str, things: list[str], plural: str) -> str:
    if not things:
        return ""
    unique = sorted(set(things))
    return f"{verb} {unique[0]}" if len(unique) == 1 else f"{verb} {len(unique):,} {plural}"


def model_name(data: Mapping[str, Any]) -> str:
    return f"{data.get('name', '?')} v{data.get('version', '?')}"


def _digest(value: object) -> str:
    text = str(value or "")
    algorithm, _, hexdigest = text.rpartition(":")
    return f"{algorithm or 'sha256'} {short(hexdigest, 8)}" if hexdigest else ""


def _size(size: object) -> str:
    if not isinstance(size, int):
        return ""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""


def _dataset_texts(graph: DrawnGraph, node: str, data: Mapping[str, Any]) -> Texts:
    rows = data.get("num_rows")
    erased = data.get("redacted") or "redacted" in str(data.get("digest", ""))
    parts = [
        "digest erased" if erased else _digest(data.get("digest")),
        f"{rows:,} rows" if isinstance(rows, int) else "",
    ]
    return "DATASET", f"{data.get('name')}@{data.get('version')}", " · ".join(p for p in parts if p), ""


def _commit_texts(graph: DrawnGraph, node: str, data: Mapping[str, Any]) -> Texts:
    dirty = any(e.attrs.get("dirty") for e in graph.out_of.get(node, ()))
    return (
        "COMMIT",
        f"commit {short(str(data.get('sha', '')), 10)}",
        "git · uncommitted changes" if dirty else "git",
        "",
    )


def _redacted_texts(graph: DrawnGraph, node: str, data: Mapping[str, Any]) -> Texts:
    return "REDACTED", "erased data version", f"input of event {data.get('redacted_seq', data.get('seq'))}", ""


def _run_texts(graph: DrawnGraph, node: str, data: Mapping[str, Any]) -> Texts:
    nested = any(e.kind == "parent_of" for e in graph.into.get(node, ()))
    run = f"run {short(str(data.get('run_id', node.removeprefix('run:'))), 8)}"
    title = str(data["name"]) if data.get("name") else run
    parts = [run if data.get("name") else "", str(data.get("experiment") or "")]
    return "NESTED RUN" if nested else "RUN", title, " · ".join(p for p in parts if p), str(data.get("status") or "")


def _artifact_texts(graph: DrawnGraph, node: str, data: Mapping[str, Any]) -> Texts:
    path = str(data.get("path", node))
    parts = [_digest(data.get("sha256")), _size(data.get("size"))]
    return "ARTIFACT", path.rsplit("/", 1)[-1], " · ".join(p for p in parts if p), ""


def _model_texts(graph: DrawnGraph, node: str, data: Mapping[str, Any]) -> Texts:
    stage = str(data.get("stage") or "None")
    registered = str(data.get("registered") or "")[:10]
    parts = [str(data.get("owner") or ""), f"registered {registered}" if registered else ""]
    detail = " · ".join(p for p in parts if p)
    return "MODEL VERSION", model_name(data), detail, "" if stage == "None" else stage


def _deployment_texts(graph: DrawnGraph, node: str, data: Mapping[str, Any]) -> Texts:
    live: dict[str, bool] = {}
    for edge in graph.into.get(node, ()):
        if edge.kind != "deployed_as":
            continue
        environment = str(edge.attrs.get("environment"))
        live[environment] = live.get(environment, False) or bool(edge.attrs.get("live"))
    serving = [env for env, on in sorted(live.items()) if on]
    replaced = [env for env, on in sorted(live.items()) if not on]
    parts = [", ".join(serving), f"replaced in {', '.join(replaced)}" if replaced else ""]
    detail = " · ".join(p for p in parts if p)
    badge = "LIVE" if any(live.values()) else "REPLACED" if live else ""
    return "DEPLOYMENT", str(data.get("target", node.removeprefix("deployment:"))), detail, badge


_TEXTS: Final[dict[str, Callable[[DrawnGraph, str, Mapping[str, Any]], Texts]]] = {
    "dataset": _dataset_texts,
    "commit": _commit_texts,
    "redacted": _redacted_texts,
    "run": _run_texts,
    "artifact": _artifact_texts,
    "model": _model_texts,
    "deployment": _deployment_texts,
}


# -- edges -------------------------------------------------------------------------


def edge_label(between: list[Edge]) -> tuple[str, ...]:
    """What a drawn edge says: the contexts data was used in, a derivation's
    transform, the environment of a deployment that was replaced since."""
    lines: list[str] = []
    for edge in between:
        if edge.kind == "used":
            text = str(edge.attrs.get("context") or "")
        elif edge.kind == "derived_from":
            text = str(edge.attrs.get("transform") or "derived")
        elif edge.kind == "deployed_as" and not edge.attrs.get("live"):
            text = f"replaced ({edge.attrs.get('environment')})"
        else:
            text = ""
        if text and text not in lines:
            lines.append(text)
    wrapped = [line for text in lines for line in wrap(text, FONT, LABEL_SIZE, LABEL_WIDTH)]
    return tuple(wrapped[:3])
