"""Moving, assigning and annotating a required action, and finishing one: the same step serves
a person (through the API) and the executor job."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from spectral_governance.actions.events import ACTION_STATUS_CHANGED, ActionStatusChanged
from spectral_governance.actions.models import RequiredAction
from spectral_governance.db import bus, owned_for_update
from spectral_governance.directory.models import Member
from spectral_governance.telemetry.redaction import redacted_text
from spectral_shared.bus import Actor, record_event
from spectral_shared.component import Runtime
from spectral_shared.db import utcnow
from spectral_shared.errors import Conflict, NotFound
from spectral_shared.identity import Identity

ACTION_MOVES = {
    "pending": ("in_progress", "completed", "cancelled"),
    "in_progress": ("completed", "cancelled"),
    "completed": (),
    "cancelled": (),
}


def update_action(
    runtime: Runtime,
    identity: Identity,
    action_id: str,
    *,
    status: str | None,
    assigned_user_id: str | None,
    notes: str | None,
    fields: set[str],
) -> RequiredAction:
    with runtime.database.session() as session:
        action: RequiredAction = owned_for_update(
            session, RequiredAction, identity.organization_id, action_id, "action"
        )
        before = action.status
        if "status" in fields and status is not None and status != before:
            if status not in ACTION_MOVES[before]:
                allowed = ", ".join(ACTION_MOVES[before]) or "none (it is finished)"
                raise Conflict(
                    f"An action that is {before} cannot become {status}; allowed: {allowed}.",
                    slug="invalid-transition",
                )
            if status in FINISHED:
                finish_action(action, status, by=identity.acting_as, now=utcnow())
            else:
                action.status = status
        if "assigned_user_id" in fields:
            if assigned_user_id is not None:
                member = session.get(Member, assigned_user_id)
                if member is None or member.organization_id != identity.organization_id:
                    raise NotFound("user")
            action.assigned_user_id = assigned_user_id
        if "notes" in fields:
            action.notes = redacted_text(notes) if notes else None
        action.updated_at = utcnow()
        if action.status != before or "assigned_user_id" in fields:
            record_status_change(session, action, before, identity.actor)
        session.flush()
        session.expunge(action)
        return action


FINISHED = ("completed", "cancelled")


def finish_action(action: RequiredAction, status: str, *, by: str, now: datetime) -> None:
    """Complete or cancel an action: who finished it and when (a person or the executor)."""
    action.status = status
    action.completed_at, action.completed_by = now, by
    action.updated_at = now


def record_status_change(
    session: Session,
    action: RequiredAction,
    before: str,
    actor: Actor,
    *,
    by: Literal["user", "executor"] = "user",
) -> None:
    record_event(
        session,
        bus,
        ACTION_STATUS_CHANGED,
        ActionStatusChanged(
            action_id=action.id,
            ai_system_id=action.ai_system_id,
            from_status=before,
            to_status=action.status,
            assigned_user_id=action.assigned_user_id,
            by=by,
        ),
        organization_id=action.organization_id,
        actor=actor,
    )


def cancel_automated_actions(
    session: Session, violation_id: str, *, because: str, by: str, actor: Actor, now: datetime
) -> int:
    """Cancel the violation's automated actions that have not run (an escalation must not go out
    for a violation someone resolved); the reason is kept in each action's details."""
    pending = session.scalars(
        select(RequiredAction)
        .where(
            RequiredAction.violation_id == violation_id,
            RequiredAction.automated.is_(True),
            RequiredAction.status == "pending",
        )
        .with_for_update()
    ).all()
    for action in pending:
        action.details = {**action.details, "cancelled_because": because}
        finish_action(action, "cancelled", by=by, now=now)
        record_status_change(session, action, "pending", actor)
    return len(pending)
