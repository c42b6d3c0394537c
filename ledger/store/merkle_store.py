"""The stored Merkle tree: the hash of every complete subtree of
``2^MIN_STORED_LEVEL`` (8) or more leaves, in ``merkle_nodes``; the smaller
subtrees are computed from ``events.hash`` when a proof reads them.

Owns: which rows an append adds (from the tree's right edge and the new
event hashes), which stored rows make up the root of any size, an RFC 9162
inclusion proof, a consistency proof and a multiproof (``ledger.merkle``),
and reading them in one query (a chunk of keys at a time for a multiproof of
many scattered leaves).
Hashing is ``ledger.merkle``'s (``leaf_hash``, ``node_hash``); the append
transaction, its lock and the SQL dialects are ``ledger.store.sql``'s and
``ledger.store.dialects``'s.

Why O(log n) rows answer every question: the leaves ``[0, n)`` split into
at most log2(n)+1 complete subtrees, one per binary digit of n. Every range
whose hash RFC 9162 puts in a proof is a node of the tree of size n. Such a
node is either complete (one stored row) or lies on the tree's ragged right
border, where its start is a multiple of a power of two at least its length:
it splits by the binary digits of its length too, and its hash folds those
subtrees from the right, as MTH splits at the largest power of two. A proof
holds at most one ragged range (once a proof descends into a complete
subtree, every later range is complete), so it needs O(log n) rows.

Subtrees below level 3 are not stored: storing every level from 1 up writes
about one row per event, storing from level 3 one row per 4 events, and a
proof then reads at most 2^0 + 2^1 + 2^2 = 7 more event hashes (in the same
query) and hashes them: microseconds, against a quarter of the append's
inserts. The price is that the stored tree can locate a damaged or rewritten
range no closer than 8 events (``divergence``).

The table is append-only like ``events``: the database refuses UPDATE and
DELETE on it (``ledger.store.dialects``, which says why SQLite's INSERT OR
REPLACE is left unguarded here). A row is written once, by the append that
completes its subtree, in that append's transaction, so the tree always
covers exactly the committed events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

from ledger.errors import IntegrityError
from ledger.merkle import EMPTY_ROOT, leaf_hash, merkle_root, multiproof_ranges, node_hash

__all__ = [
    "MIN_STORED_LEVEL",
    "NodeKey",
    "NodeRow",
    "consistency_proof",
    "divergence",
    "grow",
    "inclusion_proof",
    "multiproof",
    "read_edge",
    "right_edge",
    "root",
    "tree_rows",
]

MIN_STORED_LEVEL: Final = 3  # subtrees of 8 leaves and more are stored
_KEYS_PER_QUERY: Final = 2000  # well under SQLite's and PostgreSQL's parameter limits
NodeKey = tuple[int, int]  # (level, idx): the subtree over leaves [idx·2^level, (idx+1)·2^level)
NodeRow = tuple[int, int, bytes]  # (level, idx, hash)
Range = tuple[int, int]  # leaves [start, end)


# -- writing -----------------------------------------------------------------


def right_edge(size: int) -> list[NodeKey]:
    """The complete subtrees that make up ``[0, size)``, largest first: one
    per binary digit of ``size``. Appending needs exactly these hashes."""
    return _complete_subtrees(0, size)


def grow(size: int, edge: dict[int, bytes], leaves: Iterable[bytes]) -> list[NodeRow]:
    """The rows (levels MIN_STORED_LEVEL and up) that appending ``leaves`` (event hashes,
    raw) to a tree of ``size`` leaves completes, in order; ``edge`` maps each level of
    ``right_edge(size)`` to its hash and is updated to the new size's edge.

    A binary counter: leaf i completes one node per trailing 1 bit of i,
    each the hash of the pending left sibling at that level and the new one.
    """
    rows: list[NodeRow] = []
    add, pop = rows.append, edge.pop  # the append hot path: about 1 row per event
    for position, leaf in enumerate(leaves, start=size):
        digest, level = leaf_hash(leaf), 0
        while (position >> level) & 1:
            digest = node_hash(pop(level), digest)
            level += 1
            if level >= MIN_STORED_LEVEL:
                add((level, position >> level, digest))
        edge[level] = digest
    return rows


def tree_rows(leaves: Iterable[bytes], chunk: int) -> Iterator[list[NodeRow]]:
    """Every row of the tree over ``leaves``, ``chunk`` leaves' worth at a
    time: memory holds one chunk and the O(log n) right edge (migration)."""
    edge: dict[int, bytes] = {}
    size, pending = 0, []
    for leaf in leaves:
        pending.append(leaf)
        if len(pending) == chunk:
            yield grow(size, edge, pending)
            size, pending = size + chunk, []
    if pending:
        yield grow(size, edge, pending)


def read_edge(cursor: Any, placeholder: str, size: int) -> dict[int, bytes]:
    """The right edge of the stored tree of ``size`` leaves, level -> hash."""
    keys = right_edge(size)
    found = _read(cursor, placeholder, keys, f"the right edge of the tree of size {size}")
    return {level: found[level, idx] for level, idx in keys}


# -- reading -----------------------------------------------------------------


def root(cursor: Any, placeholder: str, size: int) -> bytes:
    """MTH of the first ``size`` leaves, from at most log2(size)+1 rows."""
    if size == 0:
        return EMPTY_ROOT
    return _hashes(cursor, placeholder, [(0, size)], f"the root of size {size}")[0]


def inclusion_proof(cursor: Any, placeholder: str, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1 (``0 <= index < size``)."""
    return _hashes(cursor, placeholder, path_ranges(index, size), f"the inclusion proof of leaf {index} in {size}")


