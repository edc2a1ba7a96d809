"""E-mail: SendGrid when ``SENDGRID_API_KEY`` is set, ``.eml`` files under ``var/mail/`` otherwise.

Mail is queued in the sender's transaction (:func:`queue_email`, the e-mail form of
:func:`spectral_shared.delivery.queue_delivery`: encrypted, since it may carry links with tokens)
and delivered by the service's relay through :class:`EmailSender`, so a message exists exactly
when the change that caused it commits, and a mail outage delays it instead of losing it (ADR
0007, ADR 0032).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Protocol

from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Content, Mail
from sqlalchemy.orm import Session

from spectral_shared.bus.tables import BusTables
from spectral_shared.crypto import FieldCipher
from spectral_shared.db import Database, utcnow
from spectral_shared.delivery import SEND_TIMEOUT, DeliveryPolicy, deliver_due, queue_delivery
from spectral_shared.outbound import no_transaction_open


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    text: str
    html: str | None = None


class Mailer(Protocol):
    def send(self, message: OutgoingEmail) -> None: ...


class EmlFileMailer:
    """Writes each message as an RFC 5322 ``.eml`` file: open it in any mail client."""

    def __init__(self, directory: Path, from_email: str) -> None:
        self.directory = directory
        self.from_email = from_email

    def send(self, message: OutgoingEmail) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        mail = EmailMessage()
        mail["From"] = self.from_email
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = make_msgid(domain="spectral.local")
        # 8bit keeps links readable in the file (lines stay far below the 998-octet limit).
        mail.set_content(message.text, cte="8bit")
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        name = f"{utcnow().strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.directory / (name + ".tmp")
        tmp.write_bytes(bytes(mail))
        tmp.replace(self.directory / name)


class SendGridMailer:
    def __init__(
        self, api_key: str, from_email: str, host: str = "https://api.sendgrid.com"
    ) -> None:
        self.client = SendGridAPIClient(api_key=api_key, host=host)
        self.client.client.timeout = SEND_TIMEOUT  # the SDK waits forever by default
        self.from_email = from_email

    def send(self, message: OutgoingEmail) -> None:
        no_transaction_open("SendGrid send")
        mail = Mail(from_email=self.from_email, to_emails=message.to, subject=message.subject)
        mail.add_content(Content("text/plain", message.text))
        if message.html:
            mail.add_content(Content("text/html", message.html))
        response = self.client.send(mail)
        if response.status_code >= 300:
            raise RuntimeError(f"SendGrid answered {response.status_code}")


class EmailSender:
    """The delivery outbox's e-mail channel: the body is ``{subject, text, html}``."""

    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer

    def send(self, target: str, body: Mapping[str, Any]) -> None:
        self.mailer.send(
            OutgoingEmail(
                to=target, subject=body["subject"], text=body["text"], html=body.get("html")
            )
        )


def queue_email(
    session: Session, tables: BusTables, cipher: FieldCipher, message: OutgoingEmail
) -> str:
    """Queue one e-mail in the caller's transaction; returns the delivery's id."""
    return queue_delivery(
        session,
        tables,
        cipher,
        "email",
        message.to,
        {"subject": message.subject, "text": message.text, "html": message.html},
    )


def deliver_due_mail(
    database: Database, tables: BusTables, cipher: FieldCipher, mailer: Mailer, batch_size: int = 50
) -> int:
    """Send the due e-mail only (what tests and benchmarks that read the mail need); the relay
    sends every channel with :func:`spectral_shared.delivery.deliver_due`."""
    return deliver_due(
        database,
        tables,
        cipher,
        {"email": EmailSender(mailer)},
        policy=DeliveryPolicy(),
        batch_size=batch_size,
    )
