"""The versioned schema of a ledger database and the steps between versions.

Owns: creating a ledger (tables, append-only triggers, its uuid) and bringing
an older database up to ``SCHEMA_VERSION``. Each step runs once, in the same
write transaction as the version bump, so a crashed ``init`` leaves either the
old or the new schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final

from sqlalchemy import Connection, insert, inspect, select, text, update

from ledger.errors import IntegrityError, SchemaVersionError
from ledger.merkle import HASH_SIZE
from ledger.store import registry_models  # noqa: F401 - declares the registry read models
from ledger.store.dataset_projector import DATASET_TYPES
from ledger.store.dialects import Dialect
from ledger.store.merkle_store import tree_rows
from ledger.store.projector import TRACKING_TYPES, Projector
from ledger.store.read_models import DatasetParent, DatasetVersion, ReadModel, RedactionRecord
from ledger.store.tables import Base, LedgerMeta, MerkleNode

__all__ = ["SCHEMA_VERSION", "check_supported", "current_version", "migrate"]

SCHEMA_VERSION: Final = 6
_TREE_CHUNK: Final = 10_000  # leaves hashed and inserted at a time by step 4


def _create_v1(conn: Connection, dialect: Dialect) -> None:
    # The tables of version 1; later steps add theirs.
    later = {MerkleNode.__tablename__}
    Base.metadata.create_all(conn, tables=[t for t in Base.metadata.sorted_tables if t.name not in later])
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
    _rebuild_read_models(conn, dialect)


def _rebuild_read_models(conn: Connection, dialect: Dialect) -> None:
    ReadModel.metadata.drop_all(conn)
    ReadModel.metadata.create_all(conn)
    Projector(dialect.placeholder).replay(conn.connection.dbapi_connection, dialect)


def _merkle_tree_v4(conn: Connection, dialect: Dialect) -> None:
    """The stored Merkle tree (DESIGN §4), built from the events in one pass
    in seq order: memory holds a chunk of rows and the tree's right edge.

    A table left by an older attempt cannot be trusted to match the events
    (a ledger below version 4 never maintained it), so it is dropped first;
    DROP fires no row triggers.
    """
    table = Base.metadata.tables[MerkleNode.__tablename__]
    table.drop(conn, checkfirst=True)
    table.create(conn)
    for statement in dialect.merkle_append_only_ddl():
        conn.execute(text(statement))
    raw: Any = conn.connection.dbapi_connection
    rows = dialect.stream(raw, "SELECT seq, hash FROM events ORDER BY seq", (), _TREE_CHUNK, own_transaction=False)
    writer = raw.cursor()
    for chunk in tree_rows((_leaf(position, row) for position, row in enumerate(rows)), _TREE_CHUNK):
        dialect.insert_nodes(writer, chunk)


def _leaf(position: int, row: Sequence[Any]) -> bytes:
    """The raw hash of event ``row``, which must be event ``position`` (no gaps)."""
    seq, digest = row
    if seq != position:
        raise IntegrityError(f"cannot build the Merkle tree: event {position} is missing (next stored: {seq})")
    try:
        leaf = bytes.fromhex(digest)
    except (TypeError, ValueError):
        leaf = b""
    if len(leaf) != HASH_SIZE:
        raise IntegrityError(f"cannot build the Merkle tree: event {seq} has a malformed hash {digest!r}")
    return leaf


def _redactions_v5(conn: Connection, dialect: Dialect) -> None:
    """The ``redactions`` read model. A ledger that already holds
    ``ledger.redacted`` events (appended before redactions had rules, their
    payload rows perhaps deleted by hand) has every read model rebuilt, so
    that erased payloads read as redacted and leave nothing behind."""
    ReadModel.metadata.tables[RedactionRecord.__tablename__].create(conn, checkfirst=True)
    if conn.scalar(text("SELECT seq FROM events WHERE type = 'ledger.redacted' LIMIT 1")) is not None:
        _rebuild_read_models(conn, dialect)


def _data_versions_v6(conn: Connection, dialect: Dialect) -> None:
    """The data-version read models (``dataset_versions``, ``dataset_parents``),
    filled from the ``dataset.version_registered`` events already there. Their
    rows depend on no other read model (an erased registration is replayed as
    its stand-in), so only those events are replayed. Tables an earlier step
    of this migration made (its rebuild filled them) are made again: they must
    come from this replay alone."""
    tables = [ReadModel.metadata.tables[model.__tablename__] for model in (DatasetVersion, DatasetParent)]
    ReadModel.metadata.drop_all(conn, tables=tables, checkfirst=True)
    ReadModel.metadata.create_all(conn, tables=tables)
    Projector(dialect.placeholder).replay(conn.connection.dbapi_connection, dialect, types=DATASET_TYPES)


_STEPS: Final[dict[int, Callable[[Connection, Dialect], Any]]] = {
    1: _create_v1,
    2: _read_models_v2,
    3: _registry_v3,
    4: _merkle_tree_v4,
    5: _redactions_v5,
    6: _data_versions_v6,
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
