"""What differs between SQLite and PostgreSQL, and nothing else.

Owns: connection settings (SQLite WAL, durable commits, busy timeout), how a
write transaction takes the ledger-wide lock that orders ``seq`` across
processes (SQLite ``BEGIN IMMEDIATE``; PostgreSQL a transaction-scoped
advisory lock), the triggers that make ``events`` and ``merkle_nodes``
append-only, how to insert rows fast and how to stream them in constant
memory.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, Final, Protocol

from ledger.errors import IntegrityError, StorageError

__all__ = [
    "EVENT_COLUMNS",
    "NODE_COLUMNS",
    "PAYLOAD_COLUMNS",
    "Dialect",
    "PostgresDialect",
    "SqliteDialect",
    "dialect_for",
]

# An arbitrary constant: the key of the advisory lock that serialises appends.
_PG_APPEND_LOCK: Final = 0x6D6C6C65  # "mlle"

EVENT_COLUMNS: Final = ("seq", "v", "id", "type", "schema", "time", "actor", "payload_digest", "prev", "hash")
PAYLOAD_COLUMNS: Final = ("seq", "body")
NODE_COLUMNS: Final = ("level", "idx", "hash")


def _insert(table: str, columns: Sequence[str], mark: str) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"


# One event, its payload and the tree nodes it completes, in one statement
# (one round trip): the nodes arrive as three arrays.
_PG_INSERT_ONE: Final = (
    f"WITH event AS ({_insert('events', EVENT_COLUMNS, '%s')}), "
    f"payload AS ({_insert('payloads', PAYLOAD_COLUMNS, '%s')}) "
    f"INSERT INTO merkle_nodes ({', '.join(NODE_COLUMNS)}) "
    "SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])"
)

_SQLITE_TRIGGERS: Final = (
    """CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
       BEGIN SELECT RAISE(ABORT, 'mlledger: events is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
       BEGIN SELECT RAISE(ABORT, 'mlledger: events is append-only: DELETE refused'); END""",
    """CREATE TRIGGER IF NOT EXISTS payloads_no_update BEFORE UPDATE ON payloads
       BEGIN SELECT RAISE(ABORT, 'mlledger: payloads are immutable: UPDATE refused'); END""",
    # INSERT OR REPLACE deletes the old row without firing DELETE triggers
    # (unless recursive_triggers is on), so inserts over a row are refused too.
    """CREATE TRIGGER IF NOT EXISTS events_no_replace BEFORE INSERT ON events
       WHEN EXISTS (SELECT 1 FROM events WHERE seq = NEW.seq OR id = NEW.id)
       BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: events (mlledger: append-only, no REPLACE)'); END""",
    """CREATE TRIGGER IF NOT EXISTS payloads_no_replace BEFORE INSERT ON payloads
       WHEN EXISTS (SELECT 1 FROM payloads WHERE seq = NEW.seq)
       BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: payloads (mlledger: append-only, no REPLACE)'); END""",
    """CREATE TRIGGER IF NOT EXISTS payloads_no_delete BEFORE DELETE ON payloads
       WHEN NOT EXISTS (SELECT 1 FROM events e JOIN payloads p ON p.seq = e.seq
                        WHERE e.type = 'ledger.redacted' AND e.seq > OLD.seq
                          AND json_extract(p.body, '$.target_seq') = OLD.seq)
       BEGIN SELECT RAISE(ABORT, 'mlledger: a payload can only be removed by a redaction event'); END""",
)

# The tree's nodes are written once, by the append that completes them
# (schema step 4). Unlike events, INSERT OR REPLACE is not guarded: that
# guard is a lookup per inserted row, and an append inserts two nodes per
# event (a third of the tree's cost to a batch). The nodes are derived from
# the event hashes, so a replaced node cannot hide a rewrite: a proof built
# from it fails against a checkpoint's root, and rebuilding the tree from
# events (schema step 4) shows the difference.
_SQLITE_MERKLE_TRIGGERS: Final = (
    """CREATE TRIGGER IF NOT EXISTS merkle_nodes_no_update BEFORE UPDATE ON merkle_nodes
       BEGIN SELECT RAISE(ABORT, 'mlledger: merkle_nodes is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER IF NOT EXISTS merkle_nodes_no_delete BEFORE DELETE ON merkle_nodes
       BEGIN SELECT RAISE(ABORT, 'mlledger: merkle_nodes is append-only: DELETE refused'); END""",
)

