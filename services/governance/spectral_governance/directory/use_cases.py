"""The organizations and members governance keeps from ``auth.*`` and ``billing.*`` events, and
who among the members is told of an alert or an action."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spectral_governance.directory.models import Member, Organization
from spectral_shared import directory
from spectral_shared.bus import Envelope
from spectral_shared.contracts import billing
from spectral_shared.db import utcnow

UNLIMITED = -1


def lock_organization(session: Session, organization_id: str) -> Organization:
    """The organization's row, created if governance has not heard of it yet, locked for the rest
    of the transaction: concurrent creations count one after another against the limit."""
    organization = session.get(Organization, organization_id, with_for_update=True)
    if organization is None:
        session.add(Organization(id=organization_id, updated_at=utcnow()))
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            pass  # created concurrently by an event; lock theirs
        organization = session.get(
            Organization, organization_id, with_for_update=True, populate_existing=True
        )
        assert organization is not None
    return organization


def organization_row(session: Session, organization_id: str) -> Organization:
    row: Organization = directory.organization_row(session, Organization, organization_id)
    return row


# auth's organizations and members, as every service keeps them; and billing's entitlements.
handlers = directory.directory_handlers(Organization, Member)


@handlers.on(billing.ENTITLEMENTS_UPDATED)
def entitlements_updated(session: Session, envelope: Envelope, data: billing.Capabilities) -> None:
    """Billing's capabilities: kept only when newer than the snapshot applied (ADR 0041)."""
    if envelope.organization_id is None:
        return
    organization = organization_row(session, str(envelope.organization_id))
    if (
        organization.entitlements_version is not None
        and data.version <= organization.entitlements_version
    ):
        return
    limit = data.ai_system_limit
    organization.ai_system_limit = UNLIMITED if limit is None else int(limit)
    organization.plan = data.plan
    organization.plan_name = data.plan_name
    organization.threshold_overrides = data.threshold_overrides
    organization.control_toggles = data.control_toggles
    organization.writable = data.writable
    organization.read_only_reason = data.read_only_reason
    organization.pay_url = data.pay_url
    organization.entitlements_version = data.version
    session.flush()


def apply_directory_event(session: Session, envelope: Envelope) -> None:
    """Keep the organizations and members governance needs from ``auth.*`` and ``billing.*``."""
    handlers(session, envelope)


def recipients(session: Session, organization_id: str, persona: str | None = None) -> list[str]:
    """E-mail addresses: active members holding ``persona``; when none does (or no persona is
    given), the active admins."""
    members = session.scalars(
        select(Member).where(
            Member.organization_id == organization_id,
            Member.active.is_(True),
            Member.email.is_not(None),
        )
    ).all()
    chosen = [m for m in members if persona and persona in (m.personas or [])]
    if not chosen:
        chosen = [m for m in members if m.role == "admin"]
    return sorted({m.email for m in chosen if m.email})
