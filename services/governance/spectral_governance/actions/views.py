"""HTTP API: required actions."""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy import select

from spectral_governance.actions import use_cases
from spectral_governance.actions.models import RequiredAction
from spectral_governance.actions.schemas import ActionOut, ActionPage, ActionQuery, ActionUpdate
from spectral_governance.web import api, newest_first, owned_row
from spectral_shared.db import utcnow
from spectral_shared.identity import current_identity, requires
from spectral_shared.web.responses import current_runtime, json_response
from spectral_shared.web.validation import parse_json_body, parse_query

bp = Blueprint("actions", __name__)


def action_out(row: RequiredAction) -> ActionOut:
    return ActionOut(
        id=row.id,
        violation_id=row.violation_id,
        ai_system_id=row.ai_system_id,
        action_type=row.action_type,
        priority=row.priority,
        assignee=row.assignee,
        assigned_user_id=row.assigned_user_id,
        deadline=row.deadline,
        overdue=row.status in ("pending", "in_progress") and row.deadline < utcnow(),
        automated=row.automated,
        description=row.description,
        details=dict(row.details or {}),
        status=row.status,
        created_at=row.created_at,
        completed_at=row.completed_at,
        completed_by=row.completed_by,
        notes=row.notes,
    )


@bp.get("/api/v1/actions")
@api.operation("Required actions, newest first", query=ActionQuery, responses={200: ActionPage})
@requires("actions:read")
def list_actions() -> tuple[Response, int]:
    query = parse_query(ActionQuery)
    statement = select(RequiredAction).where(
        RequiredAction.organization_id == current_identity().organization_id
    )
    if query.ai_system_id:
        statement = statement.where(RequiredAction.ai_system_id == str(query.ai_system_id))
    if query.violation_id:
        statement = statement.where(RequiredAction.violation_id == str(query.violation_id))
    if query.status:
        statement = statement.where(RequiredAction.status == query.status)
    if query.assignee:
        statement = statement.where(RequiredAction.assignee == query.assignee)
    if query.overdue is not None:
        late = RequiredAction.status.in_(("pending", "in_progress")) & (
            RequiredAction.deadline < utcnow()
        )
        statement = statement.where(late if query.overdue else ~late)
    with current_runtime().database.read_session() as session:
        data, cursor = newest_first(
            session, statement, query, RequiredAction.created_at, RequiredAction.id, action_out
        )
    return json_response(ActionPage(data=data, next_cursor=cursor))


@bp.get("/api/v1/actions/<uuid:action_id>")
@api.operation("One required action", responses={200: ActionOut})
@requires("actions:read")
def get_action(action_id: str) -> tuple[Response, int]:
    return json_response(action_out(owned_row(RequiredAction, action_id, "action")))


@bp.patch("/api/v1/actions/<uuid:action_id>")
@api.operation(
    "Move, assign or annotate a required action",
    request=ActionUpdate,
    responses={200: ActionOut, 409: "A move its status does not allow"},
    description="pending -> in_progress -> completed | cancelled (pending may also finish at "
    "once).",
)
@requires("actions:update")
def update_action(action_id: str) -> tuple[Response, int]:
    body = parse_json_body(ActionUpdate)
    row = use_cases.update_action(
        current_runtime(),
        current_identity(),
        action_id,
        status=body.status,
        assigned_user_id=str(body.assigned_user_id) if body.assigned_user_id else None,
        notes=body.notes,
        fields=set(body.model_fields_set),
    )
    return json_response(action_out(row))
