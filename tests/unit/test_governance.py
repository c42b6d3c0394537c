"""The pure registry rules (ledger/governance.py): comparisons, policies,
names and the digest a version pins."""

from __future__ import annotations

import hashlib
import math

import pytest
import rfc8785

from ledger.errors import PolicyError, ValidationError
from ledger.governance import DEFAULT_POLICY, Policy, artifact_digest, check_alias_name, check_approval, is_better


@pytest.mark.parametrize(
    ("mode", "min_delta", "candidate", "champion", "better"),
    [
        ("min", 0.0, 0.30, 0.31, True),
        ("min", 0.0, 0.31, 0.31, False),  # equal is not better
        ("min", 0.02, 0.30, 0.31, False),  # must win by more than min_delta
        ("max", 0.0, 0.91, 0.90, True),
        ("max", 0.0, 0.89, 0.90, False),
        ("max", 0.5, 1.0, None, True),  # no champion: the candidate wins
    ],
)
def test_is_better(mode: str, min_delta: float, candidate: float, champion: float | None, better: bool) -> None:
    assert is_better(mode, min_delta, candidate, champion) is better


def test_is_better_refuses_bad_rules() -> None:
    with pytest.raises(ValidationError, match="mode must be 'min' or 'max', got 'lowest'"):
        is_better("lowest", 0.0, 1.0, 2.0)
    with pytest.raises(ValidationError, match="min_delta must be a number >= 0"):
        is_better("min", -0.1, 1.0, 2.0)
    with pytest.raises(ValidationError, match="min_delta must be a number >= 0"):
        is_better("min", math.nan, 1.0, 2.0)


def test_artifact_digest_is_sha256_of_the_jcs_object_of_paths() -> None:
    entries = {"model/weights.bin": "ab" * 32, "model/config.json": "cd" * 32}
    assert artifact_digest(entries) == "sha256:" + hashlib.sha256(rfc8785.dumps(entries)).hexdigest()
    assert artifact_digest(dict(reversed(list(entries.items())))) == artifact_digest(entries)


@pytest.mark.parametrize("alias", ["latest", "LATEST", "v1", "V12"])
def test_reserved_aliases(alias: str) -> None:
    with pytest.raises(ValidationError, match="is reserved"):
        check_alias_name(alias)


def test_approval_rules_name_the_rule() -> None:
    strict = Policy(signed_approvals=True)
    common = {"request_id": "r1", "requester": "alice", "run_author": "carol", "signed": True}
    check_approval(strict, approver="bob", approver_roles={"approver"}, **common)
    with pytest.raises(PolicyError, match=r"^policy rule 'approver_role': 'bob' does not hold"):
        check_approval(strict, approver="bob", approver_roles={"admin"}, **common)
    with pytest.raises(PolicyError, match=r"^policy rule 'four_eyes': 'alice' requested transition r1"):
        check_approval(strict, approver="alice", approver_roles={"approver"}, **common)
    with pytest.raises(PolicyError, match=r"^policy rule 'four_eyes': 'carol' authored the source run"):
        check_approval(strict, approver="carol", approver_roles={"approver"}, **common)
    with pytest.raises(PolicyError, match=r"^policy rule 'signed_approvals': request r1 needs a signed approval"):
        check_approval(strict, approver="bob", approver_roles={"approver"}, **{**common, "signed": False})
    relaxed = Policy(four_eyes=False)
    check_approval(relaxed, approver="alice", approver_roles={"approver"}, **{**common, "signed": False})
    assert DEFAULT_POLICY.approval_stages == ("Production",) and DEFAULT_POLICY.four_eyes
