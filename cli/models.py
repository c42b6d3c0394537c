"""The registry commands of ``mlledger``: ``models``, ``roles``, ``keys`` and ``policy``.

Owns: parsing the registry commands, calling ``Ledger``'s registry service
and printing what it returns. ``models show`` prints the version's
provenance report (``reports.provenance.gather``, without signing or
re-checking) as its text view (``reports.text``) or JSON: the one view of a
version, which ``mlledger report`` writes as a signed, verified document.
The rules (approvals, roles, policies) live in the service; a refused
command raises a ``LedgerError`` that ``cli.main``'s one handler prints,
exit 2, with nothing appended. ``cli.main`` imports this module, never the
other way round.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

import ledger
from cli.common import moment
from ledger.errors import ValidationError
from ledger.governance import KNOWN_ROLES, STAGES
from ledger.keys import generate_private_key, private_key_pem, public_key_b64
from ledger.registry import load_signing_key
from ledger.registry_views import (
    ModelVersionView,
    summarize,
)

__all__ = ["keys", "models", "policy", "roles"]

RUN_STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")

F = TypeVar("F", bound=Callable[..., Any])


def _actor_option(function: F) -> F:
    option = click.option("--actor", help="Who makes the change (default: MLLEDGER_ACTOR, else the OS user).")
    return option(function)


def _json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(function)


def _open(ctx: click.Context) -> ledger.Ledger:
    return ledger.open(ctx.find_root().obj, create=False)


def _echo_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2))


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(headers), *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in cells)
    return "\n".join(line.rstrip() for line in lines)


def _when(lg: ledger.Ledger, seq: int) -> str:
    """``event N (time)``, for the seq an as-of view is bounded at."""
    head = lg.head()
    if head is not None and 0 <= seq <= head.seq:
        return f"event {seq} ({lg.event(seq).time})"
    return f"event {seq} ({'before the first event' if seq < 0 else 'after the last event'})"


def _number(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


# -- models ------------------------------------------------------------------

STAGE = click.Choice(STAGES)
VERSION = click.IntRange(min=1)


@click.group()
def models() -> None:
    """Model registry: versions, stages, approvals, aliases, promotions, deployments."""


@models.command("list")
@_json_option
@click.pass_context
def models_list(ctx: click.Context, as_json: bool) -> None:
    """List models: owner, latest version, the version in Production and how many aliases."""
    with _open(ctx) as lg:
        view = lg.registry
        rows = [
            {
                "name": model.name,
                "owner": model.owner,
                "latest_version": model.latest_version,
                "production": view.version_in_stage(model.name, "Production"),
                "aliases": len(view.aliases(model.name)),
            }
            for model in view.list_models()
        ]
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("no models registered")
        return
    headers = ("NAME", "OWNER", "LATEST", "PRODUCTION", "ALIASES")
    fields = ("name", "owner", "latest_version", "production", "aliases")
    click.echo(_table(headers, [["-" if row[f] is None else row[f] for f in fields] for row in rows]))


@models.command("show")
@click.argument("name")
@click.argument("version", type=VERSION)
@click.option("--as-of", help="A seq or an RFC 3339 time: show the version as it was then.")
@_json_option
@click.pass_context
def models_show(ctx: click.Context, name: str, version: int, as_of: str | None, as_json: bool) -> None:
    """Everything about one version: its provenance report as text (the
    sections of `mlledger report`) or, with --json, as JSON.

    Read-only: it never signs or writes, so it needs no signing key. The
    report is tied to the latest stored checkpoint covering the version's
    events, else to the ledger's head, unsigned (it says so; `mlledger
    checkpoint create` signs one). Nothing is re-checked: `mlledger report`
    writes a signed, verified document.
    """
    from reports.provenance import gather  # noqa: PLC0415 - only this command reads the whole report
    from reports.text import render_text  # noqa: PLC0415

    when = moment(as_of)
    with _open(ctx) as lg:
        # The version as of the moment first: an unknown one is refused in the registry's words.
        (lg.registry if when is None else lg.registry_as_of(when)).get_model_version(name, version)
        report = gather(lg, name, version, as_of=when, verify=False, sign=False).report
    if as_json:
        _echo_json(report.to_json())
    else:
        click.echo(render_text(report), nl=False)


@models.command("history")
@click.argument("name")
@_json_option
@click.pass_context
def models_history(ctx: click.Context, name: str, as_json: bool) -> None:
    """Every registry event of a model: seq, time, actor, what changed, and why."""
    with _open(ctx) as lg:
        entries = lg.model_history(name)
    if as_json:
        click.echo(json.dumps([entry.to_json() for entry in entries]))
        return
    for entry in entries:
        reason = f"  reason: {entry.reason}" if entry.reason else ""
        click.echo(f"{entry.seq:>6}  {entry.time}  {entry.actor}  {entry.summary}{reason}")


@models.command("stage")
@click.argument("name")
@click.argument("version", type=VERSION)
@click.argument("stage", type=STAGE, metavar="STAGE")
@click.option("--reason", help="Why the version moves (kept in the ledger).")
@_actor_option
@click.pass_context
def models_stage(
    ctx: click.Context, name: str, version: int, stage: str, reason: str | None, actor: str | None
) -> None:
    """Move VERSION of NAME to STAGE (None, Staging, Production or Archived)
    directly. Stages the model's policy puts under approval refuse this: use
    `models request` instead."""
    with _open(ctx) as lg:
        moved = lg.transition_stage(name, version, stage, reason, actor=actor)
        # The event that moved it names the versions it archived on the way.
        change = lg.event(moved.stage_since_seq)
    summary = summarize(change.type, version, change.payload or {})
    click.echo(f"{name}: {summary} (event {moved.stage_since_seq})")


@models.command("request")
@click.argument("name")
@click.argument("version", type=VERSION)
@click.argument("stage", type=STAGE, metavar="STAGE")
@click.option("--reason", help="Why the version should move (the approver sees it).")
@_actor_option
@click.pass_context
def models_request(
    ctx: click.Context, name: str, version: int, stage: str, reason: str | None, actor: str | None
) -> None:
    """Ask for VERSION of NAME to move to STAGE (None, Staging, Production or
    Archived); prints the request id, which an approver passes to `models
    approve` (or `models reject`)."""
    with _open(ctx) as lg:
        request = lg.request_transition(name, version, stage, reason, actor=actor)
    click.echo(request.request_id)


@models.command("approve")
@click.argument("request_id")
@click.option("--comment", help="The approver's comment (kept in the ledger).")
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False),
    help="Sign the approval with this Ed25519 private key (PEM, registered with `keys register`).",
)
@_actor_option
@click.pass_context
def models_approve(
    ctx: click.Context, request_id: str, comment: str | None, key_file: str | None, actor: str | None
) -> None:
    """Approve a pending transition request and carry out the transition. The
    policy decides who may (an approver; four-eyes: neither the requester nor
    the source run's author) and whether the approval must be signed."""
    with _open(ctx) as lg:
        request = lg.approve_transition(request_id, comment, actor=actor, signing_key=key_file)
    signed = f", signed with key {request.key_id}" if request.signature else ""
    click.echo(
        f"request {request.request_id} approved by {request.decided_by} (event {request.decided_seq}{signed}): "
        f"version {request.version} of {request.name!r} is now in {request.to_stage} (event {request.executed_seq})"
    )


@models.command("reject")
@click.argument("request_id")
@click.option("--comment", help="Why (kept in the ledger).")
@_actor_option
@click.pass_context
def models_reject(ctx: click.Context, request_id: str, comment: str | None, actor: str | None) -> None:
    """Reject a pending transition request (an approver, or its requester withdrawing it)."""
    with _open(ctx) as lg:
        request = lg.reject_transition(request_id, comment, actor=actor)
    click.echo(
        f"request {request.request_id} rejected by {request.decided_by} (event {request.decided_seq}): "
        f"version {request.version} of {request.name!r} does not move to {request.to_stage}"
    )


@models.command("requests")
@click.argument("name")
@click.option("--pending", is_flag=True, help="Only the requests awaiting a decision.")
@_json_option
@click.pass_context
def models_requests(ctx: click.Context, name: str, pending: bool, as_json: bool) -> None:
    """List a model's transition requests, oldest first."""
    with _open(ctx) as lg:
        lg.registry.get_model(name)  # an unknown model is an error, not an empty list
        found = [r for r in lg.registry.requests(name) if not pending or r.status == "pending"]
    if as_json:
        click.echo(json.dumps([request.to_json() for request in found]))
        return
    if not found:
        click.echo(f"no {'pending ' if pending else ''}transition requests for {name!r}")
        return
    for request in found:
        decided = "" if request.decided_by is None else f" by {request.decided_by}"
        signed = " (signed)" if request.signature else ""
        click.echo(
            f"{request.request_id}  version {request.version} → {request.to_stage}  {request.status}{decided}{signed}"
            f"  requested by {request.requester} (event {request.seq})"
        )


@models.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=VERSION, required=False)
@click.option("--delete", is_flag=True, help="Remove the alias instead of setting it.")
@_actor_option
@click.pass_context
def models_alias(
    ctx: click.Context, name: str, alias: str, version: int | None, delete: bool, actor: str | None
) -> None:
    """Point ALIAS of NAME at VERSION (moving it if it pointed elsewhere), or
    remove it with --delete."""
    if delete == (version is not None):
        raise click.UsageError("give either VERSION or --delete")
    with _open(ctx) as lg:
        if version is None:
            lg.delete_alias(name, alias, actor=actor)
        else:
            lg.set_alias(name, alias, version, actor=actor)
    click.echo(f"{name}: alias {alias!r} " + ("removed" if version is None else f"→ version {version}"))


@models.command("promote")
@click.argument("name")
@click.argument("candidate", type=VERSION)
@click.option("--metric", required=True, help="The metric compared (each version's source run, latest value).")
@click.option("--mode", type=click.Choice(["min", "max"]), default="min", show_default=True, help="min: lower wins.")
@click.option("--min-delta", type=float, default=0.0, show_default=True, help="The margin the candidate must win by.")
@click.option("--to-stage", type=STAGE, default="Production", show_default=True, help="The stage to promote into.")
@click.option("--reason", help="Why (default: the comparison).")
@_actor_option
@_json_option
@click.pass_context
def models_promote(
    ctx: click.Context,
    name: str,
    candidate: int,
    metric: str,
    mode: str,
    min_delta: float,
    to_stage: str,
    reason: str | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """Promote CANDIDATE only if its metric beats the version now in the stage.

    The comparison is recorded either way. Outcome: promoted (moved now),
    requested (won, but the stage needs approval: a request is opened) or
    kept (lost: nothing moves).
    """
    with _open(ctx) as lg:
        decision = lg.promote_if_better(name, candidate, metric, mode, min_delta, to_stage, reason, actor=actor)
    if as_json:
        _echo_json(decision.to_json())
        return
    champion = "none" if decision.champion is None else f"version {decision.champion}"
    click.echo(f"outcome:   {decision.outcome}")
    click.echo(f"candidate: version {decision.candidate}  {metric} = {_number(decision.candidate_value)}")
    click.echo(f"champion:  {champion} in {to_stage}  {metric} = {_number(decision.champion_value)}")
    click.echo(f"rule:      {mode}, min_delta {min_delta:g}; evaluated at event {decision.seq}")
    if decision.request_id:
        click.echo(f"request:   {decision.request_id} (awaits approval: `mlledger models approve`)")


@models.command("deploy")
@click.argument("name")
@click.argument("version", type=VERSION)
@click.option("--target", required=True, help="Where it serves, e.g. a cluster or endpoint name.")
@click.option("--environment", required=True, help="e.g. staging, production.")
@_actor_option
@click.pass_context
def models_deploy(
    ctx: click.Context, name: str, version: int, target: str, environment: str, actor: str | None
) -> None:
    """Record that VERSION of NAME now serves on a target and environment
    (replacing whatever served there)."""
    with _open(ctx) as lg:
        lg.record_deployment(name, version, target, environment, actor=actor)
    click.echo(f"{name}: version {version} deployed to {target} ({environment})")


@models.command("as-of")
@click.argument("time_or_seq", metavar="TIME_OR_SEQ")
@click.argument("name")
@click.option("--stage", type=STAGE, help="Only say which version was in this stage.")
@_json_option
@click.pass_context
def models_as_of(ctx: click.Context, time_or_seq: str, name: str, stage: str | None, as_json: bool) -> None:
    """The registry of NAME as of TIME_OR_SEQ (a seq, or an RFC 3339 time such
    as 2026-03-14T10:00:00Z): which version was in --stage then, or every
    version's stage and the aliases."""
    with _open(ctx) as lg:
        model = lg.registry.get_model(name)  # never registered: an error; not yet registered: nothing then
        view = lg.registry_as_of(moment(time_or_seq))
        at = view.at
        assert at is not None  # an as-of view is always bounded
        when = _when(lg, at)
        existed = model.seq <= at
        holder = view.version_in_stage(name, stage) if existed and stage else None
        versions = view.versions(name) if existed and not stage else []
        aliases = view.aliases(name) if existed and not stage else {}
    if as_json:
        document: dict[str, Any] = {"name": name, "as_of": at, "registered": existed}
        if stage:
            document.update(stage=stage, version=holder)
        else:
            document.update(versions=[v.to_json() for v in versions], aliases=aliases)
        _echo_json(document)
        return
    if not existed:
        click.echo(f"{name!r} was not registered yet as of {when} (registered at event {model.seq})")
    elif stage and holder is None:
        click.echo(f"no version of {name!r} was in {stage} as of {when}")
    elif stage:
        click.echo(f"version {holder} of {name!r} was in {stage} as of {when}")
    else:
        _echo_versions(name, when, versions, aliases)


def _echo_versions(name: str, when: str, versions: list[ModelVersionView], aliases: dict[str, int]) -> None:
    click.echo(f"{name} as of {when}:")
    rows = [[f"version {v.version}", v.stage, f"event {v.stage_since_seq}", ", ".join(v.aliases)] for v in versions]
    click.echo(_table(("VERSION", "STAGE", "SINCE", "ALIASES"), rows))
    listed = ", ".join(f"{alias} → {version}" for alias, version in aliases.items())
    click.echo(f"aliases: {listed or 'none'}")


# -- roles -------------------------------------------------------------------


@click.group()
def roles() -> None:
    """Roles: admin (grants roles, sets policies) and approver (approves transitions)."""


@roles.command("grant")
@click.argument("grantee", metavar="ACTOR")
@click.argument("role", type=click.Choice(KNOWN_ROLES), metavar="ROLE")
@_actor_option
@click.pass_context
def roles_grant(ctx: click.Context, grantee: str, role: str, actor: str | None) -> None:
    """Give ACTOR a ROLE: admin or approver (admins only)."""
    with _open(ctx) as lg:
        lg.grant_role(grantee, role, actor=actor)
    click.echo(f"{grantee} now holds the {role!r} role")


@roles.command("revoke")
@click.argument("grantee", metavar="ACTOR")
@click.argument("role", type=click.Choice(KNOWN_ROLES), metavar="ROLE")
@_actor_option
@click.pass_context
def roles_revoke(ctx: click.Context, grantee: str, role: str, actor: str | None) -> None:
    """Take a ROLE (admin or approver) from ACTOR (admins only; the last admin stays)."""
    with _open(ctx) as lg:
        lg.revoke_role(grantee, role, actor=actor)
    click.echo(f"{grantee} no longer holds the {role!r} role")


@roles.command("list")
@_json_option
@click.pass_context
def roles_list(ctx: click.Context, as_json: bool) -> None:
    """Every actor holding a role, and the roles."""
    with _open(ctx) as lg:
        holders = lg.registry.roles()
    if as_json:
        click.echo(json.dumps(holders))
        return
    if not holders:
        click.echo("no roles granted")
        return
    click.echo(_table(("ACTOR", "ROLES"), [[actor, ", ".join(held)] for actor, held in holders.items()]))


# -- keys --------------------------------------------------------------------


@click.group()
def keys() -> None:
    """Ed25519 keys that sign approvals."""


@keys.command("generate")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="The private key file to write (PEM)."
)
def keys_generate(output: str) -> None:
    """Write a new Ed25519 private key (unencrypted PKCS#8 PEM, file mode 0600;
    an existing file is never overwritten) and print its public key (base64)."""
    key = generate_private_key()
    try:
        descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ValidationError(f"{output} already exists; refusing to overwrite a key file") from None
    except OSError as e:
        raise ValidationError(f"cannot write {output}: {e.strerror}") from e
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private_key_pem(key))
    click.echo(public_key_b64(key))
    click.echo(f"wrote the private key to {output}; register it with `mlledger keys register --key {output}`", err=True)


@keys.command("register")
@click.option("--public", "public_key", help="The public key, base64 (32 bytes).")
@click.option(
    "--key", "key_file", type=click.Path(dir_okay=False), help="Register the public half of this private key (PEM)."
)
@click.option("--owner", help="Whose key it is (default: the actor; another owner needs an admin).")
@_actor_option
@click.pass_context
def keys_register(
    ctx: click.Context, public_key: str | None, key_file: str | None, owner: str | None, actor: str | None
) -> None:
    """Register an Ed25519 public key its owner signs approvals with; prints the key id."""
    if (public_key is None) == (key_file is None):
        raise click.UsageError("give either --public BASE64 or --key PEM_FILE")
    key = public_key if public_key is not None else load_signing_key(Path(str(key_file)))
    with _open(ctx) as lg:
        click.echo(lg.register_key(key, owner=owner, actor=actor))


# -- policy ------------------------------------------------------------------


@click.group()
def policy() -> None:
    """Governance policies of models."""


def _policy_lines(name: str, document: dict[str, Any]) -> list[str]:
    origin = "the default, never set" if document["seq"] is None else f"set at event {document['seq']}"
    return [
        f"policy of {name!r} ({origin}):",
        f"  approval stages:      {', '.join(document['approval_stages']) or 'none'}",
        f"  single-holder stages: {', '.join(document['single_holder_stages']) or 'none'}",
        f"  four-eyes:            {'on' if document['four_eyes'] else 'off'}",
        f"  signed approvals:     {'required' if document['signed_approvals'] else 'optional'}",
        f"  run statuses:         {', '.join(document['run_statuses'])}",
    ]


@policy.command("show")
@click.argument("name")
@_json_option
@click.pass_context
def policy_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show a model's governance policy (the default until an admin sets one)."""
    with _open(ctx) as lg:
        lg.registry.get_model(name)  # an unknown model is an error, not the default policy
        document = lg.registry.policy(name).to_json()
    if as_json:
        _echo_json(document)
        return
    click.echo("\n".join(_policy_lines(name, document)))


@policy.command("set")
@click.argument("name")
@click.option("--approval-stage", multiple=True, type=STAGE, help="A stage entered only by approval (repeatable).")
@click.option("--no-approval", is_flag=True, help="No stage needs approval.")
@click.option(
    "--single-holder-stage", multiple=True, type=STAGE, help="A stage one version holds at a time (repeatable)."
)
@click.option("--four-eyes/--no-four-eyes", default=None, help="Forbid approving one's own request or run.")
@click.option("--signed-approvals/--no-signed-approvals", default=None, help="Require Ed25519-signed approvals.")
@click.option(
    "--run-status",
    multiple=True,
    type=click.Choice(RUN_STATUSES),
    help="A run status versions may be registered from (repeatable).",
)
@_actor_option
@click.pass_context
def policy_set(
    ctx: click.Context,
    name: str,
    approval_stage: tuple[str, ...],
    no_approval: bool,
    single_holder_stage: tuple[str, ...],
    four_eyes: bool | None,
    signed_approvals: bool | None,
    run_status: tuple[str, ...],
    actor: str | None,
) -> None:
    """Change a model's governance policy (admins only); the fields not given keep their value."""
    if approval_stage and no_approval:
        raise click.UsageError("--approval-stage and --no-approval contradict each other")
    approval = [] if no_approval else list(approval_stage) or None
    changes = (approval, single_holder_stage, four_eyes, signed_approvals, run_status)
    if all(change is None or change == () for change in changes):
        raise click.UsageError("nothing to change: give at least one option (see --help)")
    with _open(ctx) as lg:
        changed = lg.set_policy(
            name,
            approval_stages=approval,
            single_holder_stages=list(single_holder_stage) or None,
            four_eyes=four_eyes,
            signed_approvals=signed_approvals,
            run_statuses=list(run_status) or None,
            actor=actor,
        )
    click.echo("\n".join(_policy_lines(name, changed.to_json())))
