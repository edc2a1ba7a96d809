"""Outgoing notifications: e-mail and Slack messages, queued in the caller's transaction in the
shared delivery outbox and sent by governance's relay, with its retry, backoff and dead state
(``spectral_shared.delivery``, ADR 0032)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from spectral_governance.db import bus
from spectral_governance.directory.models import Organization
from spectral_shared.crypto import FieldCipher
from spectral_shared.delivery import DeliveryRefused, cancel_deliveries, queue_delivery
from spectral_shared.email import OutgoingEmail, queue_email
from spectral_shared.logging import get_logger

log = get_logger(__name__)


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
    """Queue a Slack message when the organization set an incoming webhook. A webhook the
    delivery outbox refuses at queue time (malformed) is logged and skipped: the alert or action
    that notifies must not fail over it. Where it may lead was checked when it was set and is
    checked again by the relay (ADR 0036)."""
    if organization is None or not organization.slack_webhook_url:
        return False
    url = cipher.decrypt_text(organization.slack_webhook_url, slack_url_aad(organization.id))
    try:
        queue_delivery(session, bus, cipher, "slack", url, {"text": text})
    except DeliveryRefused as refused:
        log.warning("slack.refused", organization_id=organization.id, reason=str(refused))
        return False
    return True


def set_slack_webhook(
    session: Session, cipher: FieldCipher, organization: Organization, url: str | None
) -> int:
    """Store the organization's Slack webhook (``None`` removes it; checked by the caller), and
    cancel the messages still waiting for the one it replaces, in the caller's transaction, so
    a cleared or changed webhook gets nothing more. Returns how many were cancelled."""
    previous = (
        cipher.decrypt_text(organization.slack_webhook_url, slack_url_aad(organization.id))
        if organization.slack_webhook_url
        else None
    )
    organization.slack_webhook_url = (
        cipher.encrypt_text(url, slack_url_aad(organization.id)) if url else None
    )
    if previous is None or previous == url:
        return 0
    return cancel_deliveries(session, bus, cipher, "slack", previous)


def slack_url_aad(organization_id: str) -> str:
    return f"governance.organizations.slack_webhook_url:{organization_id}"
