"""Carrying out pending automated actions (a worker job): ``notify`` e-mails the users holding
the action's persona (else the admins) and posts to Slack when set; ``escalate`` raises a high
"Escalation" alert, then notifies the same way. Both complete the action. SMS is not sent
(users have no phone numbers); the details say which channels were used.

The job takes its rows with ``FOR UPDATE SKIP LOCKED``, so worker replicas share the work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from spectral_governance.actions.models import RequiredAction
from spectral_governance.actions.use_cases import finish_action, record_status_change
from spectral_governance.alerts.use_cases import raise_alert
from spectral_governance.directory.models import Organization
from spectral_governance.directory.use_cases import recipients
from spectral_governance.inventory.models import AISystem
from spectral_governance.notifications import outgoing
from spectral_shared.bus import Actor
from spectral_shared.component import Runtime
from spectral_shared.crypto import FieldCipher
from spectral_shared.db import utcnow
from spectral_shared.logging import get_logger

log = get_logger(__name__)


EXECUTOR = Actor.system("governance.action_executor")


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
    to = recipients(session, action.organization_id, action.assignee)
    mailed = outgoing.email(
        session,
        cipher,
        to,
        f"[Spectral] {action.priority.upper()} {action.action_type}: {system.name}",
        f"{action.description}\n\nOwner: {action.assignee}\nDue: "
        f"{action.deadline:%Y-%m-%d %H:%M} UTC\nAction id: {action.id}\n",
    )
    posted = outgoing.slack(
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


def run_due_actions(runtime: Runtime) -> int:
    """Carry out pending automated notify and escalate actions; returns how many."""
    done, cipher = 0, runtime.cipher
    with runtime.database.session() as session:
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
            finish_action(action, "completed", by=str(EXECUTOR.id), now=now)
            record_status_change(session, action, "pending", EXECUTOR, by="executor")
            done += 1
    return done
