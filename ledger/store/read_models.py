"""The tracking read models (projections): tables derived from the events.

Owns: the declaration of the projection tables. They hold nothing the events
do not: ``mlledger rebuild`` drops them and replays the ledger, and the result
equals what incremental updates produced (a property test checks this).
Times are milliseconds since the Unix epoch, as in MLflow; every row keeps
the ``seq`` of the event that wrote it. A NaN metric value is stored as NULL
(SQLite cannot store NaN), infinities as themselves.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "DatasetParent",
    "DatasetVersion",
    "Experiment",
    "LatestMetric",
    "MetricPoint",
    "ReadModel",
    "RedactionRecord",
    "Run",
    "RunArtifact",
    "RunInput",
    "RunParam",
    "RunTag",
]

Seq = BigInteger().with_variant(Integer(), "sqlite")


class ReadModel(DeclarativeBase):
    """Projection tables: a MetaData of their own, so rebuild touches only them."""

    metadata = MetaData()


class Experiment(ReadModel):
    __tablename__ = "experiments"

    experiment_id: Mapped[str] = mapped_column(String(1024), primary_key=True)
    name: Mapped[str] = mapped_column(String(1024), unique=True)
    tags: Mapped[str] = mapped_column(Text)  # canonical JSON object
    creation_time: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(Seq)


class Run(ReadModel):
    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(String(1024), primary_key=True)
    experiment_id: Mapped[str] = mapped_column(String(1024), index=True)
    run_name: Mapped[str | None] = mapped_column(String(1024))
    parent_run_id: Mapped[str | None] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16))  # RUNNING, FINISHED, FAILED, KILLED
    author: Mapped[str] = mapped_column(String(256))  # the actor who started it ("user" is reserved in SQL)
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger)
    environment: Mapped[str | None] = mapped_column(Text)  # canonical JSON object
    db_user: Mapped[str | None] = mapped_column(String(256))  # PostgreSQL session user, recorded by the server
    start_seq: Mapped[int] = mapped_column(Seq)
    end_seq: Mapped[int | None] = mapped_column(Seq)


class RunParam(ReadModel):
    __tablename__ = "run_params"

    run_id: Mapped[str] = mapped_column(String(1024), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    seq: Mapped[int] = mapped_column(Seq)


class RunTag(ReadModel):
    """The latest value of each tag (earlier values stay in the events)."""

    __tablename__ = "run_tags"

    run_id: Mapped[str] = mapped_column(String(1024), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    seq: Mapped[int] = mapped_column(Seq)


class MetricPoint(ReadModel):
    """Every logged metric value, in logging order (``seq``, then ``position``)."""

    __tablename__ = "metric_history"

    seq: Mapped[int] = mapped_column(Seq, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)  # index in the event's batch
    run_id: Mapped[str] = mapped_column(String(1024))
    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[float | None] = mapped_column(Float)  # NULL: NaN
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("metric_history_run_key", "run_id", "key"),)


class LatestMetric(ReadModel):
    """Per run and key, the value at the highest (step, timestamp), later seq winning ties."""

    __tablename__ = "latest_metrics"

    run_id: Mapped[str] = mapped_column(String(1024), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)  # NULL: NaN
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(Seq)

    __table_args__ = (Index("latest_metrics_key_value", "key", "value"),)


class RunInput(ReadModel):
    __tablename__ = "run_inputs"

    seq: Mapped[int] = mapped_column(Seq, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(1024), index=True)
    name: Mapped[str] = mapped_column(String(1024))
    version: Mapped[str] = mapped_column(String(1024))
    digest: Mapped[str] = mapped_column(String(1024))
    source: Mapped[str | None] = mapped_column(Text)
    context: Mapped[str | None] = mapped_column(String(32))
    columns: Mapped[str | None] = mapped_column(Text)  # canonical JSON list
    num_rows: Mapped[int | None] = mapped_column(BigInteger)


class DatasetVersion(ReadModel):
    """A registered data version (``dataset.version_registered``), one row per
    (name, version): the first registration; a version never changes. A
    redacted one keeps its name and version, its digest reads ``[redacted]``
    and the rest is empty."""

    __tablename__ = "dataset_versions"

    seq: Mapped[int] = mapped_column(Seq, primary_key=True)
    name: Mapped[str] = mapped_column(String(1024))
    version: Mapped[str] = mapped_column(String(1024))
    digest: Mapped[str] = mapped_column(String(1024))
    source: Mapped[str | None] = mapped_column(Text)
    transform: Mapped[str | None] = mapped_column(Text)
    columns: Mapped[str | None] = mapped_column(Text)  # canonical JSON list
    num_rows: Mapped[int | None] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(256))
    time: Mapped[str] = mapped_column(String(27))

    __table_args__ = (UniqueConstraint("name", "version", name="dataset_versions_name_version"),)


class DatasetParent(ReadModel):
    """One ``derived_from`` entry of a data version: the registration ``seq``
    names ``parent_name@parent_version`` at ``position`` of its list."""

    __tablename__ = "dataset_parents"

    seq: Mapped[int] = mapped_column(Seq, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(1024))
    version: Mapped[str] = mapped_column(String(1024))
    parent_name: Mapped[str] = mapped_column(String(1024))
    parent_version: Mapped[str] = mapped_column(String(1024))

    __table_args__ = (Index("dataset_parents_parent", "parent_name", "parent_version"),)


class RunArtifact(ReadModel):
    __tablename__ = "run_artifacts"

    run_id: Mapped[str] = mapped_column(String(1024), primary_key=True)
    path: Mapped[str] = mapped_column(String(4096), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(Seq)


class RedactionRecord(ReadModel):
    """A ``ledger.redacted`` event that erased a payload (DESIGN §6): which
    event, what it was about (``subject``, canonical JSON; NULL for a schema-1
    redaction, which did not record one), why, and who erased it when. The
    run it concerns is kept apart, so a run's view lists its redactions."""

    __tablename__ = "redactions"

    target_seq: Mapped[int] = mapped_column(Seq, primary_key=True)
    seq: Mapped[int] = mapped_column(Seq)
    target_type: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(String(1024), index=True)
    reason: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(256))
    time: Mapped[str] = mapped_column(String(27))
