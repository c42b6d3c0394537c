"""Lineage exports: a ``LineageView`` written as PROV-JSON, OpenLineage run
events, GraphML or Graphviz DOT.

Owns the mapping from the graph's vocabulary (``lineage.build``: node kinds,
edge kinds, node ids) to each format. Pure: values in, values out; it reads no
database, writes no file and needs neither ``prov`` nor ``jsonschema`` (the
tests use both to check the output). The ledger stays the source of truth: an
export is a view of it, never hashed, never read back in. Every function is
deterministic (sorted, no time of export inside): two exports of the same
view are equal, and so is their JSON. The CLI serialises and writes.

PROV-JSON (W3C PROV-DM, https://www.w3.org/submissions/prov-json/)
---------------------------------------------------------------------
Two prefixes: ``ledger:`` names this ledger's things (its IRI is
``urn:`` + the namespace with ``/`` read as ``:``, e.g.
``urn:mlledger:<ledger id>:``), and ``mlledger:`` (``VOCABULARY``) names the
types and attributes. An element's id is ``ledger:`` + its lineage node id
(``ledger:dataset:loans@2026-03``, ``ledger:run:<id>``, ...).

===================  ===============================================================
node kind            PROV element (``prov:type`` ``mlledger:<Type>``)
===================  ===============================================================
dataset              entity ``Dataset``
artifact             entity ``Artifact``
model                entity ``ModelVersion`` (with ``mlledger:stage`` as of the view)
commit               entity ``Commit``
redacted             entity ``Redacted`` (an input whose name was erased)
run                  activity ``Run``, ``prov:startTime`` / ``prov:endTime``
deployment           activity ``Deployment`` (serving at one target)
actor                agent ``Actor``
===================  ===============================================================

===================  ===============================================================
edge kind            PROV relation
===================  ===============================================================
used                 used(run, dataset | commit | redacted), ``prov:role`` = context
generated            wasGeneratedBy(artifact, run)
derived_from         wasDerivedFrom(derived version, parent version)
parent_of            wasStartedBy(child run, starter = parent run)
registered_from      run -> model: wasGeneratedBy(model, run);
                     artifact -> model: wasDerivedFrom(model, artifact)
deployed_as          used(deployment, model, ``prov:time``) and
                     wasAssociatedWith(deployment, the deploying actor)
approved_by          an activity ``ledger:approval:<request id>`` (type ``Approval``)
                     that used the model version, wasAssociatedWith the approver
                     (role approver) and the requester (role requester), and
                     actedOnBehalfOf(delegate = requester, responsible = approver,
                     activity = the approval)
associated_with      actor -> run: wasAssociatedWith(run, actor, ``prov:role``);
                     actor -> model: wasAttributedTo(model, actor)
===================  ===============================================================

Every other node attribute is carried as ``mlledger:<name>`` (``seq``,
``digest``, ``stage``, ...; lists and mappings as JSON text, as PROV values are
scalars), but not ``depth``, which belongs to the query, not the thing.
Relations drawn from an edge carry ``mlledger:edge`` (its kind),
``mlledger:seq`` (the event that made it) and its other attributes; relations
have blank-node ids (``_:used1``, ...). An agent that an edge names but the view
does not reach (a deployer, a requester) is declared with its label only. A
character PROV-N cannot write in a name (a space, a quote, a backslash,
non-ASCII, ``%``; and ``?``, ``#``) is percent-encoded in the id as UTF-8,
as in an IRI; the label and attributes keep the text.

OpenLineage (https://openlineage.io/spec/2-0-2/OpenLineage.json)
-----------------------------------------------------------------
One job per experiment (namespace: the ``namespace`` given, name: the
experiment), one OpenLineage run per ledger run (``runId``: the run id as a
UUID; an id that is not a UUID becomes a name-based UUID 5 of namespace and
id). Per run: START at its start, inputs = the dataset versions it used
(``version``, ``schema``, ``tags`` facets; ``inputStatistics`` when the row
count is unambiguous; ``dataSource`` when the source is a URI) and the redacted
inputs; then at its end COMPLETE (FINISHED), FAIL (FAILED) or ABORT (KILLED),
with the inputs again and outputs = its artifacts (``version`` = SHA-256,
``datasetType`` FILE, ``outputStatistics``). A run still running as of the view
has its START only, carrying the artifacts logged so far. A model version
registered from a run is an output of an OTHER event of that run at the
registration time (``version``, ``datasetType`` MODEL, ``ownership``, ``tags``
with its stage). Nested runs carry the ``parent`` run facet (with ``root``);
git commits and run details are ``tags``. Datasets are named
``datasets/<name>``, ``artifacts/<run id>/<path>``, ``models/<name>``,
``redacted/<seq>`` in the same namespace. Events are ordered by the ledger seq
that caused them; runs with no start in the view (placeholders) are left out.

GraphML and DOT
---------------
GraphML: the view as a networkx ``MultiDiGraph`` (graph attributes ``root``,
``direction``, ``as_of``; nodes and edges with their attributes, edge ids
``e0``, ``e1``, ... in seq order), ``None`` dropped, lists and mappings as JSON
text, booleans as ``true``/``false``. DOT: written here, left to right, one
shape and colour per node kind, every id quoted.
"""

