"""The commands of the ledger's signing key, checkpoints and proofs:
``key``, ``checkpoint``, ``proof`` and ``verify-proof``.

Owns: parsing them and printing what ``ledger.checkpoints`` and
``ledger.proofs`` return. ``verify-proof`` never opens a ledger: it needs the
proof file and the verifier key only. ``cli.main`` imports this module.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

import ledger
from ledger.encoding import parse_json
from ledger.errors import ValidationError
from ledger.files import write_once
from ledger.proofs import check_proof

__all__ = ["checkpoint", "key", "proof", "verifier_key_argument", "verify_proof"]

KEY_FILE_HELP = "The ledger's signing key file (default: MLLEDGER_KEY_FILE, else keys/ledger.key beside the ledger)."


def _open(ctx: click.Context) -> ledger.Ledger:
    return ledger.open(ctx.find_root().obj, create=False)


def verifier_key_argument(value: str) -> str:
    """A verifier key given as text, or the path of a file holding one."""
    path = Path(value)
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise ValidationError(f"cannot read the verifier key file {value}: {e}") from e
    if "+" not in value:
        raise ValidationError(f"--key {value!r} is neither a verifier key (name+id+key) nor a readable file")
    return value


@click.group()
def key() -> None:
    """The ledger's own Ed25519 signing key, which signs checkpoints
    (`mlledger keys` manages the keys actors sign approvals with)."""


@key.command("public")
@click.pass_context
def key_public(ctx: click.Context) -> None:
    """Print the verifier key, <name>+<key id>+<base64 key>: give it to
    auditors through a channel other than the ledger."""
    with _open(ctx) as lg:
        click.echo(lg.verifier_key())


@click.group()
def checkpoint() -> None:
    """Signed checkpoints: the Merkle root of the ledger, to keep outside it."""


@checkpoint.command("create")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Also write the note to this file.")
@click.option("--key-file", type=click.Path(dir_okay=False), help=KEY_FILE_HELP)
@click.pass_context
def checkpoint_create(ctx: click.Context, output: str | None, key_file: str | None) -> None:
    """Sign and store a checkpoint of every event so far, and print its note."""
    with _open(ctx) as lg:
        signed = lg.create_checkpoint(key=lg.signing_key(key_file))
    if output:
        write_once(Path(output), signed.note.encode())
        click.echo(f"checkpoint of {signed.size} events, root {signed.root.hex()}, written to {output}")
    else:
        click.echo(signed.note, nl=False)


@checkpoint.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def checkpoint_list(ctx: click.Context, as_json: bool) -> None:
    """The checkpoints stored in the ledger, oldest first."""
    with _open(ctx) as lg:
        stored = lg.checkpoints()
        every, directory = lg.checkpoint_schedule()
    if as_json:
        click.echo(json.dumps([c.to_json() for c in stored], indent=2))
        return
    for signed in stored:
        click.echo(f"{signed.size:>10}  {signed.time}  {signed.root.hex()}")
    if not stored:
        click.echo("no checkpoints yet: `mlledger checkpoint create` makes one")
    if every:
        click.echo(f"automatic: every {every} events" + (f", copied to {directory}" if directory else ""))


@checkpoint.command("auto")
@click.option("--every", type=click.IntRange(min=0), required=True, help="Events between checkpoints (0: off).")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, exists=True),
    help="Also write each note here, once (mount it write-once).",
)
@click.pass_context
def checkpoint_auto(ctx: click.Context, every: int, directory: str | None) -> None:
    """Checkpoint automatically whenever an append crosses a multiple of
    --every events (by writers that can read the signing key)."""
    with _open(ctx) as lg:
        lg.set_checkpoint_schedule(every, directory)
        every, directory = lg.checkpoint_schedule()
    if not every:
        click.echo("automatic checkpoints are off")
        return
    click.echo(f"a checkpoint every {every} events" + (f", copied to {directory}" if directory else ""))


@click.command()
@click.argument("seq", type=click.IntRange(min=0))
@click.option("--json", "as_json", is_flag=True, help="Print the proof document (JSON).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the proof document (JSON) to this file.")
@click.pass_context
def proof(ctx: click.Context, seq: int, as_json: bool, output: str | None) -> None:
    """Prove that event SEQ is in the ledger: its inclusion proof against the
    latest signed checkpoint (one is made when none covers SEQ). Check it
    anywhere with `mlledger verify-proof FILE --key VKEY`."""
    with _open(ctx) as lg:
        document = lg.prove(seq)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output:
        write_once(Path(output), text.encode())
    if as_json:
        click.echo(text, nl=False)
    elif output:
        click.echo(f"proof of event {seq} in the tree of {document['tree_size']} events written to {output}")
    else:
        _print_proof(document)


def _print_proof(document: dict[str, object]) -> None:
    event = document["event"]
    assert isinstance(event, dict)
    click.echo(f"event {document['seq']} ({event['type']}, {event['time']}, by {event['actor']})")
    click.echo(f"hash       {document['hash']}")
    click.echo(f"tree size  {document['tree_size']}")
    click.echo(f"root       {document['root']}")
    path = document["path"]
    assert isinstance(path, list)
    click.echo(f"path       {len(path)} hashes")
    for node in path:
        click.echo(f"           {node}")
    click.echo("checkpoint")
    click.echo(str(document["checkpoint"]), nl=False)


@click.command("verify-proof")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, allow_dash=True))
@click.option("--key", "verifier", required=True, help="The ledger's verifier key, or a file holding it.")
def verify_proof(file: str, verifier: str) -> None:
    """Check a proof document offline, without the ledger: the checkpoint's
    signature, the inclusion proof and the event's hashes. Exit 0 valid, 1 not."""
    try:
        with click.open_file(file, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ValidationError(f"cannot read {file}: {e}") from e
    checked = check_proof(parse_json(text), verifier_key_argument(verifier))
    absent = ", payload absent: redacted, says the document; a proof does not carry the redaction"
    kind = "" if checked.type is None else f" ({checked.type}{absent if checked.redacted else ''})"
    click.echo(
        f"ok: event {checked.seq}{kind}, hash {checked.hash}, is in the tree of {checked.tree_size} events "
        f"of {checked.origin} signed by the key"
    )
