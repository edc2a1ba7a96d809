"""Translating stored telemetry (the governance worker, from ``governance.telemetry.received``):
the engine's violations, required actions and alerts are stored with their events in the
consumer's transaction, so a crash before the commit leaves the message to be redelivered and
nothing half-done, and a redelivery after it finds the events already translated.

Deadlines count from when Spectral detected the problem (the event's arrival): a breach's
reporting clock starts at discovery.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from spectral_governance import alerting, notify
from spectral_governance import event_types as ev
from spectral_governance.applicability import SystemFacts
from spectral_governance.engine.customization import (
    Override,
    Toggle,
    disabled_controls,
    effective_limits,
)
from spectral_governance.engine.mapping import Violation as Found
from spectral_governance.engine.normalizer import SEVERITIES, Normalized, rules
from spectral_governance.engine.translate import Translation, translate
from spectral_governance.models import (
    AISystem,
    Alert,
    ControlStatus,
    ControlToggle,
    Organization,
    RequiredAction,
    TelemetryEvent,
    ThresholdOverride,
    Violation,
    bus,
)
from spectral_governance.services import facts_of
from spectral_shared.bus import Actor, record_event
from spectral_shared.crypto import FieldCipher
from spectral_shared.db import new_id, utcnow

ENGINE = Actor.system("governance.translation")
PRIORITY_RANK = {"immediate": 0, "urgent": 1, "high": 2, "medium": 3, "low": 4}
_EVENTS: Table = TelemetryEvent.__table__  # type: ignore[assignment]
_COLUMNS = (
    _EVENTS.c.id,
    _EVENTS.c.organization_id,
    _EVENTS.c.ai_system_id,
    _EVENTS.c.canonical_type,
    _EVENTS.c.category,
    _EVENTS.c.severity,
    _EVENTS.c.confidence,
    _EVENTS.c.matched_by,
    _EVENTS.c.metrics,
    _EVENTS.c.received_at,
)


@dataclass
class Customization:
    overrides: list[Override]
    toggles: list[Toggle]


def _customization(
    session: Session, organization_ids: Iterable[str], now: datetime
) -> dict[str, Customization]:
    found = {org: Customization([], []) for org in organization_ids}
    for o in session.scalars(
        select(ThresholdOverride).where(
            ThresholdOverride.organization_id.in_(list(found)),
            ThresholdOverride.revoked_at.is_(None),
        )
    ):
        if o.expires_at is None or o.expires_at > now:
            found[o.organization_id].overrides.append(
                Override(
                    o.id,
                    o.threshold,
                    o.value,
                    o.event_type,
                    o.ai_system_id,
                    o.created_at,
                    o.expires_at,
                )
            )
    for t in session.scalars(
        select(ControlToggle).where(
            ControlToggle.organization_id.in_(list(found)), ControlToggle.revoked_at.is_(None)
        )
    ):
        found[t.organization_id].toggles.append(Toggle(t.control_id, t.ai_system_id))
    return found


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def highest(severities: Iterable[str]) -> str:
    return min(severities, key=_rank, default="low")


def _percent(value: float) -> str:
    return f"{value:.1%}"


def describe(found: Found, event: Normalized, system: AISystem) -> str:
    """A violation's description: the rule, the system and the measured number; never PHI."""
    m = event.metrics
    if event.event_type == "phi_exposure":
        count = int(m.get("phi_exposure_count", 1))
        detail = f"{count} PHI exposure(s) reported"
    elif "accuracy_drop" in m:
        detail = f"accuracy dropped by {_percent(m['accuracy_drop'])}"
    elif "demographic_variance" in m:
        detail = f"demographic variance of {_percent(m['demographic_variance'])}"
    elif "error_rate" in m:
        detail = f"error rate of {_percent(m['error_rate'])}"
    elif "latency_increase_pct" in m:
        detail = f"latency up by {_percent(m['latency_increase_pct'])}"
    else:
        detail = f"{event.event_type.replace('_', ' ')} reported"
    return (
        f"{found.framework_id} {found.control_id} {found.control_name}: {detail} by {system.name}."
    )


def _alert_metadata(event: Normalized, findings: Sequence[Found]) -> dict[str, Any]:
    m = event.metrics
    metadata: dict[str, Any] = {}
    if findings:
        top = min(findings, key=lambda f: _rank(f.severity))
        metadata.update(control_id=top.control_id, framework_id=top.framework_id)
    if "latency_increase_pct" in m:
        metadata["percent_degraded"] = m["latency_increase_pct"] * 100
    if "accuracy_drop" in m:
        metadata["percent_degraded"] = m["accuracy_drop"] * 100
    if "error_rate" in m:
        metadata["error_rate"] = m["error_rate"]
    if "value" in m:
        metadata["drift_score"] = m["value"]
    return metadata


