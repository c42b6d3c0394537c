"""The registry and governance read models: tables derived from the events.

Owns: the declaration of the registry projection tables. Like the tracking
read models they hold nothing the events do not (``mlledger rebuild`` drops
and replays them). What changes over time is kept as *intervals* of ``seq``:
a row is valid from ``start_seq`` (the event that made it true) up to, not
including, ``end_seq`` (the event that ended it; NULL while it holds). "Which
version was in Production after event S" is then one indexed lookup
(``start_seq <= S AND (end_seq IS NULL OR end_seq > S)``), not a replay, and
the state as of any ``seq`` is as cheap to read as the current one.
"""

from __future__ import annotations

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store.read_models import ReadModel, Seq

__all__ = [
    "ActorKey",
    "AliasInterval",
    "Deployment",
    "ModelVersion",
    "Policy",
    "RegisteredModel",
    "RegistryLog",
    "RoleInterval",
    "StageInterval",
    "TransitionRequest",
    "VersionTag",
]


class RegisteredModel(ReadModel):
    __tablename__ = "registered_models"

    name: Mapped[str] = mapped_column(String(1024), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(1024))
    description: Mapped[str | None] = mapped_column(Text)
    creator: Mapped[str] = mapped_column(String(256))
    time: Mapped[str] = mapped_column(String(27))
    seq: Mapped[int] = mapped_column(Seq)


class ModelVersion(ReadModel):
    """A registered version: what it was registered from, pinned for good."""

    __tablename__ = "model_versions"

    name: Mapped[str] = mapped_column(String(1024), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(String(1024), index=True)
    artifact_path: Mapped[str] = mapped_column(Text)
    artifact_digest: Mapped[str] = mapped_column(String(71))
    description: Mapped[str | None] = mapped_column(Text)
    creator: Mapped[str] = mapped_column(String(256))
    time: Mapped[str] = mapped_column(String(27))
    seq: Mapped[int] = mapped_column(Seq)


class VersionTag(ReadModel):
    """The latest value of each tag of a version, for search (tags as of a
    seq are folded from ``registry_log``)."""

    __tablename__ = "model_version_tags"

    name: Mapped[str] = mapped_column(String(1024), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class StageInterval(ReadModel):
    """Version ``version`` of ``name`` was in ``stage`` from ``start_seq`` to ``end_seq``."""

    __tablename__ = "stage_intervals"

    start_seq: Mapped[int] = mapped_column(Seq, primary_key=True)
    name: Mapped[str] = mapped_column(String(1024), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(String(16))
    end_seq: Mapped[int | None] = mapped_column(Seq)

    # Current holders (end_seq IS NULL) and holders as of a seq (start_seq <= S)
    # of a stage; the intervals of one version.
    __table_args__ = (
        Index("stage_intervals_by_stage", "name", "stage", "start_seq"),
        Index("stage_intervals_current", "name", "stage", "end_seq"),
        Index("stage_intervals_by_version", "name", "version", "end_seq"),
    )


class AliasInterval(ReadModel):
    """Alias ``alias`` of ``name`` pointed at ``version`` from ``start_seq`` to ``end_seq``."""

    __tablename__ = "alias_intervals"

    start_seq: Mapped[int] = mapped_column(Seq, primary_key=True)
    name: Mapped[str] = mapped_column(String(1024))
    alias: Mapped[str] = mapped_column(String(1024))
    version: Mapped[int]
    end_seq: Mapped[int | None] = mapped_column(Seq)

    __table_args__ = (Index("alias_intervals_by_alias", "name", "alias", "start_seq"),)


class TransitionRequest(ReadModel):
    """A request to move a version to a stage, and its decision once made."""

    __tablename__ = "transition_requests"

    request_id: Mapped[str] = mapped_column(String(1024), primary_key=True)
    name: Mapped[str] = mapped_column(String(1024), index=True)
    version: Mapped[int]
    to_stage: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(Text)  # canonical JSON object
    requester: Mapped[str] = mapped_column(String(256))
    time: Mapped[str] = mapped_column(String(27))
    seq: Mapped[int] = mapped_column(Seq)
    status: Mapped[str] = mapped_column(String(16))  # pending, approved, rejected
    decided_by: Mapped[str | None] = mapped_column(String(256))
    decided_time: Mapped[str | None] = mapped_column(String(27))
    decided_seq: Mapped[int | None] = mapped_column(Seq)
    comment: Mapped[str | None] = mapped_column(Text)
    signature: Mapped[str | None] = mapped_column(String(88))
    key_id: Mapped[str | None] = mapped_column(String(8))
    executed_seq: Mapped[int | None] = mapped_column(Seq)  # the stage change it led to


class RoleInterval(ReadModel):
    """``actor`` held ``role`` from ``start_seq`` (granted by ``granted_by``) to ``end_seq``."""

    __tablename__ = "role_intervals"

    start_seq: Mapped[int] = mapped_column(Seq, primary_key=True)
    actor: Mapped[str] = mapped_column(String(1024))
    role: Mapped[str] = mapped_column(String(1024))
    granted_by: Mapped[str] = mapped_column(String(256))
    end_seq: Mapped[int | None] = mapped_column(Seq)

    __table_args__ = (Index("role_intervals_by_actor", "actor", "role", "start_seq"),)


class ActorKey(ReadModel):
    """An Ed25519 public key an actor signs approvals with."""

    __tablename__ = "actor_keys"

    actor: Mapped[str] = mapped_column(String(1024), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(8), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(44))  # base64
    seq: Mapped[int] = mapped_column(Seq)


class Policy(ReadModel):
    """Every ``policy.set`` of a model, in order: the latest at a seq applies."""

    __tablename__ = "policies"

    seq: Mapped[int] = mapped_column(Seq, primary_key=True)
    name: Mapped[str] = mapped_column(String(1024), index=True)
    body: Mapped[str] = mapped_column(Text)  # canonical JSON of the payload


class Deployment(ReadModel):
    """Version ``version`` of ``name`` was live on (target, environment) from
    ``start_seq`` until the next deployment there (``end_seq``)."""

    __tablename__ = "deployments"

    start_seq: Mapped[int] = mapped_column(Seq, primary_key=True)
    name: Mapped[str] = mapped_column(String(1024), index=True)
    version: Mapped[int]
    target: Mapped[str] = mapped_column(String(1024))
    environment: Mapped[str] = mapped_column(String(1024))
    actor: Mapped[str] = mapped_column(String(256))
    time: Mapped[str] = mapped_column(String(27))
    end_seq: Mapped[int | None] = mapped_column(Seq)

    __table_args__ = (Index("deployments_by_target", "target", "environment", "start_seq"),)


class RegistryLog(ReadModel):
    """Every registry and governance event that concerns a model, by model:
    what ``model_history`` lists (details are the event's payload)."""

    __tablename__ = "registry_log"

    seq: Mapped[int] = mapped_column(Seq, primary_key=True)
    name: Mapped[str] = mapped_column(String(1024))
    version: Mapped[int | None]
    type: Mapped[str] = mapped_column(String(128))
    time: Mapped[str] = mapped_column(String(27))
    actor: Mapped[str] = mapped_column(String(256))
    detail: Mapped[str] = mapped_column(Text)  # canonical JSON of the payload

    __table_args__ = (
        Index("registry_log_by_model", "name", "seq"),
        Index("registry_log_by_version", "name", "version", "type", "seq"),
    )
