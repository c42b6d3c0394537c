"""The ``mlledger`` command: thin click commands over ``ledger.Ledger``.

Owns: option parsing, output formats, progress bars and the one error
handler that maps the ``LedgerError`` tree to exit codes (0 ok, 1 integrity
failure, 2 usage or connection error). No ledger logic lives here.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, NoReturn

import click

import ledger
from cli import checkpoints as checkpoint_commands
from cli.checkpoints import verifier_key_argument
from cli.datasets import datasets
from cli.demo import demo
from cli.events import event
from cli.evidence import evidence
from cli.lineage import lineage
from cli.models import keys, models, policy, roles
from cli.redaction import redact
from cli.report import report
from ledger.checkpoint import origin_for, parse_verifier_key
from ledger.checkpoints import CheckpointFinding, read_notes
from ledger.encoding import parse_json
from ledger.errors import IntegrityError, LedgerError

EXIT_OK, EXIT_INTEGRITY, EXIT_USAGE = 0, 1, 2


class _Group(click.Group):
    """Runs every command under one error handler: no tracebacks for LedgerError."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IntegrityError as e:
            _fail(str(e), EXIT_INTEGRITY)
        except LedgerError as e:
            _fail(str(e), EXIT_USAGE)
        except BrokenPipeError:
            # The reader went away (`mlledger export | head`): not an error of ours.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(EXIT_OK)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"mlledger: error: {message}", err=True)
    sys.exit(code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--uri",
    envvar="MLLEDGER_URI",
    default=ledger.DEFAULT_URI,
    show_default=True,
    help="Ledger database: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB (env MLLEDGER_URI).",
)
@click.version_option(ledger.__version__, prog_name="mlledger")
@click.pass_context
def main(ctx: click.Context, uri: str) -> None:
    """mlledger: a tamper-evident audit and lineage ledger for ML."""
    ctx.obj = uri


def _open(ctx: click.Context, *, create: bool = False) -> ledger.Ledger:
    return ledger.open(ctx.obj, create=create)


main.add_command(models)
main.add_command(datasets)
main.add_command(roles)
main.add_command(keys)
main.add_command(policy)
main.add_command(demo)
main.add_command(checkpoint_commands.key)
main.add_command(checkpoint_commands.checkpoint)
main.add_command(checkpoint_commands.proof)
main.add_command(checkpoint_commands.verify_proof)
main.add_command(redact)
main.add_command(event)
main.add_command(evidence)
main.add_command(lineage)
main.add_command(report)


@main.command()
@click.option("--actor", help="Who becomes the first admin (default: MLLEDGER_ACTOR, else the OS user).")
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False),
    help="Where the ledger's signing key is (created, mode 0600, if absent). "
    "Default: MLLEDGER_KEY_FILE, else keys/ledger.key beside the ledger.",
)
@click.pass_context
def init(ctx: click.Context, actor: str | None, key_file: str | None) -> None:
    """Create the ledger, or migrate it to the current schema. The first init
    makes the actor the ledger's first admin (who grants roles and sets
    policies) and creates the ledger's Ed25519 signing key, which signs checkpoints."""
    with _open(ctx, create=True) as lg:
        claimed = lg.claim_admin(actor=actor)
        admins = [who for who, held in lg.registry.roles().items() if "admin" in held]
        click.echo(f"ledger {lg.ledger_id} ready at {lg.display_uri} ({lg.size()} events)")
        granted = " (granted now: the ledger had no admin)" if claimed else ""
        click.echo(f"admin: {', '.join(admins)}{granted}")
        signing, status = lg.setup_signing_key(key_file)
        origin = origin_for(lg.ledger_id)
    how = {"created": " (created now, mode 0600)", "adopted": " (an existing key file, adopted now)"}
    click.echo(f"signing key: {signing.path}{how.get(status, '')}")
    click.echo(f"verifier key: {signing.verifier_key}")
    if status == "adopted" and signing.name.startswith("mlledger/") and signing.name != origin:
        click.echo(
            f"warning: the key is named {signing.name}, another ledger's; it signs this ledger's checkpoints "
            "too (a key of its own: init with another --key-file path)",
            err=True,
        )


