"""HTTP API: the engine's thresholds, their overrides and control toggles."""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy import select

from spectral_governance.customization import use_cases
from spectral_governance.customization.models import ControlToggle, ThresholdOverride
from spectral_governance.customization.schemas import (
    ControlToggleIn,
    ControlToggleList,
    ControlToggleOut,
    EngineSettings,
    ThresholdOverrideIn,
    ThresholdOverrideOut,
    ThresholdsOut,
)
from spectral_governance.engine.mapping import threshold_bounds, thresholds
from spectral_governance.web import api
from spectral_shared.db import utcnow
from spectral_shared.identity import current_identity, requires
from spectral_shared.web.responses import current_runtime, json_response
from spectral_shared.web.validation import parse_json_body

bp = Blueprint("customization", __name__)


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
def create_override() -> tuple[Response, int]:
    body = parse_json_body(ThresholdOverrideIn)
    row = use_cases.create_override(
        current_runtime(),
        current_identity(),
        threshold=body.threshold,
        value=body.value,
        event_type=body.event_type,
        ai_system_id=str(body.ai_system_id) if body.ai_system_id else None,
        justification=body.justification,
        expires_at=body.expires_at,
    )
    return json_response(override_out(row), 201)


@bp.delete(f"{ENGINE}/threshold-overrides/<uuid:override_id>")
@api.operation("Revoke a threshold override", responses={204: None})
@requires("engine:customize")
def revoke_override(override_id: str) -> tuple[str, int]:
    use_cases.revoke_override(current_runtime(), current_identity(), override_id)
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
def disable_control() -> tuple[Response, int]:
    body = parse_json_body(ControlToggleIn)
    row = use_cases.disable_control(
        current_runtime(),
        current_identity(),
        control_id=body.control_id,
        ai_system_id=str(body.ai_system_id) if body.ai_system_id else None,
        justification=body.justification,
    )
    return json_response(toggle_out(row), 201)


@bp.delete(f"{ENGINE}/control-toggles/<uuid:toggle_id>")
@api.operation("Turn a control back on", responses={204: None})
@requires("engine:customize")
def enable_control(toggle_id: str) -> tuple[str, int]:
    use_cases.enable_control(current_runtime(), current_identity(), toggle_id)
    return "", 204


@bp.get(f"{ENGINE}/settings")
@api.operation("The organization's engine settings", responses={200: EngineSettings})
@requires("engine:read")
def get_engine_settings() -> tuple[Response, int]:
    with current_runtime().database.read_session() as session:
        on = use_cases.recommendations_on(session, current_identity().organization_id)
    return json_response(EngineSettings(recommendations=on))


@bp.put(f"{ENGINE}/settings")
@api.operation(
    "Turn the recommendations of sources that are not law on or off",
    request=EngineSettings,
    responses={200: EngineSettings, 422: "Invalid fields"},
)
@requires("engine:customize")
def put_engine_settings() -> tuple[Response, int]:
    body = parse_json_body(EngineSettings)
    on = use_cases.set_engine_settings(
        current_runtime(), current_identity(), recommendations=body.recommendations
    )
    return json_response(EngineSettings(recommendations=on))