from __future__ import annotations

import io
import json
import math
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import quote, urlsplit

import networkx as nx
from networkx.readwrite.graphml import GraphMLWriter

from lineage.build import actor_id
from lineage.query import Edge, LineageView

__all__ = [
    "OPENLINEAGE_SCHEMA_URL",
    "PRODUCER",
    "VOCABULARY",
    "to_dot",
    "to_graphml",
    "to_openlineage",
    "to_prov_json",
]

PRODUCER: Final = "https://github.com/mlledger/mlledger"
VOCABULARY: Final = "urn:mlledger:vocab:"
OPENLINEAGE_SCHEMA_URL: Final = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_FACETS: Final = "https://openlineage.io/spec/facets/"
_FACET_SCHEMA_URLS: Final = {
    "dataSource": _FACETS + "1-0-1/DatasourceDatasetFacet.json#/$defs/DatasourceDatasetFacet",
    "datasetType": _FACETS + "1-0-1/DatasetTypeDatasetFacet.json#/$defs/DatasetTypeDatasetFacet",
    "errorMessage": _FACETS + "1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
    "inputStatistics": _FACETS + "1-0-0/InputStatisticsInputDatasetFacet.json#/$defs/InputStatisticsInputDatasetFacet",
    "jobType": _FACETS + "2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
    "outputStatistics": _FACETS
    + "1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet",
    "ownership": _FACETS + "1-0-1/OwnershipDatasetFacet.json#/$defs/OwnershipDatasetFacet",
    "parent": _FACETS + "1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet",
    "schema": _FACETS + "1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
    "version": _FACETS + "1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
}
_DATASET_TAGS: Final = _FACETS + "1-0-0/TagsDatasetFacet.json#/$defs/TagsDatasetFacet"
_RUN_TAGS: Final = _FACETS + "1-0-0/TagsRunFacet.json#/$defs/TagsRunFacet"
_TAG_SOURCE: Final = "MLLEDGER"

# node kind -> (PROV element, prov:type local name)
_PROV_ELEMENTS: Final = {
    "dataset": ("entity", "Dataset"),
    "artifact": ("entity", "Artifact"),
    "model": ("entity", "ModelVersion"),
    "commit": ("entity", "Commit"),
    "redacted": ("entity", "Redacted"),
    "run": ("activity", "Run"),
    "deployment": ("activity", "Deployment"),
    "actor": ("agent", "Actor"),
}
_PROV_SECTIONS: Final = (
    "prefix",
    "entity",
    "activity",
    "agent",
    "used",
    "wasGeneratedBy",
    "wasDerivedFrom",
    "wasStartedBy",
    "wasAssociatedWith",
    "wasAttributedTo",
    "actedOnBehalfOf",
)
_END_EVENTS: Final = {"FINISHED": "COMPLETE", "FAILED": "FAIL", "KILLED": "ABORT"}

