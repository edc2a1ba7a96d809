"""RFC 6962 Merkle trees, with RFC 9162's proof verification: the hashing and proofs behind the
audit log's tamper evidence (issue 5, docs/domain.md#decision-14-audit). Pure functions over hashes; where the
leaves come from is the caller's business.

A tree over leaves ``d[0..n)`` has the root ``MTH``: the SHA-256 of the empty string for no
leaves, ``SHA-256(0x00 || d)`` for one, and for more ``SHA-256(0x01 || MTH(left) || MTH(right))``
where ``left`` holds the largest power of two strictly below ``n``. Proofs are *generated* from
perfect-subtree hashes, stored as a log appends or computed from the leaf hashes; *verification*
needs only the proof, the sizes and the roots (what a client holds).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Protocol

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "InvalidProof",
    "NodeSource",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "nodes_for_append",
    "nodes_needed",
    "root_hash",
    "stored_consistency_proof",
    "stored_inclusion_proof",
    "stored_root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class InvalidProof(ValueError):
    """The proof does not show what it claims (wrong sizes, hashes or length)."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly below ``size`` (``size`` > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes, in one pass: perfect subtrees merge as they complete (a stack of at
    most log2(n) hashes), and the leftover ones fold from the right, as the recursive definition
    splits."""
    if not leaves:
        return EMPTY_ROOT
    stack: list[tuple[int, bytes]] = []
    for leaf in leaves:
        size, value = 1, leaf
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            size, value = left_size + size, node_hash(left, value)
        stack.append((size, value))
    value = stack[-1][1]
    for _, left in reversed(stack[:-1]):
        value = node_hash(left, value)
    return value


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 6962 PATH(index, leaves): the sibling hashes from the leaf up to the root."""
    return stored_inclusion_proof(index, len(leaves), _nodes_of(leaves))


