"""HTTP API: alerts and the organization's alert settings."""

from __future__ import annotations

from flask import Blueprint, Response, request
from sqlalchemy import select

from spectral_governance.alerts import use_cases
from spectral_governance.alerts.models import Alert
from spectral_governance.alerts.schemas import (
    AlertMove,
    AlertOut,
    AlertPage,
    AlertQuery,
    AlertSettings,
    AlertSettingsOut,
)
from spectral_governance.web import api, newest_first, owned_row
from spectral_shared.db import utcnow
from spectral_shared.identity import current_identity, requires
from spectral_shared.web.responses import current_runtime, json_response
from spectral_shared.web.validation import parse_json_body, parse_query

bp = Blueprint("alerts", __name__)


def alert_out(row: Alert) -> AlertOut:
    return AlertOut(
        id=row.id,
        ai_system_id=row.ai_system_id,
        telemetry_event_id=row.telemetry_event_id,
        type=row.type,
        severity=row.severity,
        message=row.message,
        occurrences=row.occurrences,
        status=row.status,
        raised_at=row.raised_at,
        last_seen_at=row.last_seen_at,
        ack_due_at=row.ack_due_at,
        sla_breached=row.sla_breached_at is not None
        or (row.status == "active" and row.ack_due_at < utcnow()),
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        response_time_seconds=row.response_time_seconds,
        dismissed_at=row.dismissed_at,
        note=row.note,
    )


@bp.get("/api/v1/alerts")
@api.operation("Alerts, newest first", query=AlertQuery, responses={200: AlertPage})
@requires("alerts:read")
def list_alerts() -> tuple[Response, int]:
    query = parse_query(AlertQuery)
    statement = select(Alert).where(Alert.organization_id == current_identity().organization_id)
    if query.ai_system_id:
        statement = statement.where(Alert.ai_system_id == str(query.ai_system_id))
    if query.status:
        statement = statement.where(Alert.status == query.status)
    if query.severity:
        statement = statement.where(Alert.severity == query.severity)
    if query.type:
        statement = statement.where(Alert.type == query.type)
    with current_runtime().database.read_session() as session:
        data, cursor = newest_first(session, statement, query, Alert.raised_at, Alert.id, alert_out)
    return json_response(AlertPage(data=data, next_cursor=cursor))


@bp.get("/api/v1/alerts/settings")
@api.operation("The alert SLA table and whether Slack is set", responses={200: AlertSettingsOut})
@requires("alerts:read")
def get_alert_settings() -> tuple[Response, int]:
    with current_runtime().database.read_session() as session:
        slack_set, minutes = use_cases.alert_settings(session, current_identity().organization_id)
    return json_response(AlertSettingsOut(slack_webhook_set=slack_set, sla_minutes=minutes))


@bp.put("/api/v1/alerts/settings")
@api.operation(
    "Set the alert SLA table (minutes per severity) and the Slack incoming webhook",
    request=AlertSettings,
    responses={
        200: AlertSettingsOut,
        422: "An SLA out of range or order, or a Slack webhook not on hooks.slack.com",
    },
)
@requires("alerts:configure")
def put_alert_settings() -> tuple[Response, int]:
    body = parse_json_body(AlertSettings)
    runtime = current_runtime()
    slack_set, minutes = use_cases.set_alert_settings(
        runtime,
        current_identity(),
        slack_webhook_url=body.slack_webhook_url,
        sla_minutes={str(k): v for k, v in body.sla_minutes.items()} if body.sla_minutes else None,
        fields=set(body.model_fields_set),
    )
    return json_response(AlertSettingsOut(slack_webhook_set=slack_set, sla_minutes=minutes))


@bp.get("/api/v1/alerts/<uuid:alert_id>")
@api.operation("One alert", responses={200: AlertOut})
@requires("alerts:read")
def get_alert(alert_id: str) -> tuple[Response, int]:
    return json_response(alert_out(owned_row(Alert, alert_id, "alert")))


def _alert_move(alert_id: str, action: str) -> tuple[Response, int]:
    body = parse_json_body(AlertMove) if request.get_data() else AlertMove()
    row = use_cases.move_alert(current_runtime(), current_identity(), alert_id, action, body.note)
    return json_response(alert_out(row))


@bp.post("/api/v1/alerts/<uuid:alert_id>/acknowledge")
@api.operation(
    "Acknowledge an alert (optionally with a note)",
    request=AlertMove,
    responses={200: AlertOut, 409: "Not active"},
)
@requires("alerts:respond")
def acknowledge_alert(alert_id: str) -> tuple[Response, int]:
    return _alert_move(alert_id, "acknowledge")


@bp.post("/api/v1/alerts/<uuid:alert_id>/resolve")
@api.operation(
    "Resolve an alert (records the response time; optionally with a note)",
    request=AlertMove,
    responses={200: AlertOut, 409: "Finished"},
)
@requires("alerts:respond")
def resolve_alert(alert_id: str) -> tuple[Response, int]:
    return _alert_move(alert_id, "resolve")


@bp.post("/api/v1/alerts/<uuid:alert_id>/dismiss")
@api.operation(
    "Dismiss an alert (optionally with a note)",
    request=AlertMove,
    responses={200: AlertOut, 409: "Finished"},
)
@requires("alerts:respond")
def dismiss_alert(alert_id: str) -> tuple[Response, int]:
    return _alert_move(alert_id, "dismiss")
