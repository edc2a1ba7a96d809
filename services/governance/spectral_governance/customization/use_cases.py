"""An organization's customization of the engine: threshold overrides and control toggles
(Professional and Enterprise plans), within the regulatory guardrails."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from spectral_governance.customization.events import (
    CONTROL_TOGGLE_CHANGED,
    ENGINE_SETTINGS_CHANGED,
    THRESHOLD_OVERRIDE_CHANGED,
    ControlToggleChanged,
    EngineSettingsChanged,
    ThresholdOverrideChanged,
)
from spectral_governance.customization.models import ControlToggle, ThresholdOverride
from spectral_governance.db import bus, owned_for_update
from spectral_governance.directory.models import Organization
from spectral_governance.directory.use_cases import organization_row
from spectral_governance.engine.customization import check_override, check_toggle
from spectral_governance.engine.mapping import threshold_bounds
from spectral_governance.inventory.models import AISystem
from spectral_shared.bus import record_event
from spectral_shared.component import Runtime
from spectral_shared.db import new_id, utcnow
from spectral_shared.errors import Conflict, NotFound, ReadOnly, UpgradeRequired
from spectral_shared.identity import Identity


class CustomizationNotInPlan(UpgradeRequired):
    def __init__(self, plan: str | None, what: str) -> None:
        super().__init__(
            f"Your plan ({plan or 'none yet'}) does not include {what}; threshold overrides and "
            "control toggles come with Professional and Enterprise.",
            plan=plan or "none",
        )


def _check_plan(session: Session, organization_id: str, right: str) -> None:
    """Billing's capabilities allow this customization (``threshold_overrides`` or
    ``control_toggles``), and the organization is not read-only."""
    organization = session.get(Organization, organization_id)
    if organization is not None and not organization.writable:
        raise ReadOnly(
            organization.read_only_reason,
            organization.pay_url,
            refused="No customization can be added while the organization is read-only.",
        )
    if organization is None or not getattr(organization, right):
        plan = (organization.plan_name or organization.plan) if organization else None
        raise CustomizationNotInPlan(plan, right.replace("_", " "))


def _own_system(session: Session, identity: Identity, system_id: str | None) -> None:
    if system_id is None:
        return
    found = session.scalar(
        select(AISystem.id).where(
            AISystem.id == system_id,
            AISystem.organization_id == identity.organization_id,
            AISystem.deleted_at.is_(None),
        )
    )
    if found is None:
        raise NotFound("AI system")


def create_override(
    runtime: Runtime,
    identity: Identity,
    *,
    threshold: str,
    value: float,
    event_type: str | None,
    ai_system_id: str | None,
    justification: str,
    expires_at: datetime | None,
) -> ThresholdOverride:
    """Raises ``GuardrailRefused`` (422), ``UpgradeRequired`` (402) or ``NotFound``."""
    canonical = check_override(event_type, threshold, value)
    if expires_at is not None and expires_at <= utcnow():
        raise Conflict("expires_at must be in the future.", slug="expired")
    with runtime.database.session() as session:
        _check_plan(session, identity.organization_id, "threshold_overrides")
        _own_system(session, identity, ai_system_id)
        row = ThresholdOverride(
            id=new_id(),
            organization_id=identity.organization_id,
            ai_system_id=ai_system_id,
            event_type=canonical,
            threshold=threshold,
            value=value,
            justification=justification,
            expires_at=expires_at,
            created_by=identity.acting_as,
            created_at=utcnow(),
        )
        session.add(row)
        _override_event(session, identity, row, "created")
        session.flush()
        session.expunge(row)
        return row


def _override_event(
    session: Session,
    identity: Identity,
    row: ThresholdOverride,
    change: Literal["created", "revoked"],
) -> None:
    record_event(
        session,
        bus,
        THRESHOLD_OVERRIDE_CHANGED,
        ThresholdOverrideChanged(
            override_id=row.id,
            change=change,
            threshold=row.threshold,
            value=row.value,
            default=threshold_bounds()[row.threshold].default,
            event_type=row.event_type,
            ai_system_id=row.ai_system_id,
            justification=row.justification,
            expires_at=row.expires_at.isoformat() if row.expires_at else None,
        ),
        organization_id=identity.organization_id,
        actor=identity.actor,
    )


def revoke_override(runtime: Runtime, identity: Identity, override_id: str) -> None:
    with runtime.database.session() as session:
        row: ThresholdOverride = owned_for_update(
            session, ThresholdOverride, identity.organization_id, override_id, "threshold override"
        )
        if row.revoked_at is not None:
            return
        row.revoked_at, row.revoked_by = utcnow(), identity.acting_as
        _override_event(session, identity, row, "revoked")


def disable_control(
    runtime: Runtime,
    identity: Identity,
    *,
    control_id: str,
    ai_system_id: str | None,
    justification: str,
) -> ControlToggle:
    """Turn a control off; raises ``GuardrailRefused`` for a mandatory one."""
    resolved = check_toggle(control_id)
    with runtime.database.session() as session:
        _check_plan(session, identity.organization_id, "control_toggles")
        _own_system(session, identity, ai_system_id)
        existing = session.scalars(
            select(ControlToggle).where(
                ControlToggle.organization_id == identity.organization_id,
                ControlToggle.control_id == resolved,
                ControlToggle.ai_system_id.is_(None)
                if ai_system_id is None
                else ControlToggle.ai_system_id == ai_system_id,
                ControlToggle.revoked_at.is_(None),
            )
        ).first()
        if existing is not None:
            raise Conflict(
                f"{resolved} is already off here (toggle {existing.id}).", slug="already-disabled"
            )
        row = ControlToggle(
            id=new_id(),
            organization_id=identity.organization_id,
            ai_system_id=ai_system_id,
            control_id=resolved,
            justification=justification,
            created_by=identity.acting_as,
            created_at=utcnow(),
        )
        session.add(row)
        _toggle_event(session, identity, row, enabled=False)
        session.flush()
        session.expunge(row)
        return row


def _toggle_event(
    session: Session, identity: Identity, row: ControlToggle, *, enabled: bool
) -> None:
    record_event(
        session,
        bus,
        CONTROL_TOGGLE_CHANGED,
        ControlToggleChanged(
            toggle_id=row.id,
            control_id=row.control_id,
            enabled=enabled,
            ai_system_id=row.ai_system_id,
            justification=row.justification,
        ),
        organization_id=identity.organization_id,
        actor=identity.actor,
    )


def enable_control(runtime: Runtime, identity: Identity, toggle_id: str) -> None:
    with runtime.database.session() as session:
        row: ControlToggle = owned_for_update(
            session, ControlToggle, identity.organization_id, toggle_id, "control toggle"
        )
        if row.revoked_at is not None:
            return
        row.revoked_at, row.revoked_by = utcnow(), identity.acting_as
        _toggle_event(session, identity, row, enabled=True)


def recommendations_on(session: Session, organization_id: str) -> bool:
    organization = session.get(Organization, organization_id)
    return organization is None or organization.recommendations is not False


def set_engine_settings(runtime: Runtime, identity: Identity, *, recommendations: bool) -> bool:
    """Any plan may turn recommendations off: they are Spectral's advice, not the law's."""
    with runtime.database.session() as session:
        organization = organization_row(session, identity.organization_id)
        organization.recommendations = recommendations
        record_event(
            session,
            bus,
            ENGINE_SETTINGS_CHANGED,
            EngineSettingsChanged(recommendations=recommendations),
            organization_id=identity.organization_id,
            actor=identity.actor,
        )
        return recommendations
