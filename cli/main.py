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


@main.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the ledger, or migrate it to the current schema."""
    with _open(ctx, create=True) as lg:
        click.echo(f"ledger {lg.ledger_id} ready at {lg.display_uri} ({lg.size()} events)")


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
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes that check ranges at once (default: one per core, at most 4, from 250,000 events).",
)
@click.pass_context
def verify(ctx: click.Context, as_json: bool, workers: int | None) -> None:
    """Recompute every hash and check the chain. Exit 0 intact, 1 faulty."""
    with _open(ctx) as lg, _progress(lg.size(), "verifying") as progress:
        report = lg.verify(progress=progress, workers=workers)
    if as_json:
        click.echo(json.dumps(report.to_json()))
    elif report.ok:
        redacted = f", {len(report.redacted)} redacted payloads" if report.redacted else ""
        click.echo(f"ok: {report.events} events intact{redacted}; head {report.head}")
    else:
        click.echo(
            f"FAILED: {len(report.faults)} faults in {report.events} events; first at event {report.faults[0].seq}"
        )
        for fault in report.faults[:20]:
            click.echo(f"  {fault}")
        if len(report.faults) > 20:
            click.echo(f"  ... and {len(report.faults) - 20} more (use --json for all)")
    if not report.ok:
        sys.exit(EXIT_INTEGRITY)


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
