"""The service's HTTP plumbing that every domain's views share: the OpenAPI document, the JSON
encoder of the busy reads, the request base schema and shared field types, reading one row of
the caller's organization, and newest-first pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import orjson
from flask import Response
from pydantic import ConfigDict, StringConstraints
from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from spectral_shared.errors import NotFound
from spectral_shared.identity import current_identity
from spectral_shared.web.openapi import ApiDoc
from spectral_shared.web.pagination import Keyset, PageQuery
from spectral_shared.web.responses import current_runtime
from spectral_shared.web.text import PlainText

AI_SYSTEMS = "/api/v1/ai-systems"  # the inventory; controls and telemetry nest below it
api = ApiDoc("governance", "Spectral governance")
api.description = (
    "AI-system inventory, control catalogs and applicability; telemetry intake and webhooks; "
    "the violations, required actions and alerts the translation engine finds; its customization."
)

T = TypeVar("T")
Severity = Literal["critical", "high", "medium", "low"]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class Request(PlainText):
    """A request body: unknown fields are refused, not ignored; text fields hold no control
    characters (spectral_shared.web.text)."""

    model_config = ConfigDict(extra="forbid")


def orjson_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """orjson: a page of 50 systems encodes in a tenth of the stdlib's time. Datetimes are UTC
    RFC 3339 with ``Z``, as pydantic writes them elsewhere in the API."""
    return Response(
        orjson.dumps(body, option=orjson.OPT_UTC_Z),
        status=status,
        mimetype="application/json",
        headers=headers,
    )


def newest_first(
    session: Session,
    statement: Select[Any],
    query: PageQuery,
    at: InstrumentedAttribute[datetime],
    key: InstrumentedAttribute[str],
    out: Callable[[Any], T],
) -> tuple[list[T], str | None]:
    """A page of rows, newest first by ``at`` then id, continued strictly after the cursor."""
    keyset: Keyset[Any] = Keyset((at, key), descending=True)
    rows, cursor = keyset.page(session.scalars(keyset.apply(statement, query)).all(), query)
    return [out(row) for row in rows], cursor


def owned_row(model: Any, row_id: str, what: str) -> Any:
    """The row with this id in the caller's organization, detached; else a 404 naming ``what``."""
    with current_runtime().database.read_session() as session:
        row = session.scalars(
            select(model).where(
                model.id == row_id, model.organization_id == current_identity().organization_id
            )
        ).first()
        if row is None:
            raise NotFound(what)
        session.expunge(row)
        return row
