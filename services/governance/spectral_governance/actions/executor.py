"""Carrying out pending automated actions (a worker job): ``notify`` e-mails the users holding
the action's persona (else the admins) and posts to Slack when set; ``escalate`` raises a high
"Escalation" alert, then notifies the same way. Both complete the action. The actions due on one
AI system are sent as one digest: one e-mail per person, one Slack message, one escalation alert. SMS is not sent
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


def _line(action: RequiredAction) -> str:
    return (
        f"- {action.priority.upper()} {action.action_type} for {action.assignee}: "
        f"{action.description} (due {action.deadline:%Y-%m-%d %H:%M} UTC)"
    )


def _carry_out(
    session: Session,
    cipher: FieldCipher,
    actions: list[RequiredAction],
    now: datetime,
    base_url: str,
) -> dict[str, dict[str, object]]:
    """The due actions of one AI system, as one digest: one escalation alert for all its
    escalations (a repeat within the hour counts on the same alert and sends nothing), one e-mail
    per recipient listing every action addressed to them, and one Slack message; with a link to
    the system's open actions. The outcome per action id."""
    first = actions[0]
    system = session.get(AISystem, first.ai_system_id)
    organization = session.get(Organization, first.organization_id)
    assert system is not None
    link = f"{base_url.rstrip('/')}/api/v1/actions?ai_system_id={system.id}&status=pending"
    escalation_alert = None
    escalations = [a for a in actions if a.action_type == "escalate"]
    if escalations:
        alert = raise_alert(
            session,
            cipher,
            organization=organization,
            system=system,
            alert_type="compliance_violation",
            severity="high",
            message=f"Escalation: compliance findings on {system.name} need a decision",
            telemetry_event_id=None,
            now=now,
            actor=EXECUTOR,
            base_url=base_url,
        )
        escalation_alert = alert.id
    addressed: dict[str, list[RequiredAction]] = {}
    by_action: dict[str, list[str]] = {}
    for action in actions:
        to = recipients(session, action.organization_id, action.assignee)
        by_action[action.id] = to
        for address in to:
            addressed.setdefault(address, []).append(action)
    for address, theirs in addressed.items():
        count = len(theirs)
        outgoing.email(
            session,
            cipher,
            [address],
            f"[Spectral] {count} action{'s' if count != 1 else ''} on {system.name}",
            "\n".join(
                [
                    f"Spectral carried out or assigned these actions on {system.name}:",
                    "",
                    *(_line(a) for a in theirs),
                    "",
                    f"Open actions: {link}",
                ]
            )
            + "\n",
        )
    posted = outgoing.slack(
        session,
        cipher,
        organization,
        f"*{len(actions)} action{'s' if len(actions) != 1 else ''}* on {system.name}: "
        + "; ".join(f"{a.action_type} ({a.priority})" for a in actions)
        + f" <{link}|open actions>",
    )
    return {
        action.id: {
            "emailed": len(by_action[action.id]),
            "digest": True,
            "slack": posted,
            "sms": "skipped: users have no phone numbers",
            **(
                {"escalation_alert_id": escalation_alert}
                if escalation_alert and action.action_type == "escalate"
                else {}
            ),
        }
        for action in actions
    }


def run_due_actions(runtime: Runtime) -> int:
    """Carry out pending automated notify and escalate actions, one digest per AI system;
    returns how many."""
    done, cipher = 0, runtime.cipher
    base_url = runtime.settings.base_url
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
        per_system: dict[str, list[RequiredAction]] = {}
        for action in actions:
            per_system.setdefault(action.ai_system_id, []).append(action)
        for group in per_system.values():
            outcomes = _carry_out(session, cipher, group, now, base_url)
            for action in group:
                action.details = {**action.details, "execution": outcomes[action.id]}
                finish_action(action, "completed", by=str(EXECUTOR.id), now=now)
                record_status_change(session, action, "pending", EXECUTOR, by="executor")
                done += 1
    return done
