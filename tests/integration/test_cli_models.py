"""The registry commands of ``mlledger`` (``models``, ``roles``, ``keys``,
``policy`` and the admin ``init`` claims), run in-process with click's
``CliRunner``: what they print, their exit codes, that a refused command
prints the service's message unchanged (no traceback) and appends nothing.

Ledger state is built through the Python API; most tests use SQLite, the
end-to-end workflow runs on both backends.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import ledger
from cli.main import main
from ledger.keys import key_id
from reports.text import SECTIONS
from tests.integration.support import stored

REQUEST_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLLEDGER_URI", raising=False)
    monkeypatch.setenv("MLLEDGER_CAPTURE_ENV", "0")
    monkeypatch.setenv("MLLEDGER_ACTOR", "alice")
    monkeypatch.setenv("MLLEDGER_ARTIFACT_ROOT", str(tmp_path / "artifacts"))


def cli(uri: str, *args: str, actor: str | None = None) -> Result:
    """``mlledger --uri URI ARGS``, as ``actor`` (default: MLLEDGER_ACTOR=alice)."""
    env = {"MLLEDGER_ACTOR": actor} if actor else None
    result = CliRunner().invoke(main, ["--uri", uri, *args], env=env, prog_name="mlledger")
    # Any exception but the exit the error handler makes would be a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def ok(uri: str, *args: str, actor: str | None = None) -> str:
    result = cli(uri, *args, actor=actor)
    assert result.exit_code == 0, result.output
    assert result.stderr == "" or args[0] == "keys", result.stderr
    return result.stdout


def refused(uri: str, *args: str, actor: str | None = None) -> str:
    """Run a command the service must refuse: exit 2, one error line, nothing
    on stdout, and the ledger head where it was. Returns the message."""
    with ledger.open(uri) as lg:
        before = lg.head()
    result = cli(uri, *args, actor=actor)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("mlledger: error: "), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    with ledger.open(uri) as lg:
        assert lg.head() == before, "a refused command must append nothing"
    return result.stderr.removeprefix("mlledger: error: ").rstrip("\n")


def head_seq(uri: str) -> int:
    with ledger.open(uri) as lg:
        head = lg.head()
    assert head is not None
    return head.seq


@dataclass
class Setup:
    uri: str
    run1: str  # rmse 3.0, by bob, logs model/ and extra/
    run2: str  # rmse 2.0, by bob, logs model/


def build(uri: str, tmp_path: Path) -> Setup:
    """A ledger whose admin is alice (via `init`), carol an approver, and model
    'credit' with versions 1 and 2 registered by alice from runs bob authored."""
    first = ok(uri, "init", "--actor", "alice")
    assert first.splitlines()[1].startswith("admin: alice")
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "weights.bin").write_bytes(b"\x00\x01weights")
    (model / "MLmodel").write_text("flavor: sklearn\n", encoding="utf-8")
    with ledger.open(uri, artifact_root=tmp_path / "artifacts") as lg:
        with lg.start_run("credit-scoring", run_name="baseline", actor="bob") as run1:
            run1.log_params({"alpha": 0.1, "depth": 4})
            run1.log_metric("rmse", 3.5, step=0)
            run1.log_metric("rmse", 3.0, step=1)
            run1.log_input("loans", "v7", "sha256:" + "ab" * 32, context="training", num_rows=1200)
            run1.log_artifact(str(model), "model")
            run1.log_artifact(str(model), "extra")
        with lg.start_run("credit-scoring", run_name="tuned", actor="bob") as run2:
            run2.log_metric("rmse", 2.0)
            run2.log_artifact(str(model), "model")
        lg.register_model("credit", run1.run_id, owner="alice", tags={"team": "risk"}, actor="alice")
        lg.register_model("credit", run2.run_id, actor="alice")
        lg.grant_role("carol", "approver", actor="alice")
    return Setup(uri, run1.run_id, run2.run_id)


# -- init ----------------------------------------------------------------------


def test_init_claims_admin_once(sqlite_uri: str) -> None:
    first = ok(sqlite_uri, "init")
    ready, admin, signing, verifier = first.splitlines()
    assert re.fullmatch(r"ledger [0-9a-f-]{36} ready at .* \(1 events\)", ready), ready
    assert admin == "admin: alice (granted now: the ledger had no admin)"
    # Another actor's init changes nothing and says who the admin is.
    again = ok(sqlite_uri, "init", "--actor", "mallory")
    assert again.splitlines() == [ready, "admin: alice", signing.replace(" (created now, mode 0600)", ""), verifier]
    assert ok(sqlite_uri, "roles", "list", "--json") == json.dumps({"alice": ["admin"]}) + "\n"


# -- the whole workflow, on both backends ------------------------------------


def test_registry_workflow_end_to_end(uri: str, tmp_path: Path) -> None:
    s = build(uri, tmp_path)
    # Staging needs no approval; Production does.
    assert ok(uri, "models", "stage", "credit", "1", "Staging", "--reason", "smoke tests") == (
        f"credit: version 1: None → Staging (event {head_seq(uri)})\n"
    )
    request_id = ok(uri, "models", "request", "credit", "1", "Production", "--reason", "beats baseline").strip()
    assert REQUEST_ID.match(request_id)
    approved = ok(uri, "models", "approve", request_id, "--comment", "looks good", actor="carol")
    seq = head_seq(uri)
    assert approved == (
        f"request {request_id} approved by carol (event {seq - 1}): "
        f"version 1 of 'credit' is now in Production (event {seq})\n"
    )
    assert ok(uri, "models", "alias", "credit", "champion", "1") == "credit: alias 'champion' → version 1\n"

    # Version 2 wins on rmse; Production needs approval, so a request is opened.
    decision = ok(uri, "models", "promote", "credit", "2", "--metric", "rmse")
    lines = decision.splitlines()
    assert lines[0] == "outcome:   requested"
    assert lines[1] == "candidate: version 2  rmse = 2"
    assert lines[2] == "champion:  version 1 in Production  rmse = 3"
    promotion_request = lines[4].split()[1]
    assert REQUEST_ID.match(promotion_request)
    ok(uri, "models", "approve", promotion_request, actor="carol")
    ok(uri, "models", "deploy", "credit", "2", "--target", "k8s-eu", "--environment", "prod")

    assert ok(uri, "models", "list").splitlines() == [
        "NAME    OWNER  LATEST  PRODUCTION  ALIASES",
        "credit  alice  2       2           1",
    ]
    history = ok(uri, "models", "history", "credit")
    assert "version 2: None → Production (archived version 1) via request" in history
    assert "version 2 deployed to k8s-eu (prod)" in history
    assert "reason: smoke tests" in history

    text = show(uri, "credit", "1")
    assert "  stage:            Archived\n" in text
    assert f"  run:         {s.run1} (baseline)\n" in text
    assert f"  request {request_id} → Production: approved\n" in text
    assert "  checkpoint:       not tied to a signed checkpoint yet" in text

    # As of the first approval's stage change, version 1 held Production.
    assert ok(uri, "models", "as-of", str(seq), "credit", "--stage", "Production").startswith(
        f"version 1 of 'credit' was in Production as of event {seq} ("
    )
    assert ok(uri, "verify").startswith("ok: ")


# -- show ----------------------------------------------------------------------


def _signed_approval_setup(uri: str, tmp_path: Path) -> tuple[Path, str]:
    """carol's key generated and registered; returns (PEM path, key id)."""
    pem = tmp_path / "carol.pem"
    public = ok(uri, "keys", "generate", "-o", str(pem)).strip()
    kid = ok(uri, "keys", "register", "--key", str(pem), actor="carol").strip()
    assert kid == key_id("carol", public)
    return pem, kid


