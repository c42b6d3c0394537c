"""The lineage graph of one ledger, kept up to date: ``lg.lineage``.

Owns ``Lineage``: builds the graph from the ledger's events once, then on
every question reads only the events appended since (one indexed query) and
folds them in, so a query never rebuilds the graph. A redaction of a data
version or an input that was folded in with its payload triggers one rebuild,
as the graph must not keep what was erased.

Memory: a build allocates a few million small objects and no garbage, so the
cyclic garbage collector is paused while it runs and the objects alive at its
end are then frozen (``gc.freeze``): later collections skip the graph instead
of rescanning it, each a pause of a second at 100,000 runs. A rebuild
unfreezes them first, so the old graph can be collected.
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import networkx as nx

from ledger.collector import no_collections
from ledger.encoding import format_time
from ledger.errors import ValidationError
from ledger.store import EventStore
from lineage.build import LINEAGE_TYPES, GraphBuilder
from lineage.query import Direction, LineageView, everything, find_path, resolve, traverse

__all__ = ["Lineage"]

Moment = int | str | datetime


class Lineage:
    """Upstream (provenance), downstream (impact) and path queries over the
    ledger's lineage graph, each optionally ``as_of`` a seq or a time."""

    def __init__(self, store: EventStore, seq_of: Callable[[Moment], int]) -> None:
        self._store = store
        self._seq_of = seq_of
        self._builder: GraphBuilder | None = None
        self._lock = threading.Lock()  # one Ledger may serve several threads

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The graph up to the ledger's last event (read-only: do not modify)."""
        return self.refresh().graph

    def refresh(self) -> GraphBuilder:
        """Fold in the events appended since the last call (all of them the first time)."""
        with self._lock:
            builder = self._builder
            if builder is not None:
                self._fold(builder, self._store.timed_rows_of_types(LINEAGE_TYPES, builder.last_seq + 1))
                if not builder.needs_rebuild:
                    return builder
                self._builder = None
                gc.unfreeze()  # let the old graph be collected
            builder = GraphBuilder(self._redaction_subjects())
            self._fold(builder, self._store.timed_rows_of_types(LINEAGE_TYPES))
            gc.freeze()
            self._builder = builder
            return builder

    @staticmethod
    def _fold(builder: GraphBuilder, rows: Iterable[tuple[Any, ...]]) -> None:
        with no_collections():
            builder.apply_rows(rows)

    def _redaction_subjects(self) -> dict[int, Any]:
        subjects = {}
        for *_, body in self._store.redaction_rows():
            payload = json.loads(body or "{}")
            if "target_seq" in payload:  # else unreadable: verify reports it
                subjects[payload["target_seq"]] = payload["subject"]
        return subjects

    def _stop(self, as_of: Moment | None) -> int:
        if as_of is None:
            return self.refresh().last_seq
        stop = self._seq_of(as_of)
        if stop < 0:
            shown = format_time(as_of) if isinstance(as_of, datetime) else as_of
            raise ValidationError(f"as_of {shown!r} is before the ledger's first event")
        return stop

    def node(self, node: str, *, as_of: Moment | None = None) -> dict[str, Any]:
        """The attributes of one node (``node`` as in ``resolve``)."""
        view = self.neighbourhood(node, depth=0, as_of=as_of)
        return dict(view.nodes[view.root])

    def upstream(self, node: str, *, depth: int | None = None, as_of: Moment | None = None) -> LineageView:
        """Provenance: everything that went into ``node``, through ``depth`` edges (all when None)."""
        return self._traverse(node, "upstream", depth, as_of)

    def downstream(self, node: str, *, depth: int | None = None, as_of: Moment | None = None) -> LineageView:
        """Impact: everything ``node`` went into: runs, artifacts, model versions
        (with their stage) and deployments (with whether they are live)."""
        return self._traverse(node, "downstream", depth, as_of)

    def neighbourhood(self, node: str, *, depth: int | None = None, as_of: Moment | None = None) -> LineageView:
        """Upstream and downstream of ``node`` together: its whole lineage."""
        return self._traverse(node, "both", depth, as_of)

    def everything(self, *, as_of: Moment | None = None) -> LineageView:
        """The whole graph (for exports), as of a seq or time."""
        stop = self._stop(as_of)
        return everything(self.refresh().graph, stop)

    def path(self, a: str, b: str, *, as_of: Moment | None = None) -> LineageView:
        """The shortest chain of edges linking ``a`` and ``b``, whichever is upstream."""
        stop = self._stop(as_of)
        graph = self.refresh().graph
        return find_path(graph, resolve(graph, a, stop), resolve(graph, b, stop), stop)

    def _traverse(self, node: str, direction: Direction, depth: int | None, as_of: Moment | None) -> LineageView:
        stop = self._stop(as_of)
        graph = self.refresh().graph
        return traverse(graph, resolve(graph, node, stop), direction, stop, depth)
