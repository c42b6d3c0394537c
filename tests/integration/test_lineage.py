"""The lineage graph on real ledgers (SQLite and PostgreSQL): what it links,
upstream and downstream queries, paths, as-of reads, incremental updates,
redactions, and the ``mlledger lineage`` commands."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from ledger.api import Ledger
from ledger.errors import NotFoundError, ValidationError
from lineage.build import LINEAGE_TYPES, GraphBuilder
from lineage.service import Lineage
from lineage.tree import render
from tests.integration.support import git_repo

ADMIN, SCIENTIST, APPROVER = "admin", "alice", "erin"


@dataclass
class Story:
    uri: str
    parent: str  # the hyperparameter search
    child: str  # its best trial: model v1
    retrain: str  # model v2
    other: str  # a run on other data
    commit: str  # the retrain's git commit
    seqs: dict[str, int]


def _register_data(lg: Ledger, name: str, version: str, digest: str, parents=(), transform=None) -> int:
    payload = {
        "name": name,
        "version": version,
        "digest": digest,
        "source": f"s3://lake/{name}/{version}",
        "derived_from": [{"name": n, "version": v} for n, v in parents],
        "transform": transform,
        "columns": [{"name": "income", "type": "float"}],
        "num_rows": 1000,
    }
    return lg.append("dataset.version_registered", payload, actor=SCIENTIST).seq


def _model_file(tmp_path: Path, text: str) -> str:
    folder = tmp_path / f"model-{text}"
    folder.mkdir()
    (folder / "model.json").write_text(text)
    return str(folder)


def build_story(lg: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Story:
    """raw -> clean -> (train, test); a search whose best trial becomes v1 in
    Production (approved) and deployed; a retrain from a git commit on the
    clean data becomes v2, deployed to the same target (v1's deployment is
    replaced); another run reads unrelated data."""
    seqs: dict[str, int] = {}
    lg.claim_admin(actor=ADMIN)
    lg.grant_role(APPROVER, "approver", actor=ADMIN)
    seqs["raw"] = _register_data(lg, "loans-raw", "2026-03", "sha256:" + "1" * 64)
    seqs["clean"] = _register_data(
        lg, "loans", "2026-03", "sha256:" + "2" * 64, [("loans-raw", "2026-03")], "dedupe + drop PII"
    )
    _register_data(lg, "loans-train", "2026-03", "sha256:" + "3" * 64, [("loans", "2026-03")], "split 80%")
    _register_data(lg, "loans-test", "2026-03", "sha256:" + "4" * 64, [("loans", "2026-03")], "split 20%")
    _register_data(lg, "weather", "v1", "sha256:" + "5" * 64)
    with lg.start_run("credit", "search", actor=SCIENTIST, capture_environment=False) as parent:
        parent.log_input("loans-train", "2026-03", "sha256:" + "3" * 64, context="training")
        with lg.start_run("credit", "trial-1", actor=SCIENTIST, nested=True, capture_environment=False) as child:
            child.log_input("loans-train", "2026-03", "sha256:" + "3" * 64, context="training")
            seqs["test_input"] = lg.size()
            child.log_input("loans-test", "2026-03", "sha256:" + "4" * 64, context="test")
            child.log_artifact(_model_file(tmp_path, "v1"), "model")
    lg.register_model("credit-model", child.run_id, "model", owner="risk-team", actor=SCIENTIST)
    request = lg.request_transition("credit-model", 1, "Production", actor=SCIENTIST)
    lg.approve_transition(request.request_id, actor=APPROVER)
    seqs["v1_production"] = lg.size() - 1
    lg.record_deployment("credit-model", 1, target="scoring-api", environment="prod", actor=SCIENTIST)
    seqs["v1_deployed"] = lg.size() - 1
    monkeypatch.chdir(tmp_path)
    commit = git_repo(tmp_path / "code")
    monkeypatch.chdir(tmp_path / "code")
    with lg.start_run("credit", "retrain", actor=SCIENTIST) as retrain:
        retrain.log_input("loans", "2026-03", "sha256:" + "2" * 64, context="training")
        retrain.log_artifact(_model_file(tmp_path, "v2"), "model")
    lg.register_model("credit-model", retrain.run_id, "model", actor=SCIENTIST)
    lg.record_deployment("credit-model", 2, target="scoring-api", environment="prod", actor=SCIENTIST)
    seqs["v2_deployed"] = lg.size() - 1
    with lg.start_run("weather", "forecast", actor=SCIENTIST, capture_environment=False) as other:
        other.log_input("weather", "v1", "sha256:" + "5" * 64, context="training")
    return Story(lg.uri, parent.run_id, child.run_id, retrain.run_id, other.run_id, commit, seqs)


@pytest.fixture
def story(uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Story:
    with Ledger.open(uri) as lg:
        return build_story(lg, tmp_path, monkeypatch)


def _kinds(view, kind: str) -> set[str]:
    return set(view.of_kind(kind))


def test_upstream_of_a_model_version_is_its_full_provenance(story: Story) -> None:
    with Ledger.open(story.uri) as lg:
        view = lg.lineage.upstream("model:credit-model/1")
    assert view.nodes["model:credit-model/1"]["stage"] == "Production"
    assert _kinds(view, "run") == {f"run:{story.child}", f"run:{story.parent}"}
    assert _kinds(view, "dataset") == {
        "dataset:loans-train@2026-03",
        "dataset:loans-test@2026-03",
        "dataset:loans@2026-03",
        "dataset:loans-raw@2026-03",
    }
    assert _kinds(view, "artifact") == {f"artifact:{story.child}/model/model.json"}
    assert _kinds(view, "actor") == {"actor:alice", "actor:erin"}
    assert "deployment:scoring-api" not in view.nodes  # downstream, not upstream
    edges = {(e.source, e.kind, e.target): e for e in view.edges}
    used = edges["dataset:loans-test@2026-03", "used", f"run:{story.child}"]
    assert used.attrs["context"] == "test"
    derived = edges["dataset:loans-raw@2026-03", "derived_from", "dataset:loans@2026-03"]
    assert derived.attrs["transform"] == "dedupe + drop PII"
    assert (f"run:{story.parent}", "parent_of", f"run:{story.child}") in edges
    approval = edges["actor:erin", "approved_by", "model:credit-model/1"]
    assert approval.attrs["to_stage"] == "Production" and approval.attrs["requester"] == "alice"
    assert view.nodes["dataset:loans-raw@2026-03"]["depth"] == 4  # model < trial < train < clean < raw
    # every node and edge names the event that created it
    with Ledger.open(story.uri) as lg:
        for node, data in view.nodes.items():
            assert 0 <= data["seq"] < lg.size(), node
        for edge in view.edges:
            assert lg.event(edge.seq).type in LINEAGE_TYPES


def test_upstream_includes_the_code_commit(story: Story) -> None:
    with Ledger.open(story.uri) as lg:
        view = lg.lineage.upstream("credit-model/2")
    assert _kinds(view, "commit") == {f"commit:{story.commit}"}
    code = next(e for e in view.edges if e.source == f"commit:{story.commit}")
    assert code.kind == "used" and code.attrs["context"] == "code" and code.attrs["dirty"] is False
    assert _kinds(view, "dataset") == {"dataset:loans@2026-03", "dataset:loans-raw@2026-03"}


def test_downstream_of_a_dataset_is_its_impact(story: Story) -> None:
    with Ledger.open(story.uri) as lg:
        view = lg.lineage.downstream("dataset:loans-raw@2026-03")
    assert _kinds(view, "model") == {"model:credit-model/1", "model:credit-model/2"}
    assert f"run:{story.other}" not in view.nodes and "dataset:weather@v1" not in view.nodes
    impact = {item["model"]: item for item in view.impact()}
    assert impact["model:credit-model/1"]["stage"] == "Production"
    assert impact["model:credit-model/1"]["deployments"] == []  # replaced by v2
    assert impact["model:credit-model/2"]["stage"] == "None"
    assert impact["model:credit-model/2"]["deployments"] == [
        {"target": "scoring-api", "environment": "prod", "seq": story.seqs["v2_deployed"]}
    ]


def test_downstream_as_of_an_earlier_seq(story: Story) -> None:
    with Ledger.open(story.uri) as lg:
        before_v2 = lg.lineage.downstream("dataset:loans-raw@2026-03", as_of=story.seqs["v1_deployed"])
        before_approval = lg.lineage.downstream("dataset:loans-raw@2026-03", as_of=story.seqs["v1_production"] - 1)
        at_time = lg.lineage.downstream("loans-raw@2026-03", as_of=lg.event(story.seqs["v1_deployed"]).time)
        with pytest.raises(NotFoundError, match=r"model:credit-model/2 did not exist yet as of seq \d+"):
            lg.lineage.upstream("credit-model/2", as_of=story.seqs["v1_deployed"])
    assert _kinds(before_v2, "model") == {"model:credit-model/1"}
    assert before_v2.impact()[0]["deployments"][0]["seq"] == story.seqs["v1_deployed"]
    assert before_v2.nodes["model:credit-model/1"]["stage"] == "Production"
    assert before_approval.nodes["model:credit-model/1"]["stage"] == "None"
    assert before_approval.impact()[0]["deployments"] == []
    assert at_time.to_json() == before_v2.to_json()


def test_depth_limits_the_walk(story: Story) -> None:
    with Ledger.open(story.uri) as lg:
        one = lg.lineage.upstream("credit-model/1", depth=1)
        zero = lg.lineage.upstream("credit-model/1", depth=0)
        with pytest.raises(ValidationError, match="depth must be 0 or more, not -1"):
            lg.lineage.upstream("credit-model/1", depth=-1)
    assert max(data["depth"] for data in one.nodes.values()) == 1
    assert _kinds(one, "dataset") == set()
    assert list(zero.nodes) == ["model:credit-model/1"] and zero.edges == []


def test_path_between_data_and_deployment(story: Story) -> None:
    with Ledger.open(story.uri) as lg:
        path = lg.lineage.path("deployment:scoring-api", "dataset:loans-raw@2026-03")  # either order
        with pytest.raises(NotFoundError, match="no lineage path between dataset:weather@v1 and model:credit-model/1"):
            lg.lineage.path("dataset:weather@v1", "model:credit-model/1")
    assert [e.kind for e in path.edges] == ["derived_from", "used", "registered_from", "deployed_as"]
    assert path.root == "dataset:loans-raw@2026-03"
    assert path.edges[-1].target == "deployment:scoring-api"


def test_node_names_are_checked(story: Story) -> None:
    with Ledger.open(story.uri) as lg:
        size = lg.size()
        with pytest.raises(NotFoundError, match=r"no node 'credit-model/9' in the lineage graph; ids look like"):
            lg.lineage.upstream("credit-model/9")
        with pytest.raises(NotFoundError, match="no node 'model:nope/1'"):
            lg.lineage.downstream("model:nope/1")
        assert lg.lineage.node("loans@2026-03")["digest"] == "sha256:" + "2" * 64
        assert lg.size() == size  # questions append nothing


def test_ambiguous_short_names_are_refused(tmp_path: Path) -> None:
    with Ledger.open(f"sqlite:///{tmp_path / 'l.db'}") as lg:
        lg.append("dataset.version_registered", {"name": "x", "version": "1", "digest": "d"}, actor="a")
        with lg.start_run("e", actor="x@1", capture_environment=False):
            pass
        with pytest.raises(ValidationError, match="'x@1' is ambiguous: it could be dataset:x@1 or actor:x@1"):
            lg.lineage.upstream("x@1")


def test_the_graph_is_updated_incrementally(story: Story, tmp_path: Path) -> None:
    with Ledger.open(story.uri) as lg:
        builder = lg.lineage.refresh()
        nodes = lg.lineage.graph.number_of_nodes()
        with lg.start_run("credit", "late", actor=SCIENTIST, capture_environment=False) as run:
            run.log_input("loans", "2026-03", "sha256:" + "2" * 64, context="training")
        view = lg.lineage.downstream("loans@2026-03", depth=1)
        assert lg.lineage.refresh() is builder  # folded in, not rebuilt
        assert builder.last_seq == lg.size() - 1
        assert f"run:{run.run_id}" in view.nodes
        assert lg.lineage.graph.number_of_nodes() == nodes + 1
        _assert_same_as_fresh(lg)


def _assert_same_as_fresh(lg: Ledger) -> None:
    """The incrementally kept graph equals one built from scratch."""
    fresh = Lineage(lg.store, lg._seq_of).graph
    kept = lg.lineage.graph
    assert dict(kept.nodes(data=True)) == dict(fresh.nodes(data=True))
    assert sorted(kept.edges(keys=True, data=True), key=repr) == sorted(fresh.edges(keys=True, data=True), key=repr)


def test_a_redacted_input_leaves_a_redacted_link(story: Story) -> None:
    with Ledger.open(story.uri) as lg:
        before = lg.lineage.upstream(f"run:{story.child}")
        assert "dataset:loans-test@2026-03" in before.nodes
        lg.redact(story.seqs["test_input"], reason="erasure request", legal_basis="GDPR Art. 17", actor=ADMIN)
        after = lg.lineage.upstream(f"run:{story.child}")
        _assert_same_as_fresh(lg)
    assert "dataset:loans-test@2026-03" not in after.nodes
    redacted = f"redacted:{story.seqs['test_input']}"
    assert after.nodes[redacted]["kind"] == "redacted"
    link = next(e for e in after.edges if e.source == redacted)
    assert link.kind == "used" and link.target == f"run:{story.child}" and link.attrs["digest"] == "[redacted]"
    assert "redacted (event" in "\n".join(render(after))


def test_a_redacted_data_version_keeps_its_name_only(story: Story) -> None:
    with Ledger.open(story.uri) as lg:
        lg.lineage.refresh()
        lg.redact(story.seqs["clean"], reason="erasure request", legal_basis="GDPR Art. 17", actor=ADMIN)
        node = lg.lineage.node("dataset:loans@2026-03")
        _assert_same_as_fresh(lg)
    assert node["redacted"] is True
    assert node["digest"] == "[redacted]"
    assert "source" not in node and "transform" not in node


def test_folding_in_pieces_equals_folding_at_once(story: Story) -> None:
    with Ledger.open(story.uri) as lg:
        rows = list(lg.store.timed_rows_of_types(LINEAGE_TYPES))
    whole = GraphBuilder()
    whole.apply_rows(rows)
    for cut in range(0, len(rows), 7):
        pieces = GraphBuilder()
        pieces.apply_rows(rows[:cut])
        pieces.apply_rows(rows[cut:])
        assert dict(pieces.graph.nodes(data=True)) == dict(whole.graph.nodes(data=True))
        assert list(pieces.graph.edges(keys=True, data=True)) == list(whole.graph.edges(keys=True, data=True))


def test_tree_text_reads_as_provenance(story: Story) -> None:
    with Ledger.open(story.uri) as lg:
        lines = render(lg.lineage.upstream("credit-model/1"))
    text = "\n".join(lines)
    assert lines[0].startswith("model:credit-model/1  stage Production")
    assert "registered_from ← run:" in text
    assert "used (test) ← dataset:loans-test@2026-03" in text
    assert "derived_from (transform: dedupe + drop PII) ← dataset:loans-raw@2026-03" in text
    assert "approved_by (to Production, requested by alice) ← actor:erin" in text
    assert "(shown above)" in text  # loans@2026-03 is reached through both splits


# -- CLI ----------------------------------------------------------------------


def _cli(uri: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--uri", uri, "lineage", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_upstream_and_downstream(story: Story) -> None:
    code, out, _ = _cli(story.uri, "upstream", "model:credit-model/1")
    assert code == 0
    assert "used (training) ← dataset:loans-train@2026-03" in out
    code, out, _ = _cli(story.uri, "downstream", "dataset:loans-raw@2026-03")
    assert code == 0
    assert "model:credit-model/2: stage None; live deployments: scoring-api (prod)" in out
    assert "model:credit-model/1: stage Production; live deployments: none" in out
    code, out, _ = _cli(
        story.uri, "downstream", "loans-raw@2026-03", "--json", "--as-of", str(story.seqs["v1_deployed"])
    )
    assert code == 0
    document = json.loads(out)
    assert document["as_of"] == story.seqs["v1_deployed"]
    assert [item["model"] for item in document["impact"]] == ["model:credit-model/1"]


def test_cli_path_and_show(story: Story) -> None:
    code, out, _ = _cli(story.uri, "path", "loans-raw@2026-03", "deployment:scoring-api")
    assert code == 0
    assert out.splitlines()[-1].startswith("  └─ deployed_as (prod, live) → deployment:scoring-api")
    code, out, _ = _cli(story.uri, "show", "credit-model/2", "--depth", "1")
    assert code == 0
    assert "upstream (what went into it):" in out and "downstream (what it went into):" in out
    assert "deployed_as (prod, live) → deployment:scoring-api" in out


def test_cli_errors_are_one_clear_line(story: Story) -> None:
    with Ledger.open(story.uri) as lg:
        size = lg.size()
    code, _, err = _cli(story.uri, "upstream", "credit-model/9")
    assert code == 2
    assert "mlledger: error: no node 'credit-model/9' in the lineage graph" in err
    code, _, err = _cli(story.uri, "downstream", "loans@2026-03", "--as-of", "99999")
    assert code == 2 and "as_of 99999 is not an event of this ledger" in err
    code, _, err = _cli(story.uri, "path", "weather@v1", "credit-model/1")
    assert code == 2 and "no lineage path between dataset:weather@v1 and model:credit-model/1" in err
    code, _, err = _cli(story.uri, "upstream", "credit-model/1", "--depth", "-1")
    assert code == 2 and "-1 is not in the range x>=0" in err
    with Ledger.open(story.uri) as lg:
        assert lg.size() == size


def test_a_deployment_says_what_it_serves(story: Story) -> None:
    with Ledger.open(story.uri) as lg:
        downstream_of_v1 = lg.lineage.downstream("credit-model/1")
        earlier = lg.lineage.downstream("credit-model/1", as_of=story.seqs["v1_deployed"])
    target = downstream_of_v1.nodes["deployment:scoring-api"]
    assert target["serving"] == {"prod": "model:credit-model/2"}  # although this view only holds v1's edge
    assert [e.attrs["live"] for e in downstream_of_v1.edges if e.kind == "deployed_as"] == [False]
    assert earlier.nodes["deployment:scoring-api"]["serving"] == {"prod": "model:credit-model/1"}


def test_cli_export_writes_each_format(story: Story, tmp_path: Path) -> None:
    import networkx as nx

    for fmt, suffix in (("prov-json", "json"), ("openlineage", "jsonl"), ("graphml", "graphml"), ("dot", "dot")):
        target = tmp_path / f"lineage.{suffix}"
        code, _, err = _cli(story.uri, "export", "--format", fmt, "--node", "credit-model/1", "-o", str(target))
        assert code == 0, err
        assert f"wrote {target}: {fmt}" in err
        text = target.read_text(encoding="utf-8")
        if fmt == "prov-json":
            assert "ledger:model:credit-model/1" in json.loads(text)["entity"]
        elif fmt == "openlineage":
            events = [json.loads(line) for line in text.splitlines()]
            assert {e["eventType"] for e in events} >= {"START", "COMPLETE"}
        elif fmt == "graphml":
            graph = nx.read_graphml(target)
            assert "model:credit-model/1" in graph and "model:credit-model/2" not in graph  # only v1's lineage
        else:
            assert text.startswith("digraph") and '"model:credit-model/1"' in text
    code, out, _ = _cli(story.uri, "export", "--format", "dot")  # the whole graph, to stdout
    assert code == 0 and '"model:credit-model/2"' in out and f'"run:{story.other}"' in out


def test_cli_export_refuses_bad_input_and_writes_nothing(story: Story, tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    code, _, err = _cli(story.uri, "export", "--format", "prov-json", "--node", "credit-model/9", "-o", str(target))
    assert code == 2 and "no node 'credit-model/9' in the lineage graph" in err
    code, _, err = _cli(story.uri, "export", "--format", "svg", "-o", str(target))
    assert code == 2 and "'svg' is not one of 'dot', 'graphml', 'openlineage', 'prov-json'" in err
    assert not target.exists()


# -- edge cases found in review -----------------------------------------------------------


def _imported(lg: Ledger, event_type: str, payload: dict, actor: str = "import") -> int:
    """Append past the ledger's rules, as an import of an older ledger does."""
    from ledger.events import PendingEvent, prepare

    (sealed,) = lg.store.append([prepare(PendingEvent(event_type, payload, actor))], lg._clock, enforce_rules=False)
    return sealed.seq


