"""Recomputing a log from its stored entries and comparing it with what was signed: pure.

The scan reads each entry's stored bytes and its stored leaf hash, in index order. The first entry
that is missing, out of place, changed (its bytes no longer hash to its leaf) or stripped of its
payload outside the purged range is reported by index. If every entry matches its leaf but the
recomputed root differs from the signed checkpoint, the leaf hashes themselves were rewritten:
the signed checkpoints (each one the root of a prefix) narrow that down to a range.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from spectral_shared.tlog.merkle import CompactRange

# (index, canonical bytes or None once purged, stored leaf hash or None if missing)
StoredLeaf = tuple[int, bytes | None, bytes | None]


@dataclass(frozen=True)
class Verdict:
    valid: bool
    tree_size: int
    root_hash: bytes | None = None
    broken_at: int | None = None
    broken_before: int | None = None  # set when only a range can be named: [broken_at, this)
    reason: str | None = None

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {"valid": self.valid, "tree_size": self.tree_size}
        if self.root_hash is not None:
            body["root_hash"] = base64.b64encode(self.root_hash).decode()
        if not self.valid:
            body["broken_at"] = self.broken_at
            body["reason"] = self.reason
            if self.broken_before is not None:
                body["broken_before"] = self.broken_before
        return body


class _Broken(Exception):
    def __init__(self, index: int, reason: str) -> None:
        self.index, self.reason = index, reason


def _leaves(
    rows: Iterable[StoredLeaf], size: int, purged_below: int, progress: Callable[[int], None]
) -> Iterable[bytes]:
    expected = 0
    sha256 = hashlib.sha256
    for index, body, stored in rows:
        if index >= size:
            break
        if index != expected:
            raise _Broken(expected, f"entry {expected} is missing")
        if stored is None:
            raise _Broken(index, f"entry {index} has lost its leaf hash")
        if body is None:
            if index >= purged_below:
                raise _Broken(index, f"entry {index} has lost its payload outside the purged range")
        elif sha256(b"\x00" + body).digest() != stored:
            raise _Broken(index, f"entry {index} was changed: it no longer matches its leaf hash")
        yield stored
        expected += 1
        if not expected & 0xFFFF:
            progress(expected)
    if expected < size:
        raise _Broken(expected, f"entry {expected} is missing")


def verify_entries(
    rows: Iterable[StoredLeaf],
    checkpoint: tuple[int, bytes],
    *,
    purged_below: int,
    progress: Callable[[int], None] = lambda done: None,
) -> Verdict:
    """Recompute the tree of the checkpoint's size from ``rows`` and compare its root."""
    size, signed_root = checkpoint
    tree = CompactRange()
    try:
        for leaf in _leaves(rows, size, purged_below, progress):
            tree.append(leaf)
    except _Broken as broken:
        return Verdict(False, size, broken_at=broken.index, reason=broken.reason)
    root = tree.root()
    if root != signed_root:
        return Verdict(
            False,
            size,
            root,
            broken_at=0,
            broken_before=size,
            reason="the leaf hashes no longer add up to the signed checkpoint (rewritten)",
        )
    return Verdict(True, size, root)


def locate_rewrite(
    leaves: Iterable[bytes], checkpoints: Sequence[tuple[int, bytes]]
) -> tuple[int, int] | None:
    """The range ``[after, before)`` between the last signed checkpoint the stored leaf hashes
    still reproduce and the first one they do not; None if all of them match."""
    pending = sorted(checkpoints)
    tree, good = CompactRange(), 0
    for leaf in leaves:
        while pending and pending[0][0] == tree.size:
            size, root = pending.pop(0)
            if tree.root() != root:
                return good, size
            good = size
        tree.append(leaf)
    for size, root in pending:
        if size == tree.size and tree.root() != root:
            return good, size
    return None
