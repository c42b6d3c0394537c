"""ledger.merkle against published RFC 6962/9162 test vectors, valid and corrupted.

Vectors (hex copied unchanged) come from github.com/transparency-dev/merkle,
the successor of certificate-transparency-go's merkle package:

- LEAVES, LEAF_HASHES, ROOTS: ``testonly/constants.go`` (LeafInputs,
  NodeHashes()[0], RootHashes), commit 582a6ad190b6848f1d26f8bf08ddef29955d9db1.
- INCLUSION: ``testonly/reference_test.go`` (TestRefInclusionProof, 0-based
  index), commit 141d627eab770a7e9a2514f46a8b6338e6d90874, and
  ``proof/verify_test.go`` (inclusionProofs, whose leaf numbers are 1-based;
  converted here), commit 02194e9afb6c1d95b5381350007963aa70fff472.
- CONSISTENCY, SOME_HASH, the corruption probes (corruptInclusionProof,
  corruptConsistencyProof) and the edge-case tables (TestVerifyInclusion,
  TestVerifyInclusionSingleEntry, TestVerifyConsistency): ``proof/verify_test.go``,
  same commit.

Two deliberate differences from that Go code, both because our types differ:
its "don't care" and "WrongRoot" roots are not 32 bytes, which we refuse as a
``ValidationError`` before verifying, so the ports below use 32-byte stand-ins;
and it accepts *any* old root for a consistency proof from size 0, where we
require the empty tree's root (RFC 9162 §2.1.1, MTH({}) = HASH()).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from ledger.errors import IntegrityError, ProofError, ValidationError
from ledger.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

h = bytes.fromhex

LEAVES = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
LEAF_HASHES = [
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
    h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
    h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
    h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
    h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
]
ROOTS = [  # indexed by tree size, 0..8
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")

# (index, size, proof)
INCLUSION = [
    (0, 1, []),
    (0, 2, [h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7")]),
    (1, 2, [h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")]),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]
# (old_size, new_size, proof)
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

# Valid 32-byte stand-ins for the Go tests' "don't care" roots.
CARE_NOT_1 = hashlib.sha256(b"don't care 1").digest()
CARE_NOT_2 = hashlib.sha256(b"don't care 2").digest()
WRONG_ROOT = hashlib.sha256(b"WrongRoot").digest()


def _flip(proof: list[bytes], i: int, mask: int) -> list[bytes]:
    """``proof`` with one bit of the first byte of element ``i`` flipped."""
    element = proof[i]
    return [*proof[:i], bytes([element[0] ^ mask]) + element[1:], *proof[i + 1 :]]


# --- hashing and roots ---------------------------------------------------------


def test_leaf_hashes_match_published() -> None:
    assert [leaf_hash(leaf) for leaf in LEAVES] == LEAF_HASHES


def test_node_hash_of_the_first_two_leaves_is_the_root_of_size_2() -> None:
    assert node_hash(LEAF_HASHES[0], LEAF_HASHES[1]) == ROOTS[2]


@pytest.mark.parametrize("size", range(9))
def test_root_of_every_prefix_matches_published(size: int) -> None:
    assert merkle_root(LEAVES[:size]) == ROOTS[size]


def test_empty_tree_root_is_sha256_of_the_empty_string() -> None:
    assert merkle_root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


# --- inclusion: published proofs -------------------------------------------------


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION, ids=[f"{i}-of-{n}" for i, n, _ in INCLUSION])
def test_inclusion_proof_matches_published_and_verifies(index: int, size: int, proof: list[bytes]) -> None:
    assert inclusion_proof(LEAVES[:size], index) == proof
    verify_inclusion(index, size, LEAVES[index], proof, ROOTS[size])


def test_every_inclusion_proof_in_trees_up_to_8_verifies_against_published_roots() -> None:
    for size in range(1, 9):
        for index in range(size):
            verify_inclusion(index, size, LEAVES[index], inclusion_proof(LEAVES[:size], index), ROOTS[size])


# --- inclusion: corrupted proofs (corruptInclusionProof) ---------------------------


def _inclusion_probes() -> list[tuple[str, int, int, bytes, list[bytes], bytes]]:
    probes = []
    for index, size, proof in INCLUSION:
        leaf, root = LEAVES[index], ROOTS[size]
        cases = [
            ("index - 1", index - 1, size, leaf, proof, root),
            ("index + 1", index + 1, size, leaf, proof, root),
            ("index ^ 2", index ^ 2, size, leaf, proof, root),
            ("size * 2", index, size * 2, leaf, proof, root),
            ("size // 2", index, size // 2, leaf, proof, root),
            ("wrong leaf", index, size, b"WrongLeaf", proof, root),
            ("empty root", index, size, leaf, proof, EMPTY_ROOT),
            ("random root", index, size, leaf, proof, SOME_HASH),
            ("trailing garbage", index, size, leaf, [*proof, b""], root),
            ("trailing root", index, size, leaf, [*proof, root], root),
            ("preceding garbage", index, size, leaf, [b"", *proof], root),
            ("preceding root", index, size, leaf, [root, *proof], root),
        ]
        cases += [(f"proof[{i}] bit 3", index, size, leaf, _flip(proof, i, 8), root) for i in range(len(proof))]
        if proof:
            cases.append(("removed component", index, size, leaf, proof[:-1], root))
        if len(proof) > 1:
            cases.append(("inserted component", index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root))
        # Go's uint64 wraps index - 1 below zero; a negative index is a ValidationError here.
        probes += [(f"{index}-of-{size}: {desc}", *rest) for desc, *rest in cases if rest[0] >= 0]
    return probes


INCLUSION_PROBES = _inclusion_probes()


@pytest.mark.parametrize(
    ("index", "size", "leaf", "proof", "root"), [p[1:] for p in INCLUSION_PROBES], ids=[p[0] for p in INCLUSION_PROBES]
)
def test_corrupted_inclusion_proof_fails(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> None:
    with pytest.raises(ProofError):
        verify_inclusion(index, size, leaf, proof, root)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1)])
def test_inclusion_with_empty_proof_and_wrong_leaf_or_root_fails(index: int, size: int) -> None:
    for leaf, root in [(SOME_HASH, EMPTY_ROOT), (b"", EMPTY_ROOT)]:
        with pytest.raises(ProofError):
            verify_inclusion(index, size, leaf, [], root)
    with pytest.raises(ValidationError, match="root is 0 bytes, expected 32"):
        verify_inclusion(index, size, SOME_HASH, [], b"")


def test_single_entry_tree_root_is_its_leaf_hash() -> None:
    verify_inclusion(0, 1, b"data", [], leaf_hash(b"data"))
    with pytest.raises(ProofError):
        verify_inclusion(0, 1, b"", [], leaf_hash(b"data"))
    with pytest.raises(ValidationError):
        verify_inclusion(0, 1, b"data", [], b"")


# --- inclusion: what the messages say -------------------------------------------------

PROOF_5_OF_8 = INCLUSION[-1][2]


def test_tampered_inclusion_proof_names_leaf_and_both_roots() -> None:
    with pytest.raises(
        ProofError, match=r"^inclusion proof for leaf 5 of 8: computed root [0-9a-f]{12}…, expected 5dc9da79a706…$"
    ):
        verify_inclusion(5, 8, LEAVES[5], _flip(PROOF_5_OF_8, 1, 1), ROOTS[8])


def test_wrong_root_is_reported_as_expected_root() -> None:
    with pytest.raises(ProofError, match=r"computed root 5dc9da79a706…, expected ddb89be40380…$"):
        verify_inclusion(5, 8, LEAVES[5], PROOF_5_OF_8, ROOTS[7])


def test_truncated_inclusion_proof_says_how_many_hashes_it_needs() -> None:
    with pytest.raises(ProofError, match=r"^inclusion proof for leaf 5 of 8: 2 hashes, expected 3$"):
        verify_inclusion(5, 8, LEAVES[5], PROOF_5_OF_8[:2], ROOTS[8])


def test_extended_inclusion_proof_says_how_many_hashes_it_needs() -> None:
    with pytest.raises(ProofError, match=r"^inclusion proof for leaf 5 of 8: 4 hashes, expected 3$"):
        verify_inclusion(5, 8, LEAVES[5], [*PROOF_5_OF_8, ROOTS[8]], ROOTS[8])


def test_index_at_or_beyond_size_fails_as_a_proof() -> None:
    with pytest.raises(ProofError, match=r"^inclusion proof for leaf 8 of 8: the index is not below the tree size$"):
        verify_inclusion(8, 8, LEAVES[5], PROOF_5_OF_8, ROOTS[8])


def test_wrong_size_fails() -> None:
    with pytest.raises(ProofError, match=r"^inclusion proof for leaf 5 of 6: 3 hashes, expected 2$"):
        verify_inclusion(5, 6, LEAVES[5], PROOF_5_OF_8, ROOTS[8])


def test_the_root_binds_the_size_not_the_proof() -> None:
    """RFC 9162 §2.1.3.2 cannot tell sizes 7 and 8 apart here: leaf 5's path has
    the same shape in both, so size and root must come from one checkpoint."""
    verify_inclusion(5, 7, LEAVES[5], PROOF_5_OF_8, ROOTS[8])
    with pytest.raises(ProofError):
        verify_inclusion(5, 7, LEAVES[5], PROOF_5_OF_8, ROOTS[7])


def test_a_proof_error_is_an_integrity_error() -> None:
    with pytest.raises(IntegrityError):
        verify_inclusion(5, 8, LEAVES[4], PROOF_5_OF_8, ROOTS[8])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: verify_inclusion(-1, 8, b"", [], ROOTS[8]), "index must not be negative, got -1"),
        (lambda: verify_inclusion(0, -8, b"", [], ROOTS[8]), "size must not be negative, got -8"),
        (lambda: verify_inclusion(0, 8, b"", [], b"WrongRoot"), "root is 9 bytes, expected 32"),
        (lambda: inclusion_proof(LEAVES, -1), "index must not be negative, got -1"),
        (lambda: inclusion_proof(LEAVES, 8), "inclusion proof for leaf 8: the tree has only 8 leaves"),
        (lambda: inclusion_proof([], 0), "inclusion proof for leaf 0: the tree has only 0 leaves"),
    ],
)
def test_malformed_inclusion_arguments_are_validation_errors(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        call()


# --- consistency: published proofs -----------------------------------------------------


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY, ids=[f"{m}-to-{n}" for m, n, _ in CONSISTENCY])
def test_consistency_proof_matches_published_and_verifies(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(LEAVES[:new], old) == proof
    verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


def test_every_consistency_proof_in_trees_up_to_8_verifies_against_published_roots() -> None:
    for new in range(9):
        for old in range(new + 1):
            verify_consistency(old, new, ROOTS[old], ROOTS[new], consistency_proof(LEAVES[:new], old))


# --- consistency: corrupted proofs (corruptConsistencyProof) ------------------------


def _consistency_probes() -> list[tuple[str, int, int, bytes, bytes, list[bytes]]]:
    probes = []
    for m, n, proof in CONSISTENCY:
        if not proof:  # as in the Go test: only non-trivial proofs are corrupted
            continue
        r1, r2 = ROOTS[m], ROOTS[n]
        cases = [
            ("size1 - 1", m - 1, n, r1, r2, proof),
            ("size1 + 1", m + 1, n, r1, r2, proof),
            ("size1 ^ 2", m ^ 2, n, r1, r2, proof),
            ("size2 * 2", m, n * 2, r1, r2, proof),
            ("size2 // 2", m, n // 2, r1, r2, proof),
            ("wrong root1", m, n, WRONG_ROOT, r2, proof),
            ("wrong root2", m, n, r1, WRONG_ROOT, proof),
            ("swapped roots", m, n, r2, r1, proof),
            ("empty proof", m, n, r1, r2, []),
            ("trailing garbage", m, n, r1, r2, [*proof, b""]),
            ("trailing root1", m, n, r1, r2, [*proof, r1]),
            ("trailing root2", m, n, r1, r2, [*proof, r2]),
            ("preceding garbage", m, n, r1, r2, [b"", *proof]),
            ("preceding root1", m, n, r1, r2, [r1, *proof]),
            ("preceding root2", m, n, r1, r2, [r2, *proof]),
            ("preceding proof[0]", m, n, r1, r2, [proof[0], *proof]),
            ("truncated proof", m, n, r1, r2, proof[:-1]),
        ]
        cases += [(f"proof[{i}] bit 4", m, n, r1, r2, _flip(proof, i, 16)) for i in range(len(proof))]
        probes += [(f"{m}-to-{n}: {desc}", *rest) for desc, *rest in cases]
    return probes


CONSISTENCY_PROBES = _consistency_probes()


@pytest.mark.parametrize(
    ("old", "new", "old_root", "new_root", "proof"),
    [p[1:] for p in CONSISTENCY_PROBES],
    ids=[p[0] for p in CONSISTENCY_PROBES],
)
def test_corrupted_consistency_proof_fails(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> None:
    with pytest.raises(ProofError):
        verify_consistency(old, new, old_root, new_root, proof)


# TestVerifyConsistency's table, with 32-byte roots; the two rows from size 0
# with an arbitrary old root are the deliberate difference (module docstring).
E = EMPTY_ROOT
CONSISTENCY_EDGES = [
    (0, 0, CARE_NOT_1, CARE_NOT_2, [], False),
    (1, 1, CARE_NOT_1, CARE_NOT_2, [], False),
    (0, 0, CARE_NOT_1, CARE_NOT_1, [], False),  # Go: accepted
    (0, 0, E, E, [], True),
    (0, 1, CARE_NOT_1, CARE_NOT_2, [], False),  # Go: accepted
    (0, 1, E, CARE_NOT_2, [], True),
    (1, 1, CARE_NOT_2, CARE_NOT_2, [], True),
    (1, 0, CARE_NOT_1, CARE_NOT_2, [], False),
    (2, 1, CARE_NOT_1, CARE_NOT_2, [], False),
    (1, 2, CARE_NOT_1, CARE_NOT_2, [], False),
    (0, 0, E, CARE_NOT_2, [], False),
    (1, 1, E, CARE_NOT_2, [], False),
    (0, 0, E, E, [E], False),
    (0, 1, E, E, [E], False),
    (1, 1, E, E, [E], False),
]


@pytest.mark.parametrize(("old", "new", "old_root", "new_root", "proof", "ok"), CONSISTENCY_EDGES)
def test_consistency_edge_cases(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes], ok: bool
) -> None:
    if ok:
        verify_consistency(old, new, old_root, new_root, proof)
    else:
        with pytest.raises(ProofError):
            verify_consistency(old, new, old_root, new_root, proof)


# --- consistency: what the messages say --------------------------------------------

PROOF_6_TO_8 = CONSISTENCY[2][2]


def test_shrunk_tree_is_reported_as_smaller() -> None:
    with pytest.raises(
        ProofError, match=r"^consistency proof from size 8 to 6: the new tree is smaller than the old one$"
    ):
        verify_consistency(8, 6, ROOTS[8], ROOTS[6], [])


def test_tampered_consistency_proof_names_sizes_and_roots() -> None:
    with pytest.raises(
        ProofError,
        match=r"^consistency proof from size 6 to 8: computed old root [0-9a-f]{12}…, expected 76e67dadbcdf…$",
    ):
        verify_consistency(6, 8, ROOTS[6], ROOTS[8], _flip(PROOF_6_TO_8, 0, 1))


def test_rewritten_history_is_reported_against_the_new_root() -> None:
    # The old tree is intact, a leaf after it was changed: only the new root disagrees.
    with pytest.raises(
        ProofError,
        match=r"^consistency proof from size 6 to 8: computed new root [0-9a-f]{12}…, expected 5dc9da79a706…$",
    ):
        verify_consistency(6, 8, ROOTS[6], ROOTS[8], consistency_proof([*LEAVES[:7], b"forged"], 6))


def test_consistency_proof_of_wrong_length_says_how_many_hashes_it_needs() -> None:
    where = "consistency proof from size 6 to 8"
    for proof, got in [(PROOF_6_TO_8[:2], 2), ([*PROOF_6_TO_8, SOME_HASH], 4), ([], 0)]:
        with pytest.raises(ProofError, match=rf"^{where}: {got} hashes, expected 3$"):
            verify_consistency(6, 8, ROOTS[6], ROOTS[8], proof)


def test_equal_sizes_need_an_empty_proof_and_equal_roots() -> None:
    verify_consistency(8, 8, ROOTS[8], ROOTS[8], [])
    with pytest.raises(ProofError, match=r"^consistency proof from size 8 to 8: 1 hashes, expected 0$"):
        verify_consistency(8, 8, ROOTS[8], ROOTS[8], [ROOTS[8]])
    with pytest.raises(ProofError, match=r"old root 5dc9da79a706… differs from new root ddb89be40380…$"):
        verify_consistency(8, 8, ROOTS[8], ROOTS[7], [])


def test_from_the_empty_tree_the_old_root_must_be_the_empty_root() -> None:
    verify_consistency(0, 8, EMPTY_ROOT, ROOTS[8], [])
    with pytest.raises(ProofError, match=r"old root 5dc9da79a706… is not the empty tree's e3b0c44298fc…$"):
        verify_consistency(0, 8, ROOTS[8], ROOTS[8], [])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: verify_consistency(-1, 8, E, ROOTS[8], []), "old_size must not be negative, got -1"),
        (lambda: verify_consistency(0, -1, E, E, []), "new_size must not be negative, got -1"),
        (lambda: verify_consistency(6, 8, b"WrongRoot", ROOTS[8], []), "old_root is 9 bytes, expected 32"),
        (lambda: verify_consistency(6, 8, ROOTS[6], ROOTS[8].hex().encode(), []), "new_root is 64 bytes, expected 32"),
        (lambda: consistency_proof(LEAVES, -1), "old_size must not be negative, got -1"),
        (lambda: consistency_proof(LEAVES, 9), "consistency proof from size 9: the tree has only 8 leaves"),
    ],
)
def test_malformed_consistency_arguments_are_validation_errors(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        call()


def test_consistency_proofs_from_size_0_and_to_the_same_size_are_empty() -> None:
    assert consistency_proof(LEAVES, 0) == []
    assert consistency_proof(LEAVES, 8) == []
    assert consistency_proof([], 0) == []


def test_the_expected_length_in_messages_is_the_real_proof_length() -> None:
    leaves = [str(i).encode() for i in range(40)]
    for size in range(1, len(leaves) + 1):
        tree, root = leaves[:size], merkle_root(leaves[:size])
        for index in range(size):
            proof = inclusion_proof(tree, index)
            with pytest.raises(ProofError, match=rf": {len(proof) + 1} hashes, expected {len(proof)}$"):
                verify_inclusion(index, size, tree[index], [*proof, root], root)
        for old in range(1, size):
            proof = consistency_proof(tree, old)
            with pytest.raises(ProofError, match=rf": {len(proof) + 1} hashes, expected {len(proof)}$"):
                verify_consistency(old, size, merkle_root(tree[:old]), root, [*proof, root])