def read_only_state(uri: str) -> tuple[object, ...]:
    """What a read-only command leaves as it was: the events, the head, the
    stored checkpoints and the ledger's facts (its verifier key among them)."""
    with ledger.open(uri) as lg:
        return lg.size(), lg.head(), lg.checkpoints(), stored(uri, "SELECT * FROM ledger_meta ORDER BY 1")


def show(uri: str, *args: str) -> str:
    """``mlledger models show ARGS``: its output, checking that it wrote nothing."""
    before = read_only_state(uri)
    out = ok(uri, "models", "show", *args)
    assert read_only_state(uri) == before, "models show must not write"
    return out


def test_show_prints_the_report_text_of_a_version(sqlite_uri: str, tmp_path: Path) -> None:
    uri = sqlite_uri
    s = build(uri, tmp_path)
    pem, kid = _signed_approval_setup(uri, tmp_path)
    first = ok(uri, "models", "request", "credit", "1", "Production", "--reason", "first release").strip()
    ok(uri, "models", "approve", first, "--comment", "ok", "--key", str(pem), actor="carol")
    ok(uri, "models", "alias", "credit", "champion", "1")
    ok(uri, "models", "deploy", "credit", "1", "--target", "k8s", "--environment", "prod")
    declined = ok(uri, "models", "request", "credit", "2", "Staging").strip()
    ok(uri, "models", "reject", declined, "--comment", "not yet", actor="carol")
    ok(uri, "models", "promote", "credit", "2", "--metric", "rmse", "--mode", "max")  # kept: 2.0 < 3.0
    ok(uri, "models", "deploy", "credit", "2", "--target", "k8s", "--environment", "prod")  # replaces version 1

    with ledger.open(uri) as lg:
        v1 = lg.registry.get_model_version("credit", 1)
        head = lg.head()
    assert head is not None
    text = show(uri, "credit", "1")
    assert text.startswith("Provenance report: credit version 1\n===")
    for number, title in enumerate(SECTIONS, 1):
        assert f"\n{number}. {title}\n" in text, title
    for expected in (
        "  stage:            Production",
        "  aliases:          champion",
        f"  as of:            event {head.seq} ({head.time})",
        "  version tags:       team=risk",
        f"  version registered: by alice at {v1.time} (event {v1.seq})",
        f"  source run:         {s.run1}",
        "  artifact path:      model",
        f"  artifact digest:    {v1.artifact_digest}",
        f"  run:         {s.run1} (baseline)",
        "  status:      FINISHED",
        "  author:      bob",
        "  parent runs: none",
        "    alpha = 0.1\n    depth = 4",
        "    rmse: final 3 at step 1; 2 points, min 3, max 3.5",
        "    loans@v7 (training, 1,200 rows) sha256:" + "ab" * 32,
        "  model/weights.bin  9 bytes  sha256 1452ccce69d298ac2f5c57ec20bb9f6280cafe2ea5c572f985af21071aaf1483  pinned",
        "carol: version 1: None → Production via request",
        "alice: alias 'champion' → version 1",
        f"  request {first} → Production: approved",
        "    requested by alice (admin) at ",
        "    approved by carol (approver) at ",
        f"    signature: valid: Ed25519 signature by carol's key {kid}",
        "this version as champion: rmse (max, min_delta 0) version 2 2 vs version 1 3 → Production: lost",
        "k8s (prod) by alice: replaced at event ",
    ):
        assert expected in text, f"{expected!r} missing from:\n{text}"
    extra = "  extra/MLmodel  16 bytes  sha256 179b641362c33ebc224537861d97d509047abffca2125ac0c68acfc6cd9e275a"
    assert f"{extra}  not pinned" in text  # logged by the run, not pinned by the version
    # init made a signing key, but no checkpoint is stored: show signs none.
    assert "  checkpoint:       not tied to a signed checkpoint yet" in text
    # Version 2: a rejected request, the comparison it lost, and the deployment that is live.
    text2 = show(uri, "credit", "2")
    assert f"  request {declined} → Staging: rejected" in text2
    assert "    rejected by carol (approver) at " in text2 and "): not yet" in text2
    assert "this version as candidate: " in text2
    assert "k8s (prod) by alice: live" in text2

    document = json.loads(show(uri, "credit", "1", "--json"))
    assert document["format"] == "mlledger-provenance-report/1"
    assert (document["cover"]["model"], document["cover"]["version"]) == ("credit", 1)
    assert document["cover"]["stage"] == "Production"
    assert document["cover"]["checkpoint"]["signed"] is False
    assert document["cover"]["verification"]["checked"] is False
    assert document["run"]["author"] == "bob"
    assert document["approvals"][0]["key_id"] == kid
    assert [d["live"] for d in document["deployments"]] == [False]


