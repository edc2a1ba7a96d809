"""HTTP API: the AI-system inventory. Thin views over the inventory's use cases.

The list is the busiest read of the service (dashboards page through it), so it selects plain
columns and builds the JSON itself instead of loading ORM objects and pydantic models; the
``AISystemOut`` schema documents the same shape and the tests check one against the other."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import cache
from typing import Any

from flask import Blueprint, Response, request, stream_with_context
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, case, func, select

from spectral_governance.inventory import csv_format, use_cases
from spectral_governance.inventory import rules as inventory
from spectral_governance.inventory.models import AISystem
from spectral_governance.inventory.schemas import (
    AISystemCreate,
    AISystemOut,
    AISystemPage,
    AISystemQuery,
    AISystemUpdate,
    ExportQuery,
    ImportResult,
    create_values,
)
from spectral_governance.web import AI_SYSTEMS, api, orjson_response
from spectral_shared.db import Database
from spectral_shared.errors import NotFound
from spectral_shared.identity import current_identity, requires
from spectral_shared.web.converters import is_uuid
from spectral_shared.web.idempotency import idempotent
from spectral_shared.web.pagination import Keyset
from spectral_shared.web.problems import Problem
from spectral_shared.web.responses import current_runtime, json_response
from spectral_shared.web.validation import parse_json_body, parse_query

bp = Blueprint("ai_systems", __name__)


BASE = AI_SYSTEMS


# What an AI system looks like in the API: its inventory fields and what governance keeps.
COLUMNS = (
    "id",
    *use_cases.FIELDS,
    "compliance_posture",
    "risk_score",
    "created_by",
    "created_at",
    "updated_at",
    "deleted_at",
    "version",
)


_SYSTEMS = AISystem.__table__


# Plain table columns, not the ORM's annotated ones: SQLAlchemy matches a cached statement's
# result columns to annotated columns by comparison, which costs more than the query's rows.
_SELECTED = tuple(_SYSTEMS.c[c] for c in COLUMNS)


# Built once: composing a 26-column SELECT costs more than running it.
_SELECT_SYSTEMS = select(*_SELECTED)


_TIMES = ("created_at", "updated_at", "deleted_at")


RISK_RANK = case(inventory.RISK_RANKS, value=AISystem.risk_level, else_=0)


SORT_KEYS: dict[str, Any] = {
    "name": AISystem.name_key,
    "created_at": AISystem.created_at,
    "updated_at": AISystem.updated_at,
    "risk_level": RISK_RANK,
    "risk_score": AISystem.risk_score,
}


_STATES = COLUMNS.index("serves_states")


_LOCALITIES = COLUMNS.index("serves_localities")


_RISK = COLUMNS.index("risk_level")


_PHI = COLUMNS.index("uses_phi")


def system_out(row: Any) -> dict[str, Any]:
    """One row of ``COLUMNS`` as the API's JSON object (``AISystemOut``), before encoding.
    ``serves_states`` may come as the stored text (``CA,NY``) from a raw PostgreSQL row."""
    out = dict(zip(COLUMNS, row, strict=True))
    states, localities = row[_STATES], row[_LOCALITIES]
    if states.__class__ is str:
        out["serves_states"] = states.split(",") if states else []
    if localities.__class__ is str:
        out["serves_localities"] = localities.split(",") if localities else []
    out["requires_monitoring"] = row[_RISK] in inventory.MONITORED_RISKS or row[_PHI]
    return out


def _row(system: AISystem) -> dict[str, Any]:
    return system_out(tuple(getattr(system, c) for c in COLUMNS))


def filtered(query: AISystemQuery, organization_id: str) -> Select[Any]:
    statement = _SELECT_SYSTEMS.where(AISystem.organization_id == organization_id)
    if not query.include_deleted:
        statement = statement.where(AISystem.deleted_at.is_(None))
    if query.status:
        statement = statement.where(AISystem.status == query.status)
    if query.risk_level:
        statement = statement.where(AISystem.risk_level == query.risk_level)
    if query.department:
        statement = statement.where(func.lower(AISystem.department) == query.department.lower())
    if query.vendor:
        vendor = query.vendor.strip()
        statement = statement.where(
            AISystem.vendor_organization_id == vendor
            if is_uuid(vendor)
            else func.lower(AISystem.vendor_name) == vendor.lower()
        )
    if query.uses_phi is not None:
        statement = statement.where(AISystem.uses_phi.is_(query.uses_phi))
    if query.posture:
        statement = statement.where(AISystem.compliance_posture == query.posture)
    if query.q:
        statement = statement.where(
            AISystem.name_key.like(f"%{_like_escaped(query.q)}%", escape="\\")
        )
    return statement


def _like_escaped(text: str) -> str:
    """Part of a name, lower-cased, with LIKE's wildcards matched literally."""
    return text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def cursor_value(row: dict[str, Any], field: str) -> Any:
    """The value of a listed system (``system_out``) that its page's cursor continues after."""
    if field == "name":
        return row["name"].strip().lower()
    if field == "risk_level":
        return inventory.RISK_RANKS[row["risk_level"]]
    if field == "risk_score":
        return row["risk_score"]
    return row[field]


