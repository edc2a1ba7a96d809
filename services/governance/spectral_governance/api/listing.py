"""Newest-first keyset pages for the telemetry, violation, action and alert lists: ordered by a
timestamp and the id, continued strictly after the last row's pair."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from spectral_shared.web.pagination import PageQuery, decode_cursor, encode_cursor, invalid_cursor

T = TypeVar("T")


def newest_first(
    session: Session,
    statement: Select[Any],
    query: PageQuery,
    at: InstrumentedAttribute[datetime],
    key: InstrumentedAttribute[str],
    out: Callable[[Any], T],
) -> tuple[list[T], str | None]:
    if query.cursor:
        after = decode_cursor(query.cursor)
        try:
            stamp, last_id = datetime.fromisoformat(after[0]), str(after[1])
        except (TypeError, ValueError, IndexError, KeyError):
            raise invalid_cursor() from None
        statement = statement.where(or_(at < stamp, (at == stamp) & (key < last_id)))
    rows: Sequence[Any] = session.scalars(
        statement.order_by(at.desc(), key.desc()).limit(query.limit + 1)
    ).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor = None
    if more:
        last = rows[-1]
        cursor = encode_cursor([getattr(last, at.key).isoformat(), getattr(last, key.key)])
    return [out(row) for row in rows], cursor
