"""E-mail: SendGrid when ``SENDGRID_API_KEY`` is set, ``.eml`` files under ``var/mail/`` otherwise.

Mail is queued in the sender's transaction (:func:`queue_email`, encrypted, since it may carry
links with tokens) and delivered by the service's relay, so a message exists exactly when the
change that caused it commits, and a mail outage delays it instead of losing it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Content, Mail
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from spectral_shared import metrics
from spectral_shared.bus.relay import backoff
from spectral_shared.bus.tables import BusTables
from spectral_shared.crypto import FieldCipher
from spectral_shared.db import Database, utcnow
from spectral_shared.logging import get_logger

log = get_logger(__name__)

_MAIL_AAD = "mail_outbox.message"


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
        self.from_email = from_email

    def send(self, message: OutgoingEmail) -> None:
        mail = Mail(from_email=self.from_email, to_emails=message.to, subject=message.subject)
        mail.add_content(Content("text/plain", message.text))
        if message.html:
            mail.add_content(Content("text/html", message.html))
        response = self.client.send(mail)
        if response.status_code >= 300:
            raise RuntimeError(f"SendGrid answered {response.status_code}")


def queue_email(
    session: Session, tables: BusTables, cipher: FieldCipher, message: OutgoingEmail
) -> str:
    message_id = str(uuid.uuid4())
    now = utcnow()
    session.execute(
        tables.mail_outbox.insert().values(
            id=message_id,
            message=cipher.encrypt_text(json.dumps(asdict(message)), _MAIL_AAD),
            created_at=now,
            available_at=now,
            attempts=0,
        )
    )
    return message_id


def deliver_due_mail(
    database: Database, tables: BusTables, cipher: FieldCipher, mailer: Mailer, batch_size: int = 50
) -> int:
    """Send queued mail; a failed send is retried with backoff. Returns how many were sent."""
    mail = tables.mail_outbox
    now = utcnow()
    sent = 0
    with database.session() as session:
        rows = session.execute(
            select(mail.c.seq, mail.c.message, mail.c.attempts)
            .where(mail.c.sent_at.is_(None), mail.c.available_at <= now)
            .order_by(mail.c.seq)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            try:
                message = OutgoingEmail(**json.loads(cipher.decrypt_text(row.message, _MAIL_AAD)))
                mailer.send(message)
            except Exception as exc:
                log.warning("mail.send_failed", seq=row.seq, error=type(exc).__name__)
                session.execute(
                    update(mail)
                    .where(mail.c.seq == row.seq)
                    .values(
                        attempts=row.attempts + 1,
                        available_at=now + backoff(row.attempts),
                        last_error=str(exc)[:2000],
                    )
                )
                continue
            session.execute(update(mail).where(mail.c.seq == row.seq).values(sent_at=utcnow()))
            sent += 1
    if sent:
        metrics.mail_sent.labels(database.service).inc(sent)
    return sent
