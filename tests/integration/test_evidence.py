"""Evidence bundles (``lg.evidence``, ``mlledger evidence``) on SQLite and
PostgreSQL, checked by the project's checker, the CLI and the independent
script ``examples/verify_bundle.py`` (a real subprocess).

A bundle cites exactly the events about a version and its lineage: each
test compares it with ``expected_seqs``, an oracle that reads every event
of the ledger and picks them by their payloads, as DESIGN §7 describes the
events, without the read models the service uses. Bundles are byte-identical
when made twice from one ledger and checkpoint; they verify; they fail,
naming the event, when a payload, a header, the list of events or the
checkpoint is altered, or the key is wrong, and naming the multiproof
when one of its hashes is changed, removed or added or an event is forged
with a hash of its own; every checker agrees on each. An unknown version
writes nothing; a redacted event still bundles, with its redaction. A
bundle of the former format /1 (an inclusion proof per event, from the
ledger's own proofs) still verifies everywhere, and fails when a proof is
altered.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import ledger
from cli.demo import DemoResult, run_demo
from cli.main import main
from ledger.bundle import BundleCheck, check_bundle, unzip_bundle, zip_bundle
from ledger.checkpoint import open_note, sign, verifier_key
from ledger.errors import ConflictError, NotFoundError, ProofError, SignatureError, ValidationError
from ledger.keys import key_id
from tests.unit.test_bundle import forge, format_1

MODEL = "credit-model"
SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "verify_bundle.py"
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(7, 39)))


# -- the oracle: every event about a version, read from the events alone -----------


def expected_seqs(lg: ledger.Ledger, name: str, version: int, stop: int) -> set[int]:
    """The seqs below ``stop`` a bundle of ``version`` of ``name`` must cite."""
    events = list(lg.events(0, stop))
    payloads = {event.seq: _payload(lg, event) for event in events}
    started = {payloads[e.seq]["run_id"]: payloads[e.seq] for e in events if e.type == "run.started"}
    source = next(p["run_id"] for p in payloads.values() if _is_version(p, name, version) and "run_id" in p)
    lineage, parent = [source], started[source]["parent_run_id"]
    while parent is not None:
        lineage.append(parent)
        parent = started[parent]["parent_run_id"]
    experiments = {started[run]["experiment_id"] for run in lineage}
    cited: set[int] = set()
    requests: set[str] = set()
    aliases: dict[str, int] = {}
    roles: dict[tuple[str, str], int] = {}
    keys: dict[tuple[str, str], int] = {}
    inputs: set[tuple[str, str]] = set()
    data: dict[tuple[str, str], list[tuple[int, list[Any]]]] = {}
    redactions: dict[int, int] = {}
    for event in events:
        p, kind, seq = payloads[event.seq], event.type, event.seq
        mine = p.get("name") == name and p.get("version") == version
        if kind == "experiment.created":
            if p["experiment_id"] in experiments:
                cited.add(seq)
        elif kind == "run.started":
            if p["run_id"] in lineage:
                cited.add(seq)
        elif kind.startswith("run.") and p.get("run_id") == source:
            cited.add(seq)
            if kind == "run.input_logged" and "name" in p:
                inputs.add((p["name"], p["version"]))
        elif kind == "dataset.version_registered":
            data.setdefault((p["name"], p["version"]), []).append((seq, p.get("derived_from", [])))
        elif kind in ("model.registered", "policy.set", "model.tags_set"):
            if p["name"] == name and p.get("version") in (None, version):
                cited.add(seq)
        elif kind in ("model.version_created", "model.deployed"):
            if mine:
                cited.add(seq)
        elif kind == "model.stage_changed" and p["name"] == name:
            if p["version"] == version or version in p["archived_versions"]:
                cited.add(seq)
        elif kind == "model.transition_requested" and mine:
            requests.add(p["request_id"])
            cited.add(seq)
        elif kind in ("model.transition_approved", "model.transition_rejected") and p["request_id"] in requests:
            cited.add(seq)
            cited |= {grant for (actor, _), grant in roles.items() if actor == event.actor}
            if p.get("key_id"):
                cited.add(keys[(event.actor, p["key_id"])])
        elif kind == "model.promotion_evaluated" and p["name"] == name:
            if version in (p["candidate"], p["champion"]):
                cited.add(seq)
        elif kind == "model.alias_set" and p["name"] == name:
            aliases[p["alias"]] = p["version"]
            if p["version"] == version:
                cited.add(seq)
        elif kind == "model.alias_removed" and p["name"] == name and aliases.pop(p["alias"]) == version:
            cited.add(seq)
        elif kind == "actor.key_registered":
            keys[(p["actor"], key_id(p["actor"], p["public_key"]))] = seq
        elif kind == "actor.role_granted":
            roles[(p["actor"], p["role"])] = seq
        elif kind == "actor.role_revoked":
            roles.pop((p["actor"], p["role"]))
        elif kind == "ledger.redacted":
            redactions.setdefault(p["target_seq"], seq)
    queue = list(inputs)
    while queue:
        for seq, upstream in data.pop(queue.pop(), []):
            cited.add(seq)
            queue += [(ref["name"], ref["version"]) for ref in upstream]
    return cited | {redactions[seq] for seq in cited if seq in redactions}


def _payload(lg: ledger.Ledger, event: ledger.RecordedEvent) -> dict[str, Any]:
    """The payload, or for an erased one what its redaction says it was about."""
    if event.payload is not None:
        return event.payload
    redaction = lg.redaction_of(event.seq)
    assert redaction is not None and redaction.subject is not None
    return dict(redaction.subject)


def _is_version(p: dict[str, Any], name: str, version: int) -> bool:
    return p.get("name") == name and p.get("version") == version and "artifact_digest" in p


# -- fixtures ------------------------------------------------------------------------


def _setup(uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ledger.Ledger:
    """A ledger with a signing key (the default key for checkpoints) and its artifacts under ``tmp_path``."""
    key_file = tmp_path / "keys" / "ledger.key"
    monkeypatch.chdir(tmp_path)  # the demo keeps its checkpoints in ./mlledger/ on PostgreSQL
    monkeypatch.setenv("MLLEDGER_KEY_FILE", str(key_file))
    monkeypatch.setenv("MLLEDGER_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    lg = ledger.open(uri)
    lg.setup_signing_key(key_file)
    return lg


@pytest.fixture
def demo(uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ledger.Ledger, DemoResult]]:
    """The credit-scoring story of ``mlledger demo`` on the backend."""
    with _setup(uri, tmp_path, monkeypatch) as lg:
        yield lg, run_demo(lg, lambda line: None, tmp_path / "work")


@pytest.fixture(scope="module")
def demo_bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, bytes], str, DemoResult]]:
    """(files of the champion's bundle, verifier key, the story) of a SQLite demo, for the attacks."""
    tmp_path = tmp_path_factory.mktemp("demo")
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        _setup(f"sqlite:///{tmp_path / 'l.db'}", tmp_path, monkeypatch) as lg,
    ):
        result = run_demo(lg, lambda line: None, tmp_path / "work")
        yield lg.evidence(MODEL, result.champion).files(), lg.verifier_key(), result


