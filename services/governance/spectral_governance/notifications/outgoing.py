"""Outgoing notifications: e-mail through the mail outbox, Slack messages queued in
``notifications`` and posted by a worker job, retried with backoff and given up after
``SLACK_MAX_ATTEMPTS``."""

from __future__ import annotations

import json
from collections.abc import Sequence

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from spectral_governance.db import bus
from spectral_governance.directory.models import Organization
from spectral_governance.notifications.models import Notification
from spectral_shared.bus.relay import backoff
from spectral_shared.component import Runtime
from spectral_shared.crypto import FieldCipher
from spectral_shared.db import utcnow
from spectral_shared.email import OutgoingEmail, queue_email
from spectral_shared.logging import get_logger

SLACK_AAD = "governance.notifications"


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


log = get_logger(__name__)


SLACK_MAX_ATTEMPTS = 8


SLACK_TIMEOUT = 10.0


BATCH = 100


def deliver_notifications(runtime: Runtime) -> int:
    """Post queued Slack messages; returns how many were delivered."""
    sent, cipher = 0, runtime.cipher
    with runtime.database.session() as session:
        now = utcnow()
        pending = session.scalars(
            select(Notification)
            .where(
                Notification.sent_at.is_(None),
                Notification.abandoned_at.is_(None),
                Notification.available_at <= now,
            )
            .order_by(Notification.seq)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        for note in pending:
            try:
                url = cipher.decrypt_text(note.target, slack_url_aad(note.organization_id))
                body = json.loads(cipher.decrypt_text(note.body, SLACK_AAD))
                response = requests.post(url, json=body, timeout=SLACK_TIMEOUT)
                response.raise_for_status()
            except Exception as exc:
                note.attempts += 1
                log.warning("slack.send_failed", seq=note.seq, error=type(exc).__name__)
                if note.attempts >= SLACK_MAX_ATTEMPTS:
                    note.abandoned_at = now
                else:
                    note.available_at = now + backoff(note.attempts)
                continue
            note.sent_at = utcnow()
            sent += 1
    return sent
