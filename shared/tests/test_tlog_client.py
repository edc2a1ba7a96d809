"""A log client's decisions: the log's own signed checkpoints only, trust that only moves
forward along consistent checkpoints, and entries proven to be where the log says."""

from __future__ import annotations

from pathlib import Path

import pytest

from spectral_shared.tlog.client import (
    LogRefused,
    TrustedState,
    check_inclusion,
    extend_trust,
    open_checkpoint,
)
from spectral_shared.tlog.merkle import consistency_proof, inclusion_proof, leaf_hash, root_hash
from spectral_shared.tlog.note import Checkpoint, NoteSigner

ORIGIN = "spectral.example/audit/org-1"


def leaves(n: int, rewrite: int | None = None) -> list[bytes]:
    return [leaf_hash(f"entry {i}{'!' if i == rewrite else ''}".encode()) for i in range(n)]


def checkpoint(hashes: list[bytes]) -> Checkpoint:
    return Checkpoint(ORIGIN, len(hashes), root_hash(hashes))


def test_only_the_logs_own_signed_checkpoint_opens() -> None:
    log, impostor = NoteSigner.generate(ORIGIN), NoteSigner.generate(ORIGIN)
    state = checkpoint(leaves(5))
    assert open_checkpoint(log.sign(state.text()), log.verifier, ORIGIN) == state
    with pytest.raises(LogRefused, match="not the log's"):
        open_checkpoint(impostor.sign(state.text()), log.verifier, ORIGIN)
    other = Checkpoint("spectral.example/audit/org-2", 5, state.root)
    with pytest.raises(LogRefused, match=r"not 'spectral\.example/audit/org-1'"):
        open_checkpoint(log.sign(other.text()), log.verifier, ORIGIN)


def test_trust_moves_forward_along_consistent_checkpoints() -> None:
    history = leaves(40)
    trusted = extend_trust(None, checkpoint(history[:7]), [])
    for size in (7, 8, 20, 40):
        offered = checkpoint(history[:size])
        trusted = extend_trust(trusted, offered, consistency_proof(trusted.size, history[:size]))
        assert trusted == offered


def test_a_rollback_or_a_fork_is_refused() -> None:
    history = leaves(30)
    trusted = checkpoint(history[:20])
    with pytest.raises(LogRefused, match="rollback"):
        extend_trust(trusted, checkpoint(history[:10]), [])
    forked = leaves(30, rewrite=12)  # entry 12 rewritten after the client trusted size 20
    with pytest.raises(LogRefused, match="fork"):
        extend_trust(trusted, checkpoint(forked), consistency_proof(20, forked))
    same_size_other_root = checkpoint(leaves(20, rewrite=3))
    with pytest.raises(LogRefused, match="fork"):
        extend_trust(trusted, same_size_other_root, [])


def test_inclusion_is_checked_against_the_checkpoint() -> None:
    history = leaves(25)
    state = checkpoint(history)
    check_inclusion(state, 9, history[9], inclusion_proof(9, history))
    with pytest.raises(LogRefused, match="entry 9"):
        check_inclusion(state, 9, leaf_hash(b"not what was logged"), inclusion_proof(9, history))


def test_the_trusted_state_file_keeps_one_checkpoint_per_log(tmp_path: Path) -> None:
    store = TrustedState(tmp_path / "audit" / "trusted.json")
    assert store.get(ORIGIN) is None
    first, second = checkpoint(leaves(3)), Checkpoint("platform", 9, root_hash(leaves(9)))
    store.put(first)
    store.put(second)
    reopened = TrustedState(tmp_path / "audit" / "trusted.json")
    assert reopened.get(ORIGIN) == first and reopened.get("platform") == second
    assert [p.name for p in (tmp_path / "audit").iterdir()] == ["trusted.json"]  # no leftovers
