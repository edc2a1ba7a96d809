"""The governance worker's periodic jobs (docs/domain.md#the-action-executor):

- ``run_due_actions``: carry out pending automated actions. ``notify`` e-mails the users holding
  the action's persona (else the admins) and posts to Slack when set; ``escalate`` raises a high
  "Escalation" alert, then notifies the same way. Both complete the action. SMS is not sent
  (users have no phone numbers); the details say which channels were used.
- ``watch_sla``: an active alert not acknowledged by its deadline gets ``sla_breached_at`` and a
  ``governance.alert.sla_breached`` event, once.
- ``deliver_notifications``: post queued Slack messages, retried with backoff, given up after
  ``SLACK_MAX_ATTEMPTS``.

Every job takes its rows with ``FOR UPDATE SKIP LOCKED``, so worker replicas share the work.
"""

from __future__ import annotations

import json
from datetime import datetime

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from spectral_governance import event_types as ev
from spectral_governance import notify
from spectral_governance.models import (
    AISystem,
    Alert,
    Notification,
    Organization,
    RequiredAction,
    bus,
)
from spectral_governance.translation import raise_alert
from spectral_shared.bus import Actor, record_event
from spectral_shared.bus.relay import backoff
from spectral_shared.crypto import FieldCipher
from spectral_shared.db import Database, utcnow
from spectral_shared.logging import get_logger

log = get_logger(__name__)
EXECUTOR = Actor.system("governance.action_executor")
SLACK_MAX_ATTEMPTS = 8
SLACK_TIMEOUT = 10.0
BATCH = 100


def _carry_out(
    session: Session, cipher: FieldCipher, action: RequiredAction, now: datetime
) -> dict[str, object]:
    system = session.get(AISystem, action.ai_system_id)
    organization = session.get(Organization, action.organization_id)
    assert system is not None
    escalation_alert = None
    if action.action_type == "escalate":
        alert = raise_alert(
            session,
            cipher,
            organization=organization,
            system=system,
            alert_type="compliance_violation",
            severity="high",
            message=f"Escalation: {action.description}",
            telemetry_event_id=None,
            now=now,
            actor=EXECUTOR,
        )
        escalation_alert = alert.id
    to = notify.recipients(session, action.organization_id, action.assignee)
    mailed = notify.email(
        session,
        cipher,
        to,
        f"[Spectral] {action.priority.upper()} {action.action_type}: {system.name}",
        f"{action.description}\n\nOwner: {action.assignee}\nDue: "
        f"{action.deadline:%Y-%m-%d %H:%M} UTC\nAction id: {action.id}\n",
    )
    posted = notify.slack(
        session,
        cipher,
        organization,
        f"*{action.action_type}* ({action.priority}): {action.description}",
    )
    return {
        "emailed": mailed,
        "slack": posted,
        "sms": "skipped: users have no phone numbers",
        **({"escalation_alert_id": escalation_alert} if escalation_alert else {}),
    }


def run_due_actions(database: Database, cipher: FieldCipher) -> int:
    """Carry out pending automated notify and escalate actions; returns how many."""
    done = 0
    with database.session() as session:
        actions = session.scalars(
            select(RequiredAction)
            .where(
                RequiredAction.automated.is_(True),
                RequiredAction.status == "pending",
                RequiredAction.action_type.in_(("notify", "escalate")),
            )
            .order_by(RequiredAction.priority_rank, RequiredAction.deadline)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        now = utcnow()
        for action in actions:
            outcome = _carry_out(session, cipher, action, now)
            action.details = {**action.details, "execution": outcome}
            action.status, action.completed_at, action.completed_by = "completed", now, EXECUTOR.id
            action.updated_at = now
            record_event(
                session,
                bus,
                ev.ACTION_STATUS_CHANGED,
                ev.ActionStatusChanged(
                    action_id=action.id,
                    ai_system_id=action.ai_system_id,
                    from_status="pending",
                    to_status="completed",
                    by="executor",
                ),
                organization_id=action.organization_id,
                actor=EXECUTOR,
            )
            done += 1
    return done


def watch_sla(database: Database) -> int:
    """Mark the alerts not acknowledged in time; returns how many breached now."""
    now = utcnow()
    with database.session() as session:
        alerts = session.scalars(
            select(Alert)
            .where(
                Alert.status == "active",
                Alert.sla_breached_at.is_(None),
                Alert.ack_due_at < now,
            )
            .limit(BATCH * 5)
            .with_for_update(skip_locked=True)
        ).all()
        for alert in alerts:
            alert.sla_breached_at = now
            record_event(
                session,
                bus,
                ev.ALERT_SLA_BREACHED,
                ev.AlertSlaBreached(
                    alert_id=alert.id,
                    ai_system_id=alert.ai_system_id,
                    severity=alert.severity,
                    ack_due_at=alert.ack_due_at.isoformat(),
                ),
                organization_id=alert.organization_id,
                actor=Actor.system("governance.sla_watch"),
            )
    return len(alerts)


def deliver_notifications(database: Database, cipher: FieldCipher) -> int:
    """Post queued Slack messages; returns how many were delivered."""
    sent = 0
    with database.session() as session:
        now = utcnow()
        pending = session.scalars(
            select(Notification)
            .where(
                Notification.sent_at.is_(None),
                Notification.abandoned_at.is_(None),
                Notification.available_at <= now,
            )
            .order_by(Notification.seq)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        for note in pending:
            try:
                url = cipher.decrypt_text(note.target, notify.slack_url_aad(note.organization_id))
                body = json.loads(cipher.decrypt_text(note.body, notify.SLACK_AAD))
                response = requests.post(url, json=body, timeout=SLACK_TIMEOUT)
                response.raise_for_status()
            except Exception as exc:
                note.attempts += 1
                log.warning("slack.send_failed", seq=note.seq, error=type(exc).__name__)
                if note.attempts >= SLACK_MAX_ATTEMPTS:
                    note.abandoned_at = now
                else:
                    note.available_at = now + backoff(note.attempts)
                continue
            note.sent_at = utcnow()
            sent += 1
    return sent
