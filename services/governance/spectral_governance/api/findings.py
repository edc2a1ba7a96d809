"""HTTP API: what the engine found (violations, required actions, alerts), what people do with
it, and the engine's customization (alert SLA and Slack, threshold overrides, control toggles)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import Blueprint, Response
from sqlalchemy import select

from spectral_governance import alerting, findings
from spectral_governance.api.ai_systems import _domain_problems, _is_uuid, api
from spectral_governance.api.listing import newest_first, owned_row
from spectral_governance.engine.customization import GuardrailRefused
from spectral_governance.engine.mapping import threshold_bounds, thresholds
from spectral_governance.models import (
    Alert,
    ControlToggle,
    RequiredAction,
    ThresholdOverride,
    Violation,
)
from spectral_governance.telemetry_schemas import (
    ActionOut,
    ActionPage,
    ActionQuery,
    ActionUpdate,
    AlertOut,
    AlertPage,
    AlertQuery,
    AlertSettings,
    AlertSettingsOut,
    ControlToggleIn,
    ControlToggleList,
    ControlToggleOut,
    ResolveViolation,
    ThresholdOverrideIn,
    ThresholdOverrideOut,
    ThresholdsOut,
    ViolationOut,
    ViolationPage,
    ViolationQuery,
)
from spectral_shared.db import utcnow
from spectral_shared.identity import current_identity, requires
from spectral_shared.web.problems import Problem, field_problem, not_found
from spectral_shared.web.responses import current_runtime, json_response
from spectral_shared.web.validation import parse_json_body, parse_query

bp = Blueprint("findings", __name__)
P = ParamSpec("P")
R = TypeVar("R")


def _refusals(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Guardrails 422, plan 402, missing 404 (as ``what``), collisions and moves 409."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return view(*args, **kwargs)
            except GuardrailRefused as refused:
                raise field_problem(refused.field, str(refused)) from None
            except alerting.SlaRefused as refused:
                raise field_problem("sla_minutes", str(refused)) from None
            except findings.UpgradeRequired as upgrade:
                raise Problem(
                    402,
                    "Upgrade required",
                    detail=str(upgrade),
                    type_slug="upgrade-required",
                    upgrade_required=True,
                    plan=upgrade.plan,
                ) from None
            except findings.NotFound:
                raise not_found(what) from None

        return _domain_problems(wrapper)

    return decorate


def _uuid_or_404(value: str, what: str) -> None:
    if not _is_uuid(value):
        raise not_found(what)


# ---- violations --------------------------------------------------------------------------------


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
        reporting_deadline=row.reporting_deadline,
        detected_at=row.detected_at,
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


@bp.get("/api/v1/violations/<violation_id>")
@api.operation("One violation", responses={200: ViolationOut})
@requires("violations:read")
def get_violation(violation_id: str) -> tuple[Response, int]:
    return json_response(violation_out(owned_row(Violation, violation_id, "violation")))


@bp.post("/api/v1/violations/<violation_id>/resolve")
@api.operation(
    "Resolve a violation with a note",
    request=ResolveViolation,
    responses={200: ViolationOut, 409: "Already resolved"},
    description="Its control goes back to not assessed on the system once no open violation of "
    "it remains (unless a person assessed it).",
)
@requires("violations:resolve")
@_refusals("violation")
def resolve_violation(violation_id: str) -> tuple[Response, int]:
    _uuid_or_404(violation_id, "violation")
    body = parse_json_body(ResolveViolation)
    row = findings.resolve_violation(
        current_runtime().database, current_identity(), violation_id, body.note
    )
    return json_response(violation_out(row))


# ---- required actions --------------------------------------------------------------------------


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


@bp.get("/api/v1/actions/<action_id>")
@api.operation("One required action", responses={200: ActionOut})
@requires("actions:read")
def get_action(action_id: str) -> tuple[Response, int]:
    return json_response(action_out(owned_row(RequiredAction, action_id, "action")))


@bp.patch("/api/v1/actions/<action_id>")
@api.operation(
    "Move, assign or annotate a required action",
    request=ActionUpdate,
    responses={200: ActionOut, 409: "A move its status does not allow"},
    description="pending -> in_progress -> completed | cancelled (pending may also finish at "
    "once).",
)
@requires("actions:update")
@_refusals("action or user")
def update_action(action_id: str) -> tuple[Response, int]:
    _uuid_or_404(action_id, "action")
    body = parse_json_body(ActionUpdate)
    row = findings.update_action(
        current_runtime().database,
        current_identity(),
        action_id,
        status=body.status,
        assigned_user_id=str(body.assigned_user_id) if body.assigned_user_id else None,
        notes=body.notes,
        fields=set(body.model_fields_set),
    )
    return json_response(action_out(row))


# ---- alerts ------------------------------------------------------------------------------------


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
        slack_set, minutes = findings.alert_settings(session, current_identity().organization_id)
    return json_response(AlertSettingsOut(slack_webhook_set=slack_set, sla_minutes=minutes))


@bp.put("/api/v1/alerts/settings")
@api.operation(
    "Set the alert SLA table (minutes per severity) and the Slack incoming webhook",
    request=AlertSettings,
    responses={200: AlertSettingsOut, 422: "An SLA out of range or order"},
)
@requires("alerts:configure")
@_refusals("organization")
def put_alert_settings() -> tuple[Response, int]:
    body = parse_json_body(AlertSettings)
    runtime = current_runtime()
    slack_set, minutes = findings.set_alert_settings(
        runtime.database,
        runtime.cipher,
        current_identity(),
        slack_webhook_url=body.slack_webhook_url,
        sla_minutes={str(k): v for k, v in body.sla_minutes.items()} if body.sla_minutes else None,
        fields=set(body.model_fields_set),
    )
    return json_response(AlertSettingsOut(slack_webhook_set=slack_set, sla_minutes=minutes))


@bp.get("/api/v1/alerts/<alert_id>")
@api.operation("One alert", responses={200: AlertOut})
@requires("alerts:read")
def get_alert(alert_id: str) -> tuple[Response, int]:
    return json_response(alert_out(owned_row(Alert, alert_id, "alert")))


def _alert_move(alert_id: str, action: str) -> tuple[Response, int]:
    _uuid_or_404(alert_id, "alert")
    row = findings.move_alert(current_runtime().database, current_identity(), alert_id, action)
    return json_response(alert_out(row))


@bp.post("/api/v1/alerts/<alert_id>/acknowledge")
@api.operation("Acknowledge an alert", responses={200: AlertOut, 409: "Not active"})
@requires("alerts:respond")
@_refusals("alert")
def acknowledge_alert(alert_id: str) -> tuple[Response, int]:
    return _alert_move(alert_id, "acknowledge")


@bp.post("/api/v1/alerts/<alert_id>/resolve")
@api.operation(
    "Resolve an alert (records the response time)", responses={200: AlertOut, 409: "Finished"}
)
@requires("alerts:respond")
@_refusals("alert")
def resolve_alert(alert_id: str) -> tuple[Response, int]:
    return _alert_move(alert_id, "resolve")


@bp.post("/api/v1/alerts/<alert_id>/dismiss")
@api.operation("Dismiss an alert", responses={200: AlertOut, 409: "Finished"})
@requires("alerts:respond")
@_refusals("alert")
def dismiss_alert(alert_id: str) -> tuple[Response, int]:
    return _alert_move(alert_id, "dismiss")


# ---- customization -----------------------------------------------------------------------------

ENGINE = "/api/v1/engine"


def override_out(row: ThresholdOverride) -> ThresholdOverrideOut:
    now = utcnow()
    return ThresholdOverrideOut(
        id=row.id,
        threshold=row.threshold,
        value=row.value,
        default=threshold_bounds()[row.threshold].default,
        event_type=row.event_type,
        ai_system_id=row.ai_system_id,
        justification=row.justification,
        expires_at=row.expires_at,
        created_at=row.created_at,
        created_by=row.created_by,
        active=row.revoked_at is None and (row.expires_at is None or row.expires_at > now),
    )


@bp.get(f"{ENGINE}/thresholds")
@api.operation(
    "The engine's thresholds (defaults and ranges) and the organization's overrides",
    responses={200: ThresholdsOut},
)
@requires("engine:read")
def get_thresholds() -> tuple[Response, int]:
    with current_runtime().database.read_session() as session:
        rows = session.scalars(
            select(ThresholdOverride)
            .where(ThresholdOverride.organization_id == current_identity().organization_id)
            .order_by(ThresholdOverride.created_at.desc())
        ).all()
        overrides = [override_out(r) for r in rows]
    table = [
        {"threshold": name, "default": bound.default, "min": bound.min, "max": bound.max}
        for name, bound in sorted(threshold_bounds().items())
    ]
    assert set(thresholds()) == {t["threshold"] for t in table}
    return json_response(ThresholdsOut(thresholds=table, overrides=overrides))


@bp.post(f"{ENGINE}/threshold-overrides")
@api.operation(
    "Override a threshold (Professional and Enterprise)",
    request=ThresholdOverrideIn,
    responses={
        201: ThresholdOverrideOut,
        402: "The plan does not include customization",
        422: "Out of range, unknown, or refused by a regulatory guardrail",
    },
    description="For every event type or one, for the organization or one system; the most "
    "specific override wins. PHI event types cannot have a threshold.",
)
@requires("engine:customize")
@_refusals("AI system")
def create_override() -> tuple[Response, int]:
    body = parse_json_body(ThresholdOverrideIn)
    row = findings.create_override(
        current_runtime().database,
        current_identity(),
        threshold=body.threshold,
        value=body.value,
        event_type=body.event_type,
        ai_system_id=str(body.ai_system_id) if body.ai_system_id else None,
        justification=body.justification,
        expires_at=body.expires_at,
    )
    return json_response(override_out(row), 201)


@bp.delete(f"{ENGINE}/threshold-overrides/<override_id>")
@api.operation("Revoke a threshold override", responses={204: None})
@requires("engine:customize")
@_refusals("threshold override")
def revoke_override(override_id: str) -> tuple[str, int]:
    _uuid_or_404(override_id, "threshold override")
    findings.revoke_override(current_runtime().database, current_identity(), override_id)
    return "", 204


def toggle_out(row: ControlToggle) -> ControlToggleOut:
    return ControlToggleOut(
        id=row.id,
        control_id=row.control_id,
        ai_system_id=row.ai_system_id,
        justification=row.justification,
        created_at=row.created_at,
        created_by=row.created_by,
        active=row.revoked_at is None,
    )


@bp.get(f"{ENGINE}/control-toggles")
@api.operation("Controls turned off, and when they were", responses={200: ControlToggleList})
@requires("engine:read")
def list_toggles() -> tuple[Response, int]:
    with current_runtime().database.read_session() as session:
        rows = session.scalars(
            select(ControlToggle)
            .where(ControlToggle.organization_id == current_identity().organization_id)
            .order_by(ControlToggle.created_at.desc())
        ).all()
        return json_response(ControlToggleList(data=[toggle_out(r) for r in rows]))


@bp.post(f"{ENGINE}/control-toggles")
@api.operation(
    "Turn a control off for the organization or one system (Professional and Enterprise)",
    request=ControlToggleIn,
    responses={
        201: ControlToggleOut,
        402: "The plan does not include customization",
        409: "Already off",
        422: "Unknown, or mandatory (a regulatory guardrail)",
    },
)
@requires("engine:customize")
@_refusals("AI system")
def disable_control() -> tuple[Response, int]:
    body = parse_json_body(ControlToggleIn)
    row = findings.disable_control(
        current_runtime().database,
        current_identity(),
        control_id=body.control_id,
        ai_system_id=str(body.ai_system_id) if body.ai_system_id else None,
        justification=body.justification,
    )
    return json_response(toggle_out(row), 201)


@bp.delete(f"{ENGINE}/control-toggles/<toggle_id>")
@api.operation("Turn a control back on", responses={204: None})
@requires("engine:customize")
@_refusals("control toggle")
def enable_control(toggle_id: str) -> tuple[str, int]:
    _uuid_or_404(toggle_id, "control toggle")
    findings.enable_control(current_runtime().database, current_identity(), toggle_id)
    return "", 204