def test_show_as_of_and_missing_version(sqlite_uri: str, tmp_path: Path) -> None:
    uri = sqlite_uri
    build(uri, tmp_path)
    registered = head_seq(uri) - 1  # the approver grant came last
    ok(uri, "models", "stage", "credit", "2", "Staging")
    then = show(uri, "credit", "2", "--as-of", str(registered))
    with ledger.open(uri) as lg:
        time = lg.event(registered).time
    assert f"  as of:            event {registered} ({time})\n" in then
    assert "  stage:            None\n" in then
    assert "Staging" not in then
    assert "10. Stage and alias history\n---------------------------\n  event " in then
    assert "9. Approvals and accountability\n-------------------------------\n  none recorded\n" in then
    assert "8. Promotion evidence\n---------------------\n  none recorded\n" in then
    assert "  deployments: none recorded\n" in then
    assert "  stage:            Staging\n" in show(uri, "credit", "2")
    # An RFC 3339 time: the state after the last event at or before it.
    assert show(uri, "credit", "2", "--as-of", time) == then

    assert refused(uri, "models", "show", "credit", "3") == "model 'credit' has no version 3"
    assert refused(uri, "models", "show", "credit", "2", "--as-of", "3") == (
        "model 'credit' is not registered as of event 3"
    )
    assert refused(uri, "models", "show", "credit", "2", "--as-of", "2000-01-01T00:00:00Z") == (
        "model 'credit' is not registered as of event -1"
    )
    assert refused(uri, "models", "show", "nope", "1") == "model 'nope' is not registered"


