"""Telling an organization's admins something once: a failed payment per invoice, a trial ending,
a dispute, usage nearing a limit. The notice's key makes a second attempt (a redelivered event, a
second worker) a no-op; the e-mail is queued in the caller's transaction (ADR 0032)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spectral_billing.accounts.models import Member, Organization
from spectral_billing.db import bus
from spectral_billing.entitlements.models import Notice
from spectral_shared.crypto import FieldCipher
from spectral_shared.db import utcnow
from spectral_shared.email import OutgoingEmail, queue_email


def admins(session: Session, organization_id: str) -> list[str]:
    """The e-mail addresses of the organization's active admins."""
    return sorted(
        {
            m.email
            for m in session.scalars(
                select(Member).where(
                    Member.organization_id == organization_id,
                    Member.active.is_(True),
                    Member.role == "admin",
                    Member.email.is_not(None),
                )
            )
            if m.email
        }
    )


def tell_admins_once(
    session: Session,
    cipher: FieldCipher,
    organization: Organization,
    *,
    kind: str,
    key: str,
    subject: str,
    text: str,
) -> bool:
    """Queue ``text`` to every admin unless this (kind, key) was told before. True when sent."""
    if session.get(Notice, (organization.id, kind, key)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(
                Notice(organization_id=organization.id, kind=kind, key=key, sent_at=utcnow())
            )
            session.flush()
    except IntegrityError:
        return False  # told concurrently
    for address in admins(session, organization.id):
        queue_email(session, bus, cipher, OutgoingEmail(to=address, subject=subject, text=text))
    return True
