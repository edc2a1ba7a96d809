"""Reading the telemetry, violation, action and alert resources: one row of the caller's
organization (any other is a 404), and newest-first keyset pages, ordered by a timestamp and the
id and continued strictly after the last row's pair."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from spectral_governance.api.ai_systems import _is_uuid as is_uuid
from spectral_shared.identity import current_identity
from spectral_shared.web.pagination import PageQuery, decode_cursor, encode_cursor, invalid_cursor
from spectral_shared.web.problems import not_found
from spectral_shared.web.responses import current_runtime

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


def owned_row(model: Any, row_id: str, what: str) -> Any:
    """The row with this id in the caller's organization, detached; else a 404 naming ``what``."""
    if not is_uuid(row_id):
        raise not_found(what)
    with current_runtime().database.read_session() as session:
        row = session.scalars(
            select(model).where(
                model.id == row_id, model.organization_id == current_identity().organization_id
            )
        ).first()
        if row is None:
            raise not_found(what)
        session.expunge(row)
        return row