def test_a_version_named_by_inputs_before_its_registration(sqlite_uri: str) -> None:
    with Ledger.open(sqlite_uri) as lg:
        with lg.start_run("e", actor="a", capture_environment=False) as run:
            pass
        named = _imported(lg, "run.input_logged", {"run_id": run.run_id, "name": "d", "version": "1", "digest": "x1"})
        registered = _imported(lg, "dataset.version_registered", {"name": "d", "version": "1", "digest": "x1",
                                                                  "transform": "t", "source": "s3://first"})  # fmt: skip
        _imported(lg, "dataset.version_registered", {"name": "d", "version": "1", "digest": "x2", "source": "second"})
        before = lg.lineage.node("d@1", as_of=registered - 1)
        now = lg.lineage.node("d@1")
        assert lg.dataset_version("d", "1").source == "s3://first"  # the read model keeps the first one too
    assert before["seq"] == named and "transform" not in before and "registered_seq" not in before
    assert (now["digest"], now["source"], now["transform"], now["registered_seq"]) == (
        "x1",
        "s3://first",
        "t",
        registered,
    )


def test_an_erased_registration_takes_what_inputs_copied_with_it(story: Story, tmp_path: Path) -> None:
    with Ledger.open(story.uri) as lg:
        with lg.start_run("credit", "late", actor=SCIENTIST, capture_environment=False) as run:
            run.log_input("fresh", "1", "sha256:" + "9" * 64, source="s3://people/jane-doe.csv", num_rows=3)
        registration = lg.dataset_version("fresh", "1")
        assert lg.lineage.node("fresh@1")["source"] == "s3://people/jane-doe.csv"
        lg.redact(registration.seq, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
        node = lg.lineage.node("fresh@1")
        exported = lg.lineage.everything().to_json()
        _assert_same_as_fresh(lg)
    assert node["digest"] == "[redacted]" and node["redacted"] is True
    assert "source" not in node and "num_rows" not in node
    assert "jane-doe" not in json.dumps(exported["nodes"])


def test_an_input_really_named_like_the_marker_is_a_dataset(sqlite_uri: str) -> None:
    with Ledger.open(sqlite_uri) as lg:
        with lg.start_run("e", actor="a", capture_environment=False) as run:
            run.log_input("[redacted]", "1", "d1")
        view = lg.lineage.upstream(f"run:{run.run_id}")
    assert "dataset:[redacted]@1" in view.nodes
    assert view.of_kind("redacted") == []


def test_every_redaction_keeps_the_graph_equal_to_a_fresh_build(story: Story) -> None:
    with Ledger.open(story.uri) as lg:
        lg.lineage.refresh()
        targets = [e.seq for e in lg.events() if e.type in ("run.input_logged", "dataset.version_registered")]
        for seq in targets:
            lg.redact(seq, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
            _assert_same_as_fresh(lg)
        assert lg.lineage.everything().of_kind("redacted")  # every input is now a redacted link


def test_a_rebuild_lets_the_old_graph_go(story: Story) -> None:
    import gc
    import weakref

    with Ledger.open(story.uri) as lg:
        old = weakref.ref(lg.lineage.graph)
        lg.redact(story.seqs["test_input"], reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
        new = lg.lineage.graph
        gc.collect()
        assert old() is None and new is lg.lineage.graph


def test_threads_asking_at_once_see_one_graph(story: Story) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with Ledger.open(story.uri) as lg:
        with ThreadPoolExecutor(4) as pool:
            views = list(pool.map(lambda _: lg.lineage.downstream("loans-raw@2026-03").to_json(), range(8)))
        assert all(view == views[0] for view in views)
        _assert_same_as_fresh(lg)


def test_as_of_before_the_first_event_is_refused(story: Story) -> None:
    with (
        Ledger.open(story.uri) as lg,
        pytest.raises(ValidationError, match=r"as_of '2000-01-01T00:00:00Z' is before the ledger's first event"),
    ):
        lg.lineage.upstream("credit-model/1", as_of="2000-01-01T00:00:00Z")


def test_cli_export_needs_node_for_depth_and_a_writable_file(story: Story) -> None:
    code, _, err = _cli(story.uri, "export", "--format", "dot", "--depth", "1")
    assert code == 2 and "mlledger: error: --depth limits the walk from --node: give --node too" in err
    code, _, err = _cli(story.uri, "export", "--format", "dot", "-o", "/nonexistent/dir/x.dot")
    assert code == 2 and "mlledger: error: cannot write /nonexistent/dir/x.dot: No such file or directory" in err
