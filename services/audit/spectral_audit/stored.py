"""Reading a log's entries as they are stored, types and all: what ``/verify`` checks and the
JSON lines export serves.

On SQLite a column holds whatever was written to it (a blob rewritten as text, text that is not
UTF-8, a number); each value is read as its storage class and its raw bytes, so nothing stored
can make the read itself fail, and a value of the wrong type reaches the check as ``Mistyped``,
a corruption at its index. PostgreSQL enforces the columns' types; its values are taken as the
driver returns them, and judged the same way.

The log's purge watermark comes with every row, from the same statement, so a purge that
commits while a log is read cannot make a payload it dropped look missing above the watermark.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import chain
from typing import Any

from sqlalchemy import LargeBinary, and_, cast, func, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType

from spectral_audit.entries import rfc3339
from spectral_audit.models import Checkpoint, Entry, Log, Node
from spectral_shared.tlog.audit_entries import INDEXED_COLUMNS, Mistyped, StoredEntry

_CHUNK = 5_000
# What each value read must be: its SQLite storage class (times are text there).
_KINDS = {
    "idx": "integer",
    "purged_below": "integer",
    "hash": "blob",
    "body": "blob",
    **{name: "text" for name in INDEXED_COLUMNS},
}
_TIMES = ("occurred_at", "received_at")


def _read(sqlite: bool, name: str, column: Any) -> list[ColumnElement[Any]]:
    if not sqlite:
        return [type_coerce(column, NullType()).label(name)]
    return [
        func.typeof(column).label(f"{name}__kind"),
        type_coerce(cast(column, LargeBinary), NullType()).label(name),
    ]


def _sqlite_value(kind: str, raw: Any, wanted: str) -> Any:
    if kind == "null":
        return None
    if kind != wanted:
        return Mistyped(kind)
    if kind == "blob":
        return bytes(raw)
    if kind == "integer":
        return int(bytes(raw))
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return Mistyped("text that is not UTF-8")


_PYTHON_TYPES = {"integer": (int,), "blob": (bytes, memoryview), "text": (str,)}


def _postgres_value(raw: Any, wanted: str, time: bool) -> Any:
    if raw is None:
        return None
    if time:
        return raw if isinstance(raw, datetime) else Mistyped(type(raw).__name__)
    if isinstance(raw, bool) or not isinstance(raw, _PYTHON_TYPES[wanted]):
        return Mistyped(type(raw).__name__)
    return bytes(raw) if isinstance(raw, memoryview) else raw


def _stamp(value: Any) -> Any:
    """A stored time as RFC 3339 text (SQLite keeps UTC without a zone); text that is no time
    stays as it is, and fails the check against the entry's own time."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return rfc3339(value if value.tzinfo else value.replace(tzinfo=UTC))
    return value


def _value(row: Any, name: str, wanted: str, sqlite: bool) -> Any:
    if sqlite:
        return _sqlite_value(getattr(row, f"{name}__kind"), getattr(row, name), wanted)
    return _postgres_value(getattr(row, name), wanted, name in _TIMES)


def _values(row: Any, sqlite: bool) -> dict[str, Any]:
    values = {name: _value(row, name, wanted, sqlite) for name, wanted in _KINDS.items()}
    for name in _TIMES:
        values[name] = _stamp(values[name])
    return values


def _hash(value: Any) -> bytes:
    return value if isinstance(value, bytes) and len(value) == 32 else b""


def _watermark(value: Any) -> int:
    return value if type(value) is int and value >= 0 else 0  # unreadable: nothing is purged


def in_window(statement: Any, start: int | datetime | None, end: int | datetime | None) -> Any:
    """``statement`` kept to a window of entries, [start, end): indexes or occurred_at times."""
    if isinstance(start, int):
        statement = statement.where(Entry.idx >= start)
    elif isinstance(start, datetime):
        statement = statement.where(Entry.occurred_at >= start)
    if isinstance(end, int):
        statement = statement.where(Entry.idx < end)
    elif isinstance(end, datetime):
        statement = statement.where(Entry.occurred_at < end)
    return statement


