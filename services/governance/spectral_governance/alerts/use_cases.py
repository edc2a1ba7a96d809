"""Raising an alert (from translation and from escalations), its lifecycle, the organization's
alert settings, and the SLA watch."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from spectral_governance.alerts import rules as alerting
from spectral_governance.alerts.events import (
    ALERT_ACKNOWLEDGED,
    ALERT_DISMISSED,
    ALERT_RAISED,
    ALERT_RESOLVED,
    ALERT_SETTINGS_UPDATED,
    ALERT_SLA_BREACHED,
    AlertChanged,
    AlertRaised,
    AlertSettingsUpdated,
    AlertSlaBreached,
)
from spectral_governance.alerts.models import Alert
from spectral_governance.db import bus, owned_for_update
from spectral_governance.directory.models import Organization
from spectral_governance.directory.use_cases import organization_row, recipients
from spectral_governance.inventory.models import AISystem
from spectral_governance.inventory.posture import refresh_posture
from spectral_governance.notifications import outgoing
from spectral_governance.telemetry.redaction import redacted_text
from spectral_shared.bus import Actor, PendingEvent, record_event, record_events
from spectral_shared.component import Runtime
from spectral_shared.crypto import FieldCipher
from spectral_shared.db import new_id, utcnow
from spectral_shared.errors import Conflict, RuleBroken
from spectral_shared.identity import Identity
from spectral_shared.outbound import OutboundRefused

SLA_WATCH = Actor.system("governance.sla_watch")
SLA_BATCH = 500


class AlertBatch:
    """The writes of one transaction that raises alerts: their events, gathered to be recorded in
    one statement, and the open alerts of the last hour and the recipients it reads, looked up
    once. Translation extends it with the violations and actions it writes beside them."""

    def __init__(
        self,
        session: Session,
        cipher: FieldCipher,
        now: datetime,
        actor: Actor,
        base_url: str = "",
    ) -> None:
        self.session, self.cipher, self.now, self.actor = session, cipher, now, actor
        self.base_url = base_url.rstrip("/")  # the public address links in e-mails start with
        self.events: list[PendingEvent] = []
        self._alerts: dict[str, Alert] | None = None
        self._system_ids: set[str] = set()
        self._recipients: dict[str, list[str]] = {}

    def record(
        self, event_type: Any, data: Any, organization_id: str, actor: Actor | None = None
    ) -> None:
        self.events.append(PendingEvent(event_type, data, organization_id, actor or self.actor))

    def watch(self, system_ids: Iterable[str]) -> None:
        self._system_ids.update(system_ids)

    def open_alert(self, key: str) -> Alert | None:
        """The alert of the last hour with this dedup key, still open."""
        if self._alerts is None:
            self._alerts = {}
            if self._system_ids:
                for alert in self.session.scalars(
                    select(Alert)
                    .where(
                        Alert.ai_system_id.in_(sorted(self._system_ids)),
                        Alert.raised_at > self.now - alerting.DEDUP_WINDOW,
                        Alert.status.in_(("active", "acknowledged")),
                    )
                    .order_by(Alert.raised_at)
                    .with_for_update()
                ):
                    self._alerts[alert.dedup_key] = alert
        return self._alerts.get(key)

    def opened(self, alert: Alert) -> None:
        if self._alerts is not None:
            self._alerts[alert.dedup_key] = alert

    def recipients(self, organization_id: str) -> list[str]:
        if organization_id not in self._recipients:
            self._recipients[organization_id] = recipients(self.session, organization_id)
        return self._recipients[organization_id]

    def flush(self) -> None:
        self.session.flush()
        record_events(self.session, bus, self.events)
        self.events = []


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
    actor: Actor | None = None,
    writes: AlertBatch | None = None,
    base_url: str = "",
) -> Alert:
    """A new alert, or the repeat counted on the same open alert of the last hour
    (docs/domain.md, alerts). With ``writes``, its event joins the batch's (recorded as the
    batch's actor unless ``actor`` is given); otherwise it is recorded at once as ``actor``."""
    if writes is None and actor is None:
        raise TypeError("raise_alert needs an actor or a batch")
    own = writes or AlertBatch(session, cipher, now, actor or Actor.anonymous(), base_url)
    own.watch([system.id])
    key = alerting.dedup_key(system.id, alert_type, message)
    earlier = own.open_alert(key)
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
    own.opened(alert)
    own.record(
        ALERT_RAISED,
        AlertRaised(
            alert_id=alert.id,
            ai_system_id=system.id,
            type=alert_type,
            severity=severity,
            ack_due_at=alert.ack_due_at.isoformat(),
            telemetry_event_id=telemetry_event_id,
        ),
        system.organization_id,
        actor,
    )
    channels = alerting.channels(severity)
    if "email" in channels:
        outgoing.email(
            session,
            cipher,
            own.recipients(system.organization_id),
            f"[Spectral] {severity.upper()} alert: {system.name}",
            f"{message}\n\nSeverity: {severity}\nAcknowledge by: "
            f"{alert.ack_due_at:%Y-%m-%d %H:%M} UTC\nAlert id: {alert.id}\n"
            + (f"Open it: {own.base_url}/api/v1/alerts/{alert.id}\n" if own.base_url else ""),
        )
    if "slack" in channels:
        outgoing.slack(
            session, cipher, organization, f":rotating_light: *{severity.upper()}* {message}"
        )
    if writes is None:
        own.flush()
    return alert