_PG_TRIGGERS: Final = (
    """CREATE OR REPLACE FUNCTION mlledger_refuse_change() RETURNS trigger
       LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION 'mlledger: % on % refused: the ledger is append-only',
           TG_OP, TG_TABLE_NAME;
       END $$""",
    """CREATE OR REPLACE FUNCTION mlledger_guard_payload_delete() RETURNS trigger
       LANGUAGE plpgsql AS $$
       BEGIN
         IF NOT EXISTS (SELECT 1 FROM events e JOIN payloads p ON p.seq = e.seq
                        WHERE e.type = 'ledger.redacted' AND e.seq > OLD.seq
                          AND (p.body::jsonb ->> 'target_seq')::bigint = OLD.seq) THEN
           RAISE EXCEPTION 'mlledger: a payload can only be removed by a redaction event';
         END IF;
         RETURN OLD;
       END $$""",
    """CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
       FOR EACH ROW EXECUTE FUNCTION mlledger_refuse_change()""",
    """CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
       FOR EACH STATEMENT EXECUTE FUNCTION mlledger_refuse_change()""",
    """CREATE TRIGGER payloads_no_update BEFORE UPDATE ON payloads
       FOR EACH ROW EXECUTE FUNCTION mlledger_refuse_change()""",
    """CREATE TRIGGER payloads_no_truncate BEFORE TRUNCATE ON payloads
       FOR EACH STATEMENT EXECUTE FUNCTION mlledger_refuse_change()""",
    """CREATE TRIGGER payloads_guard_delete BEFORE DELETE ON payloads
       FOR EACH ROW EXECUTE FUNCTION mlledger_guard_payload_delete()""",
)

# mlledger_refuse_change() comes with the v1 schema (_PG_TRIGGERS).
_PG_MERKLE_TRIGGERS: Final = (
    """CREATE TRIGGER merkle_nodes_no_update_delete BEFORE UPDATE OR DELETE ON merkle_nodes
       FOR EACH ROW EXECUTE FUNCTION mlledger_refuse_change()""",
    """CREATE TRIGGER merkle_nodes_no_truncate BEFORE TRUNCATE ON merkle_nodes
       FOR EACH STATEMENT EXECUTE FUNCTION mlledger_refuse_change()""",
)


class Dialect(Protocol):
    """The few operations where SQLite and PostgreSQL differ."""

    name: str
    placeholder: str

    def begin_write(self, cursor: Any, head_sql: str) -> Sequence[Any] | None:
        """Start a transaction holding the ledger-wide append lock, and return
        the row ``head_sql`` reads under it (None for an empty ledger)."""

    def lock_in_transaction(self, connection: Any) -> None:
        """Take the ledger-wide lock inside a SQLAlchemy write transaction."""

    def append_only_ddl(self) -> Sequence[str]:
        """Statements that make the database refuse UPDATE/DELETE on events."""

    def merkle_append_only_ddl(self) -> Sequence[str]:
        """Statements that make the database refuse UPDATE/DELETE on merkle_nodes."""

    def insert_events(
        self,
        cursor: Any,
        events: Sequence[Sequence[Any]],
        payloads: Sequence[Sequence[Any]],
        nodes: Sequence[Sequence[Any]],
    ) -> None:
        """Insert ``events``, ``payloads`` and ``merkle_nodes`` rows, the fastest way the driver has."""

    def insert_nodes(self, cursor: Any, nodes: Sequence[Sequence[Any]]) -> None:
        """Insert ``merkle_nodes`` rows."""

    def stream(
        self, connection: Any, sql: str, params: Sequence[Any], batch: int, *, own_transaction: bool = True
    ) -> Iterator[Sequence[Any]]:
        """Rows of a query, fetched ``batch`` at a time (constant memory); in a
        read transaction of its own, or in the caller's."""

    def is_unique_violation(self, error: BaseException) -> bool:
        """Whether a driver error is a unique-constraint violation."""

    def begin_erasure(self, cursor: Any) -> None:
        """Before a write transaction deletes erased data (a redaction): make
        the deletion overwrite the deleted bytes, where the database can."""

    def end_erasure(self, cursor: Any) -> None:
        """After that transaction committed: drop the copies of the erased
        bytes the database still keeps, where it can."""


