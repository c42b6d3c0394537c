"""``mlledger redact``: erase the payload of one event (DESIGN §6).

Owns: parsing the command, the confirmation prompt, and printing what
``Ledger.redact`` did, with a note when another event still holds what was
erased (a run's input and the data version registered with its facts). The
rules (admins only, redactable types, one redaction per event) are the
service's; a refused redaction raises a ``LedgerError`` that ``cli.main``'s
one handler prints, exit 2, with nothing appended or erased. ``cli.main``
imports this module, never the other way round.
"""

from __future__ import annotations

import shlex

import click

import ledger
from ledger.datasets import DataVersion
from ledger.errors import NotFoundError
from ledger.events import RecordedEvent

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
        target = lg.event(seq) if seq < lg.size() else None  # read before its payload is gone
        if not yes:
            what = f" ({target.type} by {target.actor} at {target.time})" if target else ""
            click.confirm(
                f"Erase the payload of event {seq}{what} for good? It cannot be recovered.", abort=True, err=True
            )
        registration = _registration_of_input(lg, target)
        redaction = lg.redact(seq, reason=reason, legal_basis=legal_basis, actor=actor)
    click.echo(f"redacted event {seq} by event {redaction.seq}")
    if registration is not None:
        click.echo(_note(registration, reason, legal_basis, actor), err=True)


def _registration_of_input(lg: ledger.Ledger, target: RecordedEvent | None) -> DataVersion | None:
    """The registration, not yet redacted, of the data version a run's input
    ``target`` names: it may hold the input's source and schema too (``log_input``
    registers an unregistered version from them)."""
    if target is None or target.type != "run.input_logged" or target.payload is None:
        return None
    try:
        found = lg.dataset_version(target.payload["name"], target.payload["version"])
    except NotFoundError:
        return None
    return None if found.redacted else found


def _note(registration: DataVersion, reason: str, legal_basis: str, actor: str | None) -> str:
    """The note after a run's input is redacted, with the command that redacts ``registration`` alike."""
    again = ["mlledger", "redact", str(registration.seq), "--reason", reason, "--legal-basis", legal_basis]
    if actor is not None:
        again += ["--actor", actor]
    return (
        f"note: data version {registration.ref} (event {registration.seq}) also names this data; redact it too if "
        f"its source or schema is personal data (its name and version stay either way): {shlex.join(again)}"
    )
