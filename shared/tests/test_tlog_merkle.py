"""RFC 6962 trees and RFC 9162 proofs: against a naive definition, against themselves for every
small tree, and against transparency-dev's published test vectors (fixtures/transparency-dev)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from spectral_shared.tlog.merkle import (
    EMPTY_ROOT,
    CompactRange,
    InvalidProof,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    nodes_for_append,
    nodes_needed,
    root_hash,
    stored_consistency_proof,
    stored_inclusion_proof,
    stored_root,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parent / "fixtures" / "transparency-dev"
# The eight leaves of RFC 6962's reference tree, which transparency-dev's vectors are built on.
REFERENCE_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
REFERENCE_ROOT = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def naive_root(leaves: Sequence[bytes]) -> bytes:
    """MTH exactly as RFC 6962 section 2.1 states it."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(naive_root(leaves[:k]), naive_root(leaves[k:]))


def hashes(n: int) -> list[bytes]:
    return [leaf_hash(f"entry {i}".encode()) for i in range(n)]


def test_the_reference_tree_has_the_published_root() -> None:
    assert root_hash([leaf_hash(d) for d in REFERENCE_LEAVES]).hex() == REFERENCE_ROOT
    assert root_hash([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 100, 1000])
def test_root_matches_the_recursive_definition(n: int) -> None:
    leaves = hashes(n)
    assert root_hash(leaves) == naive_root(leaves)


def test_every_inclusion_and_consistency_proof_of_small_trees_verifies_and_tampering_fails() -> (
    None
):
    for n in range(1, 34):
        leaves = hashes(n)
        root = root_hash(leaves)
        for index in range(n):
            proof = inclusion_proof(index, leaves)
            verify_inclusion(index, n, leaves[index], proof, root)
            with pytest.raises(InvalidProof):
                verify_inclusion(index, n, leaf_hash(b"forged"), proof, root)
            if proof:
                bent = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
                with pytest.raises(InvalidProof):
                    verify_inclusion(index, n, leaves[index], bent, root)
            with pytest.raises(InvalidProof):
                verify_inclusion(index, n, leaves[index], [*proof, root], root)
        for m in range(0, n + 1):
            proof = consistency_proof(m, leaves)
            old = root_hash(leaves[:m])
            verify_consistency(m, n, old, root, proof)
            if 0 < m < n:
                with pytest.raises(InvalidProof):
                    verify_consistency(m, n, leaf_hash(b"forged"), root, proof)
                with pytest.raises(InvalidProof):
                    verify_consistency(m, n, old, root, proof[:-1])


def test_a_proof_of_a_different_history_fails() -> None:
    leaves = hashes(20)
    rewritten = [*leaves[:5], leaf_hash(b"changed"), *leaves[6:]]
    proof = consistency_proof(10, rewritten)
    with pytest.raises(InvalidProof):
        verify_consistency(10, 20, root_hash(leaves[:10]), root_hash(rewritten), proof)


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _vectors(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).glob("*/*.json"))


@pytest.mark.parametrize("path", _vectors("inclusion"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_transparency_dev_inclusion_vectors(path: Path) -> None:
    case = json.loads(path.read_text())
    proof = [_b64(h) for h in case["proof"] or []]
    arguments = (case["leafIdx"], case["treeSize"], _b64(case["leafHash"]), proof)
    if case["wantErr"]:
        with pytest.raises(InvalidProof):
            verify_inclusion(*arguments, _b64(case["root"]))
    else:
        verify_inclusion(*arguments, _b64(case["root"]))
        # The happy paths are proofs in the reference tree: generate them too.
        if case["treeSize"] <= len(REFERENCE_LEAVES):
            leaves = [leaf_hash(d) for d in REFERENCE_LEAVES[: case["treeSize"]]]
            assert inclusion_proof(case["leafIdx"], leaves) == proof


@pytest.mark.parametrize("path", _vectors("consistency"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_transparency_dev_consistency_vectors(path: Path) -> None:
    case = json.loads(path.read_text())
    proof = [_b64(h) for h in case["proof"] or []]
    arguments = (case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]), proof)
    if case["wantErr"]:
        with pytest.raises(InvalidProof):
            verify_consistency(*arguments)
    else:
        verify_consistency(*arguments)
        if case["size2"] <= len(REFERENCE_LEAVES):
            leaves = [leaf_hash(d) for d in REFERENCE_LEAVES[: case["size2"]]]
            assert consistency_proof(case["size1"], leaves) == proof


def test_the_vectors_are_there() -> None:
    """A missing fixture directory must not pass as zero parametrized cases."""
    assert len(_vectors("inclusion")) >= 20 and len(_vectors("consistency")) >= 20


def test_a_tree_kept_as_stored_nodes_gives_the_same_roots_and_proofs() -> None:
    """What the audit service stores (every perfect subtree's hash, written as appends complete
    them) answers exactly what the whole-tree functions compute."""
    stored: dict[tuple[int, int], bytes] = {}

    def node(level: int, index: int) -> bytes:
        return stored[(level, index)]

    leaves = hashes(70)
    for size, leaf in enumerate(leaves):
        for level, index, value in nodes_for_append(size, leaf, node):
            assert (level, index) not in stored  # appends never rewrite a node
            stored[(level, index)] = value
        n = size + 1
        assert stored_root(n, node) == root_hash(leaves[:n])
        for index in range(n):
            assert stored_inclusion_proof(index, n, node) == inclusion_proof(index, leaves[:n])
        for m in range(n + 1):
            assert stored_consistency_proof(m, n, node) == consistency_proof(m, leaves[:n])
    assert len(stored) == 2 * len(leaves) - bin(len(leaves)).count("1")  # perfect subtrees only
    assert stored_root(0, node) == EMPTY_ROOT


def test_a_compact_range_appends_stores_and_roots_like_the_whole_tree() -> None:
    leaves = hashes(300)
    compact, stored = CompactRange(), {}
    for i, leaf in enumerate(leaves):
        for level, index, value in compact.append(leaf):
            stored[(level, index)] = value
        assert compact.root() == root_hash(leaves[: i + 1])
        compact = CompactRange.from_bytes(
            compact.size, compact.to_bytes()
        )  # as the log row keeps it
    assert len(stored) == 2 * 300 - (300).bit_count()  # every perfect subtree, once
    assert stored_root(300, lambda level, index: stored[(level, index)]) == root_hash(leaves)
    with pytest.raises(ValueError, match="3 hashes"):
        CompactRange(7, leaves[:2])


def test_the_nodes_a_proof_needs_are_known_before_reading_any() -> None:
    leaves = hashes(1000)
    compact, stored = CompactRange(), {}
    for leaf in leaves:
        stored.update({(lv, ix): h for lv, ix, h in compact.append(leaf)})
    wanted = nodes_needed(lambda node: stored_inclusion_proof(517, 1000, node))
    fetched = {key: stored[key] for key in wanted}
    proof = stored_inclusion_proof(517, 1000, lambda level, index: fetched[(level, index)])
    assert proof == inclusion_proof(517, leaves)
    wanted = nodes_needed(lambda node: stored_consistency_proof(300, 1000, node))
    fetched = {key: stored[key] for key in wanted}
    assert stored_consistency_proof(
        300, 1000, lambda level, index: fetched[(level, index)]
    ) == consistency_proof(300, leaves)