class SqliteDialect:
    name = "sqlite"
    placeholder = "?"

    def begin_write(self, cursor: Any, head_sql: str) -> Sequence[Any] | None:
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute(head_sql)
        row: Sequence[Any] | None = cursor.fetchone()
        return row

    def lock_in_transaction(self, connection: Any) -> None:
        """Nothing to do: a write transaction on SQLite began IMMEDIATE."""

    def insert_events(
        self,
        cursor: Any,
        events: Sequence[Sequence[Any]],
        payloads: Sequence[Sequence[Any]],
        nodes: Sequence[Sequence[Any]],
    ) -> None:
        cursor.executemany(_insert("events", EVENT_COLUMNS, "?"), events)
        cursor.executemany(_insert("payloads", PAYLOAD_COLUMNS, "?"), payloads)
        self.insert_nodes(cursor, nodes)

    def insert_nodes(self, cursor: Any, nodes: Sequence[Sequence[Any]]) -> None:
        cursor.executemany(_insert("merkle_nodes", NODE_COLUMNS, "?"), nodes)

    def append_only_ddl(self) -> Sequence[str]:
        return _SQLITE_TRIGGERS

    def merkle_append_only_ddl(self) -> Sequence[str]:
        return _SQLITE_MERKLE_TRIGGERS

    def stream(
        self, connection: Any, sql: str, params: Sequence[Any], batch: int, *, own_transaction: bool = True
    ) -> Iterator[Sequence[Any]]:
        cursor = connection.cursor()
        cursor.arraysize = batch
        last = None
        try:
            if own_transaction:
                cursor.execute("BEGIN")  # one WAL snapshot for the whole read
            cursor.execute(sql, tuple(params))
            while rows := cursor.fetchmany(batch):
                yield from rows
                last = rows[-1][0]
        except sqlite3.OperationalError as e:
            if "decode" not in str(e):
                raise
            # SQLite stores whatever bytes it is given; ours are always UTF-8.
            where = "in the first rows" if last is None else f"within {batch} rows after seq {last}"
            raise IntegrityError(f"stored text is not valid UTF-8 {where}: the database was altered ({e})") from e
        finally:
            if own_transaction:
                connection.rollback()
            cursor.close()

    def is_unique_violation(self, error: BaseException) -> bool:
        return "UNIQUE constraint failed" in str(error)

    def begin_erasure(self, cursor: Any) -> None:
        # Without secure_delete (off in SQLite's default build), a deleted
        # payload stays readable in the file's free space. It stays on for
        # this connection: it costs deletes and updates a little CPU, no I/O.
        cursor.execute("PRAGMA secure_delete = ON")

    def end_erasure(self, cursor: Any) -> None:
        # The WAL still holds the pages as they were before the deletion:
        # copy it into the database and truncate it. A reader still using
        # those pages may hold this up for two seconds; past that, the old
        # pages stay in the WAL file until SQLite writes over them (or the
        # next redaction truncates it), and nothing reads them meanwhile.
        # The redaction is committed: a failure here must not report it failed.
        with contextlib.suppress(sqlite3.Error):
            cursor.execute("PRAGMA busy_timeout = 2000")
            try:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cursor.fetchall()
            finally:
                cursor.execute("PRAGMA busy_timeout = 60000")


class PostgresDialect:
    name = "postgresql"
    placeholder = "%s"

    def begin_write(self, cursor: Any, head_sql: str) -> Sequence[Any] | None:
        # Lock and read in one round trip (two statements, no parameters).
        cursor.execute(f"SELECT pg_advisory_xact_lock({_PG_APPEND_LOCK}); {head_sql}")
        cursor.nextset()
        row: Sequence[Any] | None = cursor.fetchone()
        return row

    def lock_in_transaction(self, connection: Any) -> None:
        # The same lock as appends: concurrent first opens create one schema.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_APPEND_LOCK})")

    def insert_events(
        self,
        cursor: Any,
        events: Sequence[Sequence[Any]],
        payloads: Sequence[Sequence[Any]],
        nodes: Sequence[Sequence[Any]],
    ) -> None:
        # Round trips dominate: one event goes in one statement; a batch goes
        # by COPY, which streams rows where executemany has the server bind
        # and execute each one (benchmarks/append.py).
        if len(events) == 1:
            levels, indices, hashes = ([node[i] for node in nodes] for i in range(3))  # often none
            cursor.execute(_PG_INSERT_ONE, (*events[0], *payloads[0], levels, indices, hashes))
            return
        for table, columns, rows in (("events", EVENT_COLUMNS, events), ("payloads", PAYLOAD_COLUMNS, payloads)):
            _copy(cursor, table, columns, rows)
        self.insert_nodes(cursor, nodes)

    def insert_nodes(self, cursor: Any, nodes: Sequence[Sequence[Any]]) -> None:
        _copy(cursor, "merkle_nodes", NODE_COLUMNS, nodes)

    def append_only_ddl(self) -> Sequence[str]:
        return _PG_TRIGGERS

    def merkle_append_only_ddl(self) -> Sequence[str]:
        return _PG_MERKLE_TRIGGERS

    def stream(
        self, connection: Any, sql: str, params: Sequence[Any], batch: int, *, own_transaction: bool = True
    ) -> Iterator[Sequence[Any]]:
        try:
            # A named cursor is a server-side cursor: rows arrive batch by batch.
            with connection.cursor(name="mlledger_stream") as cursor:
                cursor.itersize = batch
                cursor.execute(sql, tuple(params))
                while rows := cursor.fetchmany(batch):
                    yield from rows
        finally:
            if own_transaction:
                connection.rollback()

    def is_unique_violation(self, error: BaseException) -> bool:
        return getattr(error, "sqlstate", None) == "23505"

    def begin_erasure(self, cursor: Any) -> None:
        """Nothing to do: a deleted row stays in the table file until VACUUM
        FULL rewrites it, which takes a lock no append may wait for (an
        operator's task, with the WAL archive and backups)."""

    def end_erasure(self, cursor: Any) -> None:
        """Nothing to do (see ``begin_erasure``)."""


def _copy(cursor: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def dialect_for(name: str) -> Dialect:
    """The dialect for a SQLAlchemy dialect name."""
    if name == "sqlite":
        return SqliteDialect()
    if name == "postgresql":
        return PostgresDialect()
    raise StorageError(f"unsupported database {name!r}: mlledger runs on sqlite:/// and postgresql+psycopg:// URIs")
