"""Who hears of an alert or an action, and how: e-mail through the mail outbox (to the
organization's active users holding the action's persona, else its admins; docs/domain.md#the-action-executor) and
Slack through the ``notifications`` table, both written in the caller's transaction so a message
exists exactly when what caused it commits."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from spectral_governance.models import Member, Notification, Organization, bus
from spectral_shared.crypto import FieldCipher
from spectral_shared.db import utcnow
from spectral_shared.email import OutgoingEmail, queue_email

SLACK_AAD = "governance.notifications"


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


def email(
    session: Session,
    cipher: FieldCipher,
    to: Sequence[str],
    subject: str,
    text: str,
) -> int:
    for address in to:
        queue_email(session, bus, cipher, OutgoingEmail(to=address, subject=subject, text=text))
    return len(to)


def slack(
    session: Session, cipher: FieldCipher, organization: Organization | None, text: str
) -> bool:
    """Queue a Slack message when the organization set an incoming webhook."""
    if organization is None or not organization.slack_webhook_url:
        return False
    now = utcnow()
    session.add(
        Notification(
            organization_id=organization.id,
            channel="slack",
            target=organization.slack_webhook_url,  # already encrypted
            body=cipher.encrypt_text(json.dumps({"text": text}), SLACK_AAD),
            created_at=now,
            available_at=now,
            attempts=0,
        )
    )
    return True


def slack_url_aad(organization_id: str) -> str:
    return f"governance.organizations.slack_webhook_url:{organization_id}"
