"""The organizations and members a service keeps from auth's events: one shared piece instead of
each service writing its own copy of the same consumer.

A service maps two tables with these mixins (adding columns of its own, such as governance's
plan limits) and subscribes ``directory_handlers(Organization, Member)``; it never reads auth's
tables. A member's organization, activity, e-mail, role and persona tags follow auth's events;
an organization's name, type and state do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from spectral_shared.bus.envelope import Envelope
from spectral_shared.bus.handlers import EventHandlers
from spectral_shared.contracts import auth
from spectral_shared.db import UTCDateTime, UUIDString, utcnow

# What an organization's profile change may carry that a directory keeps.
KEPT_ORGANIZATION_FIELDS = ("name", "state")


class DirectoryOrganization:
    """An organization as auth described it (mixin for a service's ``organizations`` table)."""

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    type: Mapped[str | None] = mapped_column(String(20))  # health_system | vendor | platform
    state: Mapped[str | None] = mapped_column(String(2))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DirectoryMember:
    """A user as auth described them (mixin for a service's ``members`` table): where their
    notifications go and what they may be asked to do."""

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True)
    organization_id: Mapped[str] = mapped_column(UUIDString, index=True)
    active: Mapped[bool] = mapped_column(default=True)
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str | None] = mapped_column(String(20))
    personas: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


def organization_row(session: Session, model: Any, organization_id: str) -> Any:
    """The organization's row, added when the service has not heard of it yet."""
    organization = session.get(model, organization_id)
    if organization is None:
        organization = model(id=organization_id, updated_at=utcnow())
        session.add(organization)
    return organization


def directory_handlers(organization: Any, member: Any) -> EventHandlers:
    """The handlers that keep ``organization`` and ``member`` rows from auth's events; a service
    may register more on the returned object (governance adds billing's entitlements)."""
    handlers = EventHandlers()

    def member_row(session: Session, user_id: str, envelope: Envelope, *, active: bool) -> Any:
        row = session.get(member, user_id)
        organization_id = str(envelope.organization_id)
        if row is None:
            row = member(id=user_id, organization_id=organization_id, active=active, personas=[])
            session.add(row)
        else:
            row.organization_id, row.active = organization_id, active
        return row

    @handlers.on(auth.ORGANIZATION_CREATED)
    def created(session: Session, envelope: Envelope, data: auth.OrganizationCreated) -> None:
        row = organization_row(session, organization, data.organization_id)
        row.name, row.type = data.name, data.type
        session.flush()

    @handlers.on(auth.ORGANIZATION_UPDATED)
    def updated(session: Session, envelope: Envelope, data: auth.OrganizationUpdated) -> None:
        row = organization_row(session, organization, data.organization_id)
        for field in KEPT_ORGANIZATION_FIELDS:
            if field in data.changes:
                setattr(row, field, data.changes[field].get("to"))
        session.flush()

    def joined(
        session: Session, envelope: Envelope, data: auth.UserRegistered | auth.InvitationAccepted
    ) -> None:
        if envelope.organization_id is None:
            return
        row = member_row(session, data.user_id, envelope, active=True)
        row.email = data.email or row.email
        row.role = data.role or row.role
        session.flush()

    handlers.on(auth.USER_REGISTERED)(joined)
    handlers.on(auth.INVITATION_ACCEPTED)(joined)
    handlers.on(auth.SSO_USER_PROVISIONED)(joined)

    @handlers.on(auth.USER_REACTIVATED)
    def reactivated(session: Session, envelope: Envelope, data: auth.UserReactivated) -> None:
        if envelope.organization_id is not None:
            member_row(session, data.user_id, envelope, active=True)
            session.flush()

    @handlers.on(auth.USER_DEACTIVATED)
    def deactivated(session: Session, envelope: Envelope, data: auth.UserDeactivated) -> None:
        if envelope.organization_id is not None:
            member_row(session, data.user_id, envelope, active=False)
            session.flush()

    @handlers.on(auth.USER_ROLE_CHANGED)
    def role_changed(session: Session, envelope: Envelope, data: auth.UserRoleChanged) -> None:
        row = session.get(member, data.user_id)
        if row is None:
            return
        after = data.after
        if "role" in after:
            row.role = None if after["role"] is None else str(after["role"])
        if "personas" in after:
            personas = after["personas"]
            row.personas = [str(p) for p in personas] if isinstance(personas, list) else []
        session.flush()

    return handlers