# node kind -> DOT attributes
_DOT_STYLES: Final = {
    "dataset": {"shape": "cylinder", "fillcolor": "#dbeafe"},
    "run": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fef3c7"},
    "artifact": {"shape": "note", "fillcolor": "#f3f4f6"},
    "model": {"shape": "box3d", "fillcolor": "#dcfce7"},
    "deployment": {"shape": "hexagon", "fillcolor": "#fed7aa"},
    "commit": {"shape": "cds", "fillcolor": "#ede9fe"},
    "actor": {"shape": "ellipse", "fillcolor": "#fce7f3"},
    "redacted": {"shape": "box", "style": "dashed,filled", "fillcolor": "#e5e7eb", "fontcolor": "#6b7280"},
}
_DOT_EDGE_STYLES: Final = {
    "parent_of": {"style": "dashed"},
    "approved_by": {"style": "dotted", "color": "#7c3aed"},
    "associated_with": {"style": "dotted", "color": "#9ca3af"},
}


def _sorted_edges(view: LineageView) -> list[Edge]:
    return sorted(view.edges, key=lambda e: (e.seq, e.source, e.target, e.kind))


def _json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _scalar(value: Any) -> Any:
    """``value`` as a format's scalar: lists and mappings become JSON text,
    a non-finite float its name; ``None`` stays ``None`` (the caller drops it)."""
    if isinstance(value, list | tuple | dict):
        return _json_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _label(node: str, data: Mapping[str, Any]) -> str:
    """A short human name for a node (its id when its attributes are missing)."""
    kind, text = data.get("kind"), None
    if kind == "dataset" and "name" in data:
        text = f"{data['name']}@{data['version']}"
    elif kind == "run":
        text = data.get("name") or data.get("run_id")
    elif kind == "artifact":
        text = data.get("path")
    elif kind == "model" and "name" in data:
        stage = data.get("stage")
        text = f"{data['name']} v{data['version']}" + (f" ({stage})" if stage and stage != "None" else "")
    elif kind == "deployment":
        text = data.get("target")
    elif kind == "commit" and "sha" in data:
        text = str(data["sha"])[:12]
    elif kind == "actor":
        text = data.get("name")
    elif kind == "redacted" and "redacted_seq" in data:
        text = f"redacted input (event {data['redacted_seq']})"
    return str(text or node)


# -- PROV-JSON ---------------------------------------------------------------------


def _ledger_iri(namespace: str) -> str:
    return "urn:" + quote(namespace.replace("/", ":"), safe=":@-._~!$&'()*+,;=") + ":"


class _ProvDocument:
    """The sections of one PROV-JSON document, filled in view order."""

    def __init__(self, namespace: str) -> None:
        self.sections: dict[str, dict[str, Any]] = {name: {} for name in _PROV_SECTIONS}
        self.sections["prefix"] = {"ledger": _ledger_iri(namespace), "mlledger": VOCABULARY}
        self._counts: dict[str, int] = {}

    def element(self, section: str, identifier: str, attrs: dict[str, Any]) -> None:
        self.sections[section].setdefault(identifier, {}).update(attrs)

    def relation(self, section: str, attrs: Mapping[str, Any]) -> None:
        self._counts[section] = self._counts.get(section, 0) + 1
        self.sections[section][f"_:{section}{self._counts[section]}"] = {
            k: v for k, v in attrs.items() if v is not None
        }

    def agent(self, name: str) -> str:
        """The id of actor ``name``, declared with its label if not yet seen."""
        identifier = _prov_id(actor_id(name))
        if identifier not in self.sections["agent"]:
            self.element("agent", identifier, {"prov:type": _qname("Actor"), "prov:label": name})
        return identifier

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"prefix": self.sections["prefix"]}
        for name in ("entity", "activity", "agent"):
            if self.sections[name]:
                document[name] = dict(sorted(self.sections[name].items()))
        for name in _PROV_SECTIONS[4:]:
            if self.sections[name]:
                document[name] = self.sections[name]
        return document