@cache
def keyset(sort: str) -> Keyset[dict[str, Any]]:
    """The order of a list sorted by ``sort`` (``-`` for descending), the id breaking ties."""
    field = sort.lstrip("-")
    return Keyset(
        (SORT_KEYS[field], AISystem.id),
        descending=sort.startswith("-"),
        values=lambda row: (cursor_value(row, field), row["id"]),
        hint="Pass next_cursor from a previous page as is, with the same sort.",
    )


def listed(query: AISystemQuery, organization_id: str) -> Select[Any]:
    """The page's statement: filtered, after the cursor, ordered, one row over the limit."""
    return keyset(query.sort).apply(filtered(query, organization_id), query)


@bp.get(BASE)
@api.operation(
    "List the organization's AI systems",
    query=AISystemQuery,
    responses={200: AISystemPage, 400: "Invalid query"},
    description="Filters combine with AND; `q` searches names. Deleted systems are left out "
    "unless include_deleted=true. Pages continue with next_cursor (same filters and sort).",
)
@requires("ai_systems:read")
def list_systems() -> Response:
    query = parse_query(AISystemQuery)
    database = current_runtime().database
    if database.is_postgres:
        rows = _pg_page_rows(database, query)
    else:
        statement = listed(query, current_identity().organization_id)
        with database.read_connection() as connection:
            rows = list(connection.execute(statement))
    page, cursor = keyset(query.sort).page([system_out(row) for row in rows], query)
    return orjson_response({"data": page, "next_cursor": cursor})


_PG_KEYS = {
    "name": ("name_key", "text"),
    "created_at": ("created_at", "timestamptz"),
    "updated_at": ("updated_at", "timestamptz"),
    "risk_score": ("risk_score", "integer"),
    "risk_level": (
        "CASE risk_level "
        + " ".join(f"WHEN '{level}' THEN {rank}" for level, rank in inventory.RISK_RANKS.items())
        + " ELSE 0 END",
        "integer",
    ),
}


@cache
def _pg_page_sql(sort: str, after: bool) -> str:
    key, key_type = _PG_KEYS[sort.lstrip("-")]
    direction, beyond = ("DESC", "<") if sort.startswith("-") else ("ASC", ">")
    keyset = (
        f"AND ({key}, id) {beyond} (%(after_key)s::{key_type}, %(after_id)s::text)" if after else ""
    )
    # Every piece put in is one of the constants above; values travel as parameters.
    return f"""
SELECT {", ".join(COLUMNS)}
FROM ai_systems
WHERE organization_id = %(organization_id)s
  AND (%(include_deleted)s OR deleted_at IS NULL)
  AND (%(status)s::text IS NULL OR status = %(status)s::text)
  AND (%(risk_level)s::text IS NULL OR risk_level = %(risk_level)s::text)
  AND (%(department)s::text IS NULL OR lower(department) = %(department)s::text)
  AND (%(vendor_id)s::text IS NULL OR vendor_organization_id = %(vendor_id)s::text)
  AND (%(vendor_name)s::text IS NULL OR lower(vendor_name) = %(vendor_name)s::text)
  AND (%(uses_phi)s::boolean IS NULL OR uses_phi = %(uses_phi)s::boolean)
  AND (%(posture)s::text IS NULL OR compliance_posture = %(posture)s::text)
  AND (%(name_like)s::text IS NULL OR name_key LIKE %(name_like)s::text ESCAPE '\\')
  {keyset}
ORDER BY {key} {direction}, id {direction}
LIMIT %(limit)s"""  # noqa: S608


def _pg_page_rows(database: Database, query: AISystemQuery) -> list[Any]:
    params: dict[str, Any] = {
        "organization_id": current_identity().organization_id,
        "include_deleted": query.include_deleted,
        "status": query.status,
        "risk_level": query.risk_level,
        "department": query.department.lower() if query.department else None,
        "vendor_id": None,
        "vendor_name": None,
        "uses_phi": query.uses_phi,
        "posture": query.posture,
        "name_like": f"%{_like_escaped(query.q)}%" if query.q else None,
        "limit": query.limit + 1,
    }
    if query.vendor:
        vendor = query.vendor.strip()
        if is_uuid(vendor):
            params["vendor_id"] = str(uuid.UUID(vendor))
        else:
            params["vendor_name"] = vendor.lower()
    if query.cursor:
        params["after_key"], params["after_id"] = keyset(query.sort).decode(query.cursor)
    return database.read_rows(_pg_page_sql(query.sort, bool(query.cursor)), params)


