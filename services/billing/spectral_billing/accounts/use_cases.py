"""What billing keeps from other services' events: auth's organizations and members (who is told
what), and governance's AI systems (which decide whether a downgrade fits). A new organization
gets its first capabilities at once."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from spectral_billing.accounts.models import CountedSystem, Member, Organization
from spectral_billing.entitlements.use_cases import decide_again
from spectral_billing.usage.use_cases import note_ai_systems, warn_near_limit
from spectral_shared import directory
from spectral_shared.bus import Envelope
from spectral_shared.bus.envelope import Actor
from spectral_shared.bus.handlers import EventHandlers
from spectral_shared.component import Runtime
from spectral_shared.contracts import auth, governance
from spectral_shared.db import utcnow


def locked_organization(session: Session, organization_id: str) -> Organization:
    """The organization's row (added when billing has not heard of it yet), locked for the rest
    of the transaction: one decision at a time per organization."""
    directory.organization_row(session, Organization, organization_id)
    session.flush()
    locked = session.get(
        Organization, organization_id, with_for_update=True, populate_existing=True
    )
    assert locked is not None
    return locked


def counted_systems(session: Session, organization_id: str) -> list[CountedSystem]:
    return list(
        session.scalars(
            select(CountedSystem)
            .where(
                CountedSystem.organization_id == organization_id, CountedSystem.counted.is_(True)
            )
            .order_by(CountedSystem.name, CountedSystem.id)
        )
    )


def count_systems(session: Session, organization_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(CountedSystem)
            .where(
                CountedSystem.organization_id == organization_id, CountedSystem.counted.is_(True)
            )
        )
        or 0
    )


def account_handlers(runtime: Runtime) -> EventHandlers:
    handlers = directory.directory_handlers(Organization, Member)

    @handlers.also(auth.ORGANIZATION_CREATED)
    def first_capabilities(
        session: Session, envelope: Envelope, data: auth.OrganizationCreated
    ) -> None:
        organization = locked_organization(session, data.organization_id)
        decide_again(
            session, organization, base_url=runtime.settings.base_url, actor=Actor.system("billing")
        )

    def system_row(session: Session, envelope: Envelope, system_id: str) -> CountedSystem:
        row = session.get(CountedSystem, system_id)
        if row is None:
            row = CountedSystem(
                id=system_id, organization_id=str(envelope.organization_id), updated_at=utcnow()
            )
            session.add(row)
        return row

    def counted(
        session: Session, envelope: Envelope, system_id: str, name: str, alive: bool
    ) -> None:
        if envelope.organization_id is None:
            return
        row = system_row(session, envelope, system_id)
        row.counted, row.name, row.updated_at = alive, name, utcnow()
        session.flush()
        organization_id = str(envelope.organization_id)
        kept = count_systems(session, organization_id)
        note_ai_systems(session, organization_id, kept)
        warn_near_limit(
            session,
            runtime.cipher,
            organization_id,
            "ai_systems",
            kept,
            actor=Actor.system("billing.usage"),
            period="plan",
        )

    @handlers.on(governance.AI_SYSTEM_CREATED)
    def created(session: Session, envelope: Envelope, data: governance.AISystemCreated) -> None:
        counted(
            session,
            envelope,
            data.ai_system_id,
            data.system.name,
            data.system.status != "deprecated",
        )

    @handlers.on(governance.AI_SYSTEM_DELETED)
    def deleted(session: Session, envelope: Envelope, data: governance.AISystemDeleted) -> None:
        counted(session, envelope, data.ai_system_id, data.name, False)

    @handlers.on(governance.AI_SYSTEM_STATUS_CHANGED)
    def moved(session: Session, envelope: Envelope, data: governance.AISystemStatusChanged) -> None:
        if envelope.organization_id is None:
            return
        row = session.get(CountedSystem, data.ai_system_id)
        if row is not None and not row.counted and data.to_status != "deprecated":
            # A deleted system's late status event does not bring it back into the count.
            return
        counted(session, envelope, data.ai_system_id, data.name, data.to_status != "deprecated")

    return handlers