def _prov_id(node: str) -> str:
    """``ledger:`` + the node id, percent-encoding (as UTF-8, as an IRI does)
    each character a PROV-N local name cannot hold: spaces, quotes,
    backslashes, non-ASCII, a ``%``, and ``?`` and ``#``, which would end the IRI's path."""
    return "ledger:" + quote(node, safe="/@:+*$!&=',;()[]")


def _qname(local: str) -> dict[str, str]:
    return {"$": "mlledger:" + local, "type": "xsd:QName"}


def _mlledger_attrs(data: Mapping[str, Any], skip: Iterable[str] = ()) -> dict[str, Any]:
    skipped = {"kind", "depth", *skip}
    return {
        f"mlledger:{key}": _scalar(value)
        for key, value in sorted(data.items())
        if key not in skipped and value is not None
    }


def _prov_node(doc: _ProvDocument, node: str, data: Mapping[str, Any]) -> None:
    section, prov_type = _PROV_ELEMENTS[data["kind"]]
    attrs: dict[str, Any] = {"prov:type": _qname(prov_type), "prov:label": _label(node, data)}
    if data["kind"] == "run":
        attrs.update({"prov:startTime": data.get("started"), "prov:endTime": data.get("ended")})
    attrs.update(_mlledger_attrs(data, skip=("started", "ended") if data["kind"] == "run" else ()))
    doc.element(section, _prov_id(node), {k: v for k, v in attrs.items() if v is not None})


def _edge_attrs(edge: Edge, skip: Iterable[str] = ()) -> dict[str, Any]:
    return {"mlledger:edge": edge.kind, "mlledger:seq": edge.seq, **_mlledger_attrs(edge.attrs, skip)}


def _prov_edge(doc: _ProvDocument, view: LineageView, edge: Edge) -> None:
    source, target, relation = _prov_id(edge.source), _prov_id(edge.target), doc.relation
    source_kind, target_kind = view.nodes[edge.source]["kind"], view.nodes[edge.target]["kind"]
    if edge.kind == "used":
        role = edge.attrs.get("context")
        relation(
            "used", {"prov:activity": target, "prov:entity": source, "prov:role": role} | _edge_attrs(edge, ["context"])
        )
    elif edge.kind == "generated" or (edge.kind == "registered_from" and source_kind == "run"):
        relation("wasGeneratedBy", {"prov:entity": target, "prov:activity": source} | _edge_attrs(edge))
    elif edge.kind in ("derived_from", "registered_from"):
        relation("wasDerivedFrom", {"prov:generatedEntity": target, "prov:usedEntity": source} | _edge_attrs(edge))
    elif edge.kind == "parent_of":
        time = view.nodes[edge.target].get("started")
        relation(
            "wasStartedBy", {"prov:activity": target, "prov:starter": source, "prov:time": time} | _edge_attrs(edge)
        )
    elif edge.kind == "deployed_as":
        deployer, time = doc.agent(edge.attrs["actor"]), edge.attrs.get("time")
        attrs = _edge_attrs(edge, ["actor", "time"])
        relation("used", {"prov:activity": target, "prov:entity": source, "prov:time": time} | attrs)
        relation(
            "wasAssociatedWith", {"prov:activity": target, "prov:agent": deployer, "prov:role": "deployer"} | attrs
        )
    elif edge.kind == "approved_by":
        _prov_approval(doc, view, edge)
    elif edge.kind == "associated_with" and target_kind == "run":
        role = edge.attrs.get("role")
        attrs = _edge_attrs(edge, ["role"])
        relation("wasAssociatedWith", {"prov:activity": target, "prov:agent": source, "prov:role": role} | attrs)
    elif edge.kind == "associated_with":
        relation("wasAttributedTo", {"prov:entity": target, "prov:agent": source} | _edge_attrs(edge))


