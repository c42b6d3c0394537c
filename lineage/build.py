"""Turning ledger events into the lineage graph: one fold, event by event.

Owns the graph's vocabulary (node kinds, edge kinds, node ids) and
``GraphBuilder``, which applies events in seq order to a networkx
``MultiDiGraph``. No I/O: the rows come from the caller (``lineage.service``).

Edges point the way data and responsibility flow: ``u -> v`` means u went
into v, so the upstream of a node (its provenance) is what reaches it and its
downstream (its impact) is what it reaches. Every node and edge carries the
``seq`` of the event that created it, so a read as of seq N keeps the parts
with ``seq <= N``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

import networkx as nx

from ledger.redaction_rules import REDACTED, stand_in_payload

__all__ = [
    "EDGE_KINDS",
    "LINEAGE_TYPES",
    "NODE_KINDS",
    "GraphBuilder",
    "actor_id",
    "artifact_id",
    "commit_id",
    "dataset_id",
    "deployment_id",
    "model_id",
    "run_id",
]

NODE_KINDS: Final = ("dataset", "run", "artifact", "model", "deployment", "commit", "actor", "redacted")
EDGE_KINDS: Final = (
    "used",  # dataset version (context training/validation/test) or code commit (context "code") -> run
    "generated",  # run -> artifact
    "derived_from",  # parent dataset version -> derived version (with the transform)
    "parent_of",  # parent run -> nested run
    "registered_from",  # run and artifact -> model version
    "deployed_as",  # model version -> deployment target
    "approved_by",  # approver -> model version (a stage transition they approved)
    "associated_with",  # actor -> the run they started or the version they registered
)

# The event types the graph is built from.
LINEAGE_TYPES: Final = (
    "experiment.created",
    "run.started",
    "run.input_logged",
    "run.artifact_logged",
    "run.finished",
    "dataset.version_registered",
    "model.registered",
    "model.version_created",
    "model.transition_requested",
    "model.transition_approved",
    "model.stage_changed",
    "model.deployed",
    "ledger.redacted",
)


def dataset_id(name: str, version: str) -> str:
    return f"dataset:{name}@{version}"


def run_id(run: str) -> str:
    return f"run:{run}"


def artifact_id(run: str, path: str) -> str:
    return f"artifact:{run}/{path}"


def model_id(name: str, version: int) -> str:
    return f"model:{name}/{version}"


def deployment_id(target: str) -> str:
    return f"deployment:{target}"


def commit_id(sha: str) -> str:
    return f"commit:{sha}"


def actor_id(actor: str) -> str:
    return f"actor:{actor}"


class GraphBuilder:
    """Applies events in seq order to ``graph``.

    ``redactions`` maps an erased event's seq to its redaction's subject, so
    an event whose payload is gone still contributes what its redaction kept
    (a run read a data version that is no longer named). A redaction that
    lands after its target was applied is not handled here: the caller
    rebuilds (``needs_rebuild``), as redactions are rare.
    """

    def __init__(self, redactions: Mapping[int, Mapping[str, Any]] | None = None) -> None:
        self.graph: nx.MultiDiGraph = nx.MultiDiGraph()
        self._nodes, self._succ, self._pred = self.graph._node, self.graph._succ, self.graph._pred
        self.last_seq = -1
        self.needs_rebuild = False
        self._redactions = dict(redactions or {})
        self._experiments: dict[str, str] = {}  # experiment id -> name
        self._owners: dict[str, str | None] = {}  # model name -> owner
        self._requests: dict[str, tuple[str, str, str]] = {}  # request id -> (model node, to_stage, requester)
        self._artifacts: dict[str, list[str]] = {}  # run id -> its artifact paths

    def apply_rows(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Apply (seq, type, time, actor, payload text | None) rows in seq order."""
        for seq, event_type, time, actor, body in rows:
            payload = json.loads(body) if body is not None else self._stand_in(seq, event_type)
            if payload is not None:
                self.apply(seq, event_type, time, actor, payload)
            self.last_seq = seq
        self.graph.graph["last_seq"] = self.last_seq  # the graph holds every lineage event up to here

    def _stand_in(self, seq: int, event_type: str) -> dict[str, Any] | None:
        subject = self._redactions.get(seq)
        if subject is None:
            return None
        if event_type == "dataset.version_registered":
            return {"name": subject["name"], "version": subject["version"], "digest": REDACTED, "redacted": True}
        stand_in = stand_in_payload(event_type, subject)
        return None if stand_in is None else {**stand_in, "redacted": True}  # no payload has that key

    # -- the fold ----------------------------------------------------------------

    def apply(self, seq: int, event_type: str, time: str, actor: str, p: Mapping[str, Any]) -> None:
        handler = _HANDLERS.get(event_type)
        if handler is not None:
            handler(self, seq, time, actor, p)

    def _node(self, node: str, kind: str, seq: int, **attrs: Any) -> None:
        """Add ``node`` if new (its seq is the first event naming it), then set ``attrs``."""
        data = self._nodes.get(node)
        if data is None:
            data = self._add(node, kind, seq)
        for key, value in attrs.items():
            if value is not None:
                data[key] = value

    def _ensure(self, node: str, kind: str, seq: int) -> None:
        """``_node`` without attributes, for the many events that only name a node."""
        if node not in self._nodes:
            self._add(node, kind, seq)

    def _add(self, node: str, kind: str, seq: int) -> dict[str, Any]:
        """A new node, written on networkx's dicts as ``add_node`` would (see ``_edge``)."""
        data = self._nodes[node] = {"kind": kind, "seq": seq}
        self._succ[node] = {}
        self._pred[node] = {}
        return data

    def _edge(self, u: str, v: str, kind: str, seq: int, **attrs: Any) -> None:
        """Add edge u -> v keyed by ``seq``; both nodes exist already. Written
        on networkx's adjacency dicts, as ``add_edge`` would, at a third of
        its cost: a ledger of 100,000 runs folds in 600,000 edges."""
        keyed = self._succ[u].get(v)
        if keyed is None:
            keyed = self._succ[u][v] = self._pred[v][u] = {}
        keyed[seq] = {"kind": kind, "seq": seq, **attrs}

    def _actor(self, actor: str, seq: int) -> str:
        node = actor_id(actor)
        if node not in self._nodes:
            self._add(node, "actor", seq)["name"] = actor
        return node

    def _experiment_created(self, seq: int, time: str, actor: str, p: Mapping[str, Any]) -> None:
        self._experiments[p["experiment_id"]] = p["name"]

    def _run_started(self, seq: int, time: str, actor: str, p: Mapping[str, Any]) -> None:
        run = run_id(p["run_id"])
        experiment = self._experiments.get(p["experiment_id"], p["experiment_id"])
        self._node(
            run, "run", seq, run_id=p["run_id"], name=p.get("run_name"), experiment=experiment,
            started=time, status="RUNNING", actor=actor,
        )  # fmt: skip
        self._edge(self._actor(actor, seq), run, "associated_with", seq, role="started")
        if p.get("parent_run_id"):
            parent = run_id(p["parent_run_id"])
            if parent not in self._nodes:  # a parent started in another ledger
                self._add(parent, "run", seq)["run_id"] = p["parent_run_id"]
            self._edge(parent, run, "parent_of", seq)
        environment = p.get("environment") or {}
        if environment.get("git_commit"):
            commit = commit_id(environment["git_commit"])
            if commit not in self._nodes:
                self._add(commit, "commit", seq)["sha"] = environment["git_commit"]
            self._edge(commit, run, "used", seq, context="code", dirty=environment.get("git_dirty"))

    def _run_finished(self, seq: int, time: str, actor: str, p: Mapping[str, Any]) -> None:
        run = run_id(p["run_id"])
        if run in self._nodes:
            self._nodes[run].update(status=p["status"], ended=time, ended_seq=seq)
            if p.get("error"):
                self._nodes[run]["error"] = p["error"]

    def _run_input_logged(self, seq: int, time: str, actor: str, p: Mapping[str, Any]) -> None:
        if p.get("redacted"):  # the input was erased: that the run read something is all that is left
            data: str = f"redacted:{seq}"
            self._node(data, "redacted", seq, redacted_seq=seq)
        else:
            data = dataset_id(p["name"], p["version"])
            known = self._nodes.get(data)
            if known is None:
                known = self._add(data, "dataset", seq)
                known.update(name=p["name"], version=p["version"])
            if not known.get("redacted"):  # a registration, if any, is the authority
                for key in ("digest", "source", "columns", "num_rows"):
                    if key not in known and p.get(key) is not None:
                        known[key] = p[key]
        run = run_id(p["run_id"])
        self._ensure(run, "run", seq)
        self._edge(data, run, "used", seq, context=p.get("context"), digest=p["digest"])

    def _dataset_version_registered(self, seq: int, time: str, actor: str, p: Mapping[str, Any]) -> None:
        data = dataset_id(p["name"], p["version"])
        known = self._nodes.get(data)
        if known is not None and "registered_seq" in known:
            return  # registered twice (an import past the rules): the first one counts, as in the read model
        if known is None:
            known = self._add(data, "dataset", seq)
        if p.get("redacted"):  # what inputs copied from the erased registration goes too
            for key in [k for k in known if k not in ("kind", "seq")]:
                del known[key]
        facts = {
            "name": p["name"], "version": p["version"], "digest": p["digest"], "source": p.get("source"),
            "transform": p.get("transform"), "columns": p.get("columns"), "num_rows": p.get("num_rows"),
            "registered_seq": seq, "redacted": p.get("redacted"),
        }  # fmt: skip
        known.update((key, value) for key, value in facts.items() if value is not None)
        for parent in p.get("derived_from") or ():
            source = dataset_id(parent["name"], parent["version"])
            self._node(source, "dataset", seq, name=parent["name"], version=parent["version"])
            self._edge(source, data, "derived_from", seq, transform=p.get("transform"))

    def _run_artifact_logged(self, seq: int, time: str, actor: str, p: Mapping[str, Any]) -> None:
        run, path = p["run_id"], p["path"]
        artifact = artifact_id(run, path)
        self._node(artifact, "artifact", seq, run_id=run, path=path, sha256=p["sha256"], size=p["size"])
        self._ensure(run_id(run), "run", seq)
        self._edge(run_id(run), artifact, "generated", seq)
        self._artifacts.setdefault(run, []).append(path)

    def _model_registered(self, seq: int, time: str, actor: str, p: Mapping[str, Any]) -> None:
        self._owners[p["name"]] = p.get("owner")

    def _model_version_created(self, seq: int, time: str, actor: str, p: Mapping[str, Any]) -> None:
        name, version, run = p["name"], p["version"], p["run_id"]
        model = model_id(name, version)
        self._node(
            model, "model", seq, name=name, version=version, owner=self._owners.get(name),
            artifact_digest=p["artifact_digest"], registered=time, stages=[(seq, "None")],
        )  # fmt: skip
        self._ensure(run_id(run), "run", seq)
        self._edge(run_id(run), model, "registered_from", seq, artifact_digest=p["artifact_digest"])
        prefix = p["artifact_path"].rstrip("/")
        for path in self._artifacts.get(run, ()):
            if path == prefix or path.startswith(prefix + "/"):
                self._edge(artifact_id(run, path), model, "registered_from", seq, artifact_path=p["artifact_path"])
        self._edge(self._actor(actor, seq), model, "associated_with", seq, role="registered")

    def _model_transition_requested(self, seq: int, time: str, actor: str, p: Mapping[str, Any]) -> None:
        self._requests[p["request_id"]] = (model_id(p["name"], p["version"]), p["to_stage"], actor)

    def _model_transition_approved(self, seq: int, time: str, actor: str, p: Mapping[str, Any]) -> None:
        request = self._requests.get(p["request_id"])
        if request is not None and request[0] in self.graph:
            model, to_stage, requester = request
            self._edge(
                self._actor(actor, seq), model, "approved_by", seq,
                request_id=p["request_id"], to_stage=to_stage, requester=requester, time=time,
            )  # fmt: skip

    def _model_stage_changed(self, seq: int, time: str, actor: str, p: Mapping[str, Any]) -> None:
        changes = [(p["version"], p["to_stage"]), *((v, "Archived") for v in p.get("archived_versions") or ())]
        for version, stage in changes:
            model = model_id(p["name"], version)
            if model in self.graph:
                self.graph.nodes[model]["stages"] = [*self.graph.nodes[model]["stages"], (seq, stage)]

    def _model_deployed(self, seq: int, time: str, actor: str, p: Mapping[str, Any]) -> None:
        model, target = model_id(p["name"], p["version"]), deployment_id(p["target"])
        self._node(target, "deployment", seq, target=p["target"])
        if model in self.graph:
            self._edge(model, target, "deployed_as", seq, environment=p["environment"], actor=actor, time=time)

    def _ledger_redacted(self, seq: int, time: str, actor: str, p: Mapping[str, Any]) -> None:
        known = p["target_seq"] in self._redactions  # then the target was applied from its stand-in
        if not known and p["target_type"] in ("run.input_logged", "dataset.version_registered"):
            self.needs_rebuild = True  # the target was applied with the payload now erased
        self._redactions[p["target_seq"]] = p["subject"]


# Event type -> the GraphBuilder method that folds it in (a table, not bound
# methods on each builder: those would keep a dropped graph alive in a cycle).
_HANDLERS: Final = {t: getattr(GraphBuilder, "_" + t.replace(".", "_")) for t in LINEAGE_TYPES}
