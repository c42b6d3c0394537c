"""The lineage exports (issue 6) of a real SQLite ledger: PROV-JSON read by
the ``prov`` package, OpenLineage events validated offline against the
official JSON Schemas in ../shared/specs/openlineage/, GraphML read back by
networkx, DOT naming every node; the whole graph and one model version's
neighbourhood."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import networkx as nx
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from prov.model import ProvDocument
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

import ledger
from ledger import environment
from lineage.export import OPENLINEAGE_SCHEMA_URL, to_dot, to_graphml, to_openlineage, to_prov_json
from lineage.query import LineageView

SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "openlineage"  # ../shared/specs/
GIT_SHA = "0123456789abcdef0123456789abcdef01234567"
LOANS = "sha256:" + "1" * 64
HOLDOUT = "sha256:" + "2" * 64
LOANS_SCHEMA = {"income": "double", "defaulted": "long"}
PROV_RELATIONS = (
    "used",
    "wasGeneratedBy",
    "wasDerivedFrom",
    "wasStartedBy",
    "wasAssociatedWith",
    "wasAttributedTo",
    "actedOnBehalfOf",
)


@dataclass(frozen=True)
class Story:
    lg: ledger.Ledger
    namespace: str
    parent: str
    child: str
    failed: str
    killed: str
    running: str
    request_id: str


@pytest.fixture
def story(sqlite_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Story]:
    """A search run (at a git commit) with a trained child and a failed one,
    a killed run, a run still going, the child's model registered, approved
    into Production and deployed."""
    monkeypatch.setattr(environment, "_git_state", lambda cwd: (GIT_SHA, False))
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.txt").write_text("0.1")
    notes = tmp_path / "notes.txt"
    notes.write_text("halfway")
    with ledger.open(sqlite_uri, artifact_root=tmp_path / "artifacts") as lg:
        lg.claim_admin(actor="carol")
        lg.grant_role("bob", "approver", actor="carol")
        lg.set_experiment("credit-scoring", actor="alice")
        loans = {"source": "s3://bank/loans/2026-03.parquet", "schema": LOANS_SCHEMA, "num_rows": 1000}
        with lg.start_run(run_name="search", actor="alice") as parent:
            parent.log_input("loans", "2026-03", LOANS, context="training", **loans)
            with lg.start_run(run_name="lr=0.1", actor="alice", nested=True, capture_environment=False) as child:
                child.log_input("loans", "2026-03", LOANS, context="training", **loans)
                child.log_input(
                    "holdout", "2026-03", HOLDOUT, source="warehouse", context="validation",
                    schema=[{"name": "income", "type": "double"}], num_rows=200,
                )  # fmt: skip
                child.log_artifact(str(model), "model")
            failed = lg.start_run(run_name="lr=10", actor="alice", nested=True, capture_environment=False)
            failed.log_input("loans", "2026-03", LOANS, context="training", **loans)
            failed.end("FAILED", "diverged")
        killed = lg.start_run(run_name="stopped", actor="alice", capture_environment=False)
        killed.end("KILLED")
        running = lg.start_run(run_name="still going", actor="erin", capture_environment=False)
        running.log_input("holdout", "2026-03", HOLDOUT, context="validation")
        running.log_artifact(str(notes))
        version = lg.register_model("credit-model", child.run_id, owner="team-risk", actor="alice").version
        request = lg.request_transition("credit-model", version, "Production", reason="better", actor="alice")
        lg.approve_transition(request.request_id, "ok", actor="bob")
        lg.record_deployment("credit-model", version, "scoring-api", "prod", actor="dave")
        yield Story(
            lg, f"mlledger/{lg.ledger_id}", parent.run_id, child.run_id, failed.run_id, killed.run_id,
            running.run_id, request.request_id,
        )  # fmt: skip


# -- PROV-JSON ---------------------------------------------------------------------


def _prov(document: dict[str, Any]) -> ProvDocument:
    """Read with warnings as errors (pytest's setting): ``prov`` warns about
    anything it reads but will reject."""
    return ProvDocument.deserialize(content=json.dumps(document), format="json")


def _prov_counts(doc: ProvDocument) -> Counter[str]:
    return Counter(record.get_type().localpart for record in doc.get_records())


def test_prov_json_reads_back_with_the_prov_package(story: Story) -> None:
    view = story.lg.lineage.everything()
    document = to_prov_json(view, story.namespace)
    doc = _prov(document)
    assert _prov_counts(doc) == {
        "Entity": 6,  # 2 dataset versions, 2 artifacts, 1 model version, 1 commit
        "Activity": 7,  # 5 runs, 1 deployment, 1 approval
        "Agent": 4,  # alice, bob, erin and dave, who deployed
        "Usage": 8,  # 5 dataset reads, 1 commit, the deployment and the approval used the model
        "Generation": 3,  # 2 artifacts, the model version
        "Derivation": 1,  # the model version from its artifact
        "Start": 2,  # the nested runs
        "Association": 8,  # 5 runs, the deployer, requester and approver
        "Attribution": 1,  # the model version to who registered it
        "Delegation": 1,
    }
    # and the JSON itself has one section per kind, with the same counts
    assert {k: len(v) for k, v in document.items() if k != "prefix"} == {
        "entity": 6, "activity": 7, "agent": 4, "used": 8, "wasGeneratedBy": 3, "wasDerivedFrom": 1,
        "wasStartedBy": 2, "wasAssociatedWith": 8, "wasAttributedTo": 1, "actedOnBehalfOf": 1,
    }  # fmt: skip
    again = ProvDocument.deserialize(content=doc.serialize(format="json"), format="json")
    assert again == doc
    assert again.get_provn() == doc.get_provn()


def test_prov_json_maps_runs_approvals_and_deployments(story: Story) -> None:
    view = story.lg.lineage.everything()
    document = to_prov_json(view, story.namespace)
    assert document["prefix"] == {"ledger": f"urn:mlledger:{story.lg.ledger_id}:", "mlledger": "urn:mlledger:vocab:"}
    child = document["activity"][f"ledger:run:{story.child}"]
    node = view.nodes[f"run:{story.child}"]
    assert child["prov:startTime"] == node["started"] and child["prov:endTime"] == node["ended"]
    assert child["prov:type"] == {"$": "mlledger:Run", "type": "xsd:QName"}
    assert child["mlledger:status"] == "FINISHED" and child["mlledger:experiment"] == "credit-scoring"
    model = document["entity"]["ledger:model:credit-model/1"]
    assert model["mlledger:stage"] == "Production" and model["mlledger:owner"] == "team-risk"
    assert json.loads(model["mlledger:stages"])[-1][1] == "Production"
    dataset = document["entity"]["ledger:dataset:loans@2026-03"]
    assert dataset["mlledger:digest"] == LOANS and json.loads(dataset["mlledger:columns"])[0]["name"] == "income"

    approval = f"ledger:approval:{story.request_id}"
    assert document["activity"][approval]["mlledger:to_stage"] == "Production"
    (delegation,) = document["actedOnBehalfOf"].values()
    assert delegation["prov:delegate"] == "ledger:actor:alice"
    assert delegation["prov:responsible"] == "ledger:actor:bob"
    assert delegation["prov:activity"] == approval
    roles = {(a["prov:activity"], a["prov:agent"], a.get("prov:role")) for a in document["wasAssociatedWith"].values()}
    assert {(approval, "ledger:actor:bob", "approver"), (approval, "ledger:actor:alice", "requester")} <= roles
    assert ("ledger:deployment:scoring-api", "ledger:actor:dave", "deployer") in roles
    assert document["agent"]["ledger:actor:dave"] == {
        "prov:type": {"$": "mlledger:Actor", "type": "xsd:QName"},
        "prov:label": "dave",
    }
    uses = {(u["prov:activity"], u["prov:entity"], u.get("prov:role")) for u in document["used"].values()}
    assert (f"ledger:run:{story.parent}", f"ledger:commit:{GIT_SHA}", "code") in uses
    assert (f"ledger:run:{story.child}", "ledger:dataset:holdout@2026-03", "validation") in uses
    (start,) = [s for s in document["wasStartedBy"].values() if s["prov:activity"] == f"ledger:run:{story.child}"]
    assert start["prov:starter"] == f"ledger:run:{story.parent}"


# -- OpenLineage -------------------------------------------------------------------


def _no_network(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=uri)


def _format_checker() -> FormatChecker:
    """The formats the spec uses, checked here (jsonschema checks date-time
    and uri only with optional packages)."""
    checker = FormatChecker(formats=())
    rfc3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
    checker.checks("date-time")(lambda text: not isinstance(text, str) or bool(rfc3339.match(text)))
    checker.checks("uri")(lambda text: not isinstance(text, str) or bool(urlsplit(text).scheme))
    checker.checks("uuid", raises=ValueError)(
        lambda text: not isinstance(text, str) or str(uuid.UUID(text)) == text.lower()
    )
    return checker


@pytest.fixture(scope="module")
def registry() -> Registry[Any]:
    if not SPECS.is_dir():
        pytest.fail(f"the OpenLineage specs are missing: expected them in {SPECS}")
    schemas = [
        json.loads(path.read_text()) for path in [SPECS / "OpenLineage.json", *sorted(SPECS.glob("facets/*.json"))]
    ]
    return Registry(retrieve=_no_network).with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas
    )


def _facets(event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, facet) of every facet in the event."""
    yield from event["run"].get("facets", {}).items()
    yield from event["job"].get("facets", {}).items()
    for dataset in [*event.get("inputs", []), *event.get("outputs", [])]:
        for group in ("facets", "inputFacets", "outputFacets"):
            yield from dataset.get(group, {}).items()


def _validate(events: list[dict[str, Any]], registry: Registry[Any]) -> None:
    checker = _format_checker()
    event_schema = Draft202012Validator({"$ref": OPENLINEAGE_SCHEMA_URL}, registry=registry, format_checker=checker)
    for event in events:
        event_schema.validate(event)
        for name, facet in _facets(event):
            # each facet against the definition its _schemaURL names, from the local files
            Draft202012Validator({"$ref": facet["_schemaURL"]}, registry=registry, format_checker=checker).validate(
                facet
            )
            # and under the name that facet's file gives it
            file_schema = registry.contents(facet["_schemaURL"].split("#")[0])
            assert name in file_schema["properties"], (name, facet["_schemaURL"])


def test_openlineage_events_validate_against_the_official_schemas(story: Story, registry: Registry[Any]) -> None:
    events = to_openlineage(story.lg.lineage.everything(), story.namespace)
    _validate(events, registry)
    by_run: dict[str, list[str]] = {}
    for event in events:
        by_run.setdefault(event["run"]["runId"], []).append(event["eventType"])
    assert by_run == {
        str(uuid.UUID(story.parent)): ["START", "COMPLETE"],
        str(uuid.UUID(story.child)): ["START", "COMPLETE", "OTHER"],
        str(uuid.UUID(story.failed)): ["START", "FAIL"],
        str(uuid.UUID(story.killed)): ["START", "ABORT"],
        str(uuid.UUID(story.running)): ["START"],
    }
    assert [e["eventTime"] for e in events] == sorted(e["eventTime"] for e in events)
    assert {(e["job"]["namespace"], e["job"]["name"]) for e in events} == {(story.namespace, "credit-scoring")}


def test_a_schema_violation_is_caught(story: Story, registry: Registry[Any]) -> None:
    """The validation above can fail: a run id that is not a UUID, a facet missing a field."""
    events = to_openlineage(story.lg.lineage.everything(), story.namespace)
    bad_id = json.loads(json.dumps(events[0]))
    bad_id["run"]["runId"] = story.parent  # 32 hex digits, no hyphens
    with pytest.raises(Exception, match="is not a 'uuid'"):
        _validate([bad_id], registry)
    bad_time = json.loads(json.dumps(events[0]))
    bad_time["eventTime"] = "26/11/2026 10:50"
    with pytest.raises(Exception, match="is not a 'date-time'"):
        _validate([bad_time], registry)
    bad_facet = json.loads(json.dumps(events[0]))
    del bad_facet["inputs"][0]["facets"]["version"]["datasetVersion"]
    with pytest.raises(Exception, match="'datasetVersion' is a required property"):
        _validate([bad_facet], registry)


def _event(events: list[dict[str, Any]], run: str, event_type: str) -> dict[str, Any]:
    (found,) = [e for e in events if e["run"]["runId"] == str(uuid.UUID(run)) and e["eventType"] == event_type]
    return found


def test_openlineage_inputs_carry_version_and_schema_facets(story: Story) -> None:
    view = story.lg.lineage.everything()
    events = to_openlineage(view, story.namespace)
    start = _event(events, story.child, "START")
    assert start["eventTime"] == view.nodes[f"run:{story.child}"]["started"]
    assert start["outputs"] == []
    loans, holdout = start["inputs"]
    assert (loans["namespace"], loans["name"]) == (story.namespace, "datasets/loans")
    assert loans["facets"]["version"]["datasetVersion"] == "2026-03"
    assert [(f["name"], f["type"], f["ordinal_position"]) for f in loans["facets"]["schema"]["fields"]] == [
        ("income", "double", 1),
        ("defaulted", "long", 2),
    ]
    assert loans["facets"]["dataSource"]["uri"] == "s3://bank/loans/2026-03.parquet"
    assert loans["inputFacets"]["inputStatistics"]["rowCount"] == 1000
    assert {"key": "mlledger.digest.training", "value": LOANS, "source": "MLLEDGER"} in loans["facets"]["tags"]["tags"]
    assert holdout["name"] == "datasets/holdout" and "dataSource" not in holdout["facets"]  # "warehouse" is no URI
    assert [f["name"] for f in holdout["facets"]["schema"]["fields"]] == ["income"]
    for facet in [*loans["facets"].values(), *holdout["facets"].values()]:
        assert facet["_producer"].startswith("https://") and facet["_schemaURL"].startswith("https://openlineage.io/")


def test_openlineage_outputs_parents_and_model_versions(story: Story) -> None:
    view = story.lg.lineage.everything()
    events = to_openlineage(view, story.namespace)
    complete = _event(events, story.child, "COMPLETE")
    assert complete["eventTime"] == view.nodes[f"run:{story.child}"]["ended"]
    assert len(complete["inputs"]) == 2
    (artifact,) = complete["outputs"]
    assert artifact["name"] == f"artifacts/{story.child}/model/weights.txt"
    assert artifact["facets"]["version"]["datasetVersion"] == hashlib.sha256(b"0.1").hexdigest()
    assert artifact["outputFacets"]["outputStatistics"]["size"] == 3
    parent = complete["run"]["facets"]["parent"]
    assert parent["run"]["runId"] == str(uuid.UUID(story.parent))
    assert parent["job"] == {"namespace": story.namespace, "name": "credit-scoring"}
    assert parent["root"]["run"]["runId"] == str(uuid.UUID(story.parent))
    assert "parent" not in _event(events, story.parent, "START")["run"]["facets"]
    tags = {t["key"]: t["value"] for t in _event(events, story.parent, "START")["run"]["facets"]["tags"]["tags"]}
    assert tags["mlledger.git_commit"] == GIT_SHA and tags["mlledger.run_id"] == story.parent

    registered = _event(events, story.child, "OTHER")
    assert registered["eventTime"] == view.nodes["model:credit-model/1"]["registered"]
    (model,) = registered["outputs"]
    assert model["name"] == "models/credit-model" and model["facets"]["version"]["datasetVersion"] == "1"
    assert model["facets"]["datasetType"]["datasetType"] == "MODEL"
    assert model["facets"]["ownership"]["owners"] == [{"name": "team-risk"}]
    assert {"key": "mlledger.stage", "value": "Production", "source": "MLLEDGER"} in model["facets"]["tags"]["tags"]

    going = _event(events, story.running, "START")  # still running: what it wrote so far comes with its start
    assert [o["name"] for o in going["outputs"]] == [f"artifacts/{story.running}/notes.txt"]


def test_an_export_as_of_an_earlier_seq_ends_runs_that_had_not_ended(story: Story, registry: Registry[Any]) -> None:
    run = story.lg.get_run(story.child)
    started = story.lg.lineage.node(f"run:{story.child}")["seq"]
    view = story.lg.lineage.everything(as_of=started + 1)
    assert run.info.status == "FINISHED"
    events = to_openlineage(view, story.namespace)
    _validate(events, registry)
    assert [e["eventType"] for e in events if e["run"]["runId"] == str(uuid.UUID(story.child))] == ["START"]


# -- GraphML and DOT -----------------------------------------------------------------


def _edge_set(view: LineageView) -> Counter[tuple[str, str, str, int]]:
    return Counter((e.source, e.target, e.kind, e.seq) for e in view.edges)


def test_graphml_reads_back_with_networkx(story: Story) -> None:
    view = story.lg.lineage.everything()
    text = to_graphml(view)
    graph = nx.read_graphml(io.BytesIO(text.encode("utf-8")), force_multigraph=True)
    assert graph.number_of_nodes() == len(view.nodes) == 15
    assert graph.number_of_edges() == len(view.edges) == 20
    assert set(graph.nodes) == set(view.nodes)
    assert Counter((u, v, d["kind"], d["seq"]) for u, v, d in graph.edges(data=True)) == _edge_set(view)
    assert graph.graph["as_of"] == view.as_of and graph.graph["direction"] == "all"
    model = graph.nodes["model:credit-model/1"]
    assert model["stage"] == "Production" and json.loads(model["stages"])[-1][1] == "Production"
    assert json.loads(graph.nodes["dataset:loans@2026-03"]["columns"]) == [
        {"name": "income", "type": "double"},
        {"name": "defaulted", "type": "long"},
    ]
    (deployed,) = [d for _, _, d in graph.edges(data=True) if d["kind"] == "deployed_as"]
    assert deployed["live"] is True and deployed["environment"] == "prod"
    assert ">true</data>" in text and ">True<" not in text  # XML Schema booleans


def _dot_statements(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The node ids and (source, target) edges of DOT written as to_dot writes it."""
    quoted = r'"((?:[^"\\]|\\.)*)"'
    nodes = [m.group(1).replace('\\"', '"') for m in re.finditer(rf"^  {quoted} \[", text, re.MULTILINE)]
    edges = [
        (m.group(1).replace('\\"', '"'), m.group(2).replace('\\"', '"'))
        for m in re.finditer(rf"^  {quoted} -> {quoted} \[", text, re.MULTILINE)
    ]
    return nodes, edges


def test_dot_names_every_node_and_edge(story: Story, tmp_path: Path) -> None:
    view = story.lg.lineage.everything()
    text = to_dot(view)
    assert text.startswith("digraph lineage {\n") and 'rankdir="LR"' in text and text.endswith("}\n")
    nodes, edges = _dot_statements(text)
    assert sorted(nodes) == sorted(view.nodes)
    assert Counter(edges) == Counter((e.source, e.target) for e in view.edges)
    assert '"model:credit-model/1" [label="credit-model v1\\nProduction", shape="box3d"' in text
    if shutil.which("dot") is None:
        return  # Graphviz is not installed: the text checks above are what can be done
    out = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True, check=False)
    assert out.returncode == 0 and not out.stderr, out.stderr


# -- the whole graph and one node's subgraph -------------------------------------------


def test_a_neighbourhood_export_holds_only_that_subgraph(story: Story, registry: Registry[Any]) -> None:
    view = story.lg.lineage.neighbourhood("model:credit-model/1")
    everything = story.lg.lineage.everything()
    left_out = {f"run:{r}" for r in (story.failed, story.killed, story.running)} | {"actor:erin"}
    assert set(view.nodes) < set(everything.nodes) and not left_out & set(view.nodes)
    assert f"run:{story.parent}" in view.nodes and "deployment:scoring-api" in view.nodes

    document = to_prov_json(view, story.namespace)
    _prov(document)
    elements = {*document["entity"], *document["activity"], *document["agent"]}
    assert {e.removeprefix("ledger:") for e in elements} == {
        *view.nodes, f"approval:{story.request_id}", "actor:dave",
    }  # fmt: skip
    events = to_openlineage(view, story.namespace)
    _validate(events, registry)
    assert {e["run"]["runId"] for e in events} == {str(uuid.UUID(story.parent)), str(uuid.UUID(story.child))}
    graph = nx.read_graphml(io.BytesIO(to_graphml(view).encode("utf-8")), force_multigraph=True)
    assert set(graph.nodes) == set(view.nodes) and graph.number_of_edges() == len(view.edges)
    assert graph.graph["root"] == "model:credit-model/1" and graph.graph["direction"] == "both"
    nodes, edges = _dot_statements(to_dot(view))
    assert set(nodes) == set(view.nodes) and len(edges) == len(view.edges)
    assert (
        '"model:credit-model/1" [label="credit-model v1\\nProduction", shape="box3d", fillcolor="#dcfce7", penwidth="2.5"]'
        in to_dot(view)
    )


def test_exports_are_deterministic(story: Story) -> None:
    """Two reads of the ledger, one through a fresh lineage graph, export the same bytes."""
    first = story.lg.lineage.everything()
    with ledger.open(story.lg.uri) as again:
        second = again.lineage.everything()
    for view in (first, second):
        assert view.as_of == first.as_of
    assert json.dumps(to_prov_json(first, story.namespace)) == json.dumps(to_prov_json(second, story.namespace))
    assert json.dumps(to_openlineage(first, story.namespace)) == json.dumps(to_openlineage(second, story.namespace))
    assert to_graphml(first) == to_graphml(second)
    assert to_dot(first) == to_dot(second)
