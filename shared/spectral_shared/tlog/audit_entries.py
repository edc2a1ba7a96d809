"""What a stored audit entry must satisfy: the one definition that the audit service's
``GET /api/v1/audit/verify`` and the auditor's ``spectral audit verify --full`` both apply, and
the export line that carries a stored entry from the one to the other unchanged.

An entry is stored as its index, its leaf hash (kept forever), its RFC 8785 bytes (NULL once
retention purged them) and the columns queries filter on. The columns sit outside the hash, so
each must equal what the hashed bytes say: otherwise rewriting ``action`` would hide an entry
from a filtered read while the tree still verified. A value stored as the wrong type (a blob
rewritten as text) arrives as :class:`Mistyped` and is a corruption at its index like any other.
Once an entry is purged its columns can no longer be checked against anything; the database's
trigger keeps them as they were (migration 0005 of audit).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

__all__ = [
    "INDEXED_COLUMNS",
    "PLATFORM_LOG",
    "BrokenEntry",
    "Mistyped",
    "StoredEntry",
    "check_entries",
    "entry_fault",
    "export_head",
    "export_line",
    "indexed_values",
    "parse_export_head",
    "parse_export_line",
]

# The log of events that belong to no organization; every other log is named by its organization.
PLATFORM_LOG = "platform"
# The stored columns that repeat something the hashed bytes say, in the order they are exported.
INDEXED_COLUMNS = (
    "message_id",
    "action",
    "actor_type",
    "actor_id",
    "resource_type",
    "resource_id",
    "occurred_at",
    "received_at",
)
_TIMES = frozenset({"occurred_at", "received_at"})
_NULLABLE = frozenset({"actor_id", "resource_id"})
_ENTRY_MEMBER = b',"entry":'


@dataclass(frozen=True)
class Mistyped:
    """A stored value of another type than its column's (``stored_as``: text, blob, integer...)."""

    stored_as: str


_ABSENT = Mistyped("nothing")


@dataclass(frozen=True)
class StoredEntry:
    """One row of a log as stored: the leaf hash should be 32 bytes, the body bytes or None
    (purged), each column text (or None where nullable); anything else is a corruption."""

    index: int | Mistyped
    leaf_hash: bytes | Mistyped | None
    body: bytes | Mistyped | None
    columns: Mapping[str, str | Mistyped | None]


class BrokenEntry(Exception):
    """The log is broken at ``index``, for ``reason``."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index, self.reason = index, reason


def _member(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else None


def indexed_values(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What each indexed column must hold, from the entry's hashed JSON (as appended: the actor's
    id cut to the column's 64 characters, an empty one stored as NULL)."""
    actor, resource = entry.get("actor"), entry.get("resource")
    actor_id = _member(actor, "id")
    if isinstance(actor_id, str):
        actor_id = actor_id[:64] or None
    return {
        "message_id": entry.get("message_id"),
        "action": entry.get("action"),
        "actor_type": _member(actor, "type"),
        "actor_id": actor_id,
        "resource_type": _member(resource, "type"),
        "resource_id": _member(resource, "id"),
        "occurred_at": entry.get("occurred_at"),
        "received_at": entry.get("received_at"),
    }


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _same(name: str, stored: object, expected: object) -> bool:
    if name in _TIMES:
        instant = _instant(stored)
        return instant is not None and instant == _instant(expected)
    if name in _NULLABLE and stored == "":
        stored = None  # searches never match an empty id; older rows may hold one
    return (stored is None or type(stored) is str) and stored == expected


def entry_fault(entry: StoredEntry, *, log_id: str, purged: bool) -> str | None:
    """Why ``entry`` is not what the log holds at its index, or None if it is. ``purged``: the
    index is below the log's purge watermark, so its payload may be gone."""
    index, leaf, body = entry.index, entry.leaf_hash, entry.body
    if isinstance(index, Mistyped):
        return f"an entry's index is stored as {index.stored_as}"
    if leaf is None:
        return f"entry {index} has lost its leaf hash"
    if isinstance(leaf, Mistyped) or len(leaf) != 32:
        kind = leaf.stored_as if isinstance(leaf, Mistyped) else f"{len(leaf)} bytes"
        return f"entry {index}'s leaf hash is stored as {kind}, not 32 bytes"
    if body is None:
        return None if purged else f"entry {index} has lost its payload outside the purged range"
    if isinstance(body, Mistyped):
        return f"entry {index}'s payload is stored as {body.stored_as}, not bytes"
    if hashlib.sha256(b"\x00" + body).digest() != leaf:
        return f"entry {index} was changed: it no longer matches its leaf hash"
    try:
        hashed = orjson.loads(body)
    except orjson.JSONDecodeError:
        hashed = None
    if not isinstance(hashed, dict):
        return f"entry {index}'s payload is not an audit entry"
    organization = hashed.get("organization_id")
    if (PLATFORM_LOG if organization is None else organization) != log_id:
        return f"entry {index} belongs to another log than {log_id}"
    columns = entry.columns
    expected_columns = indexed_values(hashed)
    if columns == expected_columns:
        return None  # the common case: the very values the entry holds (Mistyped equals nothing)
    for name, expected in expected_columns.items():
        stored = columns.get(name, _ABSENT)
        if stored == expected and (stored is None or type(stored) is str):
            continue  # the common case: the very text the entry holds
        if isinstance(stored, Mistyped):
            return f"entry {index}'s stored {name} is stored as {stored.stored_as}, not text"
        if not _same(name, stored, expected):
            return f"entry {index}'s stored {name} is not the {name} its hashed payload holds"
    return None


