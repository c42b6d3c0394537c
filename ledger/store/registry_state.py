"""Reads of the registry read models, now or as of a ``seq``, on a driver cursor.

Owns: every SQL query over the registry tables. The same reads serve three
callers: the registry rules in the projector and the plans of the registry
service (both inside the append transaction, under the ledger lock, so what
they read cannot change before their events land), and the registry views
(``Ledger.registry_as_of``), which read the interval tables bounded by a
``seq`` (``at``): a row counts when ``start_seq <= at < end_seq``. With
``at=None`` the current state is read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from ledger.errors import NotFoundError
from ledger.governance import DEFAULT_POLICY, Policy, compared_value

__all__ = ["ModelRow", "RegistryState", "RunRow", "VersionRow"]


class ModelRow(NamedTuple):
    name: str
    owner: str | None
    description: str | None
    creator: str
    time: str
    seq: int


class VersionRow(NamedTuple):
    name: str
    version: int
    run_id: str
    artifact_path: str
    artifact_digest: str
    description: str | None
    creator: str
    time: str
    seq: int


class RunRow(NamedTuple):
    status: str
    author: str


_VERSION_COLUMNS = "name, version, run_id, artifact_path, artifact_digest, description, creator, time, seq"


class RegistryState:
    """Registry facts through one cursor; ``at`` bounds them to ``seq <= at``."""

    def __init__(self, cursor: Any, placeholder: str, at: int | None = None) -> None:
        self.cursor = cursor
        self.p = placeholder
        self.at = at
        # Interval rows valid at ``at``, and point rows that exist by then.
        self.live = (
            "end_seq IS NULL" if at is None else f"start_seq <= {int(at)} AND (end_seq IS NULL OR end_seq > {int(at)})"
        )
        self.made = self.made_by("seq")

    def made_by(self, column: str) -> str:
        """Rows whose ``column`` (a seq) is at or before ``at``."""
        return "1 = 1" if self.at is None else f"{column} <= {int(self.at)}"

    # -- plumbing ------------------------------------------------------------

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        self.cursor.execute(sql.replace("?", self.p), params)
        return [tuple(row) for row in self.cursor.fetchall()]

    def one(self, sql: str, *params: Any) -> Any:
        rows = self.rows(sql, *params)
        return rows[0][0] if rows else None

    def text(self, sql: str, *params: Any) -> str | None:
        value = self.one(sql, *params)
        return None if value is None else str(value)

    def integer(self, sql: str, *params: Any) -> int | None:
        value = self.one(sql, *params)
        return None if value is None else int(value)

    # -- models and versions -------------------------------------------------

    def model(self, name: str) -> ModelRow | None:
        rows = self.rows(
            "SELECT name, owner, description, creator, time, seq FROM registered_models "
            f"WHERE name = ? AND {self.made}",
            name,
        )
        return ModelRow(*rows[0]) if rows else None

    def model_names(self) -> list[str]:
        # Sorted in Python: SQL collations order text differently per backend.
        return sorted(r[0] for r in self.rows(f"SELECT name FROM registered_models WHERE {self.made}"))

    def latest_version(self, name: str) -> int:
        return int(self.one(f"SELECT MAX(version) FROM model_versions WHERE name = ? AND {self.made}", name) or 0)

    def version(self, name: str, version: int) -> VersionRow | None:
        rows = self.rows(
            f"SELECT {_VERSION_COLUMNS} FROM model_versions WHERE name = ? AND version = ? AND {self.made}",
            name,
            version,
        )
        return VersionRow(*rows[0]) if rows else None

    def versions(self, name: str) -> list[VersionRow]:
        rows = self.rows(f"SELECT {_VERSION_COLUMNS} FROM model_versions WHERE name = ? AND {self.made}", name)
        return sorted(VersionRow(*row) for row in rows)

    def require_stage(self, name: str, version: int) -> str:
        """The version's stage; NotFoundError for an unknown model or version."""
        stage = self.stage(name, version)
        if stage is None:
            if self.model(name) is None:
                raise NotFoundError(f"model {name!r} is not registered")
            latest = self.latest_version(name)
            raise NotFoundError(f"model {name!r} has no version {version} (latest: {latest or 'none'})")
        return stage

    def handover(self, name: str, version: int, to_stage: str) -> list[int]:
        """The versions a move of ``version`` into ``to_stage`` archives: the
        stage's other holders when the policy lets it hold one version."""
        if to_stage not in self.policy(name).single_holder_stages:
            return []
        return sorted(v for v in self.holders(name, to_stage) if v != version)

    def holder(self, name: str, stage: str) -> int | None:
        """The version moved into ``stage`` last, of those in it."""
        holders = self.holders(name, stage)
        return holders[0] if holders else None

    def stage(self, name: str, version: int) -> str | None:
        """The version's stage (None when the version does not exist then)."""
        return self.text(
            f"SELECT stage FROM stage_intervals WHERE name = ? AND version = ? AND {self.live}", name, version
        )

    def stage_since(self, name: str, version: int) -> int | None:
        return self.integer(
            f"SELECT start_seq FROM stage_intervals WHERE name = ? AND version = ? AND {self.live}", name, version
        )

    def holders(self, name: str, stage: str) -> list[int]:
        """The versions in ``stage``, the most recently moved there first."""
        rows = self.rows(
            f"SELECT start_seq, version FROM stage_intervals WHERE name = ? AND stage = ? AND {self.live}", name, stage
        )
        # Sorted here: an ORDER BY start_seq would lead the planner to walk
        # every interval the stage ever had instead of the few current ones.
        return [int(version) for _, version in sorted(rows, reverse=True)]

    def aliases(self, name: str) -> dict[str, int]:
        rows = self.rows(f"SELECT alias, version FROM alias_intervals WHERE name = ? AND {self.live}", name)
        return {alias: int(version) for alias, version in sorted(rows)}

    def alias(self, name: str, alias: str) -> int | None:
        return self.integer(
            f"SELECT version FROM alias_intervals WHERE name = ? AND alias = ? AND {self.live}", name, alias
        )

    def tags(self, name: str, version: int | None) -> dict[str, str]:
        """Tags of a model (``version`` None) or a version, folded from the log
        up to ``at``: later values win, earlier ones stay in the events."""
        first = "model.registered" if version is None else "model.version_created"
        which = "version IS NULL" if version is None else f"version = {int(version)}"
        rows = self.rows(
            f"SELECT seq, detail FROM registry_log WHERE name = ? AND {which} AND type IN (?, ?) AND {self.made}",
            name,
            first,
            "model.tags_set",
        )
        tags: dict[str, str] = {}
        for _, detail in sorted(rows):  # sorted here, so the planner keeps to the (name, version, type) index
            tags.update(json.loads(detail).get("tags", {}))
        return tags

    # -- requests, roles, keys, policies -------------------------------------

    def request(self, request_id: str) -> dict[str, Any] | None:
        """A transition request as it stood at ``at`` (a later decision reads as pending)."""
        rows = self.rows(
            "SELECT request_id, name, version, to_stage, reason, evidence, requester, time, seq, status, "
            "decided_by, decided_time, decided_seq, comment, signature, key_id, executed_seq "
            f"FROM transition_requests WHERE request_id = ? AND {self.made}",
            request_id,
        )
        return self._request(rows[0]) if rows else None

    def requests(self, name: str) -> list[dict[str, Any]]:
        rows = self.rows(
            "SELECT request_id, name, version, to_stage, reason, evidence, requester, time, seq, status, "
            "decided_by, decided_time, decided_seq, comment, signature, key_id, executed_seq "
            f"FROM transition_requests WHERE name = ? AND {self.made} ORDER BY seq",
            name,
        )
        return [self._request(row) for row in rows]

    def _request(self, row: Sequence[Any]) -> dict[str, Any]:
        keys = [
            "request_id",
            "name",
            "version",
            "to_stage",
            "reason",
            "evidence",
            "requester",
            "time",
            "seq",
            "status",
            "decided_by",
            "decided_time",
            "decided_seq",
            "comment",
            "signature",
            "key_id",
            "executed_seq",
        ]
        request = dict(zip(keys, row, strict=True))
        request["evidence"] = None if request["evidence"] is None else json.loads(request["evidence"])
        if self.at is not None and (request["decided_seq"] is None or request["decided_seq"] > self.at):
            request.update(status="pending", decided_by=None, decided_time=None, decided_seq=None, comment=None)
            request.update(signature=None, key_id=None)
        if self.at is not None and request["executed_seq"] is not None and request["executed_seq"] > self.at:
            request["executed_seq"] = None
        return request

    def pending_request(self, name: str, version: int, to_stage: str) -> str | None:
        request_id = self.one(
            "SELECT request_id FROM transition_requests WHERE name = ? AND version = ? AND to_stage = ? "
            "AND status = 'pending' ORDER BY seq LIMIT 1",
            name,
            version,
            to_stage,
        )
        return None if request_id is None else str(request_id)

    def roles(self, actor: str) -> set[str]:
        return {r[0] for r in self.rows(f"SELECT role FROM role_intervals WHERE actor = ? AND {self.live}", actor)}

    def role_holders(self, role: str) -> list[str]:
        rows = self.rows(f"SELECT actor FROM role_intervals WHERE role = ? AND {self.live}", role)
        return sorted(r[0] for r in rows)

    def all_roles(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for actor, role in sorted(self.rows(f"SELECT actor, role FROM role_intervals WHERE {self.live}")):
            result.setdefault(actor, []).append(role)
        return result

    def key(self, actor: str, key_id: str) -> str | None:
        return self.text(
            f"SELECT public_key FROM actor_keys WHERE actor = ? AND key_id = ? AND {self.made}", actor, key_id
        )

    def keys(self, actor: str) -> dict[str, str]:
        rows = self.rows(f"SELECT key_id, public_key FROM actor_keys WHERE actor = ? AND {self.made}", actor)
        return dict(rows)

    def policy(self, name: str) -> Policy:
        rows = self.rows(
            f"SELECT seq, body FROM policies WHERE name = ? AND {self.made} ORDER BY seq DESC LIMIT 1", name
        )
        return Policy.from_payload(json.loads(rows[0][1]), rows[0][0]) if rows else DEFAULT_POLICY

    # -- deployments and history ---------------------------------------------

    def deployments(self, name: str) -> list[dict[str, Any]]:
        """Every deployment of the model up to ``at``, live or replaced."""
        rows = self.rows(
            "SELECT start_seq, version, target, environment, actor, time, end_seq FROM deployments "
            f"WHERE name = ? AND {self.made_by('start_seq')} ORDER BY start_seq",
            name,
        )
        keys = ("seq", "version", "target", "environment", "actor", "time", "replaced_seq")
        result = [dict(zip(keys, row, strict=True)) for row in rows]
        for item in result:
            if self.at is not None and item["replaced_seq"] is not None and item["replaced_seq"] > self.at:
                item["replaced_seq"] = None
            item["live"] = item["replaced_seq"] is None
        return result

    def deployment_at(self, target: str, environment: str) -> tuple[int, str, int] | None:
        """(start_seq, model, version) live on a target and environment."""
        rows = self.rows(
            f"SELECT start_seq, name, version FROM deployments WHERE target = ? AND environment = ? AND {self.live}",
            target,
            environment,
        )
        return rows[0] if rows else None

    def history(self, name: str) -> list[tuple[Any, ...]]:
        """(seq, type, time, actor, version, detail) of every logged event of a model."""
        return self.rows(
            "SELECT seq, type, time, actor, version, detail FROM registry_log "
            f"WHERE name = ? AND {self.made} ORDER BY seq",
            name,
        )

    def stage_history(self, name: str, version: int | None = None) -> list[tuple[Any, ...]]:
        """(version, stage, start_seq, end_seq) intervals that began by ``at``."""
        where = "name = ?" + ("" if version is None else " AND version = ?")
        params = (name,) if version is None else (name, version)
        bound = "" if self.at is None else f" AND start_seq <= {int(self.at)}"
        rows = self.rows(
            f"SELECT version, stage, start_seq, end_seq FROM stage_intervals WHERE {where}{bound} "
            "ORDER BY start_seq, version",
            *params,
        )
        if self.at is None:
            return rows
        return [(v, s, a, None if e is not None and e > self.at else e) for v, s, a, e in rows]

    # -- tracking facts the registry rules need ------------------------------

    def run(self, run_id: str) -> RunRow | None:
        """A run's status and author, now (runs are not versioned here)."""
        rows = self.rows("SELECT status, author FROM runs WHERE run_id = ?", run_id)
        return RunRow(*rows[0]) if rows else None

    def run_artifacts(self, run_id: str, path: str) -> dict[str, str]:
        """{path: sha256 hex} of a run's artifacts at ``path`` or under it."""
        rows = self.rows("SELECT path, sha256 FROM run_artifacts WHERE run_id = ?", run_id)
        prefix = path.rstrip("/") + "/"
        return {p: digest for p, digest in rows if path in ("", ".") or p == path or p.startswith(prefix)}

    def latest_metric(self, run_id: str, key: str) -> float | None:
        value = self.one("SELECT value FROM latest_metrics WHERE run_id = ? AND key = ?", run_id, key)
        return None if value is None else float(value)

    def compared(self, role: str, name: str, version: int, metric: str) -> tuple[str, float]:
        """The source run of a version ``promote_if_better`` compares, and its
        latest ``metric``; a ValidationError when it has no usable value."""
        row = self.version(name, version)
        if row is None:
            self.require_stage(name, version)  # raises the NotFoundError
            raise AssertionError("unreachable")
        value = self.latest_metric(row.run_id, metric)
        present = value is not None or self.has_metric(row.run_id, metric)
        return row.run_id, compared_value(role, name, version, row.run_id, metric, value, present=present)

    def has_metric(self, run_id: str, key: str) -> bool:
        return bool(self.rows("SELECT 1 FROM latest_metrics WHERE run_id = ? AND key = ?", run_id, key))

    def evaluation(self, event_id: str) -> dict[str, Any] | None:
        """The payload of the ``model.promotion_evaluated`` event with this id."""
        rows = self.rows(
            "SELECT l.detail FROM events e JOIN registry_log l ON l.seq = e.seq "
            "WHERE e.id = ? AND l.type = 'model.promotion_evaluated'",
            event_id,
        )
        return json.loads(rows[0][0]) if rows else None

    def event_hash(self, seq: int) -> str | None:
        value = self.one("SELECT hash FROM events WHERE seq = ?", seq)
        return None if value is None else str(value)
