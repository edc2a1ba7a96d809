"""What a stored audit entry must satisfy, the one definition the server's /verify and the
auditor's verifier share, and the export line that carries a stored entry between them."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from spectral_shared.tlog.audit_entries import (
    BrokenEntry,
    Mistyped,
    StoredEntry,
    check_entries,
    entry_fault,
    export_head,
    export_line,
    parse_export_head,
    parse_export_line,
)
from spectral_shared.tlog.canonical import canonical_json
from spectral_shared.tlog.merkle import leaf_hash

LOG = "7f1c0c52-4a7e-4a8e-9f57-0d8cf2b1e7a1"


def stored(index: int = 0, **changes: Any) -> StoredEntry:
    """Entry ``index`` as the audit service appends it, with ``changes`` to its stored columns
    (``body=...``/``leaf_hash=...`` replace those)."""
    entry = {
        "format": 1,
        "organization_id": LOG,
        "message_id": f"00000000-0000-4000-8000-{index:012d}",
        "action": "auth.user.logged_in",
        "event_version": 1,
        "actor": {"type": "user", "id": "u-1"},
        "resource": {"type": "user", "id": "u-1"},
        "occurred_at": "2026-11-26T09:30:00.123456Z",
        "received_at": "2026-11-26T09:30:00.200000Z",
        "data": {"method": "password"},
    }
    body = canonical_json(entry)
    columns: dict[str, Any] = {
        "message_id": entry["message_id"],
        "action": "auth.user.logged_in",
        "actor_type": "user",
        "actor_id": "u-1",
        "resource_type": "user",
        "resource_id": "u-1",
        "occurred_at": "2026-11-26T09:30:00.123456Z",
        "received_at": "2026-11-26T09:30:00.200000Z",
    }
    leaf: Any = changes.pop("leaf_hash", leaf_hash(body))
    body = changes.pop("body", body)
    columns.update(changes)
    return StoredEntry(index, leaf, body, columns)


def fault(entry: StoredEntry, purged: bool = False, log_id: str = LOG) -> str | None:
    return entry_fault(entry, log_id=log_id, purged=purged)


def test_an_entry_as_appended_is_sound() -> None:
    assert fault(stored()) is None
    same_instant = stored(occurred_at="2026-11-26T10:30:00.123456+01:00")
    assert fault(same_instant) is None
    assert fault(stored(body=None), purged=True) is None


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (stored(body=None), "lost its payload outside the purged range"),
        (stored(leaf_hash=None), "lost its leaf hash"),
        (stored(leaf_hash=b"\x00" * 31), "leaf hash is stored as 31 bytes"),
        (stored(leaf_hash=Mistyped("text")), "leaf hash is stored as text"),
        (stored(body=Mistyped("text")), "payload is stored as text, not bytes"),
        (stored(body=b'{"action":"auth.user.deleted"}'), "no longer matches its leaf hash"),
        (stored(action="auth.nothing.happened"), "stored action is not the action"),
        (stored(actor_id="u-2"), "stored actor_id is not"),
        (stored(actor_id=None), "stored actor_id is not"),
        (stored(actor_type="service"), "stored actor_type is not"),
        (stored(resource_id="u-2"), "stored resource_id is not"),
        (stored(message_id="00000000-0000-4000-8000-000000000099"), "stored message_id"),
        (stored(occurred_at="2026-11-26T09:30:00.123457Z"), "stored occurred_at is not"),
        (stored(received_at="2026-11-26 09:30:00.2"), "stored received_at is not"),  # no zone
        (stored(received_at="yesterday"), "stored received_at is not"),
        (stored(action=Mistyped("blob")), "stored action is stored as blob"),
    ],
)
def test_each_corruption_is_named(entry: StoredEntry, reason: str) -> None:
    assert reason in (fault(entry) or "")


def test_an_entry_of_another_log_or_not_an_entry_is_refused() -> None:
    assert "belongs to another log" in (fault(stored(), log_id="platform") or "")
    columns = {name: None for name in stored().columns}
    not_json = StoredEntry(0, leaf_hash(b"[1]"), b"[1]", columns)
    assert "not an audit entry" in (fault(not_json) or "")
    missing = dataclasses.replace(stored(), columns={})
    assert "stored message_id is stored as nothing" in (fault(missing) or "")


def test_the_scan_names_the_first_broken_index() -> None:
    log = [stored(i) for i in range(6)]
    assert list(check_entries(log, 6, log_id=LOG, purged_below=0)) == [e.leaf_hash for e in log]
    purged = [dataclasses.replace(e, body=None) if e.index < 2 else e for e in log]
    assert len(list(check_entries(purged, 6, log_id=LOG, purged_below=2))) == 6
    cases = [
        (purged, 1, 1, "outside the purged range"),  # the watermark says only entry 0 was purged
        (log[:3] + log[4:], 0, 3, "entry 3 is missing"),
        (log[:4], 0, 4, "entry 4 is missing"),
        ([*log[:2], stored(2, actor_id="u-9"), *log[3:]], 0, 2, "stored actor_id"),
    ]
    for entries, purged_below, index, reason in cases:
        with pytest.raises(BrokenEntry) as broken:
            list(check_entries(entries, 6, log_id=LOG, purged_below=purged_below))
        assert broken.value.index == index and reason in broken.value.reason


@pytest.mark.parametrize(
    "entry",
    [
        stored(3),
        stored(4, body=None),
        stored(5, body=Mistyped("text"), leaf_hash=Mistyped("text"), action=Mistyped("blob")),
        stored(6, leaf_hash=None, actor_id=None),
        dataclasses.replace(stored(7), index=Mistyped("real")),
    ],
)
def test_an_export_line_carries_the_stored_entry_unchanged(entry: StoredEntry) -> None:
    line = export_line(entry)
    assert line.endswith(b"}\n") and line.count(b"\n") == 1
    assert parse_export_line(line.rstrip(b"\n")) == entry
    if isinstance(entry.body, bytes):
        assert line.rstrip(b"\n").endswith(b',"entry":' + entry.body + b"}")  # verbatim


def test_export_lines_a_verifier_cannot_check_are_refused() -> None:
    assert parse_export_head(export_head("note\n", 4)) == ("note\n", 4)
    for head in (b'{"checkpoint": "note\\n"}', b"[]", b"", b'{"purged_below": 1}'):
        with pytest.raises(ValueError, match="export"):
            parse_export_head(head)
    old_format = b'{"index":0,"leaf_hash":"AAAA","entry":{"action":"x"}}'
    with pytest.raises(ValueError, match="without its stored columns"):
        parse_export_line(old_format)
    for line in (b'{"index":"0","columns":{},"entry":null}', b"not json", b'{"entry":1'):
        with pytest.raises(ValueError, match="not an entry"):
            parse_export_line(line)
    bad_base64 = parse_export_line(b'{"index":0,"leaf_hash":"***","columns":{},"entry":null}')
    assert isinstance(bad_base64.leaf_hash, Mistyped)
