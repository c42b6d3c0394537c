"""The RFC 9162 (Certificate Transparency v2) Merkle tree over leaf bytes (DESIGN §4).

Owns: the tree hash of a list of leaves, inclusion and consistency proofs
(RFC 9162 §2.1.3-2.1.4), the multiproof of a set of leaves (below), and
their verification. Every function takes leaf
*data* (in the ledger: the 32-byte event hash, never a pre-hashed leaf hash)
and returns raw 32-byte SHA-256 hashes, so published RFC 6962/9162 test
vectors apply unchanged. Reading leaves or stored subtree hashes from the
database is left to the store.

Verification raises ``ValidationError`` for arguments no proof could answer
(a negative size, a root that is not 32 bytes) and ``ProofError`` when the
proof does not show what is claimed, including a leaf index at or beyond the
tree size and a new tree smaller than the old one (a truncated ledger).

Trees of size 0 lie outside RFC 9162's proofs (they are defined for
``0 < m < n``), so this module decides them from §2.1.1, MTH({}) = HASH():
a consistency proof from size 0 is empty, the old root must be the empty
tree's root, and any new root is consistent with it (check that root by
other means). Proofs between equal sizes are empty and need equal roots.

The multiproof of the leaves at ``indices`` (increasing) in a tree of ``n``
leaves proves them all at once: the hashes of the largest subtrees, as MTH
splits the tree, that hold none of those leaves, left to right. In terms of
RFC 9162's MTH (``k`` the largest power of two smaller than ``hi - lo``)::

    PROOF(lo, hi) = []                          if every leaf of [lo, hi) is cited
                  = [MTH(D[lo:hi])]             if none is
                  = PROOF(lo, lo + k) ++ PROOF(lo + k, hi)   otherwise

and the proof is PROOF(0, n). To check it, compute ROOT(0, n) by the same
recursion, taking MTH of the cited leaves where every leaf is cited and the
next proof hash where none is; the proof holds when every hash is used and
the result is the signed root. One leaf's multiproof holds the hashes of its
RFC 9162 inclusion proof, in left-to-right order; any run of contiguous cited
leaves in a tree of N needs at most 2·log2(N) hashes, where their inclusion
proofs would repeat log2(N) hashes per leaf.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Final

from ledger.errors import ProofError, ValidationError

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "merkle_root",
    "multiproof",
    "multiproof_ranges",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
    "verify_multiproof",
]

LEAF_PREFIX: Final = b"\x00"  # RFC 6962 §2.1 / RFC 9162 §2.1.1: domain separation
NODE_PREFIX: Final = b"\x01"  # of leaves from interior nodes (second preimages)
HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256().digest()  # MTH({}) = HASH(), the empty string


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 ‖ data): the hash of one leaf."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right): the hash of an interior node."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]), the root hash of a tree whose leaves are ``leaves`` (data, not hashes)."""
    if not leaves:
        return EMPTY_ROOT
    return _subtree_root([leaf_hash(leaf) for leaf in leaves])


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) of RFC 9162 §2.1.3.1: the sibling hashes from leaf ``index`` up to the root."""
    _check_size("index", index)
    if index >= len(leaves):
        raise ValidationError(f"inclusion proof for leaf {index}: the tree has only {len(leaves)} leaves")
    return _path(index, [leaf_hash(leaf) for leaf in leaves])


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(old_size, D[n]) of RFC 9162 §2.1.4.1: shows the first ``old_size`` leaves are a prefix of ``leaves``.

    RFC 9162 defines it for ``0 < old_size < n``; for ``old_size`` 0 or ``n``
    the proof is empty (see the module docstring).
    """
    _check_size("old_size", old_size)
    if old_size > len(leaves):
        raise ValidationError(f"consistency proof from size {old_size}: the tree has only {len(leaves)} leaves")
    if old_size in (0, len(leaves)):
        return []
    return _subproof(old_size, [leaf_hash(leaf) for leaf in leaves], whole=True)


