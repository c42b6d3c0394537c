"""``mlledger demo`` on a real SQLite file and a real PostgreSQL database: the
story runs end to end in seconds, and what it leaves is what a compliance
officer is told to look for: the champion in Production, its predecessor
archived by the same event, the signed and the four-eyes approvals, the
losing candidate kept out and its request rejected, every evaluation, the
live deployment, the as-of answer at the printed time, an intact chain. A
second run on the same ledger is refused with nothing appended.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import ledger
from cli.demo import MARCH, DemoResult, LogisticModel, demo, draw_loans, evaluate, run_demo
from cli.main import main
from ledger import ConflictError

MODEL = "credit-model"
AS_OF = re.compile(r"models as-of (\S+) credit-model --stage Production")
DONE = re.compile(r"^done in (\d+\.\d) s$", re.MULTILINE)


def generated_path(output: str) -> str:
    """The report path the demo printed."""
    line = next(line for line in output.splitlines() if "writes the provenance report" in line)
    return line.split(": ", 1)[1].split(",", 1)[0]


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory for the command, with the artifact store in it on
    every backend, and ``demo`` registered on the ``mlledger`` group."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLLEDGER_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    monkeypatch.delenv("MLLEDGER_URI", raising=False)
    monkeypatch.setitem(main.commands, "demo", demo)
    return tmp_path


def invoke_demo(uri: str) -> Result:
    result = CliRunner().invoke(main, ["--uri", uri, "demo"])
    assert "Traceback" not in result.output
    return result


def test_demo_tells_the_story_once_and_leaves_what_it_says(uri: str, workspace: Path) -> None:
    result = invoke_demo(uri)
    assert result.exit_code == 0, result.output
    seconds = float(DONE.findall(result.output)[0])
    print(f"mlledger demo on {uri.partition(':')[0]}: {seconds} s")
    assert seconds < 60
    assert "refused, policy rule 'four_eyes': 'alice' requested transition" in result.output
    before = AS_OF.findall(result.output)[0]

    with ledger.open(uri, create=False) as lg:
        registry = lg.registry
        versions = {v.version: v for v in registry.versions(MODEL)}
        assert {v: view.stage for v, view in versions.items()} == {
            1: "Staging",
            2: "Archived",
            3: "Production",
            4: "None",
        }

        # Version 3 entered Production and version 2 left it in one event, by erin's signed approval.
        handover = lg.event(versions[3].stage_since_seq)
        assert versions[2].stage_since_seq == handover.seq
        assert handover.type == "model.stage_changed" and handover.actor == "erin"
        assert handover.payload is not None
        assert handover.payload["version"] == 3 and handover.payload["archived_versions"] == [2]
        requests = {(r.version, r.status): r for r in registry.requests(MODEL)}
        signed = requests[(3, "approved")]
        assert signed.request_id == handover.payload["request_id"] and signed.executed_seq == handover.seq
        assert signed.decided_by == "erin" and signed.signature is not None
        assert signed.key_id in registry.keys("erin")
        assert signed.evidence is not None and signed.evidence["metric"] == "auc" and signed.evidence["champion"] == 2

        # Four eyes: alice requested version 2, bob approved; alice's attempt appended nothing.
        first = requests[(2, "approved")]
        assert (first.requester, first.decided_by) == ("alice", "bob") and first.signature is None
        approvals = [h for h in lg.model_history(MODEL) if h.type == "model.transition_approved"]
        assert [h.actor for h in approvals] == ["bob", "erin"]

        # Version 4 lost, stayed out of Production, and bob rejected the manual request for it.
        rejected = requests[(4, "rejected")]
        assert rejected.requester == "alice" and rejected.decided_by == "bob"
        assert rejected.comment is not None and "below the champion's" in rejected.comment
        assert not any(r.version == 4 and r.status != "rejected" for r in registry.requests(MODEL))

        # Every promote_if_better evaluation is in the history, with its outcome.
        evaluations = [h.detail for h in lg.model_history(MODEL) if h.type == "model.promotion_evaluated"]
        assert [(e["candidate"], e["champion"], e["outcome"]) for e in evaluations] == [(3, 2, "won"), (4, 3, "lost")]
        assert evaluations[0]["candidate_value"] > evaluations[0]["champion_value"]
        assert evaluations[1]["candidate_value"] < evaluations[1]["champion_value"]

        assert registry.aliases(MODEL) == {"champion": 3}
        assert registry.deployment("scoring-api", "prod") == (MODEL, 3)
        assert [d.version for d in registry.deployments(MODEL) if d.live] == [3]

        # The printed moment is before the retrain's promotion: version 2 was in Production then.
        assert lg.registry_as_of(before).version_in_stage(MODEL, "Production") == 2
        assert lg.registry_as_of(before).get_model_version(MODEL, 3).stage == "None"

        report = lg.verify()
        assert report.ok and report.signatures == 1
        # The demo verified, then wrote the champion's report: the one event after is its record.
        assert f"verifies the ledger: {report.events - 1} events intact" in result.output
        generated = lg.event(report.events - 1)
        assert generated.type == "report.generated" and generated.actor == "carol"
        pdf = Path(generated_path(result.output))
        assert generated.payload == {
            "name": MODEL, "version": 3, "format": "pdf", "as_of": None,
            "sha256": "sha256:" + hashlib.sha256(pdf.read_bytes()).hexdigest(),
            "tree_size": report.events - 1, "root": lg.merkle_root(report.events - 1).hex(),
        }  # fmt: skip
        assert pdf.read_bytes().startswith(b"%PDF")
        head = lg.head()

    # Every command the officer is told to type next works as printed (the shell
    # expands $(mlledger key public)); on PostgreSQL the printed URI hides the
    # password, so only the SQLite commands can run as they are.
    commands = result.output.split("A compliance officer would go on with:\n")[1].split("done in")[0]
    for line in commands.strip().splitlines() if uri.startswith("sqlite") else []:
        command = line.strip().split("  # ")[0]
        ran = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False, timeout=120)
        assert ran.returncode == 0, (command, ran.stdout, ran.stderr)
        if " verify --checkpoint " in command:
            assert "checkpoints: the ledger extends all 6" in ran.stdout
    # The signed checkpoints the story kept: every 50 events, and one at the end.
    with ledger.open(uri, create=False) as lg:
        sizes = [c.size for c in lg.checkpoints()]
    assert sizes == [*range(50, report.events - 1, 50), report.events - 1]  # the last one: before the report
    base = Path(uri.removeprefix("sqlite:///")).parent if uri.startswith("sqlite") else workspace / "mlledger"
    assert sorted(p.name for p in (base / "checkpoints").iterdir()) == [f"checkpoint-{n:012d}.note" for n in sizes]

    again = invoke_demo(uri)
    assert again.exit_code == 2
    assert again.output.startswith("mlledger: error: the ledger at ")
    assert "already holds a model named 'credit-model': run the demo on a fresh ledger" in again.output
    assert "`mlledger --uri sqlite:///demo/ledger.db demo`" in again.output
    with ledger.open(uri, create=False) as lg:
        assert lg.head() == head


def test_run_demo_records_data_a_nested_search_and_real_metrics(
    uri: str, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a ledger whose admin (as ``mlledger init`` makes one) runs the demo."""
    monkeypatch.setenv("MLLEDGER_ACTOR", "dave")
    lines: list[str] = []
    with ledger.open(uri) as lg:
        lg.claim_admin(actor="dave")
        result = run_demo(lg, lines.append, workspace / "work")
        grants = [(e.actor, e.payload) for e in lg.events() if e.type == "actor.role_granted"]
        assert ("dave", {"actor": "carol", "role": "admin"}) in grants
        assert "  dave   admin of this ledger (you), makes carol an admin too" in lines
        versions = {v: lg.get_model_version(MODEL, v) for v in (1, 2, 3, 4)}
        runs = {v: lg.get_run(view.run_id) for v, view in versions.items()}

        baseline_inputs = {(i["name"], i["version"], i["context"]) for i in runs[1].inputs}
        assert baseline_inputs == {
            ("loans", "2026-01-training", "training"),
            ("loans", "2026-01-validation", "validation"),
        }
        assert {i["version"] for i in runs[3].inputs} == {"2026-03-training", "2026-03-validation"}
        splits = [lg.dataset_version("loans", f"2026-01-{split}") for split in ("training", "validation")]
        assert all(split.derived_from == (("loans", "2026-01"),) for split in splits), splits
        assert all(i["digest"].startswith("sha256:") and i["num_rows"] for i in runs[1].inputs)

        # Version 2 is the best of the nested trials of one search run.
        parent = runs[2].info.parent_run_id
        assert parent is not None and runs[1].info.parent_run_id is None
        trials = [r for r in lg.search_runs("credit-scoring", max_results=1000) if r.info.parent_run_id == parent]
        assert 4 <= len(trials) <= 6
        assert runs[2].metrics["auc"] == max(t.metrics["auc"] for t in trials)
        assert len(lg.get_metric_history(runs[1].run_id, "auc")) == int(runs[1].params["epochs"])

        # The recorded auc of version 3 is what its stored model scores on the regenerated data.
        stored = next(a for a in runs[3].artifacts if a["path"] == "model/model.json")
        with lg.artifacts.open(stored["sha256"]) as handle:
            document = json.load(handle)
        model = LogisticModel(
            tuple(document["features"]),
            tuple(document["means"]),
            tuple(document["scales"]),
            tuple(document["weights"]),
            document["bias"],
        )
        validation = draw_loans(MARCH, "validation", 202604, 600)
        assert validation.digest in {i["digest"] for i in runs[3].inputs}
        assert evaluate(model, validation)["auc"] == runs[3].metrics["auc"]

        assert isinstance(result, DemoResult)
        assert (result.champion, result.archived, result.rejected) == (3, 2, 4)
        assert [e.outcome for e in result.evaluations] == ["requested", "kept"]
        assert result.ok and result.events == lg.size() - 1  # then the report was recorded
        assert result.report.is_file() and lg.event(lg.size() - 1).type == "report.generated"
        assert lines[-1] == f"done in {result.seconds:.1f} s"
        assert f"  mlledger --uri {lg.display_uri} models show credit-model 3" in lines

        head = lg.head()
        with pytest.raises(ConflictError, match=r"already holds a model named 'credit-model': run the demo on a fresh"):
            run_demo(lg, lines.append, workspace / "again")
        assert lg.head() == head


def test_a_ledger_whose_admins_are_others_is_refused(
    uri: str, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLLEDGER_ACTOR", "mallory")
    with ledger.open(uri) as lg:
        lg.claim_admin(actor="dave")
        head = lg.head()
        message = r"has admins \(dave\) and you \('mallory'\) are not one, so 'carol' cannot be made an admin: run the demo as an admin \(MLLEDGER_ACTOR=dave\)"
        with pytest.raises(ConflictError, match=message):
            run_demo(lg, lambda line: None, workspace / "work")
        assert lg.head() == head
