"""The versioned schema of a ledger database and the steps between versions.

Owns: creating a ledger (tables, append-only triggers, its uuid) and bringing
an older database up to ``SCHEMA_VERSION``. Each step runs once, in the same
write transaction as the version bump, so a crashed ``init`` leaves either the
old or the new schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import Connection, insert, inspect, select, text, update

from ledger.errors import SchemaVersionError
from ledger.store import registry_models  # noqa: F401 - declares the registry read models
from ledger.store.dialects import Dialect
from ledger.store.projector import TRACKING_TYPES, Projector
from ledger.store.read_models import ReadModel
from ledger.store.tables import Base, LedgerMeta

__all__ = ["SCHEMA_VERSION", "check_supported", "current_version", "migrate"]

SCHEMA_VERSION: Final = 3


def _create_v1(conn: Connection, dialect: Dialect) -> None:
    Base.metadata.create_all(conn)
    for statement in dialect.append_only_ddl():
        conn.execute(text(statement))
    conn.execute(
        insert(LedgerMeta),
        [{"key": "ledger_id", "value": str(uuid.uuid4())}, {"key": "schema_version", "value": "0"}],
    )


def _read_models_v2(conn: Connection, dialect: Dialect) -> None:
    """The tracking read models, filled from the events already there; and on
    PostgreSQL the database session user of each insert, recorded by the
    server itself (not hashed: evidence the client cannot choose)."""
    ReadModel.metadata.create_all(conn)
    default = " DEFAULT session_user" if dialect.placeholder == "%s" else ""
    conn.execute(text(f"ALTER TABLE events ADD COLUMN db_user VARCHAR(256){default}"))
    Projector(dialect.placeholder).replay(conn.connection.dbapi_connection, dialect, types=TRACKING_TYPES)


def _registry_v3(conn: Connection, dialect: Dialect) -> None:
    """The registry and governance read models. Every read model is rebuilt
    from all the events, in order: the registry rules read the tracking state
    (a run's status, its artifacts and metrics) as it was at each event."""
    ReadModel.metadata.drop_all(conn)
    ReadModel.metadata.create_all(conn)
    Projector(dialect.placeholder).replay(conn.connection.dbapi_connection, dialect)


_STEPS: Final[dict[int, Callable[[Connection, Dialect], Any]]] = {
    1: _create_v1,
    2: _read_models_v2,
    3: _registry_v3,
}


def current_version(conn: Connection) -> int:
    """The schema version of the database (0: no ledger yet)."""
    if not inspect(conn).has_table("ledger_meta"):
        return 0
    value = conn.scalar(select(LedgerMeta.value).where(LedgerMeta.key == "schema_version"))
    return int(value) if value is not None else 0


def check_supported(version: int) -> None:
    """SchemaVersionError when the database is newer than this code."""
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the ledger's schema is version {version}, this mlledger knows up to {SCHEMA_VERSION}: upgrade mlledger"
        )


def migrate(conn: Connection, dialect: Dialect) -> tuple[int, int]:
    """Bring the schema to ``SCHEMA_VERSION``; returns (from, to) versions."""
    start = current_version(conn)
    check_supported(start)
    for version in range(start + 1, SCHEMA_VERSION + 1):
        _STEPS[version](conn, dialect)
        conn.execute(update(LedgerMeta).where(LedgerMeta.key == "schema_version").values(value=str(version)))
    return start, SCHEMA_VERSION
