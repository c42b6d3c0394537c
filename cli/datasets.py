"""``mlledger datasets``: register data versions and read them, now or as of
a moment.

Owns: parsing ``datasets register``, ``datasets list`` and ``datasets show``
and printing what ``Ledger.register_dataset_version``, ``dataset_versions``
and ``dataset_version`` return. The rules (a version is registered once and
never changes; its parents are registered first) are the service's; a
refused command raises a ``LedgerError`` that ``cli.main``'s one handler
prints, exit 2, with nothing appended. ``cli.main`` imports this module,
never the other way round.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

import ledger
from cli.common import moment
from ledger.datasets import DataVersion

__all__ = ["datasets"]


def _open(ctx: click.Context) -> ledger.Ledger:
    return ledger.open(ctx.find_root().obj, create=False)


def _columns(specs: Sequence[str]) -> dict[str, str] | None:
    if not specs:
        return None
    columns = {}
    for spec in specs:
        name, sep, kind = spec.partition("=")
        if not sep or not name or not kind:
            raise click.BadParameter(f"{spec!r} is not NAME=TYPE", param_hint="--column")
        columns[name] = kind
    return columns


def _short(digest: str) -> str:
    return digest if len(digest) <= 23 else digest[:22] + "…"


def _parents(version: DataVersion) -> str:
    return ", ".join(str(ref) for ref in version.derived_from) or "-"


@click.group()
def datasets() -> None:
    """Data versions: register a dataset version with its digest and lineage, list and show them."""


@datasets.command("register")
@click.argument("name")
@click.argument("version")
@click.option("--digest", required=True, help="The content digest of the data, e.g. sha256:<hex>.")
@click.option("--source", help="Where the data is, e.g. s3://bank/loans/2026-03.parquet.")
@click.option(
    "--derived-from",
    "derived_from",
    multiple=True,
    metavar="NAME@VERSION",
    help="A registered data version this one was made from (repeatable).",
)
@click.option("--transform", help="How it was made from --derived-from, e.g. 'dedupe; drop PII columns'.")
@click.option("--column", "columns", multiple=True, metavar="NAME=TYPE", help="A column of its schema (repeatable).")
@click.option("--num-rows", type=click.IntRange(min=0), help="How many rows it has.")
@click.option("--actor", help="Who registers it (default: MLLEDGER_ACTOR, else the OS user).")
@click.option("--json", "as_json", is_flag=True, help="Print the version as JSON.")
@click.pass_context
def datasets_register(
    ctx: click.Context,
    name: str,
    version: str,
    digest: str,
    source: str | None,
    derived_from: tuple[str, ...],
    transform: str | None,
    columns: tuple[str, ...],
    num_rows: int | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """Register VERSION of dataset NAME. The same content again changes
    nothing; other content for a registered version is refused."""
    schema = _columns(columns)
    with _open(ctx) as lg:
        size = lg.size()
        found = lg.register_dataset_version(
            name,
            version,
            digest=digest,
            source=source,
            derived_from=list(derived_from),
            transform=transform,
            schema=schema,
            num_rows=num_rows,
            actor=actor,
        )
    if as_json:
        click.echo(json.dumps(found.to_json(), indent=2))
    elif found.seq >= size:
        click.echo(f"registered {found.ref} (event {found.seq})")
    else:
        click.echo(f"{found.ref} is registered already with this content (event {found.seq}): nothing appended")


@datasets.command("list")
@click.argument("name", required=False)
@click.option("--as-of", help="A seq or an RFC 3339 time: the versions registered by then.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def datasets_list(ctx: click.Context, name: str | None, as_of: str | None, as_json: bool) -> None:
    """List data versions (of dataset NAME) in the order they were registered."""
    with _open(ctx) as lg:
        found = lg.dataset_versions(name, as_of=moment(as_of))
    if as_json:
        click.echo(json.dumps([version.to_json() for version in found]))
        return
    if not found:
        click.echo("no data versions registered" + (f" for {name!r}" if name else ""))
        return
    headers = ("SEQ", "NAME", "VERSION", "DIGEST", "DERIVED FROM", "ACTOR", "TIME")
    rows = [(str(v.seq), v.name, v.version, _short(v.digest), _parents(v), v.actor, v.time) for v in found]
    widths = [max(len(row[i]) for row in (headers, *rows)) for i in range(len(headers))]
    for row in (headers, *rows):
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@datasets.command("show")
@click.argument("name")
@click.argument("version")
@click.option("--as-of", help="A seq or an RFC 3339 time: the version as it was then.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def datasets_show(ctx: click.Context, name: str, version: str, as_of: str | None, as_json: bool) -> None:
    """Everything about one data version: digest, source, lineage, schema and its registration."""
    with _open(ctx) as lg:
        found = lg.dataset_version(name, version, as_of=moment(as_of))
    if as_json:
        click.echo(json.dumps(found.to_json(), indent=2))
        return
    columns = ", ".join(f"{c['name']} {c['type']}" for c in found.columns) if found.columns is not None else "-"
    lines = [
        ("data version", str(found.ref)),
        ("digest", found.digest),
        ("source", found.source or "-"),
        ("derived from", _parents(found)),
        ("transform", found.transform or "-"),
        ("schema", columns),
        ("rows", "-" if found.num_rows is None else str(found.num_rows)),
        ("registered", f"event {found.seq} by {found.actor} at {found.time}"),
    ]
    if found.redacted_by is not None:
        lines.append(("redacted", f"by event {found.redacted_by} (`mlledger event {found.redacted_by}` says why)"))
    for label, value in lines:
        click.echo(f"{label + ':':<14}{value}")