def run_script(path: Path, key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(path), "--key", key],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def _zip(tmp_path: Path, files: dict[str, bytes], name: str = "bundle.zip") -> Path:
    path = tmp_path / name
    path.write_bytes(zip_bundle(files))
    return path


def _checked_everywhere(lg: ledger.Ledger, path: Path) -> BundleCheck:
    """Check a bundle file with the project's checker, the CLI and the independent script; all must pass."""
    files = unzip_bundle(path.read_bytes())
    checked = check_bundle(files, lg.verifier_key())
    cli = CliRunner().invoke(main, ["evidence", "verify", str(path), "--key", lg.verifier_key()])
    assert cli.exit_code == 0 and cli.output.startswith(f"ok: {checked.events} events about "), cli.output
    script = run_script(path, lg.verifier_key())
    assert (script.returncode, script.stderr) == (0, ""), script.stdout
    assert script.stdout.startswith(f"OK: {checked.events} events about {checked.model} version {checked.version}")
    assert f"({json.loads(files['manifest.json'])['format']}: " in script.stdout
    return checked


# -- what a bundle cites -------------------------------------------------------------------


def test_each_demo_version_cites_exactly_its_events(demo: tuple[ledger.Ledger, DemoResult]) -> None:
    lg, result = demo
    signed = len(lg.checkpoints())  # the demo keeps a checkpoint every 50 events, and one at its end
    for version in (1, 2, 3, 4):
        started = time.perf_counter()
        bundle = lg.evidence(MODEL, version)
        seconds = time.perf_counter() - started
        print(
            f"{lg.uri.partition(':')[0]}: evidence of version {version}: {len(bundle.seqs)} events in {seconds:.3f} s"
        )
        assert set(bundle.seqs) == expected_seqs(lg, MODEL, version, bundle.checkpoint.size), version
        assert bundle.checkpoint.size == lg.checkpoints()[-1].size == lg.size() - 1  # the latest, before the report
    assert len(lg.checkpoints()) == signed  # none made: the stored one is reused

    # The champion's bundle, read closely.
    version = lg.get_model_version(MODEL, result.champion)
    run = lg.get_run(version.run_id).info
    requests = {r.request_id: r for r in lg.registry.requests(MODEL)}
    approval = requests[result.signed_request]
    bundle = lg.evidence(MODEL, result.champion)
    reasons = {citation.seq: citation.reason for citation in bundle.citations}
    types = {citation.type for citation in bundle.citations}
    assert types == {
        "actor.role_granted",
        "actor.key_registered",
        "experiment.created",
        "dataset.version_registered",
        "run.started",
        "run.params_logged",
        "run.input_logged",
        "run.metrics_logged",
        "run.artifact_logged",
        "run.finished",
        "model.registered",
        "policy.set",
        "model.version_created",
        "model.promotion_evaluated",
        "model.transition_requested",
        "model.transition_approved",
        "model.stage_changed",
        "model.alias_set",
        "model.deployed",
    }
    assert reasons[version.seq] == "registration of this version"
    assert reasons[run.start_seq] == "source run started"
    assert reasons[run.end_seq] == "source run finished"
    assert reasons[approval.seq] == f"request {approval.request_id} to move this version to Production"
    assert reasons[approval.decided_seq] == f"approval of request {approval.request_id}"
    assert reasons[result.handover_seq] == "stage change of this version to Production"
    won, lost = result.evaluations
    assert reasons[won.seq] == "promote_if_better comparison, this version as candidate"
    assert reasons[lost.seq] == "promote_if_better comparison, this version as champion"
    key_seq = next(c.seq for c in bundle.citations if c.type == "actor.key_registered")
    assert (
        reasons[key_seq] == f"key {approval.key_id} of erin, which signed the approval of request {approval.request_id}"
    )
    assert sum(c.type == "run.metrics_logged" for c in bundle.citations) == 20  # an event per epoch
    assert bundle.redacted == []

    # The archived predecessor's bundle cites the stage change that archived it, and its parent run.
    archived = lg.evidence(MODEL, result.archived)
    reasons = {citation.seq: citation.reason for citation in archived.citations}
    assert reasons[result.handover_seq] == f"archived this version (version {result.champion} moved to Production)"
    parent = lg.get_run(lg.get_run(lg.get_model_version(MODEL, result.archived).run_id).info.parent_run_id or "")
    assert reasons[parent.info.start_seq] == f"run {parent.run_id} started, parent of the source run"


