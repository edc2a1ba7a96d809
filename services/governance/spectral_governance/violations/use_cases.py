"""Resolving a violation."""

from __future__ import annotations

from sqlalchemy import func, select

from spectral_governance.actions.use_cases import cancel_automated_actions
from spectral_governance.controls.events import CONTROL_STATUS_CHANGED, ControlStatusChanged
from spectral_governance.controls.models import ControlStatus
from spectral_governance.db import bus, owned_for_update
from spectral_governance.inventory.models import AISystem
from spectral_governance.inventory.posture import refresh_posture
from spectral_governance.telemetry.redaction import redacted_text
from spectral_governance.violations.events import VIOLATION_RESOLVED, ViolationResolved
from spectral_governance.violations.models import Violation
from spectral_shared.bus import record_event
from spectral_shared.component import Runtime
from spectral_shared.db import utcnow
from spectral_shared.errors import Conflict
from spectral_shared.identity import Identity


def resolve_violation(
    runtime: Runtime, identity: Identity, violation_id: str, note: str
) -> Violation:
    """Resolve it; its automated actions that have not run are cancelled; its control goes back to not assessed when no other open violation of it on
    the system remains and the status came from violations (a user's assessment stays)."""
    with runtime.database.session() as session:
        violation: Violation = owned_for_update(
            session, Violation, identity.organization_id, violation_id, "violation"
        )
        if violation.resolved_at is not None:
            raise Conflict("This violation is already resolved.", slug="already-resolved")
        now = utcnow()
        violation.resolved_at, violation.resolved_by = now, identity.acting_as
        violation.resolution_note = redacted_text(note)
        cancel_automated_actions(
            session,
            violation.id,
            because="Its violation was resolved",
            by=identity.acting_as,
            actor=identity.actor,
            now=now,
        )
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
        if status is not None and status.contested_by == violation.id:
            status.contested_by, status.contested_at = None, None
        if not still_open and status is not None and status.source == "violation":
            system = session.get(AISystem, violation.ai_system_id)
            session.delete(status)
            after = "not_assessed"
            record_event(
                session,
                bus,
                CONTROL_STATUS_CHANGED,
                ControlStatusChanged(
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
                actor=identity.actor,
            )
        record_event(
            session,
            bus,
            VIOLATION_RESOLVED,
            ViolationResolved(
                violation_id=violation.id,
                ai_system_id=violation.ai_system_id,
                control_id=violation.control_id,
                control_status=after,
            ),
            organization_id=identity.organization_id,
            actor=identity.actor,
        )
        refresh_posture(session, [violation.ai_system_id], now)
        session.expunge(violation)
        return violation