# -- list, history, requests, as-of -------------------------------------------


def test_list_and_history(sqlite_uri: str, tmp_path: Path) -> None:
    uri = sqlite_uri
    ok(uri, "init")
    assert ok(uri, "models", "list") == "no models registered\n"
    assert ok(uri, "models", "list", "--json") == "[]\n"
    build(uri, tmp_path)
    assert json.loads(ok(uri, "models", "list", "--json")) == [
        {"name": "credit", "owner": "alice", "latest_version": 2, "production": None, "aliases": 0}
    ]
    assert ok(uri, "models", "list").splitlines()[1] == "credit  alice  2       -           0"
    ok(uri, "models", "stage", "credit", "2", "Staging", "--reason", "canary")
    lines = ok(uri, "models", "history", "credit").splitlines()
    assert len(lines) == 4
    assert re.fullmatch(r" +\d+  \S+Z  alice  model registered \(owner alice\)", lines[0]), lines[0]
    assert lines[3].endswith("alice  version 2: None → Staging  reason: canary")
    entries = json.loads(ok(uri, "models", "history", "credit", "--json"))
    assert [e["type"] for e in entries] == [
        "model.registered",
        "model.version_created",
        "model.version_created",
        "model.stage_changed",
    ]
    assert refused(uri, "models", "history", "nope") == "model 'nope' is not registered"


def test_requests_reject_and_pending(sqlite_uri: str, tmp_path: Path) -> None:
    uri = sqlite_uri
    build(uri, tmp_path)
    assert ok(uri, "models", "requests", "credit") == "no transition requests for 'credit'\n"
    first = ok(uri, "models", "request", "credit", "1", "Production").strip()
    second = ok(uri, "models", "request", "credit", "2", "Staging", actor="dave").strip()
    # Only an approver or the requester may reject.
    assert refused(uri, "models", "reject", second, actor="erin") == (
        f"policy rule 'approver_role': 'erin' neither holds the 'approver' role nor made request {second}, "
        "so cannot reject it"
    )
    withdrawn = ok(uri, "models", "reject", second, "--comment", "withdrawn", actor="dave")
    assert withdrawn == (
        f"request {second} rejected by dave (event {head_seq(uri)}): version 2 of 'credit' does not move to Staging\n"
    )
    assert refused(uri, "models", "approve", second, actor="carol") == (
        f"transition request {second} was already rejected by dave (event {head_seq(uri)})"
    )
    pending = ok(uri, "models", "requests", "credit", "--pending").splitlines()
    assert len(pending) == 1
    assert pending[0].startswith(f"{first}  version 1 → Production  pending  requested by alice (event ")
    listed = json.loads(ok(uri, "models", "requests", "credit", "--json"))
    assert [(r["request_id"], r["status"], r["decided_by"]) for r in listed] == [
        (first, "pending", None),
        (second, "rejected", "dave"),
    ]
    assert refused(uri, "models", "requests", "nope") == "model 'nope' is not registered"