def test_a_bundle_verifies_and_is_the_same_bytes_twice(demo: tuple[ledger.Ledger, DemoResult], tmp_path: Path) -> None:
    lg, result = demo
    signed = len(lg.checkpoints())
    first = lg.write_evidence(MODEL, result.champion, tmp_path / "first.zip")
    second = lg.write_evidence(MODEL, result.champion, tmp_path / "second.zip")
    assert (tmp_path / "first.zip").read_bytes() == (tmp_path / "second.zip").read_bytes()
    assert first.checkpoint == second.checkpoint == lg.checkpoints()[-1] and len(lg.checkpoints()) == signed
    checked = _checked_everywhere(lg, tmp_path / "first.zip")
    assert (checked.model, checked.version, checked.events) == (MODEL, result.champion, len(first.seqs))
    assert (checked.tree_size, checked.root) == (first.checkpoint.size, first.checkpoint.root.hex())
    assert checked.origin == f"mlledger/{lg.ledger_id}" and checked.bundled_key_matches

    # Events appended since do not change the bundle: the stored checkpoint still covers the version.
    lg.append("experiment.created", {"experiment_id": "later", "name": "later"}, actor="alice")
    lg.write_evidence(MODEL, result.champion, tmp_path / "third.zip")
    assert (tmp_path / "third.zip").read_bytes() == (tmp_path / "first.zip").read_bytes()

    # A new event about the version needs a newer checkpoint, made now.
    lg.set_alias(MODEL, "approved", result.champion, actor="carol")
    newer = lg.evidence(MODEL, result.champion)
    assert newer.checkpoint.size == lg.size() > first.checkpoint.size and len(lg.checkpoints()) == signed + 1
    assert newer.citations[-1].reason == "alias 'approved' set on this version"


def test_unknown_models_and_versions_write_nothing(
    hand_built: tuple[ledger.Ledger, dict[str, int]], tmp_path: Path
) -> None:
    lg, _ = hand_built
    signed = len(lg.checkpoints())
    target = tmp_path / "bundle.zip"
    with pytest.raises(NotFoundError, match=r"model 'debit-model' is not registered"):
        lg.write_evidence("debit-model", 1, target)
    with pytest.raises(NotFoundError, match=r"model 'credit-model' has no version 9"):
        lg.write_evidence(MODEL, 9, target)
    with pytest.raises(ValidationError, match=r"model version must be a whole number >= 1, got 0"):
        lg.evidence(MODEL, 0)
    assert not target.exists()
    assert len(lg.checkpoints()) == signed  # nothing signed for nothing


def test_an_existing_file_is_never_overwritten(
    hand_built: tuple[ledger.Ledger, dict[str, int]], tmp_path: Path
) -> None:
    lg, _ = hand_built
    target = tmp_path / "bundle.zip"
    target.write_bytes(b"keep me")
    with pytest.raises(ConflictError, match=r"bundle.zip exists: an evidence bundle is never written over a file"):
        lg.write_evidence(MODEL, 1, target)
    assert target.read_bytes() == b"keep me"


