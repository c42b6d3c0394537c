"""Registry governance rules as pure functions: policies, roles, aliases,
approvals, metric comparisons and the digest a version pins.

Owns: what each rule decides and the words of its error. The store applies
these rules inside the append transaction (``ledger.store.registry_projector``),
against the state it reads there; nothing here reads or writes anything.
A policy violation raises ``PolicyError`` whose message starts with the
rule's name, e.g. ``policy rule 'four_eyes': ...``.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ledger.encoding import canonical_json
from ledger.errors import PolicyError, ValidationError

__all__ = [
    "DEFAULT_POLICY",
    "KNOWN_ROLES",
    "PROMOTION_STAGES",
    "STAGES",
    "Policy",
    "artifact_digest",
    "check_alias_name",
    "check_approval",
    "check_policy",
    "check_promotion_stage",
    "check_role_name",
    "compared_value",
    "is_better",
    "policy_error",
]

STAGES: Final = ("None", "Staging", "Production", "Archived")
KNOWN_ROLES: Final = ("admin", "approver")
_RESERVED_ALIAS: Final = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Policy:
    """The governance policy of one registered model (``policy.set``)."""

    approval_stages: tuple[str, ...] = ("Production",)
    single_holder_stages: tuple[str, ...] = ("Production",)
    four_eyes: bool = True
    signed_approvals: bool = False
    run_statuses: tuple[str, ...] = ("FINISHED",)
    seq: int | None = None  # the policy.set event; None: the default

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], seq: int | None = None) -> Policy:
        return cls(
            approval_stages=tuple(payload["approval_stages"]),
            single_holder_stages=tuple(payload["single_holder_stages"]),
            four_eyes=bool(payload["four_eyes"]),
            signed_approvals=bool(payload["signed_approvals"]),
            run_statuses=tuple(payload.get("run_statuses", ("FINISHED",))),
            seq=seq,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "approval_stages": list(self.approval_stages),
            "single_holder_stages": list(self.single_holder_stages),
            "four_eyes": self.four_eyes,
            "signed_approvals": self.signed_approvals,
            "run_statuses": list(self.run_statuses),
            "seq": self.seq,
        }


DEFAULT_POLICY: Final = Policy()


def policy_error(rule: str, message: str) -> PolicyError:
    return PolicyError(f"policy rule {rule!r}: {message}")


def check_role_name(role: str) -> None:
    if role not in KNOWN_ROLES:
        raise ValidationError(f"unknown role {role!r}; expected one of {', '.join(KNOWN_ROLES)}")


def check_alias_name(alias: str) -> None:
    """MLflow's reservation: ``latest`` and ``v<number>`` name versions, not aliases."""
    if _RESERVED_ALIAS.match(alias):
        raise ValidationError(f"alias {alias!r} is reserved ('latest' and 'v<number>' name versions)")


def artifact_digest(entries: Mapping[str, str]) -> str:
    """The digest a version pins: SHA-256 of the RFC 8785 JSON object mapping
    each logged artifact path under the version's ``artifact_path`` to its
    SHA-256 (hex), as ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(canonical_json(dict(entries))).hexdigest()


PROMOTION_STAGES: Final = ("Staging", "Production")


def compared_value(
    role: str, name: str, version: int, run_id: str, metric: str, value: float | None, *, present: bool
) -> float:
    """The latest ``metric`` of a compared version's run, or a ValidationError
    saying why it cannot be compared (missing, NaN, infinite)."""
    if value is not None and math.isfinite(value):
        return value
    problem = "has no" if not present else "has NaN for" if value is None else f"has {value} for"
    raise ValidationError(f"{role} version {version} of {name!r}: its run {run_id} {problem} metric {metric!r}")


def check_promotion_stage(stage: str) -> None:
    if stage not in PROMOTION_STAGES:
        raise ValidationError(f"promote_if_better promotes to {' or '.join(PROMOTION_STAGES)}, not {stage!r}")


def check_policy(payload: Mapping[str, Any]) -> None:
    """A policy's stage lists: no repeats; only Staging and Production may hold one version."""
    for field in ("approval_stages", "single_holder_stages", "run_statuses"):
        values = list(payload[field])
        if len(set(values)) != len(values):
            raise ValidationError(f"policy {field} lists a value twice: {values}")
    extra = sorted(set(payload["single_holder_stages"]) - set(PROMOTION_STAGES))
    if extra:
        raise ValidationError(f"only Staging and Production can hold a single version, not {', '.join(extra)}")


def is_better(mode: str, min_delta: float, candidate: float, champion: float | None) -> bool:
    """Whether ``candidate`` beats ``champion`` by more than ``min_delta``
    (lower is better for ``min``, higher for ``max``); no champion: it wins."""
    if mode not in ("min", "max"):
        raise ValidationError(f"mode must be 'min' or 'max', got {mode!r}")
    if math.isnan(min_delta) or min_delta < 0:
        raise ValidationError(f"min_delta must be a number >= 0, got {min_delta!r}")
    if champion is None:
        return True
    gain = champion - candidate if mode == "min" else candidate - champion
    return gain > min_delta


def check_approval(
    policy: Policy,
    *,
    request_id: str,
    approver: str,
    requester: str,
    run_author: str,
    approver_roles: Collection[str],
    signed: bool,
) -> None:
    """The rules an approval must pass before it carries out a transition
    (the signature itself is checked by the caller, who holds the key)."""
    if "approver" not in approver_roles:
        raise policy_error(
            "approver_role", f"{approver!r} does not hold the 'approver' role needed to approve request {request_id}"
        )
    if policy.four_eyes and approver == requester:
        raise policy_error("four_eyes", f"{approver!r} requested transition {request_id} and cannot also approve it")
    if policy.four_eyes and approver == run_author:
        raise policy_error(
            "four_eyes",
            f"{approver!r} authored the source run of the version in request {request_id} and cannot approve it",
        )
    if policy.signed_approvals and not signed:
        raise policy_error(
            "signed_approvals", f"request {request_id} needs a signed approval (approve with a signing key)"
        )
