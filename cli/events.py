"""``mlledger event``: one event as the ledger holds it.

Owns: printing an event's header, hash and payload, or, for an erased
payload, the redaction that erased it (``Ledger.redaction_of``). A payload
missing with no redaction to explain it is tampering: printed as such, exit 1.
``cli.main`` imports this module, never the other way round.
"""

from __future__ import annotations

import json
import sys

import click

import ledger

__all__ = ["event"]

_EXIT_INTEGRITY = 1


@click.command()
@click.argument("seq", type=click.IntRange(min=0))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.pass_context
def event(ctx: click.Context, seq: int, as_json: bool) -> None:
    """Show event SEQ: its header, hash and payload (or who redacted the payload, when and why)."""
    with ledger.open(ctx.find_root().obj, create=False) as lg:
        found = lg.event(seq)
        redaction = lg.redaction_of(seq) if found.payload is None else None
    missing = found.payload is None and redaction is None
    if as_json:
        document = {
            **found.header(),
            "hash": found.hash,
            "payload": found.payload,
            "redaction": None if redaction is None else redaction.to_json(),
        }
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        click.echo(f"event {found.seq}")
        for name, value in found.header().items():
            if name != "seq":
                click.echo(f"  {name}: {value}")
        click.echo(f"  hash: {found.hash}")
        if found.payload is not None:
            click.echo("payload: " + json.dumps(found.payload, indent=2, ensure_ascii=False, sort_keys=True))
        elif redaction is not None:
            click.echo(f"payload: {redaction}")
        else:
            click.echo("payload: missing, and no ledger.redacted event names it: the ledger was altered")
    if missing:
        sys.exit(_EXIT_INTEGRITY)