def test_a_redacted_event_still_bundles_with_its_redaction(
    demo: tuple[ledger.Ledger, DemoResult], tmp_path: Path
) -> None:
    lg, result = demo
    before = lg.evidence(MODEL, result.champion)
    params = next(c.seq for c in before.citations if c.type == "run.params_logged")
    data = next(c.seq for c in before.citations if c.type == "run.input_logged")
    read = lg.event(data).payload
    assert read is not None
    # Once the input is erased nothing says which data version it named: that version's
    # registration drops out (its parent stays, reached through the run's other split).
    registration = lg.dataset_version(read["name"], read["version"]).seq
    assert registration in before.seqs
    erased = [
        lg.redact(seq, reason="erasure request", legal_basis="GDPR Art. 17", actor="carol") for seq in (params, data)
    ]

    bundle = lg.write_evidence(MODEL, result.champion, tmp_path / "redacted.zip")
    assert bundle.checkpoint.size == lg.size() > before.checkpoint.size  # made to cover the redactions
    assert set(bundle.seqs) == (set(before.seqs) - {registration}) | {event.seq for event in erased}
    assert set(bundle.seqs) == expected_seqs(lg, MODEL, result.champion, bundle.checkpoint.size)
    assert bundle.redacted == [params, data]
    reasons = {citation.seq: citation.reason for citation in bundle.citations}
    assert [reasons[event.seq] for event in erased] == [f"redaction of event {params}", f"redaction of event {data}"]
    lines = [
        json.loads(line) for line in unzip_bundle((tmp_path / "redacted.zip").read_bytes())["events.jsonl"].splitlines()
    ]
    assert [line["payload"] for line in lines if line["seq"] in (params, data)] == [None, None]
    checked = _checked_everywhere(lg, tmp_path / "redacted.zip")
    assert checked.redacted == (params, data)


# -- a hand-built ledger: data lineage, repeats, overwritten tags, a grandparent ------------


def _hand_built(lg: ledger.Ledger, tmp_path: Path) -> dict[str, int]:
    """Data versions with derived_from, a run nested two deep that repeats a
    param and an artifact and sets a tag twice, a run logging in the same
    window, an archived version, an alias set and removed; then redactions."""
    lg.claim_admin(actor="carol")
    lg.grant_role("bob", "approver", actor="carol")
    lg.grant_role("erin", "approver", actor="carol")
    seqs: dict[str, int] = {}
    for name, version, upstream in (
        ("loans", "v1", []),
        ("loans", "v2", ["v1"]),
        ("loans", "v9", []),
        ("pii", "v1", []),
    ):
        payload = {"name": name, "version": version, "digest": "sha256:" + "c" * 64}
        payload["derived_from"] = [{"name": name, "version": v} for v in upstream]
        seqs[f"{name} {version}"] = lg.append("dataset.version_registered", payload, actor="alice").seq
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "weights.txt").write_text("0.1 0.2\n", encoding="utf-8")
    quiet = {"actor": "alice", "capture_environment": False}
    with lg.start_run("credit", "sweep", **quiet) as sweep:
        with (
            lg.start_run("credit", "family", nested=True, **quiet),
            lg.start_run("credit", "source", nested=True, **quiet) as run,
        ):
            run.log_params({"alpha": 1})
            lg.append("run.params_logged", {"run_id": run.run_id, "params": {"alpha": "1"}}, actor="alice")
            seqs["tag a"] = lg.append("run.tags_set", {"run_id": run.run_id, "tags": {"stage": "a"}}, actor="alice").seq
            run.set_tag("stage", "b")
            seqs["tag b"] = lg.size() - 1
            run.set_tag("stage", "c")
            run.log_input("loans", "v2", "sha256:" + "c" * 64, context="training")
            run.log_input("pii", "v1", "sha256:" + "c" * 64, context="training")
            seqs["metric"] = lg.append(
                "run.metrics_logged",
                {"run_id": run.run_id, "metrics": [{"key": "rmse", "value": 1.0, "step": 1, "timestamp": 1}]},
                actor="alice",
            ).seq
            run.log_metric("rmse", 0.5, step=2)
            noise = lg.start_run("credit", "noise", actor="alice", capture_environment=False, parent_run_id=None)
            noise.log_params({"alpha": 2})
            noise.set_tag("stage", "z")
            noise.log_input("loans", "v9", "sha256:" + "c" * 64)
            noise.log_metric("rmse", 9.0)
            noise.log_artifact(str(model_dir), "model")
            noise.end()
            run.log_artifact(str(model_dir), "model")
            again = lg.event(lg.size() - 1).payload
            assert again is not None
            lg.append("run.artifact_logged", again, actor="alice")  # the same file logged again: no new row
        sweep.log_metric("best", 0.5)
    seqs["v1"] = lg.register_model(MODEL, run.run_id, "model", owner="risk", actor="alice").seq
    lg.set_model_tags(MODEL, {"domain": "credit"}, actor="alice")
    lg.set_alias(MODEL, "champion", 1, actor="carol")
    lg.delete_alias(MODEL, "champion", actor="carol")
    lg.record_deployment(MODEL, 1, target="scoring", environment="prod", actor="alice")
    lg.approve_transition(lg.request_transition(MODEL, 1, "Production", actor="alice").request_id, actor="bob")
    lg.register_model(MODEL, noise.run_id, "model", actor="alice")
    lg.approve_transition(lg.request_transition(MODEL, 2, "Production", actor="alice").request_id, actor="erin")
    for target in (seqs["pii v1"], seqs["tag a"], seqs["metric"]):
        lg.redact(target, reason="erasure request", legal_basis="GDPR Art. 17", actor="carol")
    return seqs