def consistency_proof(size1: int, leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 6962 PROOF(size1, leaves): shows the tree of ``size1`` leaves is a prefix of this one."""
    return stored_consistency_proof(size1, len(leaves), _nodes_of(leaves))


def _nodes_of(leaves: Sequence[bytes]) -> NodeSource:
    """Perfect-subtree hashes computed from the leaf hashes themselves (tests, small trees)."""

    def node(level: int, index: int) -> bytes:
        return root_hash(leaves[index << level : (index + 1) << level])

    return node


def _check(proof: Sequence[bytes]) -> None:
    if any(len(h) != HASH_SIZE for h in proof):
        raise InvalidProof("a proof hash is not 32 bytes")


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 section 2.1.3.2: raises :class:`InvalidProof` unless ``leaf`` (a leaf hash) is
    at ``index`` of the tree of ``size`` leaves whose root is ``root``."""
    _check(proof)
    if not 0 <= index < size:
        raise InvalidProof(f"index {index} is outside a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise InvalidProof("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InvalidProof("the proof is shorter than the tree is deep")
    if r != root:
        raise InvalidProof("the proof leads to another root")


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 section 2.1.4.2: raises :class:`InvalidProof` unless the tree of ``size1``
    leaves with ``root1`` is a prefix of the tree of ``size2`` leaves with ``root2``."""
    _check(proof)
    if size2 < size1:
        raise InvalidProof(f"a tree cannot shrink from {size1} to {size2} leaves")
    if size1 == size2:
        if proof:
            raise InvalidProof("equal sizes need an empty proof")
        if root1 != root2:
            raise InvalidProof("equal sizes with different roots")
        return
    if size1 == 0:
        if proof:
            raise InvalidProof("an empty tree needs an empty proof")
        return
    if not proof:
        raise InvalidProof("the proof is empty")
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise InvalidProof("the proof is longer than the trees need")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InvalidProof("the proof is shorter than the trees need")
    if fr != root1:
        raise InvalidProof("the proof does not lead to the old root")
    if sr != root2:
        raise InvalidProof("the proof does not lead to the new root")


# ---- trees kept as stored nodes ------------------------------------------------------------------
#
# A log cannot re-hash a million leaves per proof. It keeps every *perfect* subtree's hash: node
# (level h, index i) covers leaves [i * 2**h, (i + 1) * 2**h). Every subtree RFC 6962 names in a
# root or a proof starts at a multiple of a power of two at least its size, so it splits into at
# most log2(n) stored perfect subtrees, folded from the right: a proof costs O(log^2 n) lookups.


class NodeSource(Protocol):
    def __call__(self, level: int, index: int) -> bytes: ...


def nodes_for_append(size: int, leaf: bytes, node: NodeSource) -> list[tuple[int, int, bytes]]:
    """The perfect-subtree hashes that appending ``leaf`` (a leaf hash) as entry ``size``
    completes, (level, index, hash), the leaf itself first. ``node`` reads stored ones."""
    created = [(0, size, leaf)]
    level, index, value = 0, size, leaf
    while index & 1:  # a right child completes its parent
        value = node_hash(node(level, index - 1), value)
        level, index = level + 1, index >> 1
        created.append((level, index, value))
    return created


def _range_root(start: int, end: int, node: NodeSource) -> bytes:
    """MTH(leaves[start:end]) for an RFC 6962 subtree, from stored perfect subtrees."""
    parts: list[bytes] = []
    position = start
    while position < end:
        level = (end - position).bit_length() - 1
        while position % (1 << level):  # alignment: only at a multiple of its own size
            level -= 1
        parts.append(node(level, position >> level))
        position += 1 << level
    value = parts[-1]
    for left in reversed(parts[:-1]):
        value = node_hash(left, value)
    return value


def stored_root(size: int, node: NodeSource) -> bytes:
    return EMPTY_ROOT if size == 0 else _range_root(0, size, node)


def stored_inclusion_proof(index: int, size: int, node: NodeSource) -> list[bytes]:
    """inclusion_proof(index, leaves[:size]) from stored nodes."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside a tree of {size} leaves")
    low, high = 0, size
    siblings: list[tuple[int, int]] = []
    while high - low > 1:
        k = _split(high - low)
        if index - low < k:
            siblings.append((low + k, high))
            high = low + k
        else:
            siblings.append((low, low + k))
            low = low + k
    return [_range_root(start, end, node) for start, end in reversed(siblings)]


def stored_consistency_proof(size1: int, size2: int, node: NodeSource) -> list[bytes]:
    """consistency_proof(size1, leaves[:size2]) from stored nodes."""
    if not 0 <= size1 <= size2:
        raise ValueError(f"cannot prove {size1} leaves consistent with {size2}")
    if size1 in (0, size2):
        return []
    proof: list[bytes] = []
    low, high, m, complete = 0, size2, size1, True
    while True:  # RFC 6962 SUBPROOF(m, D[low:high], complete), unrolled
        if m == high - low:
            if not complete:
                proof.append(_range_root(low, high, node))
            break
        k = _split(high - low)
        if m <= k:
            proof.append(_range_root(low + k, high, node))
            high = low + k
        else:
            proof.append(_range_root(low, low + k, node))
            low, m, complete = low + k, m - k, False
    return list(reversed(proof))


def nodes_needed(compute: Callable[[NodeSource], object]) -> list[tuple[int, int]]:
    """The stored nodes ``compute`` reads, in order, without reading any: run it once on a
    recording source, fetch those in one query, then run it on the fetched ones."""
    wanted: dict[tuple[int, int], None] = {}

    def record(level: int, index: int) -> bytes:
        wanted[(level, index)] = None
        return EMPTY_ROOT

    compute(record)
    return list(wanted)


class CompactRange:
    """The perfect-subtree hashes covering leaves ``[0, size)``, one per set bit of ``size``,
    largest first (at most 64): all a log needs to append a leaf, store the subtrees the append
    completes and know its root, without reading any stored node."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != size.bit_count() or any(len(h) != HASH_SIZE for h in hashes):
            raise ValueError(f"a range of {size} leaves has {size.bit_count()} hashes")
        self.size = size
        self.hashes = list(hashes)

    @classmethod
    def from_bytes(cls, size: int, packed: bytes) -> CompactRange:
        return cls(size, [packed[i : i + HASH_SIZE] for i in range(0, len(packed), HASH_SIZE)])

    def to_bytes(self) -> bytes:
        return b"".join(self.hashes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; the (level, index, hash) nodes it completes, the leaf itself first.
        The left sibling a right child at ``level`` merges with is the subtree kept ``level``
        places from the end (the smallest ones are last)."""
        hashes = self.hashes
        created = nodes_for_append(self.size, leaf, lambda level, _: hashes[-1 - level])
        merged = len(created) - 1  # the smallest ``merged`` subtrees are now inside the new one
        self.hashes = [*hashes[: len(hashes) - merged], created[-1][2]]
        self.size += 1
        return created

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        value = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            value = node_hash(left, value)
        return value