def _prov_approval(doc: _ProvDocument, view: LineageView, edge: Edge) -> None:
    """One activity per approved request; each approval event adds its approver."""
    approval = _prov_id(f"approval:{edge.attrs['request_id']}")
    approver, requester = _prov_id(edge.source), doc.agent(edge.attrs["requester"])
    attrs = _edge_attrs(edge, skip=("request_id", "to_stage", "requester"))
    if approval not in doc.sections["activity"]:
        doc.element("activity", approval, {
            "prov:type": _qname("Approval"),
            "prov:label": f"approval of {_label(edge.target, view.nodes[edge.target])} to {edge.attrs['to_stage']}",
            "mlledger:request_id": edge.attrs["request_id"],
            "mlledger:to_stage": edge.attrs["to_stage"],
            "mlledger:seq": edge.seq,
        })  # fmt: skip
        doc.relation("used", {"prov:activity": approval, "prov:entity": _prov_id(edge.target)} | attrs)
        doc.relation(
            "wasAssociatedWith", {"prov:activity": approval, "prov:agent": requester, "prov:role": "requester"}
        )
    doc.relation(
        "wasAssociatedWith", {"prov:activity": approval, "prov:agent": approver, "prov:role": "approver"} | attrs
    )
    doc.relation(
        "actedOnBehalfOf", {"prov:delegate": requester, "prov:responsible": approver, "prov:activity": approval} | attrs
    )


def to_prov_json(view: LineageView, namespace: str) -> dict[str, Any]:
    """The view as a PROV-JSON document (a dict to ``json.dumps``); ``namespace``
    (``mlledger/<ledger id>``) makes its ids this ledger's."""
    doc = _ProvDocument(namespace)
    for node in sorted(view.nodes):
        _prov_node(doc, node, view.nodes[node])
    for edge in _sorted_edges(view):
        _prov_edge(doc, view, edge)
    return doc.to_json()


# -- OpenLineage -------------------------------------------------------------------