@bp.get(f"{BASE}/export")
@api.operation(
    "Export the organization's AI systems as CSV",
    query=ExportQuery,
    responses={
        200: "text/csv, one row per AI system (filters as for the list)",
        400: "Invalid query",
    },
)
@requires("ai_systems:read")
def export_systems() -> Response:
    query = parse_query(ExportQuery)
    order = keyset(query.sort)
    statement = order.ordered(
        order.after(filtered(query, current_identity().organization_id), query)
    )
    database = current_runtime().database

    def rows() -> Iterator[dict[str, Any]]:
        with database.read_session() as session:
            for row in session.execute(statement.execution_options(yield_per=500)):
                yield dict(zip(COLUMNS, row, strict=True))

    return Response(
        stream_with_context(csv_format.render(rows())),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="ai-systems.csv"'},
    )


@bp.post(BASE)
@api.operation(
    "Add an AI system to the inventory",
    request=AISystemCreate,
    responses={
        201: AISystemOut,
        402: "The plan's AI-system limit is reached (upgrade_required)",
        409: "Another live system has this name or provider link",
        422: "Invalid fields",
    },
    description="Accepts Idempotency-Key. High or critical risk turns monitoring on.",
)
@requires("ai_systems:write")
@idempotent("governance.ai_system")
def create_system() -> Response:
    body = parse_json_body(AISystemCreate)
    system = use_cases.create_system(current_runtime(), current_identity(), create_values(body))
    return orjson_response(_row(system), 201, {"Location": f"{BASE}/{system.id}"})


@bp.get(f"{BASE}/<uuid:system_id>")
@api.operation(
    "One AI system (deleted ones stay readable, with deleted_at)",
    responses={200: AISystemOut, 404: "Not in your organization"},
)
@requires("ai_systems:read")
def get_system(system_id: str) -> Response:
    with current_runtime().database.read_session() as session:
        row = session.execute(
            _SELECT_SYSTEMS.where(
                AISystem.id == system_id,
                AISystem.organization_id == current_identity().organization_id,
            )
        ).first()
    if row is None:
        raise NotFound("AI system")
    return orjson_response(system_out(row))


@bp.patch(f"{BASE}/<uuid:system_id>")
@api.operation(
    "Change an AI system's fields or move its lifecycle",
    request=AISystemUpdate,
    responses={
        200: AISystemOut,
        404: "Not in your organization",
        409: "Transition not allowed, name taken, or system deleted",
        422: "Invalid fields",
    },
    description="Lifecycle: testing -> active | deprecated; active -> paused | deprecated; "
    "paused -> active | deprecated; deprecated is final.",
)
@requires("ai_systems:write")
def update_system(system_id: str) -> Response:
    body = parse_json_body(AISystemUpdate)
    system = use_cases.update_system(
        current_runtime(), current_identity(), system_id, body.changes()
    )
    return orjson_response(_row(system))


@bp.delete(f"{BASE}/<uuid:system_id>")
@api.operation(
    "Delete an AI system (soft: it leaves lists and the plan count; its record stays)",
    responses={204: None, 404: "Not in your organization"},
)
@requires("ai_systems:delete")
def delete_system(system_id: str) -> tuple[str, int]:
    use_cases.delete_system(current_runtime(), current_identity(), system_id)
    return "", 204


class ImportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: bool = Field(
        default=False, description="true: check the file and count, import nothing"
    )


@bp.post(f"{BASE}/import")
@api.operation(
    "Import AI systems from CSV: every row or none",
    query=ImportQuery,
    body=("text/csv", "The export's columns, UTF-8, with a header row"),
    responses={
        400: "Not UTF-8 text, or a bad query parameter",
        201: ImportResult,
        200: ImportResult,
        402: "The import would pass the plan's AI-system limit",
        415: "Send text/csv",
        422: "Errors per row (row 1 is the first row after the header); nothing imported",
    },
    description="The export's columns; name, department, category, uses_phi and risk_level "
    "are required. serves_states and serves_localities are separated by ';'. ?dry_run=true checks without importing "
    "and answers how many systems the file would add (imported, with dry_run true and no ids).",
)
@requires("ai_systems:write")
def import_systems() -> tuple[Response, int]:
    if request.mimetype != "text/csv":
        raise Problem(
            415,
            "Unsupported media type",
            detail="Send the file as text/csv (UTF-8).",
            type_slug="unsupported-media-type",
        )
    dry_run = parse_query(ImportQuery).dry_run
    try:
        text = request.get_data(cache=False).decode("utf-8")
        rows = csv_format.parse(text)
    except UnicodeDecodeError:
        raise Problem(400, "Unreadable file", detail="The file must be UTF-8 text.") from None
    if dry_run:
        would = use_cases.check_import(current_runtime(), current_identity(), rows)
        return json_response(ImportResult(imported=would, ids=[], dry_run=True))
    created = use_cases.import_systems(current_runtime(), current_identity(), rows)
    return json_response(
        ImportResult(imported=len(created), ids=[s.id for s in created], dry_run=False), 201
    )
