"""Keyset pagination for every list: ``limit`` + ``cursor``, answer ``{"data", "next_cursor"}``.

The cursor is opaque to clients: base64url of the last row's sort key. Pages are stable under
concurrent inserts because they continue strictly after a key, never at an offset. A list
declares its order once as a ``Keyset`` (sort expressions, the last one unique, usually the id)
and lets it filter, order, limit and make the next cursor.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Select, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from spectral_shared.web.problems import Problem


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)


def encode_cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": key}).encode()).decode().rstrip("=")


def invalid_cursor(detail: str = "Pass next_cursor from a previous page as is.") -> Problem:
    """The 400 for a cursor that was not handed out (or not for this query)."""
    return Problem(400, "Invalid cursor", detail=detail, type_slug="invalid-cursor")


def decode_cursor(cursor: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["after"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise invalid_cursor() from None


Row = TypeVar("Row")


@dataclass(frozen=True)
class Keyset(Generic[Row]):
    """The order a list pages in: sort expressions whose last one is unique (the id), all
    ascending or all descending. ``values`` reads a row's key (by default its attributes named
    after the columns)."""

    keys: tuple[ColumnElement[Any] | InstrumentedAttribute[Any], ...]
    descending: bool = False
    values: Callable[[Row], Sequence[Any]] | None = None
    # What a refused cursor's problem says (a list with several orders names the sort too).
    hint: str = "Pass next_cursor from a previous page as is."

    def apply(self, statement: Select[Any], query: PageQuery) -> Select[Any]:
        """The statement continued after the query's cursor, ordered, one row over the limit."""
        return self.ordered(self.after(statement, query)).limit(query.limit + 1)

    def after(self, statement: Select[Any], query: PageQuery) -> Select[Any]:
        """Only the rows strictly after the query's cursor (all of them without one)."""
        if not query.cursor:
            return statement
        values = self.decode(query.cursor)
        after = tuple_(*self.keys)
        bound = tuple_(*(literal(v, k.type) for k, v in zip(self.keys, values, strict=True)))
        return statement.where(after < bound if self.descending else after > bound)

    def ordered(self, statement: Select[Any]) -> Select[Any]:
        return statement.order_by(*(key.desc() if self.descending else key for key in self.keys))

    def page(self, rows: Sequence[Row], query: PageQuery) -> tuple[list[Row], str | None]:
        """The rows of the page and the cursor of the next one (None on the last page)."""
        page = list(rows[: query.limit])
        if len(rows) <= query.limit or not page:
            return page, None
        return page, self.cursor_after(page[-1])

    def cursor_after(self, row: Row) -> str:
        key = self.values(row) if self.values else [getattr(row, str(k.key)) for k in self.keys]
        return encode_cursor([v.isoformat() if isinstance(v, datetime) else v for v in key])

    def decode(self, cursor: str) -> list[Any]:
        """The key a cursor continues after, each value checked against its column's type."""
        try:
            after = decode_cursor(cursor)
            if not isinstance(after, list) or len(after) != len(self.keys):
                raise invalid_cursor()
            return [_typed(key, value) for key, value in zip(self.keys, after, strict=True)]
        except Problem:
            raise invalid_cursor(self.hint) from None


def page_of_list(
    items: Sequence[Row], query: PageQuery, key: Callable[[Row], str]
) -> tuple[list[Row], str | None]:
    """A page of a list built in memory (in a fixed order, each item's ``key`` unique), continued
    after the item whose key the cursor names: for lists that are not one query's rows."""
    start = 0
    if query.cursor:
        after = decode_cursor(query.cursor)
        index = next((i for i, item in enumerate(items) if key(item) == after), None)
        if index is None:
            raise invalid_cursor()
        start = index + 1
    page = list(items[start : start + query.limit])
    more = start + query.limit < len(items)
    return page, encode_cursor(key(page[-1])) if more and page else None


def _typed(key: ColumnElement[Any] | InstrumentedAttribute[Any], value: Any) -> Any:
    column_type = getattr(key.type, "impl_instance", key.type)  # a TypeDecorator's own type
    try:
        kind = column_type.python_type
    except NotImplementedError:
        kind = str
    if kind is datetime and isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value)
        except ValueError:
            raise invalid_cursor() from None
        if stamp.tzinfo is not None:  # every stored time is UTC-aware; a naive one was forged
            return stamp
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    raise invalid_cursor()
