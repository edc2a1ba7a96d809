"""The organizations and members governance keeps from ``auth.*`` and ``billing.*`` events, and
who among the members is told of an alert or an action."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spectral_governance.directory.models import Member, Organization
from spectral_shared.bus import Envelope
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
    organization = session.get(Organization, organization_id)
    if organization is None:
        organization = Organization(id=organization_id, updated_at=utcnow())
        session.add(organization)
    return organization


def apply_directory_event(session: Session, envelope: Envelope) -> None:
    """Keep the organizations and members governance needs from ``auth.*`` and ``billing.*``."""
    data = envelope.data
    org_id = str(envelope.organization_id) if envelope.organization_id else None
    kind = envelope.type
    if kind == "auth.organization.created":
        organization = organization_row(session, data["organization_id"])
        organization.name, organization.type = data["name"], data["type"]
    elif kind == "auth.organization.updated":
        organization = organization_row(session, data["organization_id"])
        for field in ("name", "state"):
            if field in data.get("changes", {}):
                setattr(organization, field, data["changes"][field].get("to"))
    elif kind in (
        "auth.user.registered",
        "auth.invitation.accepted",
        "auth.user.sso_provisioned",
        "auth.user.reactivated",
    ):
        if org_id:
            member = _member(session, data["user_id"], org_id, active=True)
            member.email = data.get("email") or member.email
            member.role = data.get("role") or member.role
    elif kind == "auth.user.role_changed":
        changed = session.get(Member, data["user_id"])
        if changed is not None:
            after = data.get("after") or {}
            changed.role = after.get("role", changed.role)
            if "personas" in after:
                changed.personas = list(after["personas"] or [])
    elif kind == "auth.user.deactivated":
        if org_id:
            _member(session, data["user_id"], org_id, active=False)
    elif kind == "billing.entitlements.updated" and org_id:
        organization = organization_row(session, org_id)
        as_of = envelope.occurred_at
        if organization.entitlements_as_of is None or as_of >= organization.entitlements_as_of:
            limit = data.get("ai_system_limit")
            organization.ai_system_limit = UNLIMITED if limit is None else int(limit)
            organization.plan = data.get("plan")
            organization.entitlements_as_of = as_of
    session.flush()


def _member(session: Session, user_id: str, organization_id: str, *, active: bool) -> Member:
    member = session.get(Member, user_id)
    if member is None:
        member = Member(id=user_id, organization_id=organization_id, active=active, personas=[])
        session.add(member)
    else:
        member.organization_id, member.active = organization_id, active
    return member


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