@main.command()
@click.argument("event_type")
@click.argument("payload")
@click.option("--actor", help="Who causes the event (default: MLLEDGER_ACTOR, else the OS user).")
@click.option("--id", "event_id", help="Client-chosen event id (UUID); a retry with it is idempotent.")
@click.pass_context
def append(ctx: click.Context, event_type: str, payload: str, actor: str | None, event_id: str | None) -> None:
    """Append one event: EVENT_TYPE and a JSON PAYLOAD (or @FILE, or - for stdin)."""
    text = _read_payload(payload)
    with _open(ctx) as lg:
        event = lg.append(event_type, parse_json(text), actor=actor, id=event_id)
    click.echo(f"{event.seq} {event.hash}")


def _read_payload(argument: str) -> str:
    if argument == "-":
        return sys.stdin.read()
    if argument.startswith("@"):
        try:
            return Path(argument[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            _fail(f"cannot read the payload file {argument[1:]}: {e}", EXIT_USAGE)
    return argument


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--artifacts", is_flag=True, help="Also re-hash every stored artifact and name the modified or missing.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes that check ranges at once (default: one per core, at most 4, from 250,000 events).",
)
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    type=click.Path(exists=True),
    help="A checkpoint note kept outside the ledger, or a directory of them (*.note; repeatable): "
    "the ledger must extend each (needs --key).",
)
@click.option("--key", "verifier", help="The verifier key the checkpoints must be signed with, or a file holding it.")
@click.pass_context
def verify(
    ctx: click.Context,
    as_json: bool,
    artifacts: bool,
    workers: int | None,
    checkpoints: tuple[str, ...],
    verifier: str | None,
) -> None:
    """Recompute every hash, check the chain and the stored Merkle tree, and,
    with --checkpoint, prove the ledger extends each signed checkpoint (catching
    a history rewritten with every hash recomputed, a truncation or a fork).
    Exit 0 intact, 1 faulty."""
    if checkpoints and not verifier:
        raise click.UsageError("--checkpoint needs --key VKEY: the verifier key you hold, not one read from the ledger")
    vkey = verifier_key_argument(verifier) if verifier else None
    if vkey is not None:
        parse_verifier_key(vkey)  # a bad key fails now, not after the whole chain is read
    notes = [note for path in checkpoints for note in read_notes(path)]
    if checkpoints and not notes:
        raise click.UsageError(f"no checkpoint notes found in {', '.join(checkpoints)}")
    with _open(ctx) as lg, _progress(lg.size(), "verifying") as progress:
        report = lg.verify(progress=progress, workers=workers)
        problems = lg.verify_artifacts() if artifacts else []
        redactions = {r.target_seq: r for r in lg.redactions()} if report.redacted and not as_json else {}
        findings = lg.check_checkpoints(notes, vkey, size=report.events, root=report.root) if vkey and notes else []
    failed_checkpoints = [finding for finding in findings if not finding.ok]
    if as_json:
        document = report.to_json()
        if artifacts:
            document["artifacts"] = [
                {"path": p.path, "sha256": p.sha256, "kind": p.kind, "detail": p.detail} for p in problems
            ]
        if findings:
            document["checkpoints"] = [finding.to_json() for finding in findings]
        document["ok"] = report.ok and not problems and not failed_checkpoints
        click.echo(json.dumps(document))
    elif report.ok:
        redacted = f", {len(report.redacted)} redacted payloads" if report.redacted else ""
        plural = "s" if report.signatures != 1 else ""
        signed = f", {report.signatures} signed approval{plural} verified" if report.signatures else ""
        click.echo(f"ok: {report.events} events intact{redacted}{signed}; head {report.head}")
    else:
        click.echo(
            f"FAILED: {len(report.faults)} faults in {report.events} events; first at event {report.faults[0].seq}"
        )
        for fault in report.faults[:20]:
            click.echo(f"  {fault}")
        if len(report.faults) > 20:
            click.echo(f"  ... and {len(report.faults) - 20} more (use --json for all)")
    for seq in list(redactions)[:20]:
        erased = redactions[seq]
        click.echo(f"  event {seq}: payload redacted by event {erased.seq} on {erased.time} ({erased.legal_basis})")
    if len(redactions) > 20:
        click.echo(f"  ... and {len(redactions) - 20} more redacted (use --json for all)")
    if artifacts and not as_json:
        for problem in problems:
            click.echo(f"  artifact {problem.path}: {problem.kind}: {problem.detail}")
        if not problems:
            click.echo("artifacts: every stored file matches its sha256")
    if findings and not as_json:
        _print_findings(findings)
    if not report.ok or problems or failed_checkpoints:
        sys.exit(EXIT_INTEGRITY)


