"""Payloads of the model registry events (DESIGN §7): models, versions,
transition requests and decisions, stage changes, aliases, tags, deployments."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, JsonValue

from ledger.payloads.base import Digest, Name, Payload, Stage, Tags

__all__ = [
    "AliasRemoved",
    "AliasSet",
    "ModelDeployed",
    "ModelRegistered",
    "ModelTagsSet",
    "StageChanged",
    "TransitionApproved",
    "TransitionRejected",
    "TransitionRequested",
    "VersionCreated",
]

Version = Annotated[int, Field(ge=1)]


class ModelRegistered(Payload):
    TYPE = "model.registered"
    name: Name
    owner: str | None = None
    description: str | None = None
    tags: Tags = {}


class VersionCreated(Payload):
    TYPE = "model.version_created"
    name: Name
    version: Version
    run_id: Name
    artifact_path: str
    artifact_digest: Digest
    description: str | None = None
    tags: Tags = {}


class TransitionRequested(Payload):
    TYPE = "model.transition_requested"
    request_id: Name
    name: Name
    version: Version
    to_stage: Stage
    reason: str | None = None


class TransitionApproved(Payload):
    TYPE = "model.transition_approved"
    request_id: Name
    comment: str | None = None
    signature: str | None = None  # base64 Ed25519 signature, when signed
    key_id: str | None = None


class TransitionRejected(Payload):
    TYPE = "model.transition_rejected"
    request_id: Name
    comment: str | None = None


class StageChanged(Payload):
    TYPE = "model.stage_changed"
    name: Name
    version: Version
    from_stage: Stage
    to_stage: Stage
    archived_versions: list[Version] = []
    reason: str | None = None
    request_id: str | None = None
    evidence: dict[str, JsonValue] | None = None


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