def multiproof(leaves: Sequence[bytes], indices: Sequence[int]) -> list[bytes]:
    """The multiproof (module docstring) of the leaves at ``indices`` in the tree of ``leaves``."""
    hashes = [leaf_hash(leaf) for leaf in leaves]
    return [_subtree_root(hashes[start:end]) for start, end in multiproof_ranges(indices, len(leaves))]


def multiproof_ranges(indices: Sequence[int], size: int) -> list[tuple[int, int]]:
    """The leaf ranges ``[start, end)`` whose tree hashes make up the multiproof
    of ``indices`` (increasing, each below ``size``) in a tree of ``size``, in
    proof order. ``ValidationError`` for indices out of order or range."""
    _check_size("size", size)
    _check_indices(indices, size)
    ranges: list[tuple[int, int]] = []
    pending = [(0, size, 0, len(indices))] if size else []  # (lo, hi, i, j): indices[i:j] lie in [lo, hi)
    while pending:
        lo, hi, i, j = pending.pop()
        if i == j:
            ranges.append((lo, hi))
        elif j - i < hi - lo:  # some leaves are not cited: split as MTH does
            mid = lo + _split(hi - lo)
            cut = bisect_left(indices, mid, i, j)
            pending += [(mid, hi, cut, j), (lo, mid, i, cut)]  # the left half is taken first
    return ranges


