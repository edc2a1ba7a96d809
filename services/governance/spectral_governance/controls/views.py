"""HTTP API: the controls that apply to a system, why, and their assessments."""

from __future__ import annotations

from collections import defaultdict

from flask import Blueprint, Response

from spectral_governance.catalog import load_catalog
from spectral_governance.controls import use_cases
from spectral_governance.controls.schemas import (
    ControlStatusUpdate,
    FrameworkVerdictOut,
    SystemControlOut,
    SystemControlPage,
    SystemControlQuery,
)
from spectral_governance.inventory import queries
from spectral_governance.web import AI_SYSTEMS, api
from spectral_shared.identity import current_identity, requires
from spectral_shared.web.pagination import page_of_list
from spectral_shared.web.problems import Problem
from spectral_shared.web.responses import current_runtime, json_response
from spectral_shared.web.validation import parse_json_body, parse_query

bp = Blueprint("controls", __name__)


@bp.get(f"{AI_SYSTEMS}/<uuid:system_id>/controls")
@api.operation(
    "The controls that apply to an AI system, why, and their status",
    query=SystemControlQuery,
    responses={200: SystemControlPage, 400: "Invalid query", 404: "Not in your organization"},
    description="frameworks says for every framework whether it applies and why; data lists "
    "the applicable controls in catalog order (a control never assessed is not_assessed).",
)
@requires("controls:read")
def system_controls(system_id: str) -> tuple[Response, int]:
    query = parse_query(SystemControlQuery)
    with current_runtime().database.read_session() as session:
        system = queries.get_system(session, current_identity().organization_id, system_id)
        verdicts = use_cases.applicable_controls(session, system)
        statuses = use_cases.statuses_of(session, system.id)
    catalog = load_catalog()
    per_framework: dict[str, int] = defaultdict(int)
    rows: list[SystemControlOut] = []
    for control_id, because in verdicts.controls.items():
        framework, control = catalog.controls[control_id]
        per_framework[framework.id] += 1
        assessed = statuses.get(control_id)
        status = assessed.status if assessed else "not_assessed"
        if query.framework and framework.id != query.framework:
            continue
        if query.status and status != query.status:
            continue
        rows.append(
            SystemControlOut(
                control_id=control_id,
                framework_id=framework.id,
                title=control.title,
                severity=control.severity,
                category=control.category,
                applies_because=because,
                status=status,
                status_reason=assessed.reason if assessed else None,
                status_source=assessed.source if assessed else None,
                assessed_by=assessed.updated_by if assessed else None,
                assessed_at=assessed.updated_at if assessed else None,
                contested_by=assessed.contested_by if assessed else None,
            )
        )
    page, cursor = page_of_list(rows, query, key=lambda row: row.control_id)
    return json_response(
        SystemControlPage(
            ai_system_id=system.id,
            frameworks=[
                FrameworkVerdictOut(
                    framework_id=v.framework_id,
                    applies=v.applies,
                    reason=v.reason,
                    applicable_controls=per_framework.get(v.framework_id, 0),
                )
                for v in verdicts.frameworks
            ],
            data=page,
            next_cursor=cursor,
        )
    )


@bp.put(f"{AI_SYSTEMS}/<uuid:system_id>/controls/<control_id>")
@api.operation(
    "Set a control's status on an AI system",
    request=ControlStatusUpdate,
    responses={
        200: SystemControlOut,
        404: "System not in your organization, or no such control",
        409: "The control does not apply to this system, or the system was deleted",
        422: "Invalid fields (not_applicable needs a reason)",
    },
)
@requires("controls:assess")
def set_control_status(system_id: str, control_id: str) -> tuple[Response, int]:
    body = parse_json_body(ControlStatusUpdate)
    catalog = load_catalog()
    if catalog.control(control_id) is None:
        raise Problem(404, "Not found", detail=f"No control {control_id!r} in the registry.")
    runtime = current_runtime()
    system, our_id, _status = use_cases.set_control_status(
        runtime, current_identity(), system_id, control_id, body.status, body.reason
    )
    with runtime.database.session() as session:
        verdicts = use_cases.applicable_controls(session, system)
        assessed = use_cases.statuses_of(session, system.id).get(our_id)
    framework, control = catalog.controls[our_id]
    return json_response(
        SystemControlOut(
            control_id=our_id,
            framework_id=framework.id,
            title=control.title,
            severity=control.severity,
            category=control.category,
            applies_because=verdicts.controls[our_id],
            status=assessed.status if assessed else "not_assessed",
            status_reason=assessed.reason if assessed else None,
            status_source=assessed.source if assessed else None,
            assessed_by=assessed.updated_by if assessed else None,
            assessed_at=assessed.updated_at if assessed else None,
            contested_by=assessed.contested_by if assessed else None,
        )
    )