def alert_message(event: Normalized, system: AISystem, findings: Sequence[Found]) -> str:
    label = event.event_type.replace("_", " ").capitalize()
    if not findings:
        return f"{label} ({event.severity}) reported by {system.name}."
    controls = ", ".join(dict.fromkeys(f"{f.framework_id} {f.control_id}" for f in findings))
    return f"{label} on {system.name}: {len(findings)} violation(s) of {controls}."


def raise_alert(
    session: Session,
    cipher: FieldCipher,
    *,
    organization: Organization | None,
    system: AISystem,
    alert_type: str,
    severity: str,
    message: str,
    telemetry_event_id: str | None,
    now: datetime,
    actor: Actor = ENGINE,
) -> Alert:
    """A new alert, or the repeat counted on the same alert of the last hour (DOMAIN 2.4)."""
    key = alerting.dedup_key(system.id, alert_type, message)
    earlier = session.scalars(
        select(Alert)
        .where(
            Alert.dedup_key == key,
            Alert.raised_at > now - alerting.DEDUP_WINDOW,
            Alert.status.in_(("active", "acknowledged")),
        )
        .order_by(Alert.raised_at.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if earlier is not None:
        earlier.occurrences += 1
        earlier.last_seen_at = now
        return earlier
    table = alerting.sla_table(organization.alert_sla_minutes if organization else None)
    alert = Alert(
        id=new_id(),
        organization_id=system.organization_id,
        ai_system_id=system.id,
        telemetry_event_id=telemetry_event_id,
        type=alert_type,
        severity=severity,
        message=message,
        dedup_key=key,
        occurrences=1,
        last_seen_at=now,
        status="active",
        raised_at=now,
        ack_due_at=alerting.ack_due(severity, now, table),
    )
    session.add(alert)
    record_event(
        session,
        bus,
        ev.ALERT_RAISED,
        ev.AlertRaised(
            alert_id=alert.id,
            ai_system_id=system.id,
            type=alert_type,
            severity=severity,
            ack_due_at=alert.ack_due_at.isoformat(),
            telemetry_event_id=telemetry_event_id,
        ),
        organization_id=system.organization_id,
        actor=actor,
    )
    channels = alerting.channels(severity)
    if "email" in channels:
        notify.email(
            session,
            cipher,
            notify.recipients(session, system.organization_id),
            f"[Spectral] {severity.upper()} alert: {system.name}",
            f"{message}\n\nSeverity: {severity}\nAcknowledge by: "
            f"{alert.ack_due_at:%Y-%m-%d %H:%M} UTC\nAlert id: {alert.id}\n",
        )
    if "slack" in channels:
        notify.slack(
            session, cipher, organization, f":rotating_light: *{severity.upper()}* {message}"
        )
    return alert


def _mark_non_compliant(session: Session, system: AISystem, found: Found, now: datetime) -> None:
    status = session.get(ControlStatus, (system.id, found.control_id))
    before = status.status if status else "not_assessed"
    if before == "non_compliant":
        return
    if status is None:
        status = ControlStatus(
            ai_system_id=system.id,
            control_id=found.control_id,
            organization_id=system.organization_id,
        )
        session.add(status)
    status.status, status.source, status.updated_at = "non_compliant", "violation", now
    status.reason, status.updated_by = f"Open violation of {found.control_id}", None
    record_event(
        session,
        bus,
        ev.CONTROL_STATUS_CHANGED,
        ev.ControlStatusChanged(
            ai_system_id=system.id,
            ai_system_name=system.name,
            control_id=found.control_id,
            framework_id=found.framework_id,
            from_status=before,
            to_status="non_compliant",
            reason=status.reason,
            source="violation",
        ),
        organization_id=system.organization_id,
        actor=ENGINE,
    )


def _store(
    session: Session,
    cipher: FieldCipher,
    *,
    event_id: str,
    event: Normalized,
    detected_at: datetime,
    system: AISystem,
    organization: Organization | None,
    translation: Translation,
    now: datetime,
) -> None:
    org = system.organization_id
    for finding in translation.findings:
        found = finding.violation
        deadline = (
            detected_at + _days(found.reporting_deadline_days)
            if found.reporting_deadline_days
            else None
        )
        violation = Violation(
            id=new_id(),
            organization_id=org,
            ai_system_id=system.id,
            telemetry_event_id=event_id,
            framework_id=found.framework_id,
            control_id=found.control_id,
            control_name=found.control_name,
            type=found.type,
            severity=found.severity,
            requires_reporting=found.requires_reporting,
            reporting_deadline=deadline,
            description=describe(found, event, system),
            detected_at=detected_at,
        )
        session.add(violation)
        record_event(
            session,
            bus,
            ev.VIOLATION_DETECTED,
            ev.ViolationDetected(
                violation_id=violation.id,
                ai_system_id=system.id,
                telemetry_event_id=event_id,
                framework_id=found.framework_id,
                control_id=found.control_id,
                type=found.type,
                severity=found.severity,
                requires_reporting=found.requires_reporting,
                reporting_deadline=deadline.isoformat() if deadline else None,
            ),
            organization_id=org,
            actor=ENGINE,
        )
        _mark_non_compliant(session, system, found, now)
        for planned in finding.actions:
            action = RequiredAction(
                id=new_id(),
                organization_id=org,
                ai_system_id=system.id,
                violation_id=violation.id,
                action_type=planned.action_type,
                priority=planned.priority,
                priority_rank=PRIORITY_RANK[planned.priority],
                assignee=planned.assignee,
                deadline=detected_at + planned.due_in,
                automated=planned.automated,
                description=planned.description,
                details=planned.details,
                status="pending",
                created_at=now,
                updated_at=now,
                attempts=0,
            )
            session.add(action)
            record_event(
                session,
                bus,
                ev.ACTION_CREATED,
                ev.ActionCreated(
                    action_id=action.id,
                    violation_id=violation.id,
                    ai_system_id=system.id,
                    action_type=action.action_type,
                    priority=action.priority,
                    assignee=action.assignee,
                    deadline=action.deadline.isoformat(),
                    automated=action.automated,
                ),
                organization_id=org,
                actor=ENGINE,
            )
    found_all = [f.violation for f in translation.findings]
    if found_all or event.severity in ("critical", "high"):
        alert_type = alerting.alert_type_for(event.event_type, event.category)
        severity = highest(
            [
                alerting.auto_severity(alert_type, _alert_metadata(event, found_all)),
                *(f.severity for f in found_all),
                *([event.severity] if not found_all else []),
            ]
        )
        raise_alert(
            session,
            cipher,
            organization=organization,
            system=system,
            alert_type=alert_type,
            severity=severity,
            message=alert_message(event, system, found_all),
            telemetry_event_id=event_id,
            now=now,
        )


def _days(days: int) -> Any:
    from datetime import timedelta

    return timedelta(days=days)


def translate_events(session: Session, cipher: FieldCipher, event_ids: Sequence[str]) -> int:
    """Translate the given events not yet translated; returns how many were."""
    rows = session.execute(
        select(*_COLUMNS)
        .where(_EVENTS.c.id.in_(list(event_ids)), _EVENTS.c.translated_at.is_(None))
        .order_by(_EVENTS.c.received_at, _EVENTS.c.id)
        .with_for_update()
    ).all()
    if not rows:
        return 0
    now = utcnow()
    systems = {
        s.id: s
        for s in session.scalars(
            select(AISystem).where(AISystem.id.in_({r.ai_system_id for r in rows}))
        )
    }
    organizations = {
        o.id: o
        for o in session.scalars(
            select(Organization).where(Organization.id.in_({r.organization_id for r in rows}))
        )
    }
    custom = _customization(session, {r.organization_id for r in rows}, now)
    facts: dict[str, SystemFacts] = {}
    done: list[dict[str, Any]] = []
    types = rules().types
    for row in rows:
        system = systems[row.ai_system_id]
        organization = organizations.get(row.organization_id)
        if system.id not in facts:
            facts[system.id] = facts_of(system, organization.state if organization else None)
        event = Normalized(
            row.canonical_type if row.canonical_type in types else "model_drift",
            row.category,
            row.severity,
            row.confidence,
            row.matched_by,
            dict(row.metrics or {}),
        )
        customization = custom[row.organization_id]
        translation = translate(
            event,
            facts[system.id],
            limits=effective_limits(
                customization.overrides,
                event_type=event.event_type,
                ai_system_id=system.id,
                now=now,
            ),
            disabled=disabled_controls(customization.toggles, ai_system_id=system.id),
            on=row.received_at.date(),
        )
        if translation.findings or event.severity in ("critical", "high"):
            _store(
                session,
                cipher,
                event_id=row.id,
                event=event,
                detected_at=row.received_at,
                system=system,
                organization=organization,
                translation=translation,
                now=now,
            )
        risk = translation.risk
        done.append(
            {
                "b_id": row.id,
                "translated_at": now,
                "risk_score": risk.score,
                "risk_level": risk.level,
                "escalate": risk.escalate,
                "escalation_path": list(risk.path) if risk.escalate else None,
            }
        )
    session.flush()
    session.execute(
        update(_EVENTS).where(_EVENTS.c.id == bindparam("b_id")),
        done,
        execution_options={"synchronize_session": False},
    )
    return len(done)
