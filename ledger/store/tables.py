"""The tables of DESIGN §3, declared once with SQLAlchemy 2 typed mappings.

Owns: table and column names and types. An auditor can read the ledger with
plain SQL: ``events`` holds the hashed headers, ``payloads`` the JCS text of
each payload, ``merkle_nodes`` the hash of every complete subtree of the
RFC 9162 tree over the events (DESIGN §4), ``checkpoints`` the signed notes
(filled by the checkpoint feature), ``ledger_meta`` the ledger's id and
schema version.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, LargeBinary, SmallInteger, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "Checkpoint", "Event", "LedgerMeta", "MerkleNode", "PayloadRow"]

# BIGINT on PostgreSQL; on SQLite it must be spelled INTEGER to make the key
# the table's rowid: with BIGINT, SQLite keeps a second index for the key,
# which every append then writes and every verify join reads.
Seq = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Event(Base):
    """One hashed event header (append-only: the database refuses changes)."""

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(Seq, primary_key=True, autoincrement=False)
    v: Mapped[int] = mapped_column(Integer)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(128))
    schema: Mapped[int] = mapped_column(Integer)
    time: Mapped[str] = mapped_column(String(27))
    actor: Mapped[str] = mapped_column(String(256))
    payload_digest: Mapped[str] = mapped_column(String(64))
    prev: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    # Partial: only redaction events enter it, so ordinary appends write no
    # index page for it (a full index on type costs a third of a durable append).
    __table_args__ = (
        CheckConstraint("seq >= 0", name="events_seq_from_zero"),
        Index(
            "events_redactions",
            "seq",
            sqlite_where=text("type = 'ledger.redacted'"),
            postgresql_where=text("type = 'ledger.redacted'"),
        ),
    )


class PayloadRow(Base):
    """The RFC 8785 text of one event's payload; removed only by redaction."""

    __tablename__ = "payloads"

    seq: Mapped[int] = mapped_column(Seq, primary_key=True, autoincrement=False)
    body: Mapped[str] = mapped_column(Text)


class MerkleNode(Base):
    """The hash of one complete subtree of the Merkle tree (append-only).

    Level 0 holds the leaf hashes, SHA-256(0x00 ‖ event hash bytes), at
    ``idx`` = seq; node ``idx`` of level k covers the leaves
    ``[idx·2^k, (idx+1)·2^k)``. A row exists once all its leaves do: the
    root of any size and every proof combine O(log n) of them.
    """

    __tablename__ = "merkle_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(Seq, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))

    # Without a rowid, SQLite stores the rows in the primary key's b-tree
    # itself: one b-tree written per node, not a table and an index.
    __table_args__ = (
        CheckConstraint("level >= 0 AND idx >= 0", name="merkle_nodes_position"),
        {"sqlite_with_rowid": False},
    )


class Checkpoint(Base):
    """A signed checkpoint note (DESIGN §5) over the first ``tree_size`` events."""

    __tablename__ = "checkpoints"

    tree_size: Mapped[int] = mapped_column(Seq, primary_key=True, autoincrement=False)
    root: Mapped[str] = mapped_column(String(64))
    time: Mapped[str] = mapped_column(String(27))
    note: Mapped[str] = mapped_column(Text)


class LedgerMeta(Base):
    """Key/value facts about this ledger: its uuid and its schema version."""

    __tablename__ = "ledger_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