def check_entries(
    entries: Iterable[StoredEntry],
    size: int,
    *,
    log_id: str,
    purged_below: int,
    progress: Callable[[int], None] = lambda done: None,
) -> Iterator[bytes]:
    """The leaf hashes of entries ``0..size-1``, each one checked (:func:`entry_fault`) and in
    its place; :class:`BrokenEntry` at the first that is missing, out of place or faulty.
    ``entries`` come in index order; any beyond ``size`` are ignored."""
    expected = 0
    for entry in entries:
        index = entry.index
        if not isinstance(index, int):
            raise BrokenEntry(
                expected,
                f"entry {expected} is missing: {entry_fault(entry, log_id=log_id, purged=False)}",
            )
        if index >= size:
            break
        if index != expected:
            raise BrokenEntry(expected, f"entry {expected} is missing")
        fault = entry_fault(entry, log_id=log_id, purged=index < purged_below)
        if fault is not None:
            raise BrokenEntry(index, fault)
        yield entry.leaf_hash  # type: ignore[misc]  # 32 bytes: entry_fault checked
        expected += 1
        if not expected & 0x3FFF:
            progress(expected)
    if expected < size:
        raise BrokenEntry(expected, f"entry {expected} is missing")
    progress(expected)


# ---- the JSON lines export ----------------------------------------------------------------------------
#
# The first line: ``{"checkpoint": "<signed note>", "purged_below": N}``. Then one line per entry:
# ``{"index":N,"leaf_hash":"<base64>","columns":{...},"entry":<canonical bytes verbatim>}``, the
# entry member last and verbatim (``null`` once purged) so a verifier hashes the served bytes
# as they are. A value stored as the wrong type is sent as null and named in ``"stored_as"``
# (``{"payload": "text"}``): the client then checks the very entry the server would. Nothing
# before the entry member is named ``entry``, so the first ``,"entry":`` is the entry's.


def export_head(note: str, purged_below: int) -> bytes:
    return json.dumps({"checkpoint": note, "purged_below": purged_below}).encode() + b"\n"


def parse_export_head(line: bytes) -> tuple[str, int]:
    """(signed note, purge watermark) of an export's first line; ValueError if it is not one."""
    try:
        head = json.loads(line)
    except ValueError:
        head = None
    note, purged_below = _member(head, "checkpoint"), _member(head, "purged_below")
    if not isinstance(note, str):
        raise ValueError("the export does not start with its checkpoint")
    if type(purged_below) is not int or purged_below < 0:
        raise ValueError("the export does not say which entries retention purged")
    return note, purged_below


def export_line(entry: StoredEntry) -> bytes:
    mistyped: dict[str, str] = {}
    index: int | None = None
    if isinstance(entry.index, Mistyped):
        mistyped["index"] = entry.index.stored_as
    else:
        index = entry.index
    leaf: str | None = None
    if isinstance(entry.leaf_hash, Mistyped):
        mistyped["leaf_hash"] = entry.leaf_hash.stored_as
    elif entry.leaf_hash is not None:
        leaf = base64.b64encode(entry.leaf_hash).decode()
    columns: dict[str, str | None] = {}
    for name in INDEXED_COLUMNS:
        value = entry.columns.get(name)
        if isinstance(value, Mistyped):
            mistyped[name] = value.stored_as
            value = None
        columns[name] = value
    body = b"null"
    if isinstance(entry.body, Mistyped):
        mistyped["payload"] = entry.body.stored_as
    elif entry.body is not None:
        body = entry.body
    head: dict[str, object] = {"index": index, "leaf_hash": leaf, "columns": columns}
    if mistyped:
        head["stored_as"] = mistyped
    text = json.dumps(head, separators=(",", ":")).encode()
    return text[:-1] + _ENTRY_MEMBER + body + b"}\n"


def parse_export_line(line: bytes) -> StoredEntry:
    """The stored entry an export line carries; ValueError if the line is not one."""
    head, found, rest = line.partition(_ENTRY_MEMBER)
    if not found or not rest.endswith(b"}"):
        raise ValueError("the export has a line that is not an entry")
    try:
        meta = json.loads(head + b"}")
    except ValueError:
        meta = None
    mistyped = meta.get("stored_as") if isinstance(meta, dict) else None
    mistyped = mistyped if isinstance(mistyped, dict) else {}
    if not isinstance(meta, dict) or (
        type(meta.get("index")) is not int and "index" not in mistyped
    ):
        raise ValueError("the export has a line that is not an entry")
    columns = meta.get("columns")
    if not isinstance(columns, dict):
        raise ValueError(
            f"entry {meta.get('index')} comes without its stored columns: the server's export is "
            "older than this verifier, which cannot check it fully"
        )
    leaf: bytes | Mistyped | None = None
    if isinstance(meta.get("leaf_hash"), str):
        try:
            leaf = base64.b64decode(meta["leaf_hash"], validate=True)
        except binascii.Error:
            leaf = Mistyped("something that is not base64")
    verbatim = rest[:-1]
    body: bytes | Mistyped | None = None if verbatim == b"null" else verbatim
    stored: dict[str, str | Mistyped | None] = {
        name: value if value is None or isinstance(value, str) else Mistyped(type(value).__name__)
        for name, value in columns.items()
    }
    index: int | Mistyped = meta["index"] if type(meta.get("index")) is int else Mistyped("")
    for name, kind in mistyped.items():
        if name == "payload":
            body = Mistyped(str(kind))
        elif name == "leaf_hash":
            leaf = Mistyped(str(kind))
        elif name == "index":
            index = Mistyped(str(kind))
        else:
            stored[name] = Mistyped(str(kind))
    return StoredEntry(index, leaf, body, stored)
