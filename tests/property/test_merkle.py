"""Every proof ledger.merkle makes verifies, one flipped bit breaks it, and the
root equals the RFC 9162 §2.1.1 definition written out recursively."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import ProofError, ValidationError
from ledger.merkle import (
    CompactRange,
    consistency_proof,
    inclusion_proof,
    merkle_root,
    verify_consistency,
    verify_inclusion,
)

leaf_lists = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


def naive_root(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 9162 §2.1.1 states it."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + naive_root(leaves[:k]) + naive_root(leaves[k:])).digest()


def flip_bit(value: bytes, bit: int) -> bytes:
    bit %= len(value) * 8
    flipped = bytearray(value)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


@settings(max_examples=60, deadline=None)
@given(leaves=leaf_lists)
def test_root_of_every_prefix_equals_the_recursive_definition(leaves: list[bytes]) -> None:
    for k in range(len(leaves) + 1):
        assert merkle_root(leaves[:k]) == naive_root(leaves[:k])


@settings(max_examples=60, deadline=None)
@given(leaves=leaf_lists)
def test_every_inclusion_proof_verifies(leaves: list[bytes]) -> None:
    root = merkle_root(leaves)
    for index, leaf in enumerate(leaves):
        verify_inclusion(index, len(leaves), leaf, inclusion_proof(leaves, index), root)


@settings(max_examples=60, deadline=None)
@given(leaves=leaf_lists)
def test_every_consistency_proof_verifies(leaves: list[bytes]) -> None:
    new_root = merkle_root(leaves)
    for old_size in range(len(leaves) + 1):
        old_root = merkle_root(leaves[:old_size])
        verify_consistency(old_size, len(leaves), old_root, new_root, consistency_proof(leaves, old_size))


@settings(max_examples=200, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_one_flipped_bit_breaks_an_inclusion_proof(leaves: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1), label="index")
    proof, root = inclusion_proof(leaves, index), merkle_root(leaves)
    target = data.draw(st.integers(-1, len(proof) - 1), label="element (-1: the root)")
    bit = data.draw(st.integers(0, 255), label="bit")
    if target == -1:
        root = flip_bit(root, bit)
    else:
        proof[target] = flip_bit(proof[target], bit)
    with pytest.raises(ProofError):
        verify_inclusion(index, len(leaves), leaves[index], proof, root)


@settings(max_examples=200, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_one_flipped_bit_breaks_a_consistency_proof(leaves: list[bytes], data: st.DataObject) -> None:
    # From size 0 any new root is consistent (nothing commits to it), so start at 1.
    old_size = data.draw(st.integers(1, len(leaves)), label="old_size")
    proof = consistency_proof(leaves, old_size)
    roots = [merkle_root(leaves[:old_size]), merkle_root(leaves)]
    target = data.draw(st.integers(-2, len(proof) - 1), label="element (-2, -1: old, new root)")
    bit = data.draw(st.integers(0, 255), label="bit")
    if target < 0:
        roots[target] = flip_bit(roots[target], bit)
    else:
        proof[target] = flip_bit(proof[target], bit)
    with pytest.raises(ProofError):
        verify_consistency(old_size, len(leaves), roots[0], roots[1], proof)


@given(leaves=st.lists(st.binary(max_size=4), max_size=90), cuts=st.lists(st.integers(0, 90), max_size=5))
def test_compact_ranges_joined_in_any_pieces_give_the_root(leaves: list[bytes], cuts: list[int]) -> None:
    bounds = sorted({0, len(leaves), *(c for c in cuts if c <= len(leaves))})
    pieces = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        piece = CompactRange(start, start)
        for leaf in leaves[start:end]:
            piece.append(leaf)
        pieces.append(piece)
    # Join right to left too: any adjacent ranges join.
    joined = pieces[-1] if pieces else CompactRange()
    for piece in reversed(pieces[:-1]):
        piece.extend(joined)
        joined = piece
    assert joined.end == len(leaves)
    assert joined.root() == naive_root(leaves)


def test_compact_range_refusals() -> None:
    later = CompactRange(4, 4)
    with pytest.raises(ValidationError, match="a range that begins at 4 has no root"):
        later.root()
    with pytest.raises(ValidationError, match="cannot join ranges: this one ends at 0, the other begins at 4"):
        CompactRange().extend(later)