_ALERT_EVENTS = {
    "acknowledged": ALERT_ACKNOWLEDGED,
    "resolved": ALERT_RESOLVED,
    "dismissed": ALERT_DISMISSED,
}


def move_alert(
    runtime: Runtime, identity: Identity, alert_id: str, action: str, note: str | None = None
) -> Alert:
    """Acknowledge, resolve or dismiss an alert; a ``note`` is kept with it (PHI-redacted)."""
    with runtime.database.session() as session:
        alert: Alert = owned_for_update(session, Alert, identity.organization_id, alert_id, "alert")
        try:
            status = alerting.check_transition(alert.status, action)
        except alerting.AlertTransitionRefused as refused:
            raise Conflict(str(refused), slug="invalid-transition") from None
        now, who = utcnow(), identity.acting_as
        alert.status = status
        if note:
            alert.note = redacted_text(note)
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
            AlertChanged(
                alert_id=alert.id,
                ai_system_id=alert.ai_system_id,
                severity=alert.severity,
                status=status,
                response_time_seconds=alert.response_time_seconds,
            ),
            organization_id=identity.organization_id,
            actor=identity.actor,
        )
        if status == "dismissed" and alert.ai_system_id:  # a dismissed alert no longer counts
            refresh_posture(session, [alert.ai_system_id], now)
        session.flush()
        session.expunge(alert)
        return alert


def alert_settings(session: Session, organization_id: str) -> tuple[bool, dict[str, int]]:
    organization = session.get(Organization, organization_id)
    table = alerting.sla_table(organization.alert_sla_minutes if organization else None)
    minutes = {severity: int(due.total_seconds() // 60) for severity, due in table.items()}
    return bool(organization and organization.slack_webhook_url), minutes


def set_alert_settings(
    runtime: Runtime,
    identity: Identity,
    *,
    slack_webhook_url: str | None,
    sla_minutes: dict[str, int] | None,
    fields: set[str],
) -> tuple[bool, dict[str, int]]:
    """Raises ``alerting.SlaRefused`` for an SLA table out of order or range, ``RuleBroken``
    for a Slack webhook the outbound policy refuses (ADR 0036). Clearing or changing the webhook
    cancels the messages still waiting for the old one, in the same transaction."""
    if "sla_minutes" in fields and sla_minutes is not None:
        alerting.sla_table(sla_minutes)
    if "slack_webhook_url" in fields and slack_webhook_url:
        try:
            runtime.outbound.check_url(slack_webhook_url, "slack")
        except OutboundRefused as refused:
            raise RuleBroken("slack_webhook_url", str(refused)) from None
    with runtime.database.session() as session:
        organization = organization_row(session, identity.organization_id)
        if "slack_webhook_url" in fields:
            outgoing.set_slack_webhook(session, runtime.cipher, organization, slack_webhook_url)
        if "sla_minutes" in fields:
            organization.alert_sla_minutes = dict(sla_minutes) if sla_minutes else None
        session.flush()
        slack_set, minutes = alert_settings(session, identity.organization_id)
        record_event(
            session,
            bus,
            ALERT_SETTINGS_UPDATED,
            AlertSettingsUpdated(slack_webhook_set=slack_set, sla_minutes=minutes),
            organization_id=identity.organization_id,
            actor=identity.actor,
        )
        return slack_set, minutes


def watch_sla(runtime: Runtime) -> int:
    """Mark the alerts not acknowledged in time; returns how many breached now."""
    now = utcnow()
    with runtime.database.session() as session:
        alerts = session.scalars(
            select(Alert)
            .where(
                Alert.status == "active",
                Alert.sla_breached_at.is_(None),
                Alert.ack_due_at < now,
            )
            .limit(SLA_BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        for alert in alerts:
            alert.sla_breached_at = now
            record_event(
                session,
                bus,
                ALERT_SLA_BREACHED,
                AlertSlaBreached(
                    alert_id=alert.id,
                    ai_system_id=alert.ai_system_id,
                    severity=alert.severity,
                    ack_due_at=alert.ack_due_at.isoformat(),
                ),
                organization_id=alert.organization_id,
                actor=SLA_WATCH,
            )
    return len(alerts)
