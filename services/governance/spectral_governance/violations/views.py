"""HTTP API: violations."""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy import select

from spectral_governance.violations import use_cases
from spectral_governance.violations.models import Violation
from spectral_governance.violations.schemas import (
    ObligationOut,
    ResolveViolation,
    ViolationOut,
    ViolationPage,
    ViolationQuery,
)
from spectral_governance.web import api, newest_first, owned_row
from spectral_shared.identity import current_identity, requires
from spectral_shared.web.responses import current_runtime, json_response
from spectral_shared.web.validation import parse_json_body, parse_query

bp = Blueprint("violations", __name__)


def violation_out(row: Violation) -> ViolationOut:
    return ViolationOut(
        id=row.id,
        ai_system_id=row.ai_system_id,
        telemetry_event_id=row.telemetry_event_id,
        framework_id=row.framework_id,
        control_id=row.control_id,
        control_name=row.control_name,
        type=row.type,
        severity=row.severity,
        description=row.description,
        requires_reporting=row.requires_reporting,
        binding=row.legal_standing is None,
        legal_standing=row.legal_standing,
        reporting_deadline=row.reporting_deadline,
        obligations=[ObligationOut.model_validate(o) for o in row.obligations or ()],
        discovered_at=row.discovered_at or row.detected_at,
        detected_at=row.detected_at,
        occurrences=row.occurrences,
        last_seen_at=row.last_seen_at or row.detected_at,
        status="resolved" if row.resolved_at else "open",
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        resolution_note=row.resolution_note,
    )


@bp.get("/api/v1/violations")
@api.operation(
    "Compliance violations, newest first", query=ViolationQuery, responses={200: ViolationPage}
)
@requires("violations:read")
def list_violations() -> tuple[Response, int]:
    query = parse_query(ViolationQuery)
    statement = select(Violation).where(
        Violation.organization_id == current_identity().organization_id
    )
    if query.ai_system_id:
        statement = statement.where(Violation.ai_system_id == str(query.ai_system_id))
    if query.framework_id:
        statement = statement.where(Violation.framework_id == query.framework_id)
    if query.control_id:
        statement = statement.where(Violation.control_id == query.control_id)
    if query.severity:
        statement = statement.where(Violation.severity == query.severity)
    if query.status == "open":
        statement = statement.where(Violation.resolved_at.is_(None))
    elif query.status == "resolved":
        statement = statement.where(Violation.resolved_at.is_not(None))
    if query.deadline_before:
        statement = statement.where(Violation.reporting_deadline < query.deadline_before)
    with current_runtime().database.read_session() as session:
        data, cursor = newest_first(
            session, statement, query, Violation.detected_at, Violation.id, violation_out
        )
    return json_response(ViolationPage(data=data, next_cursor=cursor))


@bp.get("/api/v1/violations/<uuid:violation_id>")
@api.operation("One violation", responses={200: ViolationOut})
@requires("violations:read")
def get_violation(violation_id: str) -> tuple[Response, int]:
    return json_response(violation_out(owned_row(Violation, violation_id, "violation")))


@bp.post("/api/v1/violations/<uuid:violation_id>/resolve")
@api.operation(
    "Resolve a violation with a note",
    request=ResolveViolation,
    responses={200: ViolationOut, 409: "Already resolved"},
    description="Its control goes back to not assessed on the system once no open violation of "
    "it remains (unless a person assessed it).",
)
@requires("violations:resolve")
def resolve_violation(violation_id: str) -> tuple[Response, int]:
    body = parse_json_body(ResolveViolation)
    row = use_cases.resolve_violation(
        current_runtime(), current_identity(), violation_id, body.note
    )
    return json_response(violation_out(row))