@pytest.fixture
def hand_built(
    uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ledger.Ledger, dict[str, int]]]:
    with _setup(uri, tmp_path, monkeypatch) as lg:
        yield lg, _hand_built(lg, tmp_path)


def test_lineage_repeats_and_redactions_of_a_hand_built_ledger(
    hand_built: tuple[ledger.Ledger, dict[str, int]], tmp_path: Path
) -> None:
    lg, seqs = hand_built
    bundle = lg.write_evidence(MODEL, 1, tmp_path / "v1.zip")
    assert set(bundle.seqs) == expected_seqs(lg, MODEL, 1, bundle.checkpoint.size)
    reasons = {citation.seq: citation.reason for citation in bundle.citations}
    assert reasons[seqs["loans v2"]] == "data version loans v2, input of the source run"
    assert reasons[seqs["loans v1"]] == "data version loans v1, upstream of an input"
    assert reasons[seqs["pii v1"]] == "data version pii v1, input of the source run"
    assert seqs["loans v9"] not in reasons  # the other run's input
    assert reasons[seqs["tag a"]] == "source run tags (payload redacted)"
    assert reasons[seqs["tag b"]] == "source run tags"  # set again later: no read-model row names it
    assert reasons[seqs["metric"]] == "source run metrics (payload redacted)"
    counts = {kind: sum(c.type == kind for c in bundle.citations) for kind in ("run.params_logged", "run.tags_set")}
    assert counts == {"run.params_logged": 2, "run.tags_set": 3}
    assert sum(c.type == "run.artifact_logged" for c in bundle.citations) == 2
    assert sum(c.type == "run.started" for c in bundle.citations) == 3  # source, parent, grandparent
    assert any(r.endswith("started, parent of a parent run") for r in reasons.values())
    assert "archived this version (version 2 moved to Production)" in reasons.values()
    assert "alias 'champion' removed from this version" in reasons.values()
    assert "tags of the model" in reasons.values()
    assert bundle.redacted == sorted((seqs["pii v1"], seqs["tag a"], seqs["metric"]))
    checked = _checked_everywhere(lg, tmp_path / "v1.zip")
    assert checked.redacted == tuple(bundle.redacted)


# -- attacks on a bundle -------------------------------------------------------------------


def _event_lines(files: dict[str, bytes]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in files["events.jsonl"].decode().splitlines()]


