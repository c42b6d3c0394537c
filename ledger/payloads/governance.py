"""Payloads of the governance events (DESIGN §7): signing keys, roles,
per-model policy, and redaction (DESIGN §6)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ledger.payloads.base import Name, Payload, Stage

__all__ = ["KeyRegistered", "LedgerRedacted", "PolicySet", "RoleGranted", "RoleRevoked"]


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


class LedgerRedacted(Payload):
    TYPE = "ledger.redacted"
    target_seq: Annotated[int, Field(ge=0)]
    reason: Name
    legal_basis: Name