def verify_multiproof(
    size: int, indices: Sequence[int], leaves: Sequence[bytes], proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaves`` (data) are the leaves at ``indices`` (increasing)
    of the tree of ``size`` leaves with ``root``, by their multiproof
    ``proof`` (module docstring). Raises ``ProofError`` if they are not
    (including an index at or beyond the size), ``ValidationError`` when the
    indices are out of order or do not match the leaves. As with
    ``verify_inclusion``, ``size`` and ``root`` must come together from one
    trusted tree head (a signed checkpoint)."""
    _check_size("size", size)
    _check_root("root", root)
    if len(indices) != len(leaves):
        raise ValidationError(f"multiproof: {len(indices)} indices for {len(leaves)} leaves")
    where = f"multiproof of {len(indices)} leaves in a tree of {size}"
    if indices and indices[-1] >= size:
        raise ProofError(f"{where}: leaf {indices[-1]} is not below the tree size")
    _check_indices(indices, size)
    if size == 0:
        raise ProofError(f"{where}: an empty tree holds no leaves")
    if any(len(node) != HASH_SIZE for node in proof):
        raise ValidationError(f"{where}: every proof hash must be {HASH_SIZE} bytes")
    hashes = [leaf_hash(leaf) for leaf in leaves]
    given = iter(proof)
    expected = len(multiproof_ranges(indices, size))

    def subtree(lo: int, hi: int, i: int, j: int) -> bytes:
        if i == j:
            found = next(given, None)
            if found is None:
                raise ProofError(f"{where}: {len(proof)} hashes, expected {expected}")
            return found
        if j - i == hi - lo:
            return _subtree_root(hashes[i:j])
        mid = lo + _split(hi - lo)
        cut = bisect_left(indices, mid, i, j)
        return node_hash(subtree(lo, mid, i, cut), subtree(mid, hi, cut, j))

    computed = subtree(0, size, 0, len(indices))
    if next(given, None) is not None:
        raise ProofError(f"{where}: {len(proof)} hashes, expected {expected}")
    if computed != root:
        raise ProofError(f"{where}: computed root {_short(computed)}, expected {_short(root)}")


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf`` (data) is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    RFC 9162 §2.1.3.2, step by step. Raises ``ProofError`` if it is not.
    ``size`` and ``root`` must come together from one trusted tree head: the
    proof alone does not pin the size (leaf 5's proof in a tree of 8 also
    passes as one in a tree of 7 when checked against the root of 8).
    """
    _check_size("index", index)
    _check_size("size", size)
    _check_root("root", root)
    where = f"inclusion proof for leaf {index} of {size}"
    if index >= size:  # step 1
        raise ProofError(f"{where}: the index is not below the tree size")
    fn, sn = index, size - 1  # step 2
    r = leaf_hash(leaf)  # step 3
    for p in proof:  # step 4
        if sn == 0:
            raise ProofError(f"{where}: {len(proof)} hashes, expected {_inclusion_length(index, size)}")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:  # step 5
        raise ProofError(f"{where}: {len(proof)} hashes, expected {_inclusion_length(index, size)}")
    if r != root:
        raise ProofError(f"{where}: computed root {_short(r)}, expected {_short(root)}")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree of ``old_size`` leaves with ``old_root`` is a prefix of the one with ``new_root``.

    RFC 9162 §2.1.4.2, step by step, for ``0 < old_size < new_size``; equal
    sizes and size 0 as in the module docstring. Raises ``ProofError`` if not.
    """
    _check_size("old_size", old_size)
    _check_size("new_size", new_size)
    _check_root("old_root", old_root)
    _check_root("new_root", new_root)
    where = f"consistency proof from size {old_size} to {new_size}"
    if old_size > new_size:
        raise ProofError(f"{where}: the new tree is smaller than the old one")
    if old_size in (0, new_size):
        if proof:
            raise ProofError(f"{where}: {len(proof)} hashes, expected 0")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise ProofError(f"{where}: old root {_short(old_root)} is not the empty tree's {_short(EMPTY_ROOT)}")
        if old_size == new_size and old_root != new_root:
            raise ProofError(f"{where}: old root {_short(old_root)} differs from new root {_short(new_root)}")
        return
    expected = _consistency_length(old_size, new_size)
    if not proof:  # step 1
        raise ProofError(f"{where}: 0 hashes, expected {expected}")
    path = [old_root, *proof] if old_size & (old_size - 1) == 0 else list(proof)  # step 2
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise ProofError(f"{where}: {len(proof)} hashes, expected {expected}")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:  # step 7
        raise ProofError(f"{where}: {len(proof)} hashes, expected {expected}")
    if fr != old_root:
        raise ProofError(f"{where}: computed old root {_short(fr)}, expected {_short(old_root)}")
    if sr != new_root:
        raise ProofError(f"{where}: computed new root {_short(sr)}, expected {_short(new_root)}")


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n`` > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_root(hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes, bottom up: pairing neighbours and lifting an odd last node
    builds the same tree as RFC 9162's split at the largest power of two."""
    level = list(hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = [*paired, level[-1]] if len(level) % 2 else paired
    return level[0]


def _path(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    if len(hashes) == 1:
        return []
    k = _split(len(hashes))
    if m < k:
        return [*_path(m, hashes[:k]), _subtree_root(hashes[k:])]
    return [*_path(m - k, hashes[k:]), _subtree_root(hashes[:k])]


def _subproof(m: int, hashes: Sequence[bytes], *, whole: bool) -> list[bytes]:
    # ``whole``: the old tree is exactly this subtree, whose root the verifier already has.
    if m == len(hashes):
        return [] if whole else [_subtree_root(hashes)]
    k = _split(len(hashes))
    if m <= k:
        return [*_subproof(m, hashes[:k], whole=whole), _subtree_root(hashes[k:])]
    return [*_subproof(m - k, hashes[k:], whole=False), _subtree_root(hashes[:k])]


def _inclusion_length(index: int, size: int) -> int:
    # Levels below where the paths to ``index`` and ``size - 1`` meet, plus
    # the left siblings above it on the right border.
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _consistency_length(old_size: int, new_size: int) -> int:
    # The inclusion path of leaf ``old_size - 1`` from the old tree's
    # largest complete right subtree upwards, plus that subtree's root
    # unless it is the whole old tree (a power of two).
    shift = (old_size & -old_size).bit_length() - 1
    inner = ((old_size - 1) ^ (new_size - 1)).bit_length() - shift
    border = ((old_size - 1) >> (inner + shift)).bit_count()
    return inner + border + (0 if old_size == 1 << shift else 1)


def _check_size(name: str, value: int) -> None:
    if value < 0:
        raise ValidationError(f"{name} must not be negative, got {value}")


def _check_indices(indices: Sequence[int], size: int) -> None:
    if any(later <= earlier for earlier, later in pairwise(indices)):
        raise ValidationError("multiproof: the leaf indices must be increasing, each once")
    if indices and (indices[0] < 0 or indices[-1] >= size):
        raise ValidationError(f"multiproof: leaf indices must lie in [0, {size}), got {indices[0]}..{indices[-1]}")


def _check_root(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ValidationError(f"{name} is {len(value)} bytes, expected {HASH_SIZE} (a SHA-256 hash)")


def _short(digest: bytes) -> str:
    return f"{digest.hex()[:12]}…"


@dataclass(slots=True)
class CompactRange:
    """The leaves ``[begin, end)`` of a tree, folded into O(log n) hashes.

    It holds the hashes of the largest perfect subtrees that tile the range
    (as in transparency-dev's compact ranges), so a stream of leaves gives
    the root of every prefix without keeping the leaves, and ranges built
    apart (by parallel verifiers) join with ``extend``.
    """

    begin: int = 0
    end: int = 0
    # The tiling subtrees, left to right: their levels and hashes.
    _levels: list[int] = field(default_factory=list)
    _hashes: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.end != self.begin:
            raise ValidationError("a CompactRange starts empty: end must equal begin")
        _check_size("begin", self.begin)

    def append(self, data: bytes) -> None:
        """Add the next leaf (its data, as for ``merkle_root``)."""
        self.append_many((data,))

    def append_many(self, leaves: Iterable[bytes]) -> None:
        """Add the next leaves (their data); the verify hot path, so inlined:
        leaf ``position`` completes one subtree per trailing 1 bit of its
        position, while the subtree to its left is there to join."""
        sha256 = hashlib.sha256
        levels, hashes = self._levels, self._hashes
        position = self.end
        for data in leaves:
            digest = sha256(LEAF_PREFIX + data).digest()
            level = 0
            while (position >> level) & 1 and levels and levels[-1] == level:
                levels.pop()
                digest = sha256(NODE_PREFIX + hashes.pop() + digest).digest()
                level += 1
            levels.append(level)
            hashes.append(digest)
            position += 1
        self.end = position

    def extend(self, other: CompactRange) -> None:
        """Add the range that starts where this one ends."""
        if other.begin != self.end:
            raise ValidationError(f"cannot join ranges: this one ends at {self.end}, the other begins at {other.begin}")
        for level, digest in zip(other._levels, other._hashes, strict=True):
            self._push(level, digest)

    def root(self) -> bytes:
        """MTH of the leaves ``[0, end)``; only a range that begins at 0 has one."""
        if self.begin != 0:
            raise ValidationError(f"a range that begins at {self.begin} has no root; join it to [0, {self.begin})")
        if not self._hashes:
            return EMPTY_ROOT
        digest = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            digest = hashlib.sha256(NODE_PREFIX + left + digest).digest()
        return digest

    def _push(self, level: int, digest: bytes) -> None:
        """Add a whole subtree of ``2^level`` leaves starting at ``end`` (aligned to its size)."""
        width = 1 << level
        position = self.end  # where the subtree starts
        self.end += width
        levels, hashes = self._levels, self._hashes
        # Merge with the left neighbour while the two form an aligned subtree.
        while levels and levels[-1] == level and (position - width) % (width << 1) == 0:
            levels.pop()
            digest = hashlib.sha256(NODE_PREFIX + hashes.pop() + digest).digest()
            position -= width
            level += 1
            width <<= 1
        levels.append(level)
        hashes.append(digest)
