"""What a log's client decides, whatever transport brought it the data: whether a signed
checkpoint is the log's, whether it extends the last checkpoint the client trusted, and whether an
entry is in it. Trust only moves forward: a checkpoint that is smaller than, or not consistent
with, the trusted one is refused, and the trusted state (kept in a small JSON file) is replaced
only by a checkpoint that was proven to extend it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path

from spectral_shared.files import write_private
from spectral_shared.tlog.merkle import InvalidProof, verify_consistency, verify_inclusion
from spectral_shared.tlog.note import Checkpoint, InvalidNote, NoteVerifier, parse_checkpoint

__all__ = [
    "LogRefused",
    "TrustedState",
    "check_inclusion",
    "extend_trust",
    "open_checkpoint",
]


class LogRefused(Exception):
    """The log showed something a client must not accept: a bad signature, another log's
    checkpoint, a rollback, a fork, or an entry that is not where the log says."""


def open_checkpoint(note: str, verifier: NoteVerifier, origin: str) -> Checkpoint:
    """The checkpoint in ``note``, if ``verifier``'s key signed it and it names ``origin``."""
    try:
        checkpoint = parse_checkpoint(verifier.open(note))
    except InvalidNote as exc:
        raise LogRefused(f"the checkpoint is not the log's: {exc}") from None
    if checkpoint.origin != origin:
        raise LogRefused(f"the checkpoint is for {checkpoint.origin!r}, not {origin!r}")
    return checkpoint


def extend_trust(
    trusted: Checkpoint | None, offered: Checkpoint, proof: Sequence[bytes]
) -> Checkpoint:
    """``offered`` if it is consistent with ``trusted`` (``proof``: the consistency proof from
    the trusted size to the offered one); :class:`LogRefused` otherwise."""
    if trusted is None:
        return offered  # trust on first use; pin the verifier key to make it meaningful
    if trusted.origin != offered.origin:
        raise LogRefused("the checkpoints are of different logs")
    if offered.size < trusted.size:
        raise LogRefused(
            f"the log went back from {trusted.size} to {offered.size} entries (a rollback)"
        )
    try:
        verify_consistency(trusted.size, offered.size, trusted.root, offered.root, proof)
    except InvalidProof as exc:
        raise LogRefused(
            f"the log at {offered.size} entries does not extend the one trusted at "
            f"{trusted.size}: {exc} (a fork, or rewritten history)"
        ) from None
    return offered


def check_inclusion(
    checkpoint: Checkpoint, index: int, leaf: bytes, proof: Sequence[bytes]
) -> None:
    """:class:`LogRefused` unless the leaf hash ``leaf`` is entry ``index`` of ``checkpoint``."""
    try:
        verify_inclusion(index, checkpoint.size, leaf, proof, checkpoint.root)
    except InvalidProof as exc:
        raise LogRefused(f"entry {index} is not in the log as checkpointed: {exc}") from None


class TrustedState:
    """The last checkpoint a client trusted for each log, in one JSON file, written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, dict[str, object]]:
        try:
            loaded = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{self.path} is not a trusted-state file")
        return loaded

    def get(self, origin: str) -> Checkpoint | None:
        entry = self._load().get(origin)
        if entry is None:
            return None
        return Checkpoint(origin, int(str(entry["size"])), base64.b64decode(str(entry["root"])))

    def put(self, checkpoint: Checkpoint) -> None:
        state = self._load()
        state[checkpoint.origin] = {
            "size": checkpoint.size,
            "root": base64.b64encode(checkpoint.root).decode(),
        }
        write_private(self.path, json.dumps(state, indent=2, sort_keys=True))
