"""What people do with the engine's output, and how they tune it: resolve violations, move and
assign required actions, acknowledge, resolve or dismiss alerts, set the alert SLA and Slack
webhook, and manage threshold overrides and control toggles (docs/domain.md#decision-10-customization). Each change is one
transaction with its outbox event, so each is in the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from spectral_governance import alerting, notify
from spectral_governance import event_types as ev
from spectral_governance.engine.customization import check_override, check_toggle
from spectral_governance.engine.mapping import threshold_bounds
from spectral_governance.models import (
    AISystem,
    Alert,
    ControlStatus,
    ControlToggle,
    Member,
    Organization,
    RequiredAction,
    ThresholdOverride,
    Violation,
    bus,
)
from spectral_governance.redaction import redact
from spectral_governance.services import Conflict, NotFound, _actor, _organization
from spectral_shared.bus import record_event
from spectral_shared.crypto import FieldCipher
from spectral_shared.db import Database, new_id, utcnow
from spectral_shared.identity import Identity

# Plans whose organizations may customize the engine (not starter: docs/domain.md#plans-and-limits).
CUSTOMIZING_PLANS = frozenset({"professional", "growth", "enterprise"})
ACTION_MOVES = {
    "pending": ("in_progress", "completed", "cancelled"),
    "in_progress": ("completed", "cancelled"),
    "completed": (),
    "cancelled": (),
}


class UpgradeRequired(Exception):
    def __init__(self, plan: str | None) -> None:
        super().__init__(
            f"Your plan ({plan or 'starter'}) does not include engine customization; threshold "
            "overrides and control toggles come with Professional and Enterprise."
        )
        self.plan = plan or "starter"


def _who(identity: Identity) -> str:
    return f"{identity.subject_type}:{identity.subject_id}"


def _scrubbed(text: str) -> str:
    """A note as stored: PHI a person typed is redacted like a payload's."""
    return str(redact(text).payload)


