"""Payloads of the governance events (DESIGN §7): signing keys, roles,
per-model policy, and redaction (DESIGN §6)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ledger.payloads.base import Digest, Name, Payload, Stage, Strict

__all__ = [
    "DatasetVersionSubject",
    "KeyRegistered",
    "LedgerRedacted",
    "ModelTagsSubject",
    "PolicySet",
    "ReportGenerated",
    "RoleGranted",
    "RoleRevoked",
    "RunKeysSubject",
    "RunSubject",
]

Key = Annotated[str, Field(min_length=1, max_length=250, pattern=r"^[^\x00]+$")]


class KeyRegistered(Payload):
    TYPE = "actor.key_registered"
    actor: Name
    algorithm: Literal["ed25519"] = "ed25519"
    public_key: Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{43}=$")]  # base64, 32 bytes


class RoleGranted(Payload):
    TYPE = "actor.role_granted"
    actor: Name
    role: Name


class RoleRevoked(Payload):
    TYPE = "actor.role_revoked"
    actor: Name
    role: Name


class PolicySet(Payload):
    TYPE = "policy.set"
    name: Name
    approval_stages: list[Stage] = ["Production"]
    single_holder_stages: list[Stage] = ["Production"]
    four_eyes: bool = True
    signed_approvals: bool = False
    # The statuses a source run may have when a version is registered from it.
    run_statuses: list[Literal["RUNNING", "FINISHED", "FAILED", "KILLED"]] = ["FINISHED"]


class RunKeysSubject(Strict):
    """The run and the keys whose params, metrics or tags were erased."""

    run_id: Name
    keys: list[Key]


class RunSubject(Strict):
    """The run whose dataset input was erased."""

    run_id: Name


class DatasetVersionSubject(Strict):
    """The data version whose registration was erased."""

    name: Name
    version: Name


class ModelTagsSubject(Strict):
    """The model (``version`` None) or version, and the tag keys erased."""

    name: Name
    version: Annotated[int, Field(ge=1)] | None
    keys: list[Key]


class LedgerRedacted(Payload):
    """Erases the payload of event ``target_seq`` (DESIGN §6). ``target_type``
    and ``subject`` say, without the erased data, what it was about, so that
    read models rebuilt after the payload is gone still show what was
    redacted; the ledger refuses a redaction whose ``target_type`` or
    ``subject`` does not match the target (``ledger.redaction_rules``).
    Version 1 had only ``target_seq``, ``reason`` and ``legal_basis``."""

    TYPE = "ledger.redacted"
    SCHEMA_VERSION = 2
    target_seq: Annotated[int, Field(ge=0)]
    target_type: Name
    subject: RunKeysSubject | RunSubject | DatasetVersionSubject | ModelTagsSubject
    reason: Name
    legal_basis: Name


class ReportGenerated(Payload):
    """Someone generated the provenance report of model version ``version``
    of ``name``: who asked is the event's actor, ``sha256`` identifies the
    document (``format``), and ``tree_size``/``root`` name the checkpoint it
    rests on (``as_of``: the seq it was asked as of, if not the latest).
    Access to evidence is itself evidence."""

    TYPE = "report.generated"
    name: Name
    version: Annotated[int, Field(ge=1)]
    format: Literal["pdf", "json", "text"]
    sha256: Digest
    tree_size: Annotated[int, Field(ge=1)]
    root: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    as_of: Annotated[int, Field(ge=0)] | None = None
