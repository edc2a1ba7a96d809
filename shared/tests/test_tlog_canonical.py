"""RFC 8785 canonical JSON for audit entries: one encoding per value, whatever the input order."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from spectral_shared.tlog.canonical import canonical_json, entry_leaf_hash


def test_members_sort_by_utf16_code_units_and_whitespace_goes() -> None:
    # RFC 8785 section 3.2.3's example of ordering: by UTF-16 code units, not code points.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(json.loads(canonical_json(value)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    assert (
        canonical_json({"b": [1, 2], "a": {"y": None, "x": True}})
        == b'{"a":{"x":true,"y":null},"b":[1,2]}'
    )


def test_numbers_use_ecmascript_formatting() -> None:
    assert canonical_json([1.0, 0.5, 1e30, -0.0, 100]) == b"[1,0.5,1e+30,0,100]"
    with pytest.raises(ValueError, match="not canonicalizable"):
        canonical_json([math.nan])


def test_the_leaf_hash_does_not_depend_on_how_the_entry_was_built() -> None:
    one = {"action": "auth.user.logged_in", "organization_id": "o1", "data": {"b": 2, "a": 1}}
    other = {"data": {"a": 1, "b": 2}, "organization_id": "o1", "action": "auth.user.logged_in"}
    assert entry_leaf_hash(one) == entry_leaf_hash(other)
    assert entry_leaf_hash(one) == hashlib.sha256(b"\x00" + canonical_json(one)).digest()


_json_without_floats = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_json_without_floats)
def test_the_fast_path_gives_the_bytes_rfc8785_gives(value: object) -> None:
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(ValueError, match="not canonicalizable"):
            canonical_json(value)
        return
    assert canonical_json(value) == expected
