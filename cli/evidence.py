"""The ``evidence`` command: ``mlledger evidence MODEL VERSION -o FILE``
writes the evidence bundle of a model version; ``mlledger evidence verify
FILE --key VKEY`` checks one offline.

Owns: parsing them and printing what ``ledger.evidence`` and
``ledger.bundle`` return. ``evidence verify`` never opens a ledger: the
bundle and the verifier key are all it needs. ``cli.main`` adds the group;
its error handler maps a failed check (``IntegrityError``) to exit 1 and a
malformed bundle or bad arguments to exit 2.
"""

from __future__ import annotations

from pathlib import Path

import click

import ledger
from cli.checkpoints import KEY_FILE_HELP, verifier_key_argument
from ledger.bundle import check_bundle, unzip_bundle
from ledger.errors import ValidationError

__all__ = ["evidence"]


class _EvidenceGroup(click.Group):
    """A group whose default command is ``create``: ``evidence MODEL VERSION
    -o FILE`` reads as ``evidence create MODEL VERSION -o FILE`` (a model
    called ``verify`` or ``create`` needs the explicit ``evidence create``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["create", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_EvidenceGroup, subcommand_metavar="MODEL VERSION -o FILE | verify FILE --key VKEY")
def evidence() -> None:
    """Evidence bundles: every event about a model version and its lineage,
    proven against one signed checkpoint, in one zip.

    \b
    mlledger evidence credit-model 3 -o credit-model-3.zip
    mlledger evidence verify credit-model-3.zip --key VKEY
    """


@evidence.command("create")
@click.argument("model")
@click.argument("version", type=click.IntRange(min=1))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), required=True, help="The zip to write (never over a file)."
)
@click.option("--key-file", type=click.Path(dir_okay=False), help=f"{KEY_FILE_HELP} Signs a checkpoint if one is made.")
@click.pass_context
def evidence_create(ctx: click.Context, model: str, version: int, output: str, key_file: str | None) -> None:
    """Write the evidence bundle of VERSION of MODEL (`mlledger evidence
    MODEL VERSION -o FILE` for short): the events about it, with their
    multiproof against the latest stored checkpoint covering them all (one
    is signed now when none does), the verifier key and a README."""
    with ledger.open(ctx.find_root().obj, create=False) as lg:
        key = lg.signing_key(key_file) if key_file else None
        bundle = lg.write_evidence(model, version, output, key=key)
    redacted = f", {len(bundle.redacted)} with redacted payloads" if bundle.redacted else ""
    click.echo(
        f"wrote {output}: {len(bundle.citations)} events about {model} version {version}{redacted}, "
        f"proven in the checkpoint of {bundle.checkpoint.size} events (root {bundle.checkpoint.root.hex()[:16]}…)"
    )
    click.echo(f"check it: mlledger evidence verify {output} --key VKEY (the ledger's verifier key, from its operator)")


@evidence.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--key", "verifier", required=True, help="The ledger's verifier key, or a file holding it.")
def evidence_verify(file: str, verifier: str) -> None:
    """Check an evidence bundle offline, without the ledger: the checkpoint's
    signature by VKEY, each event's hash and payload digest, their multiproof
    (or in an older bundle each inclusion proof), and that the manifest cites
    exactly the events inside. Exit 0 valid,
    1 a check failed, 2 unreadable."""
    checked = check_bundle(_read_zip(file), verifier_key_argument(verifier))
    redacted = ""
    if checked.redacted:
        redacted = f" ({len(checked.redacted)} payloads redacted, each by a cited ledger.redacted event)"
    click.echo(
        f"ok: {checked.events} events about {checked.model} version {checked.version}{redacted}, each in the tree "
        f"of {checked.tree_size} events of {checked.origin} signed by the key"
    )
    if not checked.bundled_key_matches:
        click.echo("note: the bundle's verifier.key is not the key given with --key (the check used --key)")


def _read_zip(file: str) -> dict[str, bytes]:
    try:
        data = Path(file).read_bytes()
    except OSError as e:
        raise ValidationError(f"cannot read {file}: {e.strerror}") from e
    return unzip_bundle(data)
