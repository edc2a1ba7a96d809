"""The bytes an audit entry is hashed as: RFC 8785 (JSON Canonicalization Scheme) JSON, so any
verifier in any language gets the same bytes from the same entry, and one entry has exactly one
encoding. The encoding is ``rfc8785`` (Trail of Bits), not hand-rolled: member order by UTF-16
code units and ECMAScript number formatting are easy to get subtly wrong."""

from __future__ import annotations

from typing import Any

import rfc8785

from spectral_shared.tlog.merkle import leaf_hash

__all__ = ["canonical_json", "entry_leaf_hash"]


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of a JSON value (dicts, lists, str, int, float, bool, None)."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(f"not canonicalizable JSON: {exc}") from exc


def entry_leaf_hash(entry: Any) -> bytes:
    """The Merkle leaf hash of an entry: SHA-256(0x00 || canonical JSON)."""
    return leaf_hash(canonical_json(entry))