def multiproof(cursor: Any, placeholder: str, indices: Sequence[int], size: int) -> list[bytes]:
    """The multiproof (``ledger.merkle``) of leaves ``indices`` (increasing) in the tree of ``size``."""
    ranges = multiproof_ranges(indices, size)
    return _hashes(cursor, placeholder, ranges, f"the multiproof of {len(indices)} leaves in {size}")


def consistency_proof(cursor: Any, placeholder: str, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1 (``0 <= old_size <= new_size``;
    empty for 0 and for equal sizes, as in ``ledger.merkle``)."""
    ranges = consistency_ranges(old_size, new_size)
    return _hashes(cursor, placeholder, ranges, f"the consistency proof from {old_size} to {new_size}")


def path_ranges(index: int, size: int) -> list[Range]:
    """The leaf ranges whose hashes form PATH(index, D[size]), in proof order."""
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        split = start + _split(end - start)
        if index < split:
            ranges.append((split, end))
            end = split
        else:
            ranges.append((start, split))
            start = split
    return ranges[::-1]


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """The leaf ranges whose hashes form PROOF(old_size, D[new_size]), in proof order."""
    if old_size in (0, new_size):
        return []
    ranges: list[Range] = []
    start, end, whole = 0, new_size, True
    while old_size != end - start:
        split = _split(end - start)
        if old_size <= split:
            ranges.append((start + split, end))
            end = start + split
        else:
            ranges.append((start, start + split))
            start, old_size, whole = start + split, old_size - split, False
    if not whole:  # the verifier knows the old root only when the old tree is this very subtree
        ranges.append((start, end))
    return ranges[::-1]


def divergence(cursor: Any, placeholder: str, size: int, leaves: Callable[[int, int], list[bytes]]) -> Range | None:
    """The first leaves ``[start, end)`` whose stored subtree hash is missing
    or differs from the hash of ``leaves(start, end)`` (the events' hashes),
    narrowed to the smallest stored node (8 leaves); None when the tree of
    ``size`` agrees with the events."""

    def agrees(level: int, idx: int) -> bool:
        expected = merkle_root(leaves(idx << level, (idx + 1) << level))
        return _stored(cursor, placeholder, level, idx) == expected

    for top in right_edge(size):
        if top[0] < MIN_STORED_LEVEL or agrees(*top):
            continue  # small subtrees are computed from the events, never stored
        level, idx = top
        while level > MIN_STORED_LEVEL:  # descend to the first child that disagrees, if one does
            child = next((i for i in (2 * idx, 2 * idx + 1) if not agrees(level - 1, i)), None)
            if child is None:
                break  # both children agree: the node itself is what differs
            level, idx = level - 1, child
        return idx << level, (idx + 1) << level
    return None


def _stored(cursor: Any, placeholder: str, level: int, idx: int) -> bytes | None:
    cursor.execute(f"SELECT hash FROM merkle_nodes WHERE level = {placeholder} AND idx = {placeholder}", (level, idx))
    row = cursor.fetchone()
    return None if row is None else bytes(row[0])


def _hashes(cursor: Any, placeholder: str, ranges: Sequence[Range], what: str) -> list[bytes]:
    pieces = [_complete_subtrees(start, end) for start, end in ranges]
    found = _read(cursor, placeholder, [key for keys in pieces for key in keys], what)
    result = []
    for keys in pieces:
        digest = found[keys[-1]]
        for key in reversed(keys[:-1]):
            digest = node_hash(found[key], digest)
        result.append(digest)
    return result


def _read(cursor: Any, placeholder: str, keys: Sequence[NodeKey], what: str) -> dict[NodeKey, bytes]:
    """The hashes of ``keys``: stored ones in one query (an OR over levels,
    each an IN list, which both backends answer from the primary key), the
    small ones computed from their events' hashes in one more."""
    if not keys:
        return {}
    by_level: dict[int, list[int]] = {}
    small = []
    for level, idx in keys:
        if level < MIN_STORED_LEVEL:
            small.append((level, idx))
        else:
            by_level.setdefault(level, []).append(idx)
    found = _small_subtrees(cursor, placeholder, small)
    stored = [
        (level, indices[start : start + _KEYS_PER_QUERY])
        for level, indices in by_level.items()
        for start in range(0, len(indices), _KEYS_PER_QUERY)
    ]
    while stored:
        terms: list[str] = []
        params: list[int] = []
        while stored and (not params or len(params) + len(stored[-1][1]) < _KEYS_PER_QUERY):
            level, indices = stored.pop()
            terms.append(f"(level = {placeholder} AND idx IN ({', '.join([placeholder] * len(indices))}))")
            params += [level, *indices]
        cursor.execute(f"SELECT level, idx, hash FROM merkle_nodes WHERE {' OR '.join(terms)}", tuple(params))
        found.update({(int(level), int(idx)): bytes(digest) for level, idx, digest in cursor.fetchall()})
    missing = [key for key in keys if key not in found]
    if missing:
        level, idx = missing[0]
        raise IntegrityError(
            f"{what}: merkle_nodes lacks {len(missing)} of the {len(set(keys))} subtree hashes it needs "
            f"(first: level {level}, index {idx}): the table does not match the events (run `mlledger verify`)"
        )
    return found


def _small_subtrees(cursor: Any, placeholder: str, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
    """The hashes of subtrees below MIN_STORED_LEVEL, from their leaves."""
    if not keys:
        return {}
    leaves = _leaves(cursor, placeholder, sorted({seq for key in keys for seq in _leaf_range(*key)}))
    found = {}
    for level, idx in keys:
        span = _leaf_range(level, idx)
        hashes = [leaves[0, seq] for seq in span if (0, seq) in leaves]
        if len(hashes) < len(span):
            continue  # an event is missing or malformed: reported as missing
        while len(hashes) > 1:
            hashes = [node_hash(left, right) for left, right in zip(hashes[::2], hashes[1::2], strict=True)]
        found[level, idx] = hashes[0]
    return found


def _leaf_range(level: int, idx: int) -> range:
    return range(idx << level, (idx + 1) << level)


def _leaves(cursor: Any, placeholder: str, seqs: Sequence[int]) -> dict[NodeKey, bytes]:
    """Leaf hashes (level 0) of events ``seqs``, from their stored hashes."""
    found = {}
    for start in range(0, len(seqs), _KEYS_PER_QUERY):
        chunk = seqs[start : start + _KEYS_PER_QUERY]
        cursor.execute(
            f"SELECT seq, hash FROM events WHERE seq IN ({', '.join([placeholder] * len(chunk))})", tuple(chunk)
        )
        for seq, digest in cursor.fetchall():
            try:
                found[(0, int(seq))] = leaf_hash(bytes.fromhex(digest))
            except (TypeError, ValueError):
                continue  # a malformed stored hash: reported as missing
    return found


def _complete_subtrees(start: int, end: int) -> list[NodeKey]:
    # ``start`` is a multiple of a power of two at least ``end - start`` (see
    # the module docstring), so each piece is aligned to its own size.
    keys = []
    while start < end:
        level = (end - start).bit_length() - 1
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n`` > 1)."""
    return 1 << ((n - 1).bit_length() - 1)
