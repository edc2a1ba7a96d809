"""Recomputing a log from its stored entries and comparing it with what was signed: pure.

The scan reads each entry as stored (its bytes, its leaf hash, its search columns), in index
order, and holds each to the one definition of a sound entry that the auditor's verifier applies
too (``spectral_shared.tlog.audit_entries``): the first entry that is missing, out of place,
changed, stored as the wrong type, stripped of its payload outside the purged range, or whose
columns say something its hashed bytes do not, is reported by index. If every entry checks out
but the recomputed root differs from the signed checkpoint, the leaf hashes themselves were
rewritten: the signed checkpoints (each one the root of a prefix) narrow that down to a range.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from spectral_shared.tlog.audit_entries import BrokenEntry, StoredEntry, check_entries
from spectral_shared.tlog.merkle import CompactRange


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


def verify_entries(
    entries: Iterable[StoredEntry],
    checkpoint: tuple[int, bytes],
    *,
    log_id: str,
    purged_below: int,
    progress: Callable[[int], None] = lambda done: None,
) -> Verdict:
    """Recompute the tree of the checkpoint's size from ``entries`` and compare its root."""
    size, signed_root = checkpoint
    tree = CompactRange()
    try:
        for leaf in check_entries(
            entries, size, log_id=log_id, purged_below=purged_below, progress=progress
        ):
            tree.append(leaf)
    except BrokenEntry as broken:
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