def test_as_of(sqlite_uri: str, tmp_path: Path) -> None:
    uri = sqlite_uri
    build(uri, tmp_path)
    before_production = head_seq(uri)
    request_id = ok(uri, "models", "request", "credit", "1", "Production").strip()
    ok(uri, "models", "approve", request_id, actor="carol")
    in_production = head_seq(uri)
    ok(uri, "models", "alias", "credit", "champion", "1")
    with ledger.open(uri) as lg:
        registered = lg.registry.get_model("credit").seq
        production_time = lg.event(in_production).time

    # An int-looking argument is a seq.
    said = ok(uri, "models", "as-of", str(before_production), "credit", "--stage", "Production")
    assert said.startswith(f"no version of 'credit' was in Production as of event {before_production} (")
    said = ok(uri, "models", "as-of", str(in_production), "credit", "--stage", "Production")
    assert said == f"version 1 of 'credit' was in Production as of event {in_production} ({production_time})\n"
    # An RFC 3339 time: the view ends at the last event at or before it.
    said = ok(uri, "models", "as-of", production_time, "credit", "--stage", "Production")
    assert said.startswith("version 1 of 'credit' was in Production as of event ")
    said = ok(uri, "models", "as-of", "2000-01-01T00:00:00Z", "credit", "--stage", "Production")
    assert said == (
        f"'credit' was not registered yet as of event -1 (before the first event) (registered at event {registered})\n"
    )
    assert json.loads(ok(uri, "models", "as-of", str(in_production), "credit", "--stage", "Production", "--json")) == {
        "name": "credit",
        "as_of": in_production,
        "registered": True,
        "stage": "Production",
        "version": 1,
    }

    # Without --stage: every version's stage, and the aliases then.
    table = ok(uri, "models", "as-of", str(in_production), "credit").splitlines()
    assert table[0].startswith(f"credit as of event {in_production} (")
    assert table[1].split() == ["VERSION", "STAGE", "SINCE", "ALIASES"]
    assert table[2].split() == ["version", "1", "Production", "event", str(in_production)]
    assert table[3].split()[:3] == ["version", "2", "None"]
    assert table[-1] == "aliases: none"
    assert ok(uri, "models", "as-of", str(head_seq(uri)), "credit").splitlines()[-1] == "aliases: champion → 1"
    document = json.loads(ok(uri, "models", "as-of", str(head_seq(uri)), "credit", "--json"))
    assert document["aliases"] == {"champion": 1}
    assert [v["stage"] for v in document["versions"]] == ["Production", "None"]

    assert refused(uri, "models", "as-of", "yesterday", "credit") == (
        "as_of 'yesterday' is neither a seq nor an RFC 3339 time"
    )
    assert refused(uri, "models", "as-of", "5", "nope") == "model 'nope' is not registered"
    # Only a whole number is a seq (cli.common.moment): '--5' was once a traceback.
    assert refused(uri, "models", "as-of", "--", "--5", "credit") == "as_of '--5' is neither a seq nor an RFC 3339 time"
    assert refused(uri, "models", "show", "credit", "1", "--as-of=--5") == (
        "as_of '--5' is neither a seq nor an RFC 3339 time"
    )
    missing = cli(uri, "models", "as-of")
    assert (missing.exit_code, missing.stderr.splitlines()[-1]) == (2, "Error: Missing argument 'TIME_OR_SEQ'.")


# -- refusals ------------------------------------------------------------------


