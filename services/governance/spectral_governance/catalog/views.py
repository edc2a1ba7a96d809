"""HTTP API: the control registry (frameworks and their controls)."""

from __future__ import annotations

from collections import defaultdict

from flask import Blueprint, Response
from sqlalchemy import func, select

from spectral_governance.catalog import load_catalog
from spectral_governance.catalog.models import CatalogRelease, ControlRow, FrameworkRow
from spectral_governance.catalog.schemas import (
    ControlOut,
    ControlPage,
    ControlQuery,
    FrameworkList,
    FrameworkOut,
)
from spectral_governance.web import api
from spectral_shared.identity import requires
from spectral_shared.web.pagination import Keyset
from spectral_shared.web.problems import Problem
from spectral_shared.web.responses import current_runtime, json_response
from spectral_shared.web.validation import parse_query

bp = Blueprint("catalog", __name__)
# A framework's controls page in catalog order.
CATALOG_ORDER: Keyset[ControlRow] = Keyset((ControlRow.position, ControlRow.id))


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
                    status=f.status,
                    status_date=f.status_date,
                    end_date=f.end_date,
                    status_note=f.status_note,
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
    with current_runtime().database.read_session() as session:
        if session.get(FrameworkRow, framework_id) is None:
            raise Problem(404, "Not found", detail=f"No framework {framework_id!r}.")
        rows = session.scalars(CATALOG_ORDER.apply(statement, query)).all()
    page, cursor = CATALOG_ORDER.page(rows, query)
    aliases = _aliases()
    return json_response(
        ControlPage(data=[_control_out(r, aliases) for r in page], next_cursor=cursor)
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