def _owned(session: Session, model: Any, identity: Identity, row_id: str) -> Any:
    row = session.scalars(
        select(model)
        .where(model.id == row_id, model.organization_id == identity.organization_id)
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound(row_id)
    return row


# ---- violations --------------------------------------------------------------------------------


def resolve_violation(
    database: Database, identity: Identity, violation_id: str, note: str
) -> Violation:
    """Resolve it; its control goes back to not assessed when no other open violation of it on
    the system remains and the status came from violations (a user's assessment stays)."""
    with database.session() as session:
        violation: Violation = _owned(session, Violation, identity, violation_id)
        if violation.resolved_at is not None:
            raise Conflict("This violation is already resolved.", slug="already-resolved")
        now = utcnow()
        violation.resolved_at, violation.resolved_by = now, _who(identity)
        violation.resolution_note = _scrubbed(note)
        session.flush()
        still_open = session.scalar(
            select(func.count())
            .select_from(Violation)
            .where(
                Violation.ai_system_id == violation.ai_system_id,
                Violation.control_id == violation.control_id,
                Violation.resolved_at.is_(None),
            )
        )
        status = session.get(ControlStatus, (violation.ai_system_id, violation.control_id))
        after = status.status if status else "not_assessed"
        if not still_open and status is not None and status.source == "violation":
            system = session.get(AISystem, violation.ai_system_id)
            session.delete(status)
            after = "not_assessed"
            record_event(
                session,
                bus,
                ev.CONTROL_STATUS_CHANGED,
                ev.ControlStatusChanged(
                    ai_system_id=violation.ai_system_id,
                    ai_system_name=system.name if system else "",
                    control_id=violation.control_id,
                    framework_id=violation.framework_id,
                    from_status="non_compliant",
                    to_status="not_assessed",
                    reason="Its open violations were resolved",
                    source="violation",
                ),
                organization_id=identity.organization_id,
                actor=_actor(identity),
            )
        record_event(
            session,
            bus,
            ev.VIOLATION_RESOLVED,
            ev.ViolationResolved(
                violation_id=violation.id,
                ai_system_id=violation.ai_system_id,
                control_id=violation.control_id,
                control_status=after,
            ),
            organization_id=identity.organization_id,
            actor=_actor(identity),
        )
        session.expunge(violation)
        return violation


# ---- required actions ------------------------------------------------------------------------


def update_action(
    database: Database,
    identity: Identity,
    action_id: str,
    *,
    status: str | None,
    assigned_user_id: str | None,
    notes: str | None,
    fields: set[str],
) -> RequiredAction:
    with database.session() as session:
        action: RequiredAction = _owned(session, RequiredAction, identity, action_id)
        before = action.status
        if "status" in fields and status is not None and status != before:
            if status not in ACTION_MOVES[before]:
                allowed = ", ".join(ACTION_MOVES[before]) or "none (it is finished)"
                raise Conflict(
                    f"An action that is {before} cannot become {status}; allowed: {allowed}.",
                    slug="invalid-transition",
                )
            action.status = status
            if status in ("completed", "cancelled"):
                action.completed_at, action.completed_by = utcnow(), _who(identity)
        if "assigned_user_id" in fields:
            if assigned_user_id is not None:
                member = session.get(Member, assigned_user_id)
                if member is None or member.organization_id != identity.organization_id:
                    raise NotFound(assigned_user_id)
            action.assigned_user_id = assigned_user_id
        if "notes" in fields:
            action.notes = _scrubbed(notes) if notes else None
        action.updated_at = utcnow()
        if action.status != before or "assigned_user_id" in fields:
            record_event(
                session,
                bus,
                ev.ACTION_STATUS_CHANGED,
                ev.ActionStatusChanged(
                    action_id=action.id,
                    ai_system_id=action.ai_system_id,
                    from_status=before,
                    to_status=action.status,
                    assigned_user_id=action.assigned_user_id,
                ),
                organization_id=identity.organization_id,
                actor=_actor(identity),
            )
        session.flush()
        session.expunge(action)
        return action


# ---- alerts ------------------------------------------------------------------------------------

_ALERT_EVENTS = {
    "acknowledged": ev.ALERT_ACKNOWLEDGED,
    "resolved": ev.ALERT_RESOLVED,
    "dismissed": ev.ALERT_DISMISSED,
}


def move_alert(database: Database, identity: Identity, alert_id: str, action: str) -> Alert:
    with database.session() as session:
        alert: Alert = _owned(session, Alert, identity, alert_id)
        try:
            status = alerting.check_transition(alert.status, action)
        except alerting.AlertTransitionRefused as refused:
            raise Conflict(str(refused), slug="invalid-transition") from None
        now, who = utcnow(), _who(identity)
        alert.status = status
        if status == "acknowledged":
            alert.acknowledged_at, alert.acknowledged_by = now, who
        elif status == "resolved":
            alert.resolved_at, alert.resolved_by = now, who
            alert.response_time_seconds = alerting.response_time_seconds(alert.raised_at, now)
        else:
            alert.dismissed_at, alert.dismissed_by = now, who
        record_event(
            session,
            bus,
            _ALERT_EVENTS[status],
            ev.AlertChanged(
                alert_id=alert.id,
                ai_system_id=alert.ai_system_id,
                severity=alert.severity,
                status=status,
                response_time_seconds=alert.response_time_seconds,
            ),
            organization_id=identity.organization_id,
            actor=_actor(identity),
        )
        session.flush()
        session.expunge(alert)
        return alert


def alert_settings(session: Session, organization_id: str) -> tuple[bool, dict[str, int]]:
    organization = session.get(Organization, organization_id)
    table = alerting.sla_table(organization.alert_sla_minutes if organization else None)
    minutes = {severity: int(due.total_seconds() // 60) for severity, due in table.items()}
    return bool(organization and organization.slack_webhook_url), minutes


def set_alert_settings(
    database: Database,
    cipher: FieldCipher,
    identity: Identity,
    *,
    slack_webhook_url: str | None,
    sla_minutes: dict[str, int] | None,
    fields: set[str],
) -> tuple[bool, dict[str, int]]:
    """Raises ``alerting.SlaRefused`` for an SLA table out of order or range."""
    if "sla_minutes" in fields and sla_minutes is not None:
        alerting.sla_table(sla_minutes)
    with database.session() as session:
        organization = _organization(session, identity.organization_id)
        if "slack_webhook_url" in fields:
            organization.slack_webhook_url = (
                cipher.encrypt_text(slack_webhook_url, notify.slack_url_aad(organization.id))
                if slack_webhook_url
                else None
            )
        if "sla_minutes" in fields:
            organization.alert_sla_minutes = dict(sla_minutes) if sla_minutes else None
        session.flush()
        slack_set, minutes = alert_settings(session, identity.organization_id)
        record_event(
            session,
            bus,
            ev.ALERT_SETTINGS_UPDATED,
            ev.AlertSettingsUpdated(slack_webhook_set=slack_set, sla_minutes=minutes),
            organization_id=identity.organization_id,
            actor=_actor(identity),
        )
        return slack_set, minutes


# ---- customization (docs/domain.md#decision-10-customization) ---------------------------------


def _check_plan(session: Session, organization_id: str) -> None:
    organization = session.get(Organization, organization_id)
    plan = organization.plan if organization else None
    if (plan or "starter").lower() not in CUSTOMIZING_PLANS:
        raise UpgradeRequired(plan)


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
        raise NotFound(system_id)


def create_override(
    database: Database,
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
    with database.session() as session:
        _check_plan(session, identity.organization_id)
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
            created_by=_who(identity),
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
        ev.THRESHOLD_OVERRIDE_CHANGED,
        ev.ThresholdOverrideChanged(
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
        actor=_actor(identity),
    )


def revoke_override(database: Database, identity: Identity, override_id: str) -> None:
    with database.session() as session:
        row: ThresholdOverride = _owned(session, ThresholdOverride, identity, override_id)
        if row.revoked_at is not None:
            return
        row.revoked_at, row.revoked_by = utcnow(), _who(identity)
        _override_event(session, identity, row, "revoked")


def disable_control(
    database: Database,
    identity: Identity,
    *,
    control_id: str,
    ai_system_id: str | None,
    justification: str,
) -> ControlToggle:
    """Turn a control off; raises ``GuardrailRefused`` for a mandatory one."""
    resolved = check_toggle(control_id)
    with database.session() as session:
        _check_plan(session, identity.organization_id)
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
            created_by=_who(identity),
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
        ev.CONTROL_TOGGLE_CHANGED,
        ev.ControlToggleChanged(
            toggle_id=row.id,
            control_id=row.control_id,
            enabled=enabled,
            ai_system_id=row.ai_system_id,
            justification=row.justification,
        ),
        organization_id=identity.organization_id,
        actor=_actor(identity),
    )


def enable_control(database: Database, identity: Identity, toggle_id: str) -> None:
    with database.session() as session:
        row: ControlToggle = _owned(session, ControlToggle, identity, toggle_id)
        if row.revoked_at is not None:
            return
        row.revoked_at, row.revoked_by = utcnow(), _who(identity)
        _toggle_event(session, identity, row, enabled=True)
