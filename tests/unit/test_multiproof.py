"""The multiproof of ``ledger.merkle`` (``multiproof``, ``multiproof_ranges``,
``verify_multiproof``): the proof an evidence bundle of format /2 carries.

It is checked against the definition in the module docstring written out
naively (``spec_proof``), against RFC 9162 inclusion proofs and the published
vectors for single leaves, and, for any subset of any tree of 1 to 300
leaves, it verifies and fails when a proof hash or a cited leaf is changed,
a hash is removed or added, or the indices are shifted by one.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ledger.errors import ProofError, ValidationError
from ledger.merkle import (
    EMPTY_ROOT,
    inclusion_proof,
    merkle_root,
    multiproof,
    multiproof_ranges,
    verify_inclusion,
    verify_multiproof,
)
from tests.property.test_merkle import flip_bit, naive_root
from tests.unit.test_merkle import INCLUSION, LEAVES, ROOTS


def split(n: int) -> int:
    """The largest power of two smaller than ``n``, by counting."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def spec_proof(leaves: list[bytes], cited: set[int], lo: int, hi: int) -> list[bytes]:
    """PROOF(lo, hi) exactly as ``ledger.merkle``'s docstring defines it."""
    inside = [i for i in range(lo, hi) if i in cited]
    if len(inside) == hi - lo:
        return []
    if not inside:
        return [naive_root(leaves[lo:hi])]
    k = split(hi - lo)
    return spec_proof(leaves, cited, lo, lo + k) + spec_proof(leaves, cited, lo + k, hi)


