"""The event store: one SQLAlchemy implementation for SQLite and PostgreSQL.

Owns: opening a database from a URI, creating or migrating it, appending
sealed events and the Merkle tree nodes they complete under the ledger-wide
lock, and reading events, tree roots and proofs back. Appends and full scans run on the driver cursor of a pooled
connection, with SQL generated from the table metadata: SQLAlchemy's
per-statement overhead would otherwise cost more than the hashing
(see BENCHMARKS.md).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import sqlalchemy
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from ledger.encoding import GENESIS_PREV, hash_bytes
from ledger.errors import ConflictError, LedgerError, NotFoundError, StorageError
from ledger.events import Prepared, Sealed, seal
from ledger.store import (
    merkle_store,
    registry_models,  # noqa: F401 - declares the registry read models
)
from ledger.store.dialects import EVENT_COLUMNS, Dialect, dialect_for
from ledger.store.migrations import SCHEMA_VERSION, check_supported, current_version, migrate
from ledger.store.projector import Projector, projected_rows_sql
from ledger.store.read_models import ReadModel
from ledger.store.redaction_projector import REDACTION_TYPES, erasures
from ledger.store.tables import Checkpoint, LedgerMeta

__all__ = ["EVENT_COLUMNS", "Head", "Plan", "SqlEventStore", "StoredRow", "safe_uri"]

# (seq, v, id, type, schema, time, actor, payload_digest, prev, hash, body|None)
StoredRow = tuple[int, int, str, str, int, str, str, str, str, str, str | None]
# Builds a batch under the append lock from what the write cursor reads.
Plan = Callable[[Any], Sequence[Prepared]]

_SELECT_ROWS: Final = (
    "SELECT e.seq, e.v, e.id, e.type, e.schema, e.time, e.actor, e.payload_digest,"
    " e.prev, e.hash, p.body FROM events e LEFT JOIN payloads p ON p.seq = e.seq"
)
_HEAD: Final = "SELECT seq, hash, time FROM events ORDER BY seq DESC LIMIT 1"
SCAN_BATCH: Final = 2000


@dataclass(frozen=True, slots=True)
class Head:
    """The last event of the ledger: its seq, hash and time."""

    seq: int
    hash: str
    time: str

    @property
    def size(self) -> int:
        return self.seq + 1


class SqlEventStore:
    """Append-only event storage behind a SQLAlchemy engine."""

    def __init__(self, engine: Engine, uri: str) -> None:
        self.engine = engine
        self.uri = uri
        self.dialect: Dialect = dialect_for(engine.dialect.name)
        self.projector = Projector(self.dialect.placeholder)
        # The tree's right edge after this store's last append: (size, last
        # event hash, level -> hash). The next append reuses it when the head
        # it reads under the lock is still that event, else reads the edge.
        self._edge: tuple[int, str, dict[int, bytes]] | None = None

    # -- opening -----------------------------------------------------------

    @classmethod
    def open(cls, uri: str, *, create: bool) -> SqlEventStore:
        """Open the ledger at ``uri``; create or migrate it when ``create``."""
        store = cls(_engine_for(uri, create=create), uri)
        try:
            with store.engine.connect() as conn:
                conn.execution_options(mlledger_write=True)
                with conn.begin():
                    store.dialect.lock_in_transaction(conn)
                    store._check_schema(conn, uri, create=create)
        except SQLAlchemyError as e:
            store.close()
            raise StorageError(f"cannot open the ledger at {safe_uri(uri)}: {_reason(e)}") from e
        except BaseException:
            store.close()
            raise
        return store

    def release_connections(self) -> None:
        """Close pooled connections; the pool opens new ones when needed."""
        self.engine.dispose()

    def close(self) -> None:
        self.engine.dispose()

    def _check_schema(self, conn: sqlalchemy.Connection, uri: str, *, create: bool) -> None:
        if create:
            migrate(conn, self.dialect)
            return
        version = current_version(conn)
        if version == 0:
            raise NotFoundError(f"no ledger at {safe_uri(uri)}: run `mlledger init` to create one")
        if version < SCHEMA_VERSION:
            raise StorageError(
                f"the ledger at {safe_uri(uri)} has schema version {version}, this mlledger "
                f"uses {SCHEMA_VERSION}: run `mlledger init` to migrate it"
            )
        check_supported(version)

    # -- facts ---------------------------------------------------------------

    def ledger_id(self) -> str:
        with self.engine.connect() as conn:
            value = conn.scalar(select(LedgerMeta.value).where(LedgerMeta.key == "ledger_id"))
        if value is None:
            raise StorageError("the ledger has no ledger_id: the database is damaged")
        return value

    def meta(self, key: str) -> str | None:
        """A fact about this ledger from ``ledger_meta`` (None when unset)."""
        with self.engine.connect() as conn:
            value = conn.scalar(select(LedgerMeta.value).where(LedgerMeta.key == key))
        return None if value is None else str(value)

    def set_meta(self, values: dict[str, str | None]) -> None:
        """Set (or, with None, remove) facts in ``ledger_meta``, in one transaction."""
        with self.engine.begin() as conn:
            for key, value in values.items():
                conn.execute(sqlalchemy.delete(LedgerMeta).where(LedgerMeta.key == key))
                if value is not None:
                    conn.execute(sqlalchemy.insert(LedgerMeta).values(key=key, value=value))

    def head(self) -> Head | None:
        """The last event, or None for an empty ledger."""
        rows = self._fetch(_HEAD)
        return Head(int(rows[0][0]), rows[0][1], rows[0][2]) if rows else None

    # -- writing -------------------------------------------------------------

    def append(
        self, batch: Sequence[Prepared] | Plan, clock: Callable[[], str], *, enforce_rules: bool = True
    ) -> list[Sealed]:
        """Append a batch in one transaction, or return it if it is already there.

        The tracking rules (``ledger.store.projector``) refuse the batch when
        an event breaks one; ``enforce_rules=False`` is for re-appending a
        chain written elsewhere (its events are projected where they apply).

        ``seq``, ``prev`` and ``time`` are fixed under the append lock, so
        concurrent writers in any number of processes form one chain. Time
        never goes backwards along the chain.

        ``batch`` may instead be a plan: a function called under the lock with
        the write cursor, returning the batch. A plan reads the state its
        events depend on (the next version number, the current holder of a
        stage) where no other writer can change it before they land.
        """
        with self._raw() as raw:
            cursor = raw.cursor()
            try:
                head = self.dialect.begin_write(cursor, _HEAD)
                events = batch(cursor) if callable(batch) else batch
                if not events:
                    raw.rollback()
                    return []
                seq, prev, time = (head[0] + 1, head[1], max(clock(), head[2])) if head else (0, GENESIS_PREV, clock())
                size, edge = seq, self._edge_at(cursor, seq, prev)
                sealed = []
                for item in events:
                    record = seal(item, seq=seq, prev=prev, time=time)
                    sealed.append(record)
                    seq, prev = seq + 1, record.hash
                nodes = merkle_store.grow(size, edge, [bytes.fromhex(s[9]) for s in sealed])
                self.dialect.insert_events(cursor, [s[:10] for s in sealed], [(s[0], s[10]) for s in sealed], nodes)
                changes = [(s[0], s[3], s[5], s[6], p.payload) for s, p in zip(sealed, events, strict=True)]
                erasing = any(s[3] in REDACTION_TYPES for s in sealed)
                if erasing:
                    self.dialect.begin_erasure(cursor)
                self.projector.apply(cursor, changes, strict=enforce_rules)
                raw.commit()
                self._edge = (seq, prev, edge)
                if erasing:
                    self.dialect.end_erasure(cursor)
                return sealed
            except LedgerError:
                raw.rollback()  # a tracking rule refused the batch: nothing is appended
                raise
            except Exception as e:
                raw.rollback()
                # A plan mints fresh ids: a unique violation there is no retry.
                if self.dialect.is_unique_violation(e) and not callable(batch):
                    return self._already_appended(batch)
                if isinstance(e, self.engine.dialect.loaded_dbapi.Error):
                    raise StorageError(f"append failed: {_reason(e)}") from e
                raise

    def _edge_at(self, cursor: Any, size: int, last_hash: str) -> dict[int, bytes]:
        """The right edge of the tree of ``size`` events ending in ``last_hash``
        (a copy: the caller grows it)."""
        cached = self._edge
        if cached is not None and cached[0] == size and cached[1] == last_hash:
            return dict(cached[2])
        return merkle_store.read_edge(cursor, self.dialect.placeholder, size)

    def _already_appended(self, batch: Sequence[Prepared]) -> list[Sealed]:
        """The stored copies of a retried batch; ConflictError if it differs."""
        found = {row[2]: row for row in self.rows_by_id([item.id for item in batch])}
        missing = [item.id for item in batch if item.id not in found]
        if missing and len(missing) < len(batch):
            raise ConflictError(
                f"batch mixes new events with {len(batch) - len(missing)} already in the ledger "
                f"(first: {next(i.id for i in batch if i.id in found)}); "
                "a retried batch must be sent whole and unchanged"
            )
        if missing:
            head = self.head()
            raise StorageError(
                f"append at seq {head.size if head else 0} failed: a row for that seq already "
                "exists in events, payloads or merkle_nodes without being part of the chain (the database "
                "was altered outside mlledger; run `mlledger verify`)"
            )
        result = []
        for item in batch:
            row = found[item.id]
            if (row[3], row[6], row[7]) != (item.type, item.actor, item.payload_digest):
                raise ConflictError(
                    f"event id {item.id} is already used by event {row[0]} "
                    f"({row[3]} by {row[6]}) with different content"
                )
            result.append(Sealed(*row))
        return result

    def rebuild(self) -> int:
        """Drop the read models and replay the ledger into them, under the
        append lock (writers wait). Returns the number of events replayed."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(mlledger_write=True)
                with conn.begin():
                    self.dialect.lock_in_transaction(conn)
                    ReadModel.metadata.drop_all(conn)
                    ReadModel.metadata.create_all(conn)
                    return self.projector.replay(conn.connection.dbapi_connection, self.dialect)
        except SQLAlchemyError as e:
            raise StorageError(f"rebuild failed: {_reason(e)}") from e

    def read_models_as_of(self, stop: int) -> Engine:
        """A private in-memory database holding the read models as they were
        after event ``stop - 1``: events replayed, never guessed."""
        snapshot = create_engine("sqlite://", poolclass=StaticPool)
        ReadModel.metadata.create_all(snapshot)
        with self._raw() as raw, snapshot.begin() as target:
            # Every erasure, also after ``stop``: an erased payload cannot be
            # shown as it was, so it reads as redacted at any earlier moment.
            erased = erasures(raw.cursor(), self.dialect.placeholder)
            rows = self.dialect.stream(raw, projected_rows_sql(stop), (), SCAN_BATCH)
            writer = target.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            # The rules read from events the server-recorded db_user, the hashes
            # signed approvals sign and the ids evidence cites.
            writer.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, db_user TEXT, hash TEXT, id TEXT UNIQUE)")

            def keep_db_user(row: Sequence[Any]) -> None:
                writer.execute("INSERT INTO events (seq, db_user, hash, id) VALUES (?, ?, ?, ?)", (row[0], *row[5:8]))

            Projector("?").replay_rows(writer, rows, erased=erased, each=keep_db_user)
        return snapshot

    def last_seq_at(self, time: str) -> int:
        """The last seq whose time is at or before ``time`` (-1: none).

        Times never decrease along the chain, so this is a binary search over
        seq: about 20 primary-key reads at a million events, no time index.
        """
        ph = self.dialect.placeholder
        with self._raw() as raw:
            cursor = raw.cursor()

            def time_of(seq: int) -> str | None:
                cursor.execute(f"SELECT time FROM events WHERE seq = {ph}", (seq,))
                row = cursor.fetchone()
                return None if row is None else str(row[0])

            cursor.execute(_HEAD)
            head = cursor.fetchone()
            low, high = 0, -1 if head is None else int(head[0])
            if high < 0 or (time_of(0) or time) > time:
                raw.rollback()
                return -1
            while low < high:
                middle = (low + high + 1) // 2
                found = time_of(middle)
                if found is None:  # a gap (a damaged ledger): fall back to a scan
                    cursor.execute(f"SELECT MAX(seq) FROM events WHERE time <= {ph}", (time,))
                    low = high = int(cursor.fetchone()[0])
                elif found <= time:
                    low = middle
                else:
                    high = middle - 1
            raw.rollback()
        return low

    def db_user(self, seq: int) -> str | None:
        """The database session user the server recorded for event ``seq``
        (PostgreSQL; None on SQLite)."""
        rows = self._fetch(f"SELECT db_user FROM events WHERE seq = {self.dialect.placeholder}", (seq,))
        return rows[0][0] if rows else None

    # -- the Merkle tree (DESIGN §4) ---------------------------------------------

    def merkle_root(self, size: int) -> bytes:
        """The root of the tree over the first ``size`` events (``0 <= size <= head.size``)."""
        with self._reading() as cursor:
            return merkle_store.root(cursor, self.dialect.placeholder, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The RFC 9162 inclusion proof of event ``index`` in the tree of ``size`` events."""
        with self._reading() as cursor:
            return merkle_store.inclusion_proof(cursor, self.dialect.placeholder, index, size)

    def multiproof(self, indices: Sequence[int], size: int) -> list[bytes]:
        """The multiproof (``ledger.merkle``) of events ``indices`` (increasing) in the tree of ``size`` events."""
        with self._reading() as cursor:
            return merkle_store.multiproof(cursor, self.dialect.placeholder, indices, size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """The RFC 9162 consistency proof from the tree of ``old_size`` events to ``new_size``."""
        with self._reading() as cursor:
            return merkle_store.consistency_proof(cursor, self.dialect.placeholder, old_size, new_size)

    def merkle_divergence(self, size: int) -> tuple[int, int] | None:
        """The first leaves ``[start, end)`` (at most two) where the stored
        tree over ``size`` events disagrees with the events' hashes; None
        when it agrees. Reads and hashes at most twice the leaves below the
        first disagreeing subtree (a fault path, not a query)."""
        with self._reading() as cursor:

            def leaves(start: int, end: int) -> list[bytes]:
                ph = self.dialect.placeholder
                cursor.execute(f"SELECT hash FROM events WHERE seq >= {ph} AND seq < {ph} ORDER BY seq", (start, end))
                return [hash_bytes(row[0]) for row in cursor.fetchall()]

            return merkle_store.divergence(cursor, self.dialect.placeholder, size, leaves)

    # -- checkpoints (DESIGN §5) -------------------------------------------------

    def add_checkpoint(self, tree_size: int, root: str, time: str, note: str) -> tuple[str, str, str]:
        """Store a signed checkpoint unless one of that size exists; returns the
        stored (root, time, note), which may be an earlier checkpoint's."""
        stored = select(Checkpoint.root, Checkpoint.time, Checkpoint.note).where(Checkpoint.tree_size == tree_size)
        try:
            with self.engine.begin() as conn:
                if conn.execute(stored).first() is None:
                    values = {"tree_size": tree_size, "root": root, "time": time, "note": note}
                    conn.execute(sqlalchemy.insert(Checkpoint).values(values))
        except sqlalchemy.exc.IntegrityError:
            pass  # another writer stored the checkpoint of this size meanwhile
        with self.engine.connect() as conn:
            row = conn.execute(stored).one()
        return str(row[0]), str(row[1]), str(row[2])

    def last_checkpoint(self, below: int | None = None) -> tuple[int, str, str, str] | None:
        """The stored checkpoint of the largest size (below ``below``), or None."""
        columns = (Checkpoint.tree_size, Checkpoint.root, Checkpoint.time, Checkpoint.note)
        query = select(*columns).order_by(Checkpoint.tree_size.desc()).limit(1)
        if below is not None:
            query = query.where(Checkpoint.tree_size < below)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]), str(row[3]))

    def checkpoints(self) -> list[tuple[int, str, str, str]]:
        """Every stored checkpoint as (tree_size, root hex, time, note), smallest first."""
        columns = (Checkpoint.tree_size, Checkpoint.root, Checkpoint.time, Checkpoint.note)
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(select(*columns).order_by(Checkpoint.tree_size))]  # type: ignore[misc]

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        """A cursor for read-only queries, its transaction ended after use."""
        with self._raw() as raw:
            try:
                yield raw.cursor()
            finally:
                raw.rollback()

    # -- reading -------------------------------------------------------------

    def rows_by_id(self, ids: Sequence[str]) -> list[StoredRow]:
        """The events with these ids (in no particular order)."""
        ph = self.dialect.placeholder
        rows: list[StoredRow] = []
        for start in range(0, len(ids), 500):
            chunk = tuple(ids[start : start + 500])
            rows.extend(self._fetch(f"{_SELECT_ROWS} WHERE e.id IN ({', '.join([ph] * len(chunk))})", chunk))
        return rows

    def row(self, seq: int) -> StoredRow:
        """One event by seq; NotFoundError when there is none."""
        rows = self._fetch(f"{_SELECT_ROWS} WHERE e.seq = {self.dialect.placeholder}", (seq,))
        if not rows:
            raise NotFoundError(f"event {seq} does not exist")
        return cast(StoredRow, rows[0])

    def scan(self, start: int | None = 0, stop: int | None = None) -> Iterator[StoredRow]:
        """Every event with ``start <= seq < stop`` in seq order, streamed
        (None: no bound)."""
        ph = self.dialect.placeholder
        bounds = [(f"e.seq >= {ph}", start), (f"e.seq < {ph}", stop)]
        terms = [(sql, value) for sql, value in bounds if value is not None]
        where = " WHERE " + " AND ".join(sql for sql, _ in terms) if terms else ""
        params = [value for _, value in terms]
        with self._raw() as raw:
            rows = self.dialect.stream(raw, f"{_SELECT_ROWS}{where} ORDER BY e.seq", params, SCAN_BATCH)
            yield from cast(Iterator[StoredRow], rows)

    def redaction_rows(self) -> list[StoredRow]:
        """Every ``ledger.redacted`` event, read through their partial index.

        The type is a literal, not a parameter: only then can SQLite and
        PostgreSQL prove the partial index covers the query.
        """
        return self._fetch(f"{_SELECT_ROWS} WHERE e.type = 'ledger.redacted' ORDER BY e.seq")

    def rows_of_types(self, types: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """(seq, type, actor, hash, payload text) of every event of ``types``, in seq order, streamed."""
        return self._stream_types("e.seq, e.type, e.actor, e.hash, p.body", types, 0)

    def timed_rows_of_types(self, types: Sequence[str], start: int = 0) -> Iterator[tuple[Any, ...]]:
        """(seq, type, time, actor, payload text) of every event of ``types``
        with ``seq >= start``, in seq order, streamed."""
        return self._stream_types("e.seq, e.type, e.time, e.actor, p.body", types, start)

    def _stream_types(self, columns: str, types: Sequence[str], start: int) -> Iterator[tuple[Any, ...]]:
        listed = ", ".join(f"'{t}'" for t in types if t.replace(".", "").replace("_", "").isalnum())
        sql = (
            f"SELECT {columns} FROM events e LEFT JOIN payloads p ON p.seq = e.seq "
            f"WHERE e.type IN ({listed}) AND e.seq >= {int(start)} ORDER BY e.seq"
        )
        with self._raw() as raw:
            for row in self.dialect.stream(raw, sql, (), SCAN_BATCH):
                yield tuple(row)

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """All rows of one read-only query, as tuples."""
        with self._raw() as raw:
            cursor = raw.cursor()
            cursor.execute(sql, tuple(params))
            rows = cursor.fetchall()
            raw.rollback()
        return [tuple(row) for row in rows]

    def _raw(self) -> _RawConnection:
        return _RawConnection(self.engine)


class _RawConnection:
    """A pooled driver connection, returned to the pool on exit."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Any = None

    def __enter__(self) -> Any:
        try:
            self._conn = self._engine.raw_connection()
        except SQLAlchemyError as e:
            raise StorageError(f"cannot connect to the ledger: {_reason(e)}") from e
        return self._conn

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        self._conn.close()
        if isinstance(error, self._engine.dialect.loaded_dbapi.Error):
            # A driver error that no caller translated (a dropped connection, a
            # damaged file): the tree's StorageError, never a driver traceback.
            raise StorageError(f"database error: {_reason(error)}") from error


def _engine_for(uri: str, *, create: bool) -> Engine:
    try:
        url = make_url(uri)
    except ArgumentError as e:
        raise StorageError(f"not a database URI: {uri!r} (expected sqlite:///PATH or postgresql+psycopg://...)") from e
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, create=create)
    if backend == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        try:
            # Appends read the head after taking the advisory lock: that read
            # must see commits made before the lock, whatever the server default.
            return create_engine(url, pool_pre_ping=True, isolation_level="READ COMMITTED")
        except (ImportError, NoSuchModuleError) as e:
            raise StorageError("PostgreSQL needs the psycopg driver: pip install 'mlledger[postgres]'") from e
    raise StorageError(
        f"unsupported database {backend!r} in {safe_uri(uri)}: use sqlite:///PATH or postgresql+psycopg://..."
    )


def _sqlite_engine(url: sqlalchemy.URL, *, create: bool) -> Engine:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        raise StorageError("an in-memory SQLite ledger would vanish with the process: use sqlite:///PATH")
    path = Path(database)
    if not path.exists():
        if not create:
            raise NotFoundError(f"no ledger at {path}: run `mlledger init` to create one")
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"isolation_level": None, "timeout": 60})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        _set_wal(cursor)
        # FULL: every commit is durable (fsync of the WAL), which an audit log owes its users.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: sqlalchemy.Connection) -> None:
        mode = "BEGIN IMMEDIATE" if conn.get_execution_options().get("mlledger_write") else "BEGIN"
        conn.exec_driver_sql(mode)

    return engine


def _set_wal(cursor: Any, wait: float = 60.0) -> None:
    """Switch a connection to WAL. The switch needs the database to itself and
    SQLite does not wait for it (no busy handler): when several processes open
    a new ledger at once, one may find it locked, so it tries again until ``wait``
    seconds have passed. On a database already in WAL it is a no-op."""
    deadline = time.monotonic() + wait
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def safe_uri(uri: str) -> str:
    """A URI with its password hidden, for messages."""
    try:
        return make_url(uri).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(uri)


def _reason(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    return str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