def read_log(
    session: Session,
    log_id: str,
    below: int,
    start: int | datetime | None = None,
    end: int | datetime | None = None,
) -> tuple[int, Iterator[StoredEntry]]:
    """The log's purge watermark and its entries below index ``below`` as stored, in index
    order; ``start``/``end``: a window of indexes or of occurred_at times, [start, end)."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    watermark = select(Log.purged_below).where(Log.id == log_id).scalar_subquery()
    read = {
        "idx": Entry.idx,
        "purged_below": watermark,
        "hash": Node.hash,
        "body": Entry.body,
        **{name: getattr(Entry, name) for name in INDEXED_COLUMNS},
    }
    statement = (
        select(*(c for name, column in read.items() for c in _read(sqlite, name, column)))
        .select_from(Entry)
        .outerjoin(Node, and_(Node.log_id == Entry.log_id, Node.level == 0, Node.idx == Entry.idx))
        .where(Entry.log_id == log_id, Entry.idx < below)
    )
    statement = in_window(statement, start, end)
    if not sqlite:
        return _read_postgres(session, statement.order_by(Entry.idx), watermark)
    rows = session.execute(statement.order_by(Entry.idx).execution_options(yield_per=_CHUNK))
    entries = (_values(row, sqlite) for row in rows)
    first = next(entries, None)
    if first is None:
        only = session.execute(select(*_read(sqlite, "purged_below", watermark))).one()
        return _watermark(_value(only, "purged_below", "integer", sqlite)), iter(())
    return _watermark(first["purged_below"]), (
        StoredEntry(
            values["idx"],
            values["hash"],
            values["body"],
            {name: values[name] for name in INDEXED_COLUMNS},
        )
        for values in chain([first], entries)
    )


# PostgreSQL renders the times as the entries wrote them (rfc3339: microseconds, "Z"), so the
# common case compares text with text; any other text still compares as an instant.
_RFC3339 = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


def _read_postgres(
    session: Session, statement: Any, watermark: Any
) -> tuple[int, Iterator[StoredEntry]]:
    """PostgreSQL keeps every column to its type (bytea as bytes, text as str, bigint as int):
    rows are read as plain tuples in one pass, a million entries in seconds."""
    columns = [
        column if name not in _TIMES else func.to_char(func.timezone("UTC", column), _RFC3339)
        for name, column in zip(
            ("idx", "purged_below", "hash", "body", *INDEXED_COLUMNS),
            statement.selected_columns,
            strict=True,
        )
    ]
    rows = session.connection().execute(
        statement.with_only_columns(*columns).execution_options(yield_per=_CHUNK)
    )

    def entries(first: Any) -> Iterator[StoredEntry]:
        names = INDEXED_COLUMNS
        for index, _, leaf, body, *values in chain([first], rows):
            yield StoredEntry(index, leaf, body, dict(zip(names, values, strict=True)))

    first = next(iter(rows), None)
    if first is None:
        only = session.execute(select(watermark)).scalar()
        return _watermark(only), iter(())
    return _watermark(first[1]), entries(first)


def latest_signed(session: Session, log_id: str) -> tuple[int, bytes] | None:
    """The size and root of the log's latest checkpoint (a root stored as anything but 32 bytes
    comes back empty, and matches no tree)."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    row = session.execute(
        select(Checkpoint.size, *_read(sqlite, "root", Checkpoint.root))
        .where(Checkpoint.log_id == log_id)
        .order_by(Checkpoint.size.desc())
        .limit(1)
    ).one_or_none()
    if row is None:
        return None
    return int(row.size), _hash(_value(row, "root", "blob", sqlite))


def signed_roots(session: Session, log_id: str) -> list[tuple[int, bytes]]:
    """Every signed checkpoint of the log, (size, root), as :func:`latest_signed` reads one."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    rows = session.execute(
        select(Checkpoint.size, *_read(sqlite, "root", Checkpoint.root)).where(
            Checkpoint.log_id == log_id
        )
    )
    return [(int(row.size), _hash(_value(row, "root", "blob", sqlite))) for row in rows]


def stored_leaves(session: Session, log_id: str, below: int) -> Iterator[bytes]:
    """The stored leaf hashes ``0..below-1`` in index order (one stored as anything but 32
    bytes comes back empty, and matches no tree)."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    rows = session.execute(
        select(*_read(sqlite, "hash", Node.hash))
        .where(Node.log_id == log_id, Node.level == 0, Node.idx < below)
        .order_by(Node.idx)
        .execution_options(yield_per=20_000)
    )
    return (_hash(_value(row, "hash", "blob", sqlite)) for row in rows)
