"""Payloads of the model registry events (DESIGN §7): models, versions,
transition requests and decisions, stage changes, aliases, tags, deployments."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, JsonValue

from ledger.payloads.base import Digest, FiniteFloat, Name, Payload, Stage, Tags, Text

__all__ = [
    "AliasRemoved",
    "AliasSet",
    "ModelDeployed",
    "ModelRegistered",
    "ModelTagsSet",
    "PromotionEvaluated",
    "StageChanged",
    "TransitionApproved",
    "TransitionRejected",
    "TransitionRequested",
    "VersionCreated",
]

Version = Annotated[int, Field(ge=1)]
Signature = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{86}==$")]  # base64, 64 bytes
KeyId = Annotated[str, Field(pattern=r"^[0-9a-f]{8}$")]
Evidence = dict[str, JsonValue]


class ModelRegistered(Payload):
    TYPE = "model.registered"
    name: Name
    owner: Text | None = None
    description: Text | None = None
    tags: Tags = {}


class VersionCreated(Payload):
    TYPE = "model.version_created"
    name: Name
    version: Version
    run_id: Name
    artifact_path: Text
    artifact_digest: Digest
    description: Text | None = None
    tags: Tags = {}


class TransitionRequested(Payload):
    TYPE = "model.transition_requested"
    request_id: Name
    name: Name
    version: Version
    to_stage: Stage
    reason: Text | None = None
    evidence: Evidence | None = None


class TransitionApproved(Payload):
    TYPE = "model.transition_approved"
    request_id: Name
    comment: Text | None = None
    # Ed25519 over the 32 raw bytes of the request event's hash, when signed;
    # key_id names the approver's registered key (DESIGN §5 key id, hex).
    signature: Signature | None = None
    key_id: KeyId | None = None


class TransitionRejected(Payload):
    TYPE = "model.transition_rejected"
    request_id: Name
    comment: Text | None = None


class StageChanged(Payload):
    TYPE = "model.stage_changed"
    name: Name
    version: Version
    from_stage: Stage
    to_stage: Stage
    archived_versions: list[Version] = []
    reason: Text | None = None
    request_id: Text | None = None
    evidence: Evidence | None = None


class PromotionEvaluated(Payload):
    """One ``promote_if_better`` comparison, won or lost: the rule, both
    values and the runs they come from. A win is followed, in the same batch,
    by the stage change or transition request it leads to."""

    TYPE = "model.promotion_evaluated"
    name: Name
    candidate: Version
    candidate_run_id: Name
    candidate_value: FiniteFloat
    champion: Version | None
    champion_run_id: Name | None
    champion_value: FiniteFloat | None
    metric: Name
    mode: Literal["min", "max"]
    min_delta: Annotated[float, Field(ge=0)]
    to_stage: Stage
    outcome: Literal["won", "lost"]


class AliasSet(Payload):
    TYPE = "model.alias_set"
    name: Name
    alias: Name
    version: Version


class AliasRemoved(Payload):
    TYPE = "model.alias_removed"
    name: Name
    alias: Name


class ModelTagsSet(Payload):
    TYPE = "model.tags_set"
    name: Name
    version: Version | None = None
    tags: Tags


class ModelDeployed(Payload):
    TYPE = "model.deployed"
    name: Name
    version: Version
    target: Name
    environment: Name
