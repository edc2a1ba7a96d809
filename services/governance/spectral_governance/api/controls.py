"""HTTP API: the control registry, and which controls apply to an AI system and their status."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import Blueprint, Response
from sqlalchemy import func, select

from spectral_governance import services
from spectral_governance.api.ai_systems import BASE, _domain_problems, _is_uuid, api
from spectral_governance.catalog import load_catalog
from spectral_governance.models import CatalogRelease, ControlRow, FrameworkRow
from spectral_governance.schemas import (
    ControlOut,
    ControlPage,
    ControlQuery,
    ControlStatusUpdate,
    FrameworkList,
    FrameworkOut,
    FrameworkVerdictOut,
    SystemControlOut,
    SystemControlPage,
    SystemControlQuery,
)
from spectral_shared.identity import current_identity, requires
from spectral_shared.web.pagination import decode_cursor, encode_cursor, invalid_cursor
from spectral_shared.web.problems import Problem, not_found
from spectral_shared.web.responses import current_runtime, json_response
from spectral_shared.web.validation import parse_json_body, parse_query

bp = Blueprint("controls", __name__)


def _aliases() -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for alias, target in load_catalog().aliases.items():
        found[target].append(alias)
    return found


def _control_out(row: ControlRow, aliases: dict[str, list[str]]) -> ControlOut:
    return ControlOut(
        id=row.id,
        framework_id=row.framework_id,
        kind=row.kind,
        parent_id=row.parent_id,
        reference_id=row.reference_id,
        title=row.title,
        description=row.description,
        category=row.category,
        severity=row.severity,
        required_evidence=list(row.required_evidence),
        requirement=row.requirement,
        reporting_deadline_days=row.reporting_deadline_days,
        tags=list(row.tags),
        catalog_version=row.catalog_version,
        retired_in=row.retired_in,
        aliases=sorted(aliases.get(row.id, [])),
    )


@bp.get("/api/v1/frameworks")
@api.operation("The regulatory frameworks of the control registry", responses={200: FrameworkList})
@requires("controls:read")
def list_frameworks() -> tuple[Response, int]:
    with current_runtime().database.read_session() as session:
        counts = dict(
            session.execute(
                select(ControlRow.framework_id, func.count())
                .where(ControlRow.retired_in.is_(None))
                .group_by(ControlRow.framework_id)
            ).all()
        )
        frameworks = list(session.scalars(select(FrameworkRow).order_by(FrameworkRow.position)))
        version = session.scalar(select(func.max(CatalogRelease.version))) or 0
    return json_response(
        FrameworkList(
            data=[
                FrameworkOut(
                    id=f.id,
                    name=f.name,
                    issuer=f.issuer,
                    citation=f.citation,
                    jurisdiction=f.jurisdiction,
                    description=f.description,
                    effective_date=f.effective_date,
                    control_count=counts.get(f.id, 0),
                    catalog_version=f.catalog_version,
                )
                for f in frameworks
            ],
            catalog_version=version,
        )
    )


@bp.get("/api/v1/frameworks/<framework_id>/controls")
@api.operation(
    "A framework's controls, in catalog order",
    query=ControlQuery,
    responses={200: ControlPage, 400: "Invalid query", 404: "No such framework"},
)
@requires("controls:read")
def list_controls(framework_id: str) -> tuple[Response, int]:
    query = parse_query(ControlQuery)
    statement = select(ControlRow).where(
        ControlRow.framework_id == framework_id, ControlRow.retired_in.is_(None)
    )
    if query.severity:
        statement = statement.where(ControlRow.severity == query.severity)
    if query.cursor:
        after = decode_cursor(query.cursor)
        if not isinstance(after, int):
            raise invalid_cursor()
        statement = statement.where(ControlRow.position > after)
    with current_runtime().database.read_session() as session:
        if session.get(FrameworkRow, framework_id) is None:
            raise Problem(404, "Not found", detail=f"No framework {framework_id!r}.")
        rows = list(session.scalars(statement.order_by(ControlRow.position).limit(query.limit + 1)))
    page = rows[: query.limit]
    aliases = _aliases()
    return json_response(
        ControlPage(
            data=[_control_out(r, aliases) for r in page],
            next_cursor=encode_cursor(page[-1].position) if len(rows) > query.limit else None,
        )
    )


@bp.get("/api/v1/controls/<control_id>")
@api.operation(
    "One control; an alias a rule uses (e.g. FDA-CV-1) answers with the control it names",
    responses={200: ControlOut, 404: "No such control"},
)
@requires("controls:read")
def get_control(control_id: str) -> tuple[Response, int]:
    our_id = load_catalog().resolve(control_id)
    with current_runtime().database.read_session() as session:
        row = session.get(ControlRow, our_id)
    if row is None:
        raise Problem(404, "Not found", detail=f"No control {control_id!r} in the registry.")
    return json_response(_control_out(row, _aliases()))


# ---- controls of one AI system ---------------------------------------------------------------


@bp.get(f"{BASE}/<system_id>/controls")
@api.operation(
    "The controls that apply to an AI system, why, and their status",
    query=SystemControlQuery,
    responses={200: SystemControlPage, 400: "Invalid query", 404: "Not in your organization"},
    description="frameworks says for every framework whether it applies and why; data lists "
    "the applicable controls in catalog order (a control never assessed is not_assessed).",
)
@requires("controls:read")
def system_controls(system_id: str) -> tuple[Response, int]:
    if not _is_uuid(system_id):
        raise not_found("AI system")
    query = parse_query(SystemControlQuery)
    with current_runtime().database.read_session() as session:
        try:
            system = services.get_system(session, current_identity().organization_id, system_id)
        except services.NotFound:
            raise not_found("AI system") from None
        verdicts = services.applicable_controls(session, system)
        statuses = services.statuses_of(session, system.id)
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
            )
        )
    start = 0
    if query.cursor:
        after: Any = decode_cursor(query.cursor)
        index = next((i for i, r in enumerate(rows) if r.control_id == after), None)
        if index is None:
            raise invalid_cursor()
        start = index + 1
    page = rows[start : start + query.limit]
    more = start + query.limit < len(rows)
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
            next_cursor=encode_cursor(page[-1].control_id) if more and page else None,
        )
    )


@bp.put(f"{BASE}/<system_id>/controls/<control_id>")
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
@_domain_problems
def set_control_status(system_id: str, control_id: str) -> tuple[Response, int]:
    if not _is_uuid(system_id):
        raise not_found("AI system")
    body = parse_json_body(ControlStatusUpdate)
    catalog = load_catalog()
    if catalog.control(control_id) is None:
        raise Problem(404, "Not found", detail=f"No control {control_id!r} in the registry.")
    database = current_runtime().database
    system, our_id, _status = services.set_control_status(
        database, current_identity(), system_id, control_id, body.status, body.reason
    )
    with database.session() as session:
        verdicts = services.applicable_controls(session, system)
        assessed = services.statuses_of(session, system.id).get(our_id)
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
        )
    )
