"""``mlledger redact``: erase the payload of one event (DESIGN §6).

Owns: parsing the command, the confirmation prompt, and printing what
``Ledger.redact`` did. The rules (admins only, redactable types, one
redaction per event) are the service's; a refused redaction raises a
``LedgerError`` that ``cli.main``'s one handler prints, exit 2, with nothing
appended or erased. ``cli.main`` imports this module, never the other way round.
"""

from __future__ import annotations

import click

import ledger

__all__ = ["redact"]


@click.command()
@click.argument("seq", type=click.IntRange(min=0))
@click.option("--reason", required=True, help="Why the payload is erased, e.g. 'erasure request DSR-12'.")
@click.option("--legal-basis", required=True, help="What requires the erasure, e.g. 'GDPR Art. 17'.")
@click.option("--actor", help="Who erases it, an admin (default: MLLEDGER_ACTOR, else the OS user).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def redact(ctx: click.Context, seq: int, reason: str, legal_basis: str, actor: str | None, yes: bool) -> None:
    """Erase the payload of event SEQ for good (the right to erasure). Its
    header, hash and the chain stay; `verify` reports it as redacted and
    `event SEQ` shows by whom, when and why. Admins only."""
    with ledger.open(ctx.find_root().obj, create=False) as lg:
        if not yes:
            target = lg.event(seq) if seq < lg.size() else None
            what = f" ({target.type} by {target.actor} at {target.time})" if target else ""
            click.confirm(
                f"Erase the payload of event {seq}{what} for good? It cannot be recovered.", abort=True, err=True
            )
        redaction = lg.redact(seq, reason=reason, legal_basis=legal_basis, actor=actor)
    click.echo(f"redacted event {seq} by event {redaction.seq}")