def test_policy_refusals_reach_the_user_unchanged(sqlite_uri: str, tmp_path: Path) -> None:
    uri = sqlite_uri
    build(uri, tmp_path)
    assert refused(uri, "models", "stage", "credit", "1", "Production") == (
        "policy rule 'approval_required': moving 'credit' to Production needs an approved transition request "
        "(request_transition, then an approver approves it)"
    )
    request_id = ok(uri, "models", "request", "credit", "1", "Production", actor="carol").strip()
    assert refused(uri, "models", "approve", request_id, actor="alice") == (
        f"policy rule 'approver_role': 'alice' does not hold the 'approver' role needed to approve request {request_id}"
    )
    assert refused(uri, "models", "approve", request_id, actor="carol") == (
        f"policy rule 'four_eyes': 'carol' requested transition {request_id} and cannot also approve it"
    )
    ok(uri, "roles", "grant", "bob", "approver")
    assert refused(uri, "models", "approve", request_id, actor="bob") == (
        f"policy rule 'four_eyes': 'bob' authored the source run of the version in request {request_id} "
        "and cannot approve it"
    )
    assert refused(uri, "roles", "grant", "mallory", "admin", actor="carol") == (
        "policy rule 'admin_only': only an admin can grant roles; 'carol' is not one"
    )
    assert refused(uri, "policy", "set", "credit", "--no-four-eyes", actor="carol") == (
        "policy rule 'admin_only': only an admin can set a model's policy; 'carol' is not one"
    )
    assert refused(uri, "roles", "revoke", "alice", "admin") == (
        "policy rule 'last_admin': 'alice' is the last admin; grant admin to someone else first"
    )
    assert refused(uri, "models", "approve", "0b1e5d7c-3a44-4f0e-9c1d-2f6a8b9c0d1e", actor="carol") == (
        "transition request 0b1e5d7c-3a44-4f0e-9c1d-2f6a8b9c0d1e does not exist"
    )
    assert refused(uri, "models", "deploy", "credit", "9", "--target", "t", "--environment", "e") == (
        "model 'credit' has no version 9 (latest: 2)"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("models", "stage", "credit", "1", "Prod"), "Invalid value for 'STAGE': 'Prod' is not one of"),
        (("models", "show", "credit", "0"), "Invalid value for 'VERSION': 0 is not in the range x>=1"),
        (("models", "alias", "credit", "champion"), "give either VERSION or --delete"),
        (("models", "alias", "credit", "champion", "1", "--delete"), "give either VERSION or --delete"),
        (("models", "promote", "credit", "2"), "Missing option '--metric'"),
        (("models", "promote", "credit", "2", "--metric", "rmse", "--mode", "avg"), "'avg' is not one of"),
        (("roles", "grant", "bob", "owner"), "Invalid value for 'ROLE': 'owner' is not one of 'admin', 'approver'"),
        (("keys", "register"), "give either --public BASE64 or --key PEM_FILE"),
        (("keys", "register", "--public", "x", "--key", "k.pem"), "give either --public BASE64 or --key PEM_FILE"),
        (("policy", "set", "credit"), "nothing to change: give at least one option"),
        (("policy", "set", "credit", "--approval-stage", "Staging", "--no-approval"), "contradict each other"),
    ],
)
def test_usage_errors(sqlite_uri: str, args: tuple[str, ...], message: str) -> None:
    ok(sqlite_uri, "init")
    result = cli(sqlite_uri, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert head_seq(sqlite_uri) == 0


def test_missing_ledger_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "ledger.db"
    for args in (("models", "list"), ("roles", "list"), ("policy", "show", "m")):
        result = cli(f"sqlite:///{path}", *args)
        assert result.exit_code == 2
        assert "run `mlledger init`" in result.stderr
    assert not path.exists()


# -- aliases, promotion, deployments ------------------------------------------


def test_alias_set_move_delete(sqlite_uri: str, tmp_path: Path) -> None:
    uri = sqlite_uri
    build(uri, tmp_path)
    assert ok(uri, "models", "alias", "credit", "champion", "1") == "credit: alias 'champion' → version 1\n"
    assert ok(uri, "models", "alias", "credit", "champion", "2") == "credit: alias 'champion' → version 2\n"
    assert refused(uri, "models", "alias", "credit", "champion", "2") == (
        "alias 'champion' of 'credit' already points to version 2"
    )
    assert refused(uri, "models", "alias", "credit", "latest", "1") == (
        "alias 'latest' is reserved ('latest' and 'v<number>' name versions)"
    )
    assert ok(uri, "models", "alias", "credit", "champion", "--delete") == "credit: alias 'champion' removed\n"
    assert refused(uri, "models", "alias", "credit", "champion", "--delete") == "model 'credit' has no alias 'champion'"
    assert "alias 'champion' removed (was version 2)" in ok(uri, "models", "history", "credit")


def test_promote_outcomes(sqlite_uri: str, tmp_path: Path) -> None:
    uri = sqlite_uri
    build(uri, tmp_path)
    # No champion in Staging, which needs no approval: promoted at once.
    promoted = ok(uri, "models", "promote", "credit", "1", "--metric", "rmse", "--to-stage", "Staging").splitlines()
    assert promoted[0] == "outcome:   promoted"
    assert promoted[2] == "champion:  none in Staging  rmse = none"
    assert len(promoted) == 4, "no request line when nothing awaits approval"
    # Version 2 (rmse 2.0) loses to version 1 (3.0) when higher is better: kept, recorded, nothing moves.
    before = head_seq(uri)
    kept = ok(uri, "models", "promote", "credit", "2", "--metric", "rmse", "--mode", "max", "--to-stage", "Staging")
    assert kept.splitlines()[:3] == [
        "outcome:   kept",
        "candidate: version 2  rmse = 2",
        "champion:  version 1 in Staging  rmse = 3",
    ]
    assert f"evaluated at event {before + 1}" in kept
    assert head_seq(uri) == before + 1, "only the evaluation is recorded"
    # Wins by 1.0, but not by more than 1.0.
    narrow = ok(
        uri, "models", "promote", "credit", "2", "--metric", "rmse", "--min-delta", "1", "--to-stage", "Staging"
    )
    assert narrow.startswith("outcome:   kept\n")
    decision = json.loads(ok(uri, "models", "promote", "credit", "2", "--metric", "rmse", "--json"))
    assert (decision["outcome"], decision["champion"], decision["won"]) == ("requested", None, True)
    assert REQUEST_ID.match(decision["request_id"])
    assert refused(uri, "models", "promote", "credit", "2", "--metric", "auc", "--to-stage", "Staging") == (
        f"candidate version 2 of 'credit': its run {_run_of(uri, 2)} has no metric 'auc'"
    )


def _run_of(uri: str, version: int) -> str:
    with ledger.open(uri) as lg:
        return lg.registry.get_model_version("credit", version).run_id


def test_deploy(sqlite_uri: str, tmp_path: Path) -> None:
    uri = sqlite_uri
    build(uri, tmp_path)
    assert ok(uri, "models", "deploy", "credit", "1", "--target", "edge", "--environment", "staging") == (
        "credit: version 1 deployed to edge (staging)\n"
    )
    ok(uri, "models", "stage", "credit", "2", "Archived")
    assert refused(uri, "models", "deploy", "credit", "2", "--target", "edge", "--environment", "staging") == (
        "version 2 of 'credit' is Archived: move it to a live stage before deploying it"
    )


# -- roles, keys, policy -------------------------------------------------------


def test_roles(sqlite_uri: str, tmp_path: Path) -> None:
    uri = sqlite_uri
    build(uri, tmp_path)
    assert ok(uri, "roles", "grant", "dave", "admin") == "dave now holds the 'admin' role\n"
    assert ok(uri, "roles", "list").splitlines() == ["ACTOR  ROLES", "alice  admin", "carol  approver", "dave   admin"]
    assert ok(uri, "roles", "revoke", "alice", "admin", actor="dave") == "alice no longer holds the 'admin' role\n"
    assert json.loads(ok(uri, "roles", "list", "--json")) == {"carol": ["approver"], "dave": ["admin"]}
    assert refused(uri, "roles", "grant", "carol", "approver", actor="dave") == (
        "'carol' already holds the 'approver' role"
    )


def test_keys_and_signed_approvals(sqlite_uri: str, tmp_path: Path) -> None:
    uri = sqlite_uri
    build(uri, tmp_path)
    pem = tmp_path / "carol.pem"
    before = head_seq(uri)
    generated = cli(uri, "keys", "generate", "-o", str(pem))
    assert generated.exit_code == 0, generated.output
    public = generated.stdout.strip()
    assert len(base64.b64decode(public, validate=True)) == 32
    assert f"keys register --key {pem}" in generated.stderr
    assert pem.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert os.stat(pem).st_mode & 0o777 == 0o600
    assert head_seq(uri) == before, "generate touches no ledger"
    content = pem.read_bytes()
    assert refused(uri, "keys", "generate", "-o", str(pem)) == f"{pem} already exists; refusing to overwrite a key file"
    assert pem.read_bytes() == content
    assert refused(uri, "keys", "generate", "-o", str(tmp_path / "no-dir" / "k.pem")).startswith(
        f"cannot write {tmp_path / 'no-dir' / 'k.pem'}: "
    )

    kid = ok(uri, "keys", "register", "--key", str(pem), actor="carol").strip()
    assert kid == key_id("carol", public)
    assert (
        refused(uri, "keys", "register", "--public", public, actor="carol") == f"'carol' already registered key {kid}"
    )
    # Only an admin registers someone else's key.
    other = base64.b64encode(bytes(range(32))).decode()
    assert refused(uri, "keys", "register", "--public", other, "--owner", "dave", actor="carol") == (
        "policy rule 'admin_only': only an admin can register a key for 'dave'; 'carol' is not one"
    )
    assert ok(uri, "keys", "register", "--public", other, "--owner", "dave").strip() == key_id("dave", other)
    assert refused(uri, "keys", "register", "--key", str(tmp_path / "missing.pem")).startswith(
        f"cannot read the signing key '{tmp_path / 'missing.pem'}': "
    )

    ok(uri, "policy", "set", "credit", "--signed-approvals")
    request_id = ok(uri, "models", "request", "credit", "1", "Production").strip()
    assert refused(uri, "models", "approve", request_id, actor="carol") == (
        f"policy rule 'signed_approvals': request {request_id} needs a signed approval (approve with a signing key)"
    )
    # A key carol never registered does not verify as hers.
    stray = tmp_path / "stray.pem"
    ok(uri, "keys", "generate", "-o", str(stray))
    assert "has no registered key" in refused(uri, "models", "approve", request_id, "--key", str(stray), actor="carol")
    approved = ok(uri, "models", "approve", request_id, "--key", str(pem), actor="carol")
    assert f"approved by carol (event {head_seq(uri) - 1}, signed with key {kid})" in approved
    assert json.loads(ok(uri, "models", "requests", "credit", "--json"))[0]["key_id"] == kid
    assert " (signed)" in ok(uri, "models", "requests", "credit")
    assert ok(uri, "verify").startswith("ok: ")


def test_policy_show_and_set(sqlite_uri: str, tmp_path: Path) -> None:
    uri = sqlite_uri
    build(uri, tmp_path)
    assert ok(uri, "policy", "show", "credit").splitlines() == [
        "policy of 'credit' (the default, never set):",
        "  approval stages:      Production",
        "  single-holder stages: Production",
        "  four-eyes:            on",
        "  signed approvals:     optional",
        "  run statuses:         FINISHED",
    ]
    changed = ok(
        uri,
        "policy",
        "set",
        "credit",
        "--approval-stage",
        "Staging",
        "--approval-stage",
        "Production",
        "--no-four-eyes",
        "--run-status",
        "FINISHED",
        "--run-status",
        "KILLED",
    )
    seq = head_seq(uri)
    assert changed.splitlines()[0] == f"policy of 'credit' (set at event {seq}):"
    document = json.loads(ok(uri, "policy", "show", "credit", "--json"))
    assert document == {
        "approval_stages": ["Staging", "Production"],
        "single_holder_stages": ["Production"],  # not given: kept
        "four_eyes": False,
        "signed_approvals": False,
        "run_statuses": ["FINISHED", "KILLED"],
        "seq": seq,
    }
    # Four-eyes off: carol requests and approves herself.
    request_id = ok(uri, "models", "request", "credit", "1", "Staging", actor="carol").strip()
    ok(uri, "models", "approve", request_id, actor="carol")
    # No approval at all: a direct move to Production is allowed.
    ok(uri, "policy", "set", "credit", "--no-approval")
    assert json.loads(ok(uri, "policy", "show", "credit", "--json"))["approval_stages"] == []
    assert ok(uri, "models", "stage", "credit", "2", "Production").startswith("credit: version 2: None → Production")
    ok(uri, "policy", "set", "credit", "--single-holder-stage", "Production", "--single-holder-stage", "Staging")
    moved = ok(uri, "models", "stage", "credit", "1", "Production")
    assert moved.startswith("credit: version 1: Staging → Production (archived version 2)")


# -- help ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (("models",), "Model registry"),
        (("models", "list"), "version in Production"),
        (("models", "show"), "--as-of"),
        (("models", "history"), "Every registry event"),
        (("models", "stage"), "`models request` instead"),
        (("models", "request"), "prints the request id"),
        (("models", "approve"), "--key"),
        (("models", "reject"), "withdrawing"),
        (("models", "requests"), "--pending"),
        (("models", "alias"), "--delete"),
        (("models", "promote"), "--min-delta"),
        (("models", "deploy"), "--environment"),
        (("models", "as-of"), "TIME_OR_SEQ"),
        (("roles",), "approver"),
        (("roles", "grant"), "admins only"),
        (("roles", "revoke"), "last admin"),
        (("roles", "list"), "--json"),
        (("keys",), "Ed25519"),
        (("keys", "generate"), "0600"),
        (("keys", "register"), "--public"),
        (("policy",), "Governance"),
        (("policy", "show"), "--json"),
        (("policy", "set"), "--signed-approvals"),
        (("init",), "first admin"),
    ],
)
def test_help(command: tuple[str, ...], expected: str, tmp_path: Path) -> None:
    result = cli(f"sqlite:///{tmp_path / 'never.db'}", *command, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: mlledger {' '.join(command)} [OPTIONS]")
    assert expected in result.stdout
    writes = command[-1] in {"stage", "request", "approve", "reject", "alias", "promote", "deploy", "grant", "revoke"}
    if writes or command[-1] in {"register", "set", "init"}:
        assert "--actor" in result.stdout
    assert not (tmp_path / "never.db").exists(), "--help must not create a ledger"
