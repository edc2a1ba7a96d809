"""Which controls apply to a system, and an organization's assessment of each."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from spectral_governance.catalog import load_catalog
from spectral_governance.catalog.applicability import Applicability, applicability
from spectral_governance.controls.events import CONTROL_STATUS_CHANGED, ControlStatusChanged
from spectral_governance.controls.models import ControlStatus
from spectral_governance.db import bus
from spectral_governance.inventory.models import AISystem
from spectral_governance.inventory.queries import facts_of, locked_system, organization_state
from spectral_shared.bus import record_event
from spectral_shared.component import Runtime
from spectral_shared.db import utcnow
from spectral_shared.errors import Conflict, NotFound
from spectral_shared.identity import Identity

ASSESSED = ("compliant", "non_compliant", "not_applicable")


def applicable_controls(session: Session, system: AISystem) -> Applicability:
    state = organization_state(session, system.organization_id)
    return applicability(facts_of(system, state), load_catalog())


def set_control_status(
    runtime: Runtime,
    identity: Identity,
    system_id: str,
    control_id: str,
    status: str,
    reason: str | None,
) -> tuple[AISystem, str, str]:
    """Record an assessment; ``not_assessed`` clears it. The system, the control's id, the status."""
    catalog = load_catalog()
    found = catalog.control(control_id)
    if found is None:
        raise NotFound("control")
    framework, control = found
    with runtime.database.session() as session:
        system = locked_system(session, identity, system_id)
        verdicts = applicable_controls(session, system)
        if control.id not in verdicts.controls:
            why = next(v.reason for v in verdicts.frameworks if v.framework_id == framework.id)
            raise Conflict(
                f"{control.id} does not apply to this AI system: {why}.",
                slug="control-not-applicable",
            )
        row = session.get(ControlStatus, (system.id, control.id))
        before = row.status if row is not None else "not_assessed"
        if before == status and (row is None or row.reason == reason):
            return system, control.id, status
        if status == "not_assessed":
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(
                ControlStatus(
                    ai_system_id=system.id,
                    control_id=control.id,
                    organization_id=identity.organization_id,
                    status=status,
                    reason=reason,
                    source="user",
                    updated_by=identity.acting_as,
                    updated_at=utcnow(),
                )
            )
        else:
            row.status, row.reason, row.source = status, reason, "user"
            row.updated_by = identity.acting_as
            row.updated_at = utcnow()
            # A new assessment is the person's answer to the finding that contested the last.
            row.contested_by, row.contested_at = None, None
        record_event(
            session,
            bus,
            CONTROL_STATUS_CHANGED,
            ControlStatusChanged(
                ai_system_id=system.id,
                ai_system_name=system.name,
                control_id=control.id,
                framework_id=framework.id,
                from_status=before,
                to_status=status,
                reason=reason,
                source="user",
            ),
            organization_id=identity.organization_id,
            actor=identity.actor,
        )
        return system, control.id, status


def statuses_of(session: Session, system_id: str) -> dict[str, ControlStatus]:
    return {
        row.control_id: row
        for row in session.scalars(
            select(ControlStatus).where(ControlStatus.ai_system_id == system_id)
        )
    }