def _print_findings(findings: list[CheckpointFinding]) -> None:
    failed = [finding for finding in findings if not finding.ok]
    if not failed:
        largest = max(finding.size or 0 for finding in findings)
        click.echo(f"checkpoints: the ledger extends all {len(findings)} (the largest covers {largest} events)")
        return
    click.echo(f"CHECKPOINTS FAILED: {len(failed)} of {len(findings)}")
    for finding in failed:
        click.echo(f"  {finding}")


@main.command()
@click.pass_context
def rebuild(ctx: click.Context) -> None:
    """Drop the read models (runs, params, metrics, ...) and replay the ledger."""
    with _open(ctx) as lg:
        count = lg.rebuild()
    click.echo(f"rebuilt the read models from {count} tracking events")


@main.group()
def experiments() -> None:
    """Experiments."""


@experiments.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def experiments_list(ctx: click.Context, as_json: bool) -> None:
    """List experiments."""
    with _open(ctx.find_root()) as lg:
        found = lg.list_experiments()
    if as_json:
        click.echo(json.dumps(found))
        return
    for experiment in found:
        click.echo(f"{experiment['experiment_id']}  {experiment['name']}")


@main.group()
def runs() -> None:
    """Runs: list, search and show."""


@runs.command("list")
@click.option("--experiment", "-e", multiple=True, help="Experiment name (repeatable; default: all).")
@click.option("--filter", "filter_", default="", help="e.g. \"metrics.rmse < 3 and params.alpha = '0.1'\"")
@click.option("--order-by", multiple=True, help="e.g. 'metrics.rmse ASC' (repeatable).")
@click.option("--max-results", type=click.IntRange(1, 50_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def runs_list(
    ctx: click.Context,
    experiment: tuple[str, ...],
    filter_: str,
    order_by: tuple[str, ...],
    max_results: int,
    as_json: bool,
) -> None:
    """List runs, with an MLflow-style filter and ordering."""
    with _open(ctx.find_root()) as lg:
        found = lg.search_runs(list(experiment) or None, filter_, list(order_by), max_results)
    if as_json:
        click.echo(json.dumps([run.to_json() for run in found]))
        return
    for run in found:
        info = run.info
        metrics = ", ".join(f"{k}={v:g}" for k, v in run.metrics.items())
        click.echo(f"{info.run_id}  {info.status:<8}  {info.run_name or '-':<20}  {info.user:<12}  {metrics}")


@runs.command("show")
@click.argument("run_id")
@click.option("--as-of", help="A seq or an RFC 3339 time: show the run as it was then.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def runs_show(ctx: click.Context, run_id: str, as_of: str | None, as_json: bool) -> None:
    """Show everything about one run."""
    moment: int | str | None = int(as_of) if as_of and as_of.lstrip("-").isdigit() else as_of
    with _open(ctx.find_root()) as lg:
        run = lg.get_run(run_id, as_of=moment)
    document = run.to_json()
    if as_json:
        click.echo(json.dumps(document, indent=2))
        return
    for section, value in document.items():
        click.echo(f"{section}:")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            click.echo(f"  {key}: {json.dumps(item) if isinstance(item, dict | list) else item}")


@main.command()
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="File to write (default: stdout).")
@click.pass_context
def export(ctx: click.Context, fmt: str, output: str | None) -> None:
    """Write every event, in seq order, one JSON object per line."""
    with _open(ctx) as lg, _sink(output) as sink, _progress(lg.size() if output else 0, "exporting") as progress:
        count = lg.export_jsonl(sink, progress=progress)
    if output:
        click.echo(f"exported {count} events to {output}", err=True)


@contextlib.contextmanager
def _sink(output: str | None) -> Iterator[IO[str]]:
    if output is None:
        # The export is UTF-8 with "\n" line ends whatever the locale says.
        stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")
        try:
            yield stdout
        finally:
            stdout.flush()
            stdout.detach()
        return
    try:
        handle = open(output, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed below
    except OSError as e:
        _fail(f"cannot write {output}: {e.strerror}", EXIT_USAGE)
    with handle:
        yield handle


@contextlib.contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal and there is work to show."""
    if total < 50_000 or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            bar.update(count - done)
            done = count

        yield advance


if __name__ == "__main__":
    main()