def _set_lines(files: dict[str, bytes], events: list[dict[str, Any]]) -> dict[str, bytes]:
    text = "".join(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n" for event in events)
    return {**files, "events.jsonl": text.encode()}


def _hashes(files: dict[str, bytes]) -> list[str]:
    hashes = json.loads(files["multiproof.json"])["hashes"]
    assert isinstance(hashes, list) and len(hashes) > 2, "the demo's bundle should need a few hashes"
    return hashes


def _set_hashes(files: dict[str, bytes], hashes: list[str]) -> dict[str, bytes]:
    return {**files, "multiproof.json": json.dumps({"hashes": hashes}).encode()}


def _flip(hex_hash: str) -> str:
    node = bytearray(bytes.fromhex(hex_hash))
    node[5] ^= 0x10
    return node.hex()


def _flip_multiproof_bit(files: dict[str, bytes]) -> tuple[dict[str, bytes], int]:
    hashes = _hashes(files)
    hashes[1] = _flip(hashes[1])
    return _set_hashes(files, hashes), -1


def _remove_multiproof_hash(files: dict[str, bytes]) -> tuple[dict[str, bytes], int]:
    hashes = _hashes(files)
    del hashes[-1]
    return _set_hashes(files, hashes), -1


def _add_multiproof_hash(files: dict[str, bytes]) -> tuple[dict[str, bytes], int]:
    hashes = _hashes(files)
    hashes.insert(1, hashes[0])  # a hash of the tree, once more
    return _set_hashes(files, hashes), -1


def _forge_event(files: dict[str, bytes]) -> tuple[dict[str, bytes], int]:
    """The version's registration by another actor, with a hash recomputed to
    match: only the multiproof can tell, and it cannot say which event."""
    events = _event_lines(files)
    at = next(i for i, e in enumerate(events) if e["type"] == "model.version_created")
    events[at] = forge(events[at], actor="mallory")
    return _set_lines(files, events), events[at]["seq"]


def _change_header(files: dict[str, bytes]) -> tuple[dict[str, bytes], int]:
    events = _event_lines(files)
    event = next(e for e in events if e["type"] == "model.deployed")
    event["time"] = "2020-01-01T00:00:00.000000Z"
    return _set_lines(files, events), event["seq"]


def _change_payload(files: dict[str, bytes]) -> tuple[dict[str, bytes], int]:
    events = _event_lines(files)
    event = next(e for e in events if e["type"] == "run.params_logged")
    event["payload"]["params"]["learning_rate"] = "0.5"
    return _set_lines(files, events), event["seq"]


def _remove_event(files: dict[str, bytes]) -> tuple[dict[str, bytes], int]:
    events = _event_lines(files)
    gone = next(e for e in events if e["type"] == "model.transition_approved")
    return _set_lines(files, [e for e in events if e is not gone]), gone["seq"]


def _resign(files: dict[str, bytes]) -> tuple[dict[str, bytes], int]:
    """The same checkpoint, signed under the ledger's key name by another key."""
    manifest = json.loads(files["manifest.json"])
    checkpoint = open_note(manifest["checkpoint"], files["verifier.key"].decode().strip())
    name = files["verifier.key"].decode().split("+", 1)[0]
    forged = sign(checkpoint, name, OTHER_KEY)
    manifest["checkpoint"] = forged
    return {**files, "checkpoint.note": forged.encode(), "manifest.json": json.dumps(manifest).encode()}, -1


# The messages are formatted with the seq later: braces in ``why`` stay doubled.
MULTIPROOF = r"^evidence bundle: 1 problem: multiproof\.json: the \d+ events do not lead to the signed root \(multiproof of \d+ leaves in a tree of \d+: {why}\): an event is not the ledger's"
SCRIPT_MULTIPROOF = "multiproof.json: not_included: the {events} events and its {hashes} hashes do not "

# (alteration, the error and message of check_bundle and the CLI, a line the script prints);
# the multiproof's alterations name no event (seq -1).
ATTACKS: dict[str, tuple[Callable[[dict[str, bytes]], tuple[dict[str, bytes], int]], type[Exception], str, str]] = {
    "multiproof bit": (
        _flip_multiproof_bit,
        ProofError,
        MULTIPROOF.format(why=r"computed root [0-9a-f]{{12}}…, expected [0-9a-f]{{12}}…"),
        SCRIPT_MULTIPROOF + "lead to the signed root of",
    ),
    "multiproof hash removed": (
        _remove_multiproof_hash,
        ProofError,
        MULTIPROOF.format(why=r"(\d+) hashes, expected (?!\1)\d+"),
        SCRIPT_MULTIPROOF + "make a tree of",
    ),
    "multiproof hash added": (
        _add_multiproof_hash,
        ProofError,
        MULTIPROOF.format(why=r"(\d+) hashes, expected (?!\1)\d+"),
        SCRIPT_MULTIPROOF + "make a tree of",
    ),
    "forged event": (
        _forge_event,
        ProofError,
        MULTIPROOF.format(why=r"computed root [0-9a-f]{{12}}…, expected [0-9a-f]{{12}}…"),
        SCRIPT_MULTIPROOF + "lead to the signed root of",
    ),
    "payload": (_change_payload, ProofError, r"event {seq}: payload altered", "event {seq}: payload_altered"),
    "header": (_change_header, ProofError, r"event {seq}: hash mismatch", "event {seq}: header_altered"),
    "removed": (
        _remove_event,
        ProofError,
        r"event {seq}: cited in manifest.json \(approval of request [0-9a-f-]+\) but not in events.jsonl",
        "event {seq}: not_in_bundle",
    ),
    "other key": (
        _resign,
        SignatureError,
        r"checkpoint note: no signature by mlledger/[0-9a-f-]+\+[0-9a-f]{{8}} verifies",
        "checkpoint.note: no valid signature by the verifier key",
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_altered_bundle_fails_every_checker_alike(
    attack: str, demo_bundle: tuple[dict[str, bytes], str, DemoResult], tmp_path: Path
) -> None:
    files, vkey, _ = demo_bundle
    alter, error, message, script_line = ATTACKS[attack]
    altered, seq = alter(dict(files))
    path = _zip(tmp_path, altered)
    events, hashes = len(_event_lines(altered)), len(json.loads(altered["multiproof.json"])["hashes"])
    with pytest.raises(error, match=message.format(seq=seq)) as raised:
        check_bundle(unzip_bundle(path.read_bytes()), vkey)

    cli = CliRunner().invoke(main, ["evidence", "verify", str(path), "--key", vkey])
    assert cli.exit_code == 1, cli.output
    assert re.search(message.format(seq=seq).removeprefix("^"), cli.output), cli.output

    script = run_script(path, vkey)
    assert script.returncode == 1, script.stdout + script.stderr
    assert script_line.format(seq=seq, events=events, hashes=hashes) in script.stdout
    if error is ProofError:  # the same problems, each in its own words
        found = re.match(r"evidence bundle: (\d+) problems?: ", str(raised.value))
        assert found and int(found[1]) == len(script.stdout.splitlines()), (str(raised.value), script.stdout)
    if "multiproof" in script_line:  # it cannot say which event: it names none
        assert not re.search(r"^event ", script.stdout, flags=re.MULTILINE), script.stdout


def test_a_wrong_key_fails_every_checker(demo_bundle: tuple[dict[str, bytes], str, DemoResult], tmp_path: Path) -> None:
    files, vkey, _ = demo_bundle
    path = _zip(tmp_path, files)
    wrong = verifier_key(vkey.split("+", 1)[0], OTHER_KEY.public_key())
    with pytest.raises(SignatureError, match=r"no signature by .* verifies"):
        check_bundle(unzip_bundle(path.read_bytes()), wrong)
    cli = CliRunner().invoke(main, ["evidence", "verify", str(path), "--key", wrong])
    assert cli.exit_code == 1 and "no signature by" in cli.output, cli.output
    script = run_script(path, wrong)
    assert script.returncode == 1 and "checkpoint.note: no valid signature by the verifier key" in script.stdout


def _with_manifest(files: dict[str, bytes], **changes: Any) -> dict[str, bytes]:
    manifest = {**json.loads(files["manifest.json"]), **changes}
    return {**files, "manifest.json": json.dumps(manifest).encode()}


MALFORMED: dict[str, tuple[Callable[[dict[str, bytes]], dict[str, bytes]], str, str]] = {
    "no multiproof": (
        lambda f: {name: data for name, data in f.items() if name != "multiproof.json"},
        "evidence bundle: missing multiproof.json",
        "unreadable: missing multiproof.json (format mlledger-evidence-bundle/2)",
    ),
    "proofs of format 1 in format 2": (
        lambda f: {**{n: d for n, d in f.items() if n != "multiproof.json"}, "proofs.json": b"{}"},
        "evidence bundle: missing multiproof.json",
        "unreadable: missing multiproof.json (format mlledger-evidence-bundle/2)",
    ),
    "unknown format": (
        lambda f: _with_manifest(f, format="mlledger-evidence-bundle/3"),
        "evidence bundle: manifest.json: format 'mlledger-evidence-bundle/3', expected 'mlledger-evidence-bundle/2'",
        "unreadable: manifest.json: format 'mlledger-evidence-bundle/3', expected 'mlledger-evidence-bundle/2'",
    ),
    "hashes not a list": (
        lambda f: {**f, "multiproof.json": b'{"hashes": "00"}'},
        'evidence bundle: multiproof.json is not {"hashes": [64 hex digits, ...]}',
        'unreadable: multiproof.json: expected {"hashes": [64 lowercase hex digits, ...]}',
    ),
    "a hash not hex": (
        lambda f: _set_hashes(f, [*_hashes(f)[:-1], _hashes(f)[-1].upper()]),
        'evidence bundle: multiproof.json is not {"hashes": [64 hex digits, ...]}',
        'unreadable: multiproof.json: expected {"hashes": [64 lowercase hex digits, ...]}',
    ),
    "an event line with a field of its own": (
        lambda f: {**f, "events.jsonl": f["events.jsonl"].replace(b'{"actor"', b'{"note":"mine","actor"', 1)},
        "evidence bundle: events.jsonl line 1: not an export line (field 'note' is not one)",
        "unreadable: events.jsonl line 1: expected the nine header fields, hash and payload",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_every_checker_refuses_a_malformed_multiproof_bundle(
    case: str, demo_bundle: tuple[dict[str, bytes], str, DemoResult], tmp_path: Path
) -> None:
    files, vkey, _ = demo_bundle
    change, message, script_message = MALFORMED[case]
    path = _zip(tmp_path, change(dict(files)))
    with pytest.raises(ValidationError, match="^" + re.escape(message)):
        check_bundle(unzip_bundle(path.read_bytes()), vkey)
    cli = CliRunner().invoke(main, ["evidence", "verify", str(path), "--key", vkey])
    assert cli.exit_code == 2 and message in cli.output, cli.output
    script = run_script(path, vkey)
    assert (script.returncode, script.stdout) == (2, ""), script.stdout
    assert script.stderr.startswith(script_message), script.stderr


def test_a_format_1_bundle_still_verifies_everywhere(demo: tuple[ledger.Ledger, DemoResult], tmp_path: Path) -> None:
    """A bundle of format /1, made from a /2 bundle and the ledger's own inclusion
    proofs, checks out as the same evidence; a flipped bit in one proof names its event."""
    lg, result = demo
    bundle = lg.evidence(MODEL, result.champion)
    size = bundle.checkpoint.size
    proofs = {seq: lg.inclusion_proof(seq, size) for seq in bundle.seqs}
    # Each multiproof hash is a sibling on the path of a cited event: the multiproof
    # keeps each once, where the inclusion proofs repeat them.
    assert set(bundle.proof) <= {node for path in proofs.values() for node in path}
    assert len(bundle.proof) < sum(len(path) for path in proofs.values()) / 5
    files = format_1(bundle.files(), proofs)
    checked = _checked_everywhere(lg, _zip(tmp_path, files, "format-1.zip"))
    assert checked == check_bundle(bundle.files(), lg.verifier_key())

    seq = next(c.seq for c in bundle.citations if c.type == "model.version_created")
    document = json.loads(files["proofs.json"])
    document[str(seq)][-1] = _flip(document[str(seq)][-1])
    path = _zip(tmp_path, {**files, "proofs.json": json.dumps(document).encode()}, "tampered.zip")
    message = (
        rf"evidence bundle: 1 problem: event {seq}: not in the signed tree of {size} events: "
        rf"inclusion proof for leaf {seq} of {size}: computed root [0-9a-f]{{12}}…, expected {checked.root[:12]}…"
    )
    with pytest.raises(ProofError, match="^" + message + "$"):
        check_bundle(unzip_bundle(path.read_bytes()), lg.verifier_key())
    cli = CliRunner().invoke(main, ["evidence", "verify", str(path), "--key", lg.verifier_key()])
    assert cli.exit_code == 1 and re.search(message, cli.output), cli.output
    script = run_script(path, lg.verifier_key())
    assert (script.returncode, script.stderr) == (1, ""), script.stderr
    assert script.stdout == f"event {seq}: not_included: its proof does not lead to the signed root of {size} events\n"


def test_a_bundle_that_is_not_a_zip_is_malformed(
    tmp_path: Path, demo_bundle: tuple[dict[str, bytes], str, DemoResult]
) -> None:
    _, vkey, _ = demo_bundle
    path = tmp_path / "bundle.zip"
    path.write_bytes(b"PK\x03\x04 not really")
    cli = CliRunner().invoke(main, ["evidence", "verify", str(path), "--key", vkey])
    assert cli.exit_code == 2 and "not a readable zip file" in cli.output, cli.output
    script = run_script(path, vkey)
    assert script.returncode == 2 and "cannot read" in script.stderr


def test_the_script_imports_nothing_from_mlledger() -> None:
    source = SCRIPT.read_text(encoding="utf-8")
    imports = set(re.findall(r"^(?:from|import) ([\w.]+)", source, flags=re.MULTILINE))
    allowed = {"__future__", "argparse", "base64", "binascii", "bisect", "hashlib", "io", "itertools", "json", "sys"}
    allowed |= {"zipfile", "pathlib", "typing", "rfc8785", "cryptography.exceptions"}
    allowed |= {"cryptography.hazmat.primitives.asymmetric.ed25519"}
    assert imports <= allowed, imports - allowed


# -- the command line ----------------------------------------------------------------------


def test_cli_writes_and_verifies_a_bundle(sqlite_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _setup(sqlite_uri, tmp_path, monkeypatch) as lg:
        result = run_demo(lg, lambda line: None, tmp_path / "work")
        vkey = lg.verifier_key()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vkey").write_text(vkey + "\n", encoding="utf-8")
    runner = CliRunner()

    made = runner.invoke(main, ["--uri", sqlite_uri, "evidence", MODEL, str(result.champion), "-o", "bundle.zip"])
    assert made.exit_code == 0, made.output
    assert re.match(
        rf"wrote bundle.zip: \d+ events about {MODEL} version 3, proven in the checkpoint of \d+ events \(root [0-9a-f]{{16}}…\)\n",
        made.output,
    )
    explicit = runner.invoke(main, ["--uri", sqlite_uri, "evidence", "create", MODEL, "3", "-o", "again.zip"])
    assert explicit.exit_code == 0, explicit.output
    assert (tmp_path / "bundle.zip").read_bytes() == (tmp_path / "again.zip").read_bytes()

    checked = runner.invoke(main, ["evidence", "verify", "bundle.zip", "--key", "vkey"])
    assert checked.exit_code == 0, checked.output
    assert re.match(
        rf"ok: \d+ events about {MODEL} version 3, each in the tree of \d+ events of mlledger/", checked.output
    )

    again = runner.invoke(main, ["--uri", sqlite_uri, "evidence", MODEL, "3", "-o", "bundle.zip"])
    assert again.exit_code == 2 and "bundle.zip exists" in again.output
    unknown = runner.invoke(main, ["--uri", sqlite_uri, "evidence", MODEL, "9", "-o", "nine.zip"])
    assert unknown.exit_code == 2 and "model 'credit-model' has no version 9" in unknown.output
    assert not (tmp_path / "nine.zip").exists()
    assert "Traceback" not in again.output + unknown.output

    helped = runner.invoke(main, ["evidence", "--help"])
    assert helped.exit_code == 0 and "MODEL VERSION -o FILE | verify FILE --key VKEY" in helped.output


def test_both_checkers_refuse_an_extra_entry_and_a_duplicate_citation(
    demo_bundle: tuple[dict[str, bytes], str, DemoResult], tmp_path: Path
) -> None:
    files, vkey, _ = demo_bundle
    extra = _zip(tmp_path, {**files, "notes.txt": b"trust me"}, "extra.zip")
    with pytest.raises(ValidationError, match=r"unexpected entry 'notes\.txt'"):
        check_bundle(unzip_bundle(extra.read_bytes()), vkey)
    script = run_script(extra, vkey)
    assert script.returncode == 2 and "unexpected entries notes.txt" in script.stdout + script.stderr

    manifest = json.loads(files["manifest.json"])
    manifest["events"].append(manifest["events"][0])
    twice = _zip(tmp_path, {**files, "manifest.json": json.dumps(manifest).encode()}, "twice.zip")
    with pytest.raises(ledger.LedgerError):
        check_bundle(unzip_bundle(twice.read_bytes()), vkey)
    script = run_script(twice, vkey)
    assert script.returncode == 1 and f"event {manifest['events'][0]['seq']}: cited_twice" in script.stdout
