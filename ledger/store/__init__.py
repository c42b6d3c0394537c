"""Storage of the ledger: the small interface the services use, and its one
implementation on SQLAlchemy (``ledger.store.sql``) for SQLite and PostgreSQL.

Owns: what a store must do. Leaves encoding and verification to the pure
core and user-facing behaviour to ``ledger.api``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ledger.events import Prepared, Sealed
    from ledger.store.sql import Head, Plan, StoredRow

__all__ = ["EventStore"]


class EventStore(Protocol):
    """Insert events, select events, read the head (STYLE.md §3) and the Merkle tree over them."""

    uri: str
    engine: Engine  # the read models are read through SQLAlchemy

    def append(
        self, batch: Sequence[Prepared] | Plan, clock: Callable[[], str], *, enforce_rules: bool = True
    ) -> list[Sealed]:
        """Seal and insert a batch atomically under the ledger-wide lock; a
        plan (a function of the write cursor) builds the batch under the lock."""
        ...

    def head(self) -> Head | None:
        """The last event's seq, hash and time."""
        ...

    def row(self, seq: int) -> StoredRow:
        """One stored event by seq."""
        ...

    def scan(self, start: int | None = 0, stop: int | None = None) -> Iterator[StoredRow]:
        """Stored events with ``start <= seq < stop``, in seq order, streamed."""
        ...

    def redaction_rows(self) -> list[StoredRow]:
        """Every ``ledger.redacted`` event."""
        ...

    def rows_of_types(self, types: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """(seq, type, actor, hash, payload text) of every event of these types, in seq order."""
        ...

    def timed_rows_of_types(self, types: Sequence[str], start: int = 0) -> Iterator[tuple[Any, ...]]:
        """(seq, type, time, actor, payload text) of every event of these types from ``start``, in seq order."""
        ...

    def merkle_root(self, size: int) -> bytes:
        """The Merkle root of the first ``size`` events, from O(log n) stored nodes."""
        ...

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The RFC 9162 inclusion proof of event ``index`` in the tree of ``size`` events."""
        ...

    def multiproof(self, indices: Sequence[int], size: int) -> list[bytes]:
        """The multiproof (``ledger.merkle``) of events ``indices`` (increasing) in the tree of ``size`` events."""
        ...

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """The RFC 9162 consistency proof from the tree of ``old_size`` events to ``new_size``."""
        ...

    def merkle_divergence(self, size: int) -> tuple[int, int] | None:
        """The first leaves where the stored tree of ``size`` disagrees with the events (None: it agrees)."""
        ...

    def ledger_id(self) -> str:
        """This ledger's uuid."""
        ...

    def meta(self, key: str) -> str | None:
        """A fact about this ledger (None when unset)."""
        ...

    def set_meta(self, values: dict[str, str | None]) -> None:
        """Set (None: remove) facts about this ledger, in one transaction."""
        ...

    def add_checkpoint(self, tree_size: int, root: str, time: str, note: str) -> tuple[str, str, str]:
        """Store a checkpoint unless one of that size exists; the stored (root, time, note)."""
        ...

    def last_checkpoint(self, below: int | None = None) -> tuple[int, str, str, str] | None:
        """The stored checkpoint of the largest size (below ``below``), or None."""
        ...

    def checkpoints(self) -> list[tuple[int, str, str, str]]:
        """Every stored checkpoint: (tree_size, root hex, time, note), smallest first."""
        ...

    def rebuild(self) -> int:
        """Drop the read models and replay every event into them."""
        ...

    def read_models_as_of(self, stop: int) -> Engine:
        """A private database holding the read models after event ``stop - 1``."""
        ...

    def last_seq_at(self, time: str) -> int:
        """The last seq whose time is at or before ``time`` (-1: none)."""
        ...

    def db_user(self, seq: int) -> str | None:
        """The database session user recorded for an event, where the server records one."""
        ...

    def release_connections(self) -> None:
        """Close pooled connections (before forking worker processes)."""
        ...

    def close(self) -> None:
        """Release everything."""
        ...