def _facet(facet: str, /, **fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": _FACET_SCHEMA_URLS[facet], **fields}


def _tags(schema_url: str, tags: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    listed = [{"key": k, "value": str(v), "source": _TAG_SOURCE} for k, v in tags if v is not None]
    return {"_producer": PRODUCER, "_schemaURL": schema_url, "tags": listed}


def _run_uuid(namespace: str, run: str) -> str:
    try:
        return str(uuid.UUID(run))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{_ledger_iri(namespace)}{run}"))


def _is_uri(text: str) -> bool:
    return "://" in text and bool(urlsplit(text).scheme) and not any(c.isspace() for c in text)


def _job(namespace: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"namespace": namespace, "name": str(data.get("experiment") or "Default")}


class _OpenLineage:
    """The run events of one view, with its edges indexed by node once."""

    def __init__(self, view: LineageView, namespace: str) -> None:
        self.nodes, self.namespace = view.nodes, namespace
        self.incoming: dict[str, list[Edge]] = {}
        self.outgoing: dict[str, list[Edge]] = {}
        for edge in _sorted_edges(view):
            self.incoming.setdefault(edge.target, []).append(edge)
            self.outgoing.setdefault(edge.source, []).append(edge)

    def events(self) -> list[dict[str, Any]]:
        keyed: list[tuple[tuple[int, int, str], dict[str, Any]]] = []
        for node in sorted(self.nodes):
            if self.nodes[node]["kind"] == "run" and "started" in self.nodes[node]:
                keyed.extend(((*key, node), event) for key, event in self.run_events(node))
        return [event for _, event in sorted(keyed, key=lambda item: item[0])]

    def run_events(self, node: str) -> list[tuple[tuple[int, int], dict[str, Any]]]:
        """(sort key, event) of one run: START, its end, and an OTHER per model version registered from it."""
        data = self.nodes[node]
        produced = [e.target for e in self.outgoing.get(node, ())]
        artifacts = [n for n in produced if self.nodes[n]["kind"] == "artifact"]
        if "ended" in data:
            end_type = _END_EVENTS.get(data.get("status", ""), "OTHER")
            events = [
                ((data["seq"], 0), self.event(node, "START", data["started"], inputs=True)),
                ((data["ended_seq"], 1), self.event(node, end_type, data["ended"], inputs=True, artifacts=artifacts)),
            ]
        else:  # still running as of the view: what it wrote so far goes with its start
            events = [((data["seq"], 0), self.event(node, "START", data["started"], inputs=True, artifacts=artifacts))]
        for model in (n for n in produced if self.nodes[n]["kind"] == "model"):
            registered = self.nodes[model]["registered"]
            events.append(((self.nodes[model]["seq"], 2), self.event(node, "OTHER", registered, models=[model])))
        return events

    def event(
        self, node: str, event_type: str, time: str, *, inputs: bool = False, artifacts: Iterable[str] = (),
        models: Iterable[str] = (),
    ) -> dict[str, Any]:  # fmt: skip
        """One run event, built afresh: no two events share an object, so a caller may change one alone."""
        data = self.nodes[node]
        uses: dict[str, list[Edge]] = {}
        for edge in self.incoming.get(node, ()) if inputs else ():
            if edge.kind == "used" and self.nodes[edge.source]["kind"] in ("dataset", "redacted"):
                uses.setdefault(edge.source, []).append(edge)
        job_type = _facet("jobType", processingType="BATCH", integration=_TAG_SOURCE, jobType="RUN")
        return {
            "eventType": event_type,
            "eventTime": time,
            "run": {"runId": _run_uuid(self.namespace, data["run_id"]), "facets": self.run_facets(node)},
            "job": _job(self.namespace, data) | {"facets": {"jobType": job_type}},
            "inputs": [self.input(source, edges) for source, edges in uses.items()],
            "outputs": [*map(self.artifact, artifacts), *map(self.model, models)],
            "producer": PRODUCER,
            "schemaURL": OPENLINEAGE_SCHEMA_URL,
        }

    def run_facets(self, node: str) -> dict[str, Any]:
        data, incoming = self.nodes[node], self.incoming.get(node, [])
        facets: dict[str, Any] = {}
        parent = self.parent(node)
        if parent is not None:
            root, seen = parent, {node, parent}
            while (up := self.parent(root)) is not None and up not in seen:
                root = up
                seen.add(up)
            facets["parent"] = _facet(
                "parent",
                run={"runId": _run_uuid(self.namespace, self.nodes[parent]["run_id"])},
                job=_job(self.namespace, self.nodes[parent]),
                root={
                    "run": {"runId": _run_uuid(self.namespace, self.nodes[root]["run_id"])},
                    "job": _job(self.namespace, self.nodes[root]),
                },
            )
        if data.get("error"):
            facets["errorMessage"] = _facet("errorMessage", message=str(data["error"]), programmingLanguage="PYTHON")
        commits = [self.nodes[e.source].get("sha") for e in incoming if self.nodes[e.source]["kind"] == "commit"]
        facets["tags"] = _tags(_RUN_TAGS, [
            ("mlledger.run_id", data["run_id"]),
            ("mlledger.run_name", data.get("name")),
            ("mlledger.status", data.get("status")),
            ("mlledger.actor", data.get("actor")),
            *(("mlledger.git_commit", sha) for sha in commits),
            ("mlledger.seq", data["seq"]),
        ])  # fmt: skip
        return facets

    def parent(self, node: str) -> str | None:
        return next((e.source for e in self.incoming.get(node, ()) if e.kind == "parent_of"), None)

    def input(self, node: str, uses: list[Edge]) -> dict[str, Any]:
        data = self.nodes[node]
        if data["kind"] == "redacted":
            tags = [("mlledger.redacted", "true"), ("mlledger.seq", data["seq"])]
            name = f"redacted/{data.get('redacted_seq', data['seq'])}"
            return {"namespace": self.namespace, "name": name, "facets": {"tags": _tags(_DATASET_TAGS, tags)}}
        facets: dict[str, Any] = {"version": _facet("version", datasetVersion=str(data["version"]))}
        if data.get("columns"):
            columns = enumerate(data["columns"], 1)
            fields = [{"name": c["name"], "type": c["type"], "ordinal_position": i} for i, c in columns]
            facets["schema"] = _facet("schema", fields=fields)
        source = data.get("source")
        if source and _is_uri(source):
            facets["dataSource"] = _facet("dataSource", name=source, uri=source)
        digests = [
            (f"mlledger.digest.{use.attrs['context']}" if use.attrs.get("context") else "mlledger.digest",
             use.attrs.get("digest"))
            for use in uses
        ]  # fmt: skip
        facets["tags"] = _tags(_DATASET_TAGS, [*digests, ("mlledger.source", source), ("mlledger.seq", data["seq"])])
        dataset: dict[str, Any] = {"namespace": self.namespace, "name": f"datasets/{data['name']}", "facets": facets}
        # The node's row count describes the content it was last logged with
        # (one name and version can be logged with several): say it only when
        # every use here read that same content.
        if data.get("num_rows") is not None and all(use.attrs.get("digest") == data.get("digest") for use in uses):
            dataset["inputFacets"] = {"inputStatistics": _facet("inputStatistics", rowCount=data["num_rows"])}
        return dataset

    def artifact(self, node: str) -> dict[str, Any]:
        data = self.nodes[node]
        return {
            "namespace": self.namespace,
            "name": f"artifacts/{data['run_id']}/{data['path']}",
            "facets": {
                "version": _facet("version", datasetVersion=data["sha256"]),
                "datasetType": _facet("datasetType", datasetType="FILE"),
                "tags": _tags(_DATASET_TAGS, [("mlledger.seq", data["seq"])]),
            },
            "outputFacets": {"outputStatistics": _facet("outputStatistics", size=data["size"], fileCount=1)},
        }

    def model(self, node: str) -> dict[str, Any]:
        data = self.nodes[node]
        facets: dict[str, Any] = {
            "version": _facet("version", datasetVersion=str(data["version"])),
            "datasetType": _facet("datasetType", datasetType="MODEL"),
        }
        if data.get("owner"):
            facets["ownership"] = _facet("ownership", owners=[{"name": str(data["owner"])}])
        facets["tags"] = _tags(_DATASET_TAGS, [
            ("mlledger.stage", data.get("stage")),
            ("mlledger.artifact_digest", data.get("artifact_digest")),
            ("mlledger.seq", data["seq"]),
        ])  # fmt: skip
        return {"namespace": self.namespace, "name": f"models/{data['name']}", "facets": facets}


def to_openlineage(view: LineageView, namespace: str) -> list[dict[str, Any]]:
    """The view's runs as OpenLineage RunEvents, in ledger order; ``namespace``
    (``mlledger/<ledger id>``) is the namespace of their jobs and datasets."""
    return _OpenLineage(view, namespace).events()


# -- GraphML -----------------------------------------------------------------------


class _GraphMLWriter(GraphMLWriter):  # type: ignore[misc]  # networkx has no type hints
    """networkx's GraphML writer, writing booleans as XML Schema does
    (``true``/``false``; networkx writes Python's ``True``)."""

    def add_data(self, name: str, element_type: type, value: str, scope: str = "all", default: Any = None) -> Any:
        element = super().add_data(name, element_type, value, scope, default)
        if element_type is bool:
            element.text = value.lower()
        return element


def _graphml_attrs(data: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _scalar(value) for key, value in sorted(data.items()) if value is not None}


def to_graphml(view: LineageView) -> str:
    """The view as a GraphML document (the text of a UTF-8 XML file)."""
    graph = nx.MultiDiGraph(root=view.root, direction=view.direction, as_of=view.as_of)
    for node in sorted(view.nodes):
        graph.add_node(node, **_graphml_attrs(view.nodes[node]))
    for index, edge in enumerate(_sorted_edges(view)):
        attrs = _graphml_attrs({"kind": edge.kind, "seq": edge.seq, **edge.attrs})
        graph.add_edge(edge.source, edge.target, key=f"e{index}", **attrs)
    writer = _GraphMLWriter(encoding="utf-8", prettyprint=True, infer_numeric_types=True)
    writer.add_graph_element(graph)
    buffer = io.BytesIO()
    writer.dump(buffer)
    return buffer.getvalue().decode("utf-8")


# -- DOT ---------------------------------------------------------------------------


def _dot_id(text: str) -> str:
    """A DOT quoted id: only ``"`` is escaped there, so the id reads back exactly
    (but for one ending in a backslash, which DOT cannot write; no node id does)."""
    return '"' + text.replace('"', '\\"') + '"'


def _dot_text(text: str) -> str:
    """A DOT quoted label (an escString: backslash escapes, ``\\n`` breaks a line)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dot_attrs(attrs: Mapping[str, str]) -> str:
    return "[" + ", ".join(f"{key}={_dot_text(value)}" for key, value in attrs.items()) + "]"


def _dot_node_label(node: str, data: Mapping[str, Any]) -> str:
    kind = data.get("kind")
    if kind == "run":
        lines = [_label(node, data), str(data.get("run_id", node))[:8]]
        if data.get("status"):
            lines.append(str(data["status"]))
        return "\n".join(dict.fromkeys(lines))
    if kind == "model" and "name" in data:
        return f"{data['name']} v{data['version']}\n{data.get('stage', 'None')}"
    return _label(node, data)


def _dot_edge(edge: Edge) -> dict[str, str]:
    attrs = {"label": edge.kind.replace("_", " ")} | _DOT_EDGE_STYLES.get(edge.kind, {})
    if edge.kind == "used" and edge.attrs.get("context"):
        attrs["label"] = f"used ({edge.attrs['context']})"
    if edge.kind == "approved_by":
        attrs["label"] = f"approved → {edge.attrs.get('to_stage')}"
    if edge.kind == "deployed_as":
        attrs["label"] = f"deployed ({edge.attrs.get('environment')})"
        attrs["style"] = "bold" if edge.attrs.get("live") else "dashed"
    return attrs


def to_dot(view: LineageView) -> str:
    """The view as a Graphviz DOT digraph, left to right, the root drawn bold."""
    lines = [
        "digraph lineage {",
        '  graph [rankdir="LR", fontname="Helvetica"];',
        '  node [fontname="Helvetica", fontsize="10", style="filled"];',
        '  edge [fontname="Helvetica", fontsize="9"];',
    ]
    for node in sorted(view.nodes):
        data = view.nodes[node]
        attrs = {"label": _dot_node_label(node, data)} | _DOT_STYLES.get(data["kind"], {})
        if node == view.root:
            attrs["penwidth"] = "2.5"
        lines.append(f"  {_dot_id(node)} {_dot_attrs(attrs)};")
    for edge in _sorted_edges(view):
        lines.append(f"  {_dot_id(edge.source)} -> {_dot_id(edge.target)} {_dot_attrs(_dot_edge(edge))};")
    lines.append("}")
    return "\n".join(lines) + "\n"
