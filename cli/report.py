"""``mlledger report``: the provenance report of a model version, and its check.

Owns the command-line face of ``reports``: ``mlledger report NAME VERSION``
writes the PDF (or ``--format json|text``) and records ``report.generated``;
``mlledger report verify FILE`` checks a report's embedded evidence offline
with the verifier key, and against the ledger when ``--uri`` (or
``MLLEDGER_URI``) names one or ``--key`` is left out. Thin: gathering,
rendering and checking live in ``reports/``. ``cli.main`` imports this
module, never the other way round.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

import ledger
from cli.checkpoints import verifier_key_argument
from cli.common import moment
from ledger.errors import ValidationError
from ledger.files import write_new

__all__ = ["report"]


class _ReportGroup(click.Group):
    """``report NAME VERSION`` creates; ``report verify FILE`` checks."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["create", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_ReportGroup)
def report() -> None:
    """The provenance report of a model version: everything the ledger holds
    about it, as a PDF that carries its own evidence.

    \b
    mlledger report credit-model 3 [-o FILE] [--as-of TIME|SEQ] [--format pdf|json|text]
    mlledger report verify credit-model-v3-report.pdf --key VERIFIER_KEY
    """


@report.command("create")
@click.argument("name")
@click.argument("version", type=click.IntRange(min=1))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Where to write it (default: NAME-vVERSION-report.pdf; '-' for stdout).",
)
@click.option("--format", "fmt", type=click.Choice(["pdf", "json", "text"]), default="pdf", show_default=True)
@click.option("--page-size", type=click.Choice(["A4", "letter"]), default="A4", show_default=True)
@click.option("--as-of", help="A seq or an RFC 3339 time: the version as it was then.")
@click.option(
    "--no-verify", is_flag=True, help="Skip re-checking the cited events for the cover (the cover then says so)."
)
@click.option(
    "--check-ledger",
    is_flag=True,
    help="Also re-hash every event up to the checkpoint for the cover, as `mlledger verify` does (a pass over "
    "the whole ledger).",
)
@click.option("--actor", help="Who asks (default: MLLEDGER_ACTOR, else the OS user); recorded in report.generated.")
@click.pass_context
def create(
    ctx: click.Context,
    name: str,
    version: int,
    output: str | None,
    fmt: str,
    page_size: str,
    as_of: str | None,
    no_verify: bool,
    check_ledger: bool,
    actor: str | None,
) -> None:
    """Write the report of VERSION of model NAME and record that it was made
    (report.generated: who, which version, the document's SHA-256)."""
    from reports.generate import generate_report  # noqa: PLC0415 - reportlab loads for this command only

    if no_verify and check_ledger:
        raise click.UsageError("--check-ledger adds to the cover's checks; it cannot go with --no-verify")
    suffix = {"pdf": "pdf", "json": "json", "text": "txt"}[fmt]
    target = output or f"{name}-v{version}-report.{suffix}"
    if target != "-" and os.path.exists(target):
        raise ValidationError(f"{target} exists; a report is never written over a file (choose another -o)")
    written: list[Path] = []

    def deliver(document: bytes) -> None:
        if target == "-":
            sys.stdout.flush()
            sys.stdout.buffer.write(document)
            sys.stdout.buffer.flush()
            return
        if not write_new(Path(target), document):
            raise ValidationError(f"{target} exists; a report is never written over a file (choose another -o)")
        written.append(Path(target))

    with ledger.open(ctx.find_root().obj, create=False) as lg:
        try:
            made = generate_report(
                lg, name, version, fmt=fmt, page_size=page_size, as_of=moment(as_of),  # type: ignore[arg-type]
                verify=not no_verify, check_ledger=check_ledger, deliver=deliver, actor=actor,
            )  # fmt: skip
        except BaseException:
            for path in written:  # delivered but not recorded: access to evidence must leave a trace
                path.unlink(missing_ok=True)
            raise
    if target != "-":
        click.echo(
            f"wrote {target}: {name} v{version}, {len(made.document):,} bytes, sha256:{made.sha256}, "
            f"checkpoint {made.tree_size}; recorded as event {made.event.seq}",
            err=True,
        )


@report.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--key",
    "key",
    callback=lambda ctx, param, value: None if value is None else verifier_key_argument(value),
    help="The ledger's verifier key (name+id+key) or a file holding it. Without it, the ledger's own key, "
    "and the report is also checked against the ledger.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def verify(ctx: click.Context, file: str, key: Any, as_json: bool) -> None:
    """Check a report: its embedded evidence against the signed checkpoint
    (offline, with --key), and, when a ledger is named (--uri or
    MLLEDGER_URI) or no key is given, against that ledger too."""
    from reports.verify import verify_report_pdf  # noqa: PLC0415

    data = Path(file).read_bytes()
    root = ctx.find_root()
    named = root.get_parameter_source("uri") in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    if key is not None and not named:
        checked = verify_report_pdf(data, key)
        recorded = None
    else:
        with ledger.open(root.obj, create=False) as lg:
            checked = verify_report_pdf(data, key if key is not None else lg.verifier_key(), ledger=lg)
            recorded = _recorded(lg, checked.pdf_sha256)
    if as_json:
        click.echo(json.dumps({**checked.to_json(), "recorded_by_event": recorded}, indent=2))
        return
    where = f"and in the ledger ({checked.ledger_size} events)" if checked.against_ledger else "offline"
    click.echo(
        f"OK: {file}: {checked.model} v{checked.version}, {checked.events} cited events proven against "
        f"checkpoint {checked.tree_size} (root {checked.root[:16]}…) {where}"
    )
    if checked.against_ledger:
        unrecorded = "no report.generated event records this file's SHA-256 (made elsewhere, or altered)"
        click.echo(f"generation recorded by event {recorded}" if recorded is not None else unrecorded)


def _recorded(lg: ledger.Ledger, pdf_sha256: str) -> int | None:
    """The seq of the ``report.generated`` event recording a document with this SHA-256."""
    wanted = pdf_sha256 if pdf_sha256.startswith("sha256:") else "sha256:" + pdf_sha256
    for seq, _, _, _, body in lg.store.rows_of_types(("report.generated",)):
        if body is not None and json.loads(body).get("sha256") == wanted:
            return int(seq)
    return None
