"""lineage/export.py on graphs folded from hand-written events by the real
``GraphBuilder``: the cases a small ledger does not reach easily (derived
data versions, a redacted input, two approvers of one request, a run id that
is not a UUID, ids that need quoting) and the rules each format imposes."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import uuid
from typing import Any

import networkx as nx
import pytest
from prov.model import ProvDocument

from ledger.redaction_rules import REDACTED
from lineage.build import GraphBuilder
from lineage.export import to_dot, to_graphml, to_openlineage, to_prov_json
from lineage.query import LineageView, everything

NAMESPACE = "mlledger/00000000-0000-4000-8000-000000000001"
D1, D2, SHA = "sha256:" + "a" * 64, "sha256:" + "b" * 64, "c" * 64
ODD_PATH = 'odd "dir"/a\\b.txt'  # a quote and a backslash: ids that need care in DOT
EVENTS: list[tuple[str, str, dict[str, Any]]] = [
    ("experiment.created", "alice", {"experiment_id": "e1", "name": "etl"}),
    ("dataset.version_registered", "alice", {
        "name": "loans", "version": "v2", "digest": D2, "transform": "dedupe by id",
        "columns": [{"name": "id", "type": "long"}], "num_rows": 5, "derived_from": [{"name": "loans", "version": "v1"}],
    }),
    ("run.started", "alice", {"run_id": "r1", "experiment_id": "e1", "run_name": "clean", "parent_run_id": None}),
    ("run.input_logged", "alice", {"run_id": "r1", "name": "loans", "version": "v2", "digest": D2, "context": "training"}),
    # the same name and version with other content (a split): the node keeps one digest, each use its own
    ("run.input_logged", "alice", {"run_id": "r1", "name": "loans", "version": "v2", "digest": D1, "context": "test"}),
    # an erased input, as the builder's stand-in for it reads (lineage.build.GraphBuilder._stand_in)
    ("run.input_logged", "alice", {"run_id": "r1", "name": REDACTED, "version": REDACTED, "digest": REDACTED,
                                   "redacted": True}),
    ("run.artifact_logged", "alice", {"run_id": "r1", "path": ODD_PATH, "sha256": SHA, "size": 1}),
    ("model.registered", "alice", {"name": "m", "owner": None}),
    ("model.version_created", "alice", {
        "name": "m", "version": 1, "run_id": "r1", "artifact_path": 'odd "dir"', "artifact_digest": D1,
    }),
    ("model.transition_requested", "alice", {"request_id": "q1", "name": "m", "version": 1, "to_stage": "Production"}),
    ("model.transition_approved", "bob", {"request_id": "q1"}),
    ("model.transition_approved", "erin", {"request_id": "q1"}),
    ("model.stage_changed", "erin", {"name": "m", "version": 1, "to_stage": "Production"}),
    ("run.finished", "alice", {"run_id": "r1", "status": "KILLED"}),
    ("model.deployed", "dave", {"name": "m", "version": 1, "target": "api", "environment": "prod"}),
    ("model.deployed", "dave", {"name": "m", "version": 1, "target": "api", "environment": "staging"}),
]  # fmt: skip


def _view(stop: int = len(EVENTS) - 1) -> LineageView:
    builder = GraphBuilder()
    for seq, (event_type, actor, payload) in enumerate(EVENTS):
        builder.apply(seq, event_type, f"2026-01-01T00:00:{seq:02d}.000000Z", actor, payload)
    return everything(builder.graph, stop)


def _prov(document: dict[str, Any]) -> ProvDocument:
    return ProvDocument.deserialize(content=json.dumps(document), format="json")


def test_prov_maps_derivation_redaction_and_two_approvers() -> None:
    document = to_prov_json(_view(), NAMESPACE)
    doc = _prov(document)  # pytest turns prov's warnings about what it reads into errors
    assert ProvDocument.deserialize(content=doc.serialize(format="json"), format="json") == doc
    (derived,) = [d for d in document["wasDerivedFrom"].values() if d["mlledger:edge"] == "derived_from"]
    assert derived["prov:generatedEntity"] == "ledger:dataset:loans@v2"
    assert derived["prov:usedEntity"] == "ledger:dataset:loans@v1"
    assert derived["mlledger:transform"] == "dedupe by id"
    assert document["entity"]["ledger:redacted:5"]["prov:type"]["$"] == "mlledger:Redacted"
    approvals = [a for a in document["activity"] if a.startswith("ledger:approval:")]
    assert approvals == ["ledger:approval:q1"]
    delegations = sorted((d["prov:delegate"], d["prov:responsible"]) for d in document["actedOnBehalfOf"].values())
    assert delegations == [("ledger:actor:alice", "ledger:actor:bob"), ("ledger:actor:alice", "ledger:actor:erin")]
    roles = sorted(
        (a["prov:agent"], a["prov:role"]) for a in document["wasAssociatedWith"].values()
        if a["prov:activity"] == "ledger:approval:q1"
    )  # fmt: skip
    assert roles == [
        ("ledger:actor:alice", "requester"),
        ("ledger:actor:bob", "approver"),
        ("ledger:actor:erin", "approver"),
    ]
    deployments = [u for u in document["used"].values() if u["prov:activity"] == "ledger:deployment:api"]
    assert sorted((u["mlledger:environment"], u["prov:time"], u["mlledger:live"]) for u in deployments) == [
        ("prod", "2026-01-01T00:00:14.000000Z", True),
        ("staging", "2026-01-01T00:00:15.000000Z", True),
    ]


def test_prov_ids_live_in_the_ledgers_namespace() -> None:
    document = to_prov_json(_view(), NAMESPACE)
    assert document["prefix"]["ledger"] == "urn:mlledger:00000000-0000-4000-8000-000000000001:"
    doc = _prov(document)
    run = next(r for r in doc.get_records() if str(r.identifier) == "ledger:run:r1")
    assert run.identifier.uri == "urn:mlledger:00000000-0000-4000-8000-000000000001:run:r1"
    # what PROV-N cannot write in a name is percent-encoded; the label keeps the path
    artifact = document["entity"]["ledger:artifact:r1/odd%20%22dir%22/a%5Cb.txt"]
    assert artifact["prov:label"] == ODD_PATH and artifact["mlledger:path"] == ODD_PATH
    assert "ledger:dataset:loans@v2" in document["entity"]


def test_openlineage_run_ids_redacted_inputs_and_aborts() -> None:
    events = to_openlineage(_view(), NAMESPACE)
    assert [e["eventType"] for e in events] == ["START", "OTHER", "ABORT"]  # registered before the run was killed
    run_ids = {e["run"]["runId"] for e in events}
    assert run_ids == {str(uuid.uuid5(uuid.NAMESPACE_URL, "urn:mlledger:00000000-0000-4000-8000-000000000001:r1"))}
    assert events == to_openlineage(_view(), NAMESPACE)  # a name-based UUID: the same every time
    loans, redacted = events[0]["inputs"]
    assert loans["name"] == "datasets/loans"
    # two contents under one version: the node's row count is not said to be either's
    assert "inputFacets" not in loans
    tags = [(t["key"], t["value"]) for t in loans["facets"]["tags"]["tags"]]
    assert ("mlledger.digest.training", D2) in tags and ("mlledger.digest.test", D1) in tags
    assert redacted["name"] == "redacted/5"
    assert {"key": "mlledger.redacted", "value": "true", "source": "MLLEDGER"} in redacted["facets"]["tags"]["tags"]
    assert events[0]["job"]["name"] == "etl"
    assert [o["name"] for o in events[2]["outputs"]] == [f"artifacts/r1/{ODD_PATH}"]


def test_openlineage_as_of_before_the_end_has_only_the_start() -> None:
    events = to_openlineage(_view(stop=6), NAMESPACE)
    assert [e["eventType"] for e in events] == ["START"]
    assert [o["name"] for o in events[0]["outputs"]] == [f"artifacts/r1/{ODD_PATH}"]


def test_graphml_keeps_scalars_and_writes_xml_schema_booleans() -> None:
    view = _view()
    text = to_graphml(view)
    graph = nx.read_graphml(io.BytesIO(text.encode("utf-8")), force_multigraph=True)
    assert set(graph.nodes) == set(view.nodes)
    assert f"artifact:r1/{ODD_PATH}" in graph.nodes
    assert json.loads(graph.nodes["dataset:loans@v2"]["columns"]) == [{"name": "id", "type": "long"}]  # lists as JSON
    assert "owner" not in graph.nodes["model:m/1"]  # None is dropped
    assert sorted(d["live"] for _, _, d in graph.edges(data=True) if d["kind"] == "deployed_as") == [True, True]
    assert ">True<" not in text and ">true<" in text
    assert sorted(k for _, _, k in graph.edges(keys=True)) == sorted(f"e{i}" for i in range(len(view.edges)))


def test_dot_quotes_ids_exactly() -> None:
    text = to_dot(_view())
    assert '"artifact:r1/odd \\"dir\\"/a\\b.txt" [label="odd \\"dir\\"/a\\\\b.txt"' in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz (dot) is not installed: nothing to render with")
def test_graphviz_reads_the_quoted_ids() -> None:
    text = to_dot(_view())
    out = subprocess.run(["dot", "-Tjson"], input=text, capture_output=True, text=True, check=True)
    drawn = json.loads(out.stdout)
    assert {o["name"] for o in drawn["objects"]} == set(_view().nodes)
    svg = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True, check=True).stdout
    assert ">odd &quot;dir&quot;/a\\b.txt</text>" in svg  # the label reads as the path


def test_exports_hold_no_time_of_export() -> None:
    """Same view, same bytes: nothing in an export depends on when it was made."""
    view = _view()
    assert to_dot(view) == to_dot(_view())
    assert to_graphml(view) == to_graphml(_view())
    assert json.dumps(to_prov_json(view, NAMESPACE)) == json.dumps(to_prov_json(_view(), NAMESPACE))
