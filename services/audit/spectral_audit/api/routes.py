"""Audit's HTTP API: the caller's organization's entries, newest first."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from pydantic import BaseModel
from sqlalchemy import select

from spectral_audit.models import AuditEntry
from spectral_shared.identity import current_identity, requires
from spectral_shared.web.openapi import ApiDoc
from spectral_shared.web.pagination import PageQuery, decode_cursor, encode_cursor
from spectral_shared.web.validation import parse_query

api = ApiDoc("audit", "Spectral audit", description="The organization's audit log.")
bp = Blueprint("audit", __name__)


class EntryOut(BaseModel):
    id: str
    sequence: int
    organization_id: str | None
    action: str
    actor: dict[str, str | None]
    resource_type: str
    resource_id: str | None
    occurred_at: datetime
    received_at: datetime
    data: dict[str, Any]


class EntryPage(BaseModel):
    """A page of audit entries, newest first."""

    data: list[EntryOut]
    next_cursor: str | None


@bp.get("/api/v1/audit/events")
@api.operation(
    "List the organization's audit entries, newest first",
    query=PageQuery,
    responses={
        200: EntryPage,
        400: "Bad query",
        401: "Not signed in",
        403: "Role lacks audit_log:read",
    },
)
@requires("audit_log:read")
def list_events() -> Response:
    query = parse_query(PageQuery)
    organization_id = current_identity().organization_id
    statement = select(AuditEntry).where(AuditEntry.organization_id == organization_id)
    if query.cursor:
        statement = statement.where(AuditEntry.seq < decode_cursor(query.cursor))
    statement = statement.order_by(AuditEntry.seq.desc()).limit(query.limit + 1)
    runtime = current_app.extensions["spectral"]
    with runtime.database.read_session() as session:
        rows = list(session.scalars(statement))
    page, more = rows[: query.limit], len(rows) > query.limit
    body = EntryPage(
        data=[
            EntryOut(
                id=row.message_id,
                sequence=row.seq,
                organization_id=row.organization_id,
                action=row.action,
                actor={"type": row.actor_type, "id": row.actor_id},
                resource_type=row.resource_type,
                resource_id=row.resource_id,
                occurred_at=row.occurred_at,
                received_at=row.received_at,
                data=json.loads(row.data),
            )
            for row in page
        ],
        next_cursor=encode_cursor(page[-1].seq) if more and page else None,
    )
    return jsonify(body.model_dump(mode="json"))
