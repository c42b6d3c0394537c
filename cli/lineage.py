"""``mlledger lineage``: provenance, impact, paths, diagrams and exports.

Owns the command-line face of ``lg.lineage``: ``upstream``, ``downstream``,
``path`` and ``show`` print a readable tree (``--json`` for machines),
``show -o FILE`` draws the diagram, ``export`` writes PROV-JSON, OpenLineage,
GraphML or DOT. Thin: the graph, queries and formats live in ``lineage/``.
``cli.main`` imports this module, never the other way round.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

import ledger
from cli.common import moment
from ledger.errors import ValidationError
from lineage.query import LineageView
from lineage.tree import render

__all__ = ["lineage"]

_FORMATS = ("dot", "graphml", "openlineage", "prov-json")


def _exported(fmt: str, view: LineageView, namespace: str) -> str:
    from lineage import export  # noqa: PLC0415 - loaded by the one command that needs it

    if fmt == "prov-json":
        return json.dumps(export.to_prov_json(view, namespace), indent=2, sort_keys=True) + "\n"
    if fmt == "openlineage":
        return "".join(json.dumps(event, sort_keys=True) + "\n" for event in export.to_openlineage(view, namespace))
    text: str = export.to_graphml(view) if fmt == "graphml" else export.to_dot(view)
    return text


def _depth_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--depth", type=click.IntRange(min=0), help="Follow at most this many edges (default: all).")(
        function
    )


def _as_of_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--as-of", help="A seq or an RFC 3339 time: the lineage as it was then.")(function)


def _json_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print the nodes and edges as JSON.")(function)


def _print(view: LineageView, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(view.to_json(), indent=2, ensure_ascii=False))
        return
    for line in render(view):
        click.echo(line)
    if view.direction in ("downstream", "both") and view.of_kind("model"):
        click.echo("impact:")
        for item in view.impact():
            live = ", ".join(f"{d['target']} ({d['environment']})" for d in item["deployments"])
            click.echo(f"  {item['model']}: stage {item['stage']}; live deployments: {live or 'none'}")


@click.group()
def lineage() -> None:
    """Lineage: what went into a model version, what a data version went into.

    NODE is an id such as model:credit-model/7, dataset:loans@2026-03,
    run:RUN_ID, deployment:scoring-api, actor:alice (the kind prefix may be
    left out when the rest names one node only).
    """


@lineage.command()
@click.argument("node")
@_depth_option
@_as_of_option
@_json_option
@click.pass_context
def upstream(ctx: click.Context, node: str, depth: int | None, as_of: str | None, as_json: bool) -> None:
    """Provenance of NODE: data versions and their ancestors, code, runs,
    artifacts, people and approvals that went into it."""
    with ledger.open(ctx.find_root().obj, create=False) as lg:
        _print(lg.lineage.upstream(node, depth=depth, as_of=moment(as_of)), as_json)


@lineage.command()
@click.argument("node")
@_depth_option
@_as_of_option
@_json_option
@click.pass_context
def downstream(ctx: click.Context, node: str, depth: int | None, as_of: str | None, as_json: bool) -> None:
    """Impact of NODE: the data versions, runs, artifacts, model versions
    (with their stage) and deployments (live or replaced) that depend on it."""
    with ledger.open(ctx.find_root().obj, create=False) as lg:
        _print(lg.lineage.downstream(node, depth=depth, as_of=moment(as_of)), as_json)


@lineage.command()
@click.argument("source")
@click.argument("target")
@_as_of_option
@_json_option
@click.pass_context
def path(ctx: click.Context, source: str, target: str, as_of: str | None, as_json: bool) -> None:
    """The shortest chain of lineage edges linking SOURCE and TARGET."""
    with ledger.open(ctx.find_root().obj, create=False) as lg:
        _print(lg.lineage.path(source, target, as_of=moment(as_of)), as_json)


@lineage.command()
@click.argument("node")
@_depth_option
@_as_of_option
@_json_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Draw the diagram to FILE (.svg, .png or .pdf).")
@click.pass_context
def show(
    ctx: click.Context, node: str, depth: int | None, as_of: str | None, as_json: bool, output: str | None
) -> None:
    """NODE's whole lineage, upstream and downstream; with -o, as a diagram
    laid out left to right: data, runs, artifacts, model versions, deployments."""
    with ledger.open(ctx.find_root().obj, create=False) as lg:
        view = lg.lineage.neighbourhood(node, depth=depth, as_of=moment(as_of))
    if output is None:
        _print(view, as_json)
        return
    from lineage import diagram  # noqa: PLC0415 - reportlab loads only when a diagram is drawn

    diagram.write(view, Path(output))
    click.echo(f"wrote {output}: {len(view.nodes)} nodes, {len(view.edges)} edges around {view.root}")


@lineage.command("export")
@click.option("--format", "fmt", type=click.Choice(_FORMATS), required=True, help="The export format.")
@click.option("--node", help="Export only NODE's lineage (upstream and downstream); default: the whole graph.")
@_depth_option
@_as_of_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
@click.pass_context
def export_command(
    ctx: click.Context, fmt: str, node: str | None, depth: int | None, as_of: str | None, output: str | None
) -> None:
    """Write the lineage graph, or one node's part of it, as PROV-JSON,
    OpenLineage run events (JSON lines), GraphML or Graphviz DOT. Exports are
    views of the ledger, which stays the source of truth."""
    if depth is not None and node is None:
        raise ValidationError("--depth limits the walk from --node: give --node too, or leave --depth out")
    with ledger.open(ctx.find_root().obj, create=False) as lg:
        at = moment(as_of)
        if node is None:
            view = lg.lineage.everything(as_of=at)
        else:
            view = lg.lineage.neighbourhood(node, depth=depth, as_of=at)
        text = _exported(fmt, view, f"mlledger/{lg.ledger_id}")
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    try:
        Path(output).write_text(text, encoding="utf-8")  # a view: written again, like a diagram
    except OSError as e:
        raise ValidationError(f"cannot write {output}: {e.strerror}") from e
    click.echo(f"wrote {output}: {fmt}, {len(view.nodes)} nodes, {len(view.edges)} edges", err=True)
