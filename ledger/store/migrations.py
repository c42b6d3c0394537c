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
from ledger.store.dialects import Dialect
from ledger.store.tables import Base, LedgerMeta

__all__ = ["SCHEMA_VERSION", "check_supported", "current_version", "migrate"]

SCHEMA_VERSION: Final = 1


def _create_v1(conn: Connection, dialect: Dialect) -> None:
    Base.metadata.create_all(conn)
    for statement in dialect.append_only_ddl():
        conn.execute(text(statement))
    conn.execute(
        insert(LedgerMeta),
        [{"key": "ledger_id", "value": str(uuid.uuid4())}, {"key": "schema_version", "value": "0"}],
    )


_STEPS: Final[dict[int, Callable[[Connection, Dialect], Any]]] = {1: _create_v1}


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
