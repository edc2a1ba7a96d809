"""Reading one AI system of an organization, and the facts the rules decide on."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from spectral_governance.catalog.applicability import SystemFacts
from spectral_governance.directory.models import Organization
from spectral_governance.inventory.models import AISystem
from spectral_shared.errors import Conflict, NotFound
from spectral_shared.identity import Identity


def get_system(session: Session, organization_id: str, system_id: str) -> AISystem:
    system = session.scalars(
        select(AISystem).where(
            AISystem.id == system_id, AISystem.organization_id == organization_id
        )
    ).first()
    if system is None:
        raise NotFound("AI system")
    return system


def organization_state(session: Session, organization_id: str) -> str | None:
    return session.scalar(select(Organization.state).where(Organization.id == organization_id))


def facts_of(system: AISystem, state: str | None) -> SystemFacts:
    return SystemFacts(
        name=system.name,
        department=system.department,
        category=system.category,
        uses_phi=system.uses_phi,
        fda_status=system.fda_status,
        fda_submission_number=system.fda_submission_number,
        risk_level=system.risk_level,
        serves_states=tuple(system.serves_states or ()),
        serves_localities=tuple(system.serves_localities or ()),
        has_vendor=bool(system.vendor_name or system.vendor_organization_id),
        organization_state=state,
    )


def locked_system(
    session: Session, identity: Identity, system_id: str, *, deleted_ok: bool = False
) -> AISystem:
    """The caller's organization's system, locked for the transaction; a deleted one is
    read-only (409) unless ``deleted_ok``."""
    system = session.scalars(
        select(AISystem)
        .where(AISystem.id == system_id, AISystem.organization_id == identity.organization_id)
        .with_for_update()
    ).first()
    if system is None:
        raise NotFound("AI system")
    if system.deleted_at is not None and not deleted_ok:
        raise Conflict(
            "This AI system was deleted; its record is read-only.", slug="ai-system-deleted"
        )
    return system