def sided_path(leaves: list[bytes], m: int) -> list[tuple[bytes, str]]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n]), bottom up, with the side each sibling is on."""
    if len(leaves) == 1:
        return []
    k = split(len(leaves))
    if m < k:
        return [*sided_path(leaves[:k], m), (naive_root(leaves[k:]), "right")]
    return [*sided_path(leaves[k:], m - k), (naive_root(leaves[:k]), "left")]


def distinct_leaves(size: int, salt: bytes = b"") -> list[bytes]:
    """Leaves that all differ: a proof for shifted indices must not pass by coincidence."""
    return [salt + i.to_bytes(2, "big") for i in range(size)]


@st.composite
def cited_trees(draw: st.DrawFn) -> tuple[list[bytes], list[int]]:
    """(leaves of a tree of 1..300, increasing cited indices): a few scattered,
    all but a few, or a run with a few more; the empty and the full set included."""
    size = draw(st.integers(1, 300), label="size")
    leaves = distinct_leaves(size, draw(st.binary(max_size=4), label="salt"))
    few = draw(st.sets(st.integers(0, size - 1), max_size=12), label="few")
    shape = draw(st.sampled_from(["scattered", "all but", "run"]), label="shape")
    if shape == "scattered":
        cited = few
    elif shape == "all but":
        cited = set(range(size)) - few
    else:
        start = draw(st.integers(0, size - 1), label="start")
        cited = set(range(start, draw(st.integers(start + 1, size), label="end"))) | few
    return leaves, sorted(cited)


def _fails(size: int, indices: list[int], leaves: list[bytes], proof: list[bytes], root: bytes) -> str:
    with pytest.raises(ProofError) as raised:
        verify_multiproof(size, indices, leaves, proof, root)
    message = str(raised.value)
    assert message.startswith(f"multiproof of {len(indices)} leaves in a tree of {size}: "), message
    return message


# -- the definition, inclusion proofs and published vectors -----------------------------


@settings(max_examples=200, deadline=None)
@given(tree=cited_trees())
def test_every_multiproof_verifies_and_is_the_definition(tree: tuple[list[bytes], list[int]]) -> None:
    leaves, cited = tree
    proof, root = multiproof(leaves, cited), merkle_root(leaves)
    assert proof == spec_proof(leaves, set(cited), 0, len(leaves))
    assert proof == [merkle_root(leaves[start:end]) for start, end in multiproof_ranges(cited, len(leaves))]
    verify_multiproof(len(leaves), cited, [leaves[i] for i in cited], proof, root)


@pytest.mark.parametrize("size", range(1, 41))
def test_one_leafs_multiproof_is_its_inclusion_proof_left_to_right(size: int) -> None:
    leaves = distinct_leaves(size)
    root = merkle_root(leaves)
    for m in range(size):
        sided = sided_path(leaves, m)
        assert [node for node, _ in sided] == inclusion_proof(leaves, m)
        left_to_right = [n for n, side in reversed(sided) if side == "left"] + [
            n for n, side in sided if side == "right"
        ]
        assert multiproof(leaves, [m]) == left_to_right
        verify_multiproof(size, [m], [leaves[m]], left_to_right, root)
        verify_inclusion(m, size, leaves[m], inclusion_proof(leaves, m), root)


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION, ids=[f"{i}-of-{n}" for i, n, _ in INCLUSION])
def test_published_inclusion_vectors_are_one_leafs_multiproof(index: int, size: int, path: list[bytes]) -> None:
    proof = multiproof(LEAVES[:size], [index])
    assert sorted(proof) == sorted(path)
    verify_multiproof(size, [index], [LEAVES[index]], proof, ROOTS[size])


def test_the_published_roots_come_out_of_multiproofs_of_any_leaves() -> None:
    for size in range(1, 9):
        for mask in range(1 << size):
            cited = [i for i in range(size) if mask >> i & 1]
            proof = multiproof(LEAVES[:size], cited)
            verify_multiproof(size, cited, [LEAVES[i] for i in cited], proof, ROOTS[size])


@pytest.mark.parametrize(
    ("size", "cited", "ranges"),
    [
        (8, [2, 3, 4], [(0, 2), (5, 6), (6, 8)]),
        (7, [6], [(0, 4), (4, 6)]),
        (7, [0, 1, 2, 3, 4, 5, 6], []),
        (5, [], [(0, 5)]),
        (0, [], []),
        (6, [0, 5], [(1, 2), (2, 4), (4, 5)]),
    ],
)
def test_the_ranges_are_the_largest_uncited_subtrees_left_to_right(
    size: int, cited: list[int], ranges: list[tuple[int, int]]
) -> None:
    assert multiproof_ranges(cited, size) == ranges


def test_all_leaves_cited_need_no_hash_and_none_cited_need_the_root() -> None:
    leaves = distinct_leaves(13)
    root = merkle_root(leaves)
    assert multiproof(leaves, list(range(13))) == []
    verify_multiproof(13, list(range(13)), leaves, [], root)
    assert multiproof(leaves, []) == [root]
    verify_multiproof(13, [], [], [root], root)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_run_of_cited_leaves_needs_at_most_twice_the_tree_height(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, 5000), label="size")
    start = data.draw(st.integers(0, size - 1), label="start")
    end = data.draw(st.integers(start + 1, size), label="end")
    height = (size - 1).bit_length()  # ceil(log2(size)): the tree's depth
    assert len(multiproof_ranges(range(start, end), size)) <= 2 * height


# -- any change fails ---------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(tree=cited_trees(), data=st.data())
def test_a_changed_proof_hash_fails(tree: tuple[list[bytes], list[int]], data: st.DataObject) -> None:
    leaves, cited = tree
    proof = multiproof(leaves, cited)
    assume(proof)
    target = data.draw(st.integers(0, len(proof) - 1), label="hash")
    proof[target] = flip_bit(proof[target], data.draw(st.integers(0, 255), label="bit"))
    message = _fails(len(leaves), cited, [leaves[i] for i in cited], proof, merkle_root(leaves))
    assert re.search(r": computed root [0-9a-f]{12}…, expected [0-9a-f]{12}…$", message)


@settings(max_examples=200, deadline=None)
@given(tree=cited_trees(), data=st.data())
def test_a_changed_cited_leaf_fails(tree: tuple[list[bytes], list[int]], data: st.DataObject) -> None:
    leaves, cited = tree
    assume(cited)
    given_leaves = [leaves[i] for i in cited]
    target = data.draw(st.integers(0, len(cited) - 1), label="leaf")
    given_leaves[target] = data.draw(st.binary(max_size=8).filter(lambda b: b != given_leaves[target]), label="new")
    message = _fails(len(leaves), cited, given_leaves, multiproof(leaves, cited), merkle_root(leaves))
    assert "computed root" in message


@settings(max_examples=200, deadline=None)
@given(tree=cited_trees(), data=st.data())
def test_a_removed_hash_fails(tree: tuple[list[bytes], list[int]], data: st.DataObject) -> None:
    leaves, cited = tree
    proof = multiproof(leaves, cited)
    assume(proof)
    del proof[data.draw(st.integers(0, len(proof) - 1), label="removed")]
    message = _fails(len(leaves), cited, [leaves[i] for i in cited], proof, merkle_root(leaves))
    assert message.endswith(f": {len(proof)} hashes, expected {len(proof) + 1}")


@settings(max_examples=200, deadline=None)
@given(tree=cited_trees(), data=st.data())
def test_an_added_hash_fails(tree: tuple[list[bytes], list[int]], data: st.DataObject) -> None:
    leaves, cited = tree
    proof = multiproof(leaves, cited)
    added = data.draw(st.binary(min_size=32, max_size=32), label="added")
    proof.insert(data.draw(st.integers(0, len(proof)), label="at"), added)
    message = _fails(len(leaves), cited, [leaves[i] for i in cited], proof, merkle_root(leaves))
    assert message.endswith(f": {len(proof)} hashes, expected {len(proof) - 1}")


@settings(max_examples=300, deadline=None)
@given(tree=cited_trees(), shift=st.sampled_from([-1, 1]))
def test_indices_shifted_by_one_fail(tree: tuple[list[bytes], list[int]], shift: int) -> None:
    leaves, cited = tree
    assume(cited)
    size, shifted = len(leaves), [i + shift for i in cited]
    proof, given_leaves, root = multiproof(leaves, cited), [leaves[i] for i in cited], merkle_root(leaves)
    if shifted[0] < 0:
        with pytest.raises(ValidationError, match=re.escape(f"multiproof: leaf indices must lie in [0, {size})")):
            verify_multiproof(size, shifted, given_leaves, proof, root)
    elif shifted[-1] >= size:
        message = _fails(size, shifted, given_leaves, proof, root)
        assert message.endswith(f": leaf {size} is not below the tree size")
    else:
        message = _fails(size, shifted, given_leaves, proof, root)
        assert re.search(r": (computed root .*|\d+ hashes, expected \d+)$", message), message


def test_the_root_binds_the_size_not_the_proof() -> None:
    """As for inclusion proofs: leaf 5's multiproof has the same shape in trees
    of 7 and 8, so size and root must come from one signed checkpoint."""
    verify_multiproof(7, [5], [LEAVES[5]], multiproof(LEAVES, [5]), ROOTS[8])
    message = _fails(7, [5], [LEAVES[5]], multiproof(LEAVES, [5]), ROOTS[7])
    assert re.search(rf": computed root {ROOTS[8].hex()[:12]}…, expected {ROOTS[7].hex()[:12]}…$", message)
    message = _fails(6, [5], [LEAVES[5]], multiproof(LEAVES, [5]), ROOTS[8])
    assert message.endswith(": 3 hashes, expected 2")


# -- malformed arguments ------------------------------------------------------------------

EIGHT = distinct_leaves(8)
ROOT8 = merkle_root(EIGHT)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: multiproof(EIGHT, [2, 1]),
            ValidationError,
            "multiproof: the leaf indices must be increasing, each once",
        ),
        (
            lambda: multiproof(EIGHT, [1, 1]),
            ValidationError,
            "multiproof: the leaf indices must be increasing, each once",
        ),
        (lambda: multiproof(EIGHT, [8]), ValidationError, "multiproof: leaf indices must lie in [0, 8), got 8..8"),
        (lambda: multiproof(EIGHT, [-1, 3]), ValidationError, "multiproof: leaf indices must lie in [0, 8), got -1..3"),
        (lambda: multiproof_ranges([0], -1), ValidationError, "size must not be negative, got -1"),
        (
            lambda: verify_multiproof(8, [1, 2], [EIGHT[1]], [], ROOT8),
            ValidationError,
            "multiproof: 2 indices for 1 leaves",
        ),
        (
            lambda: verify_multiproof(8, [3, 2], [EIGHT[3], EIGHT[2]], [], ROOT8),
            ValidationError,
            "multiproof: the leaf indices must be increasing, each once",
        ),
        (
            lambda: verify_multiproof(8, [1], [EIGHT[1]], [], ROOT8[:31]),
            ValidationError,
            "root is 31 bytes, expected 32",
        ),
        (
            lambda: verify_multiproof(8, [8], [b"x"], [], ROOT8),
            ProofError,
            "multiproof of 1 leaves in a tree of 8: leaf 8 is not below the tree size",
        ),
        (
            lambda: verify_multiproof(0, [], [], [], EMPTY_ROOT),
            ProofError,
            "multiproof of 0 leaves in a tree of 0: an empty tree holds no leaves",
        ),
    ],
)
def test_malformed_arguments_are_refused(call: Callable[[], object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_a_proof_hash_of_another_length_is_refused() -> None:
    leaves = [bytes([i]) for i in range(5)]
    proof = multiproof(leaves, [1])
    with pytest.raises(ValidationError, match="every proof hash must be 32 bytes"):
        verify_multiproof(5, [1], [leaves[1]], [*proof[:-1], proof[-1][:31]], merkle_root(leaves))
