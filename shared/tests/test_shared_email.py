"""E-mail: .eml files, SendGrid v3 against a local fake, and the encrypted mail outbox."""

from __future__ import annotations

import base64
import email
import email.policy
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from python_http_client.exceptions import HTTPError
from sqlalchemy import MetaData, select, text

from spectral_shared.bus.tables import BusTables, bus_tables
from spectral_shared.crypto import FieldCipher
from spectral_shared.db import Database, utcnow
from spectral_shared.email import (
    EmlFileMailer,
    OutgoingEmail,
    SendGridMailer,
    deliver_due_mail,
    queue_email,
)
from spectral_shared.testing.fakes import FakeApiHandler, serve_http

API_KEY = "SG.test-key-abc123"
LINK = (
    "https://spectral.example.org/verify-email?token=" + "A1b2C3d4E5" * 9 + "&next=%2Fdashboard%3Dx"
)
MESSAGE = OutgoingEmail(
    to="jane.doe@hospital.example.org",
    subject="Verify your e-mail address",
    text=f"Hello Jane,\n\nConfirm your address: {LINK}\n\n— Spectral",
    html=f'<p>Hello Jane,</p><p><a href="{LINK}">Confirm your address</a></p>',
)


# ---- .eml files -----------------------------------------------------------------------------


def test_eml_file_mailer_writes_a_parseable_message(tmp_path: Path) -> None:
    mailer = EmlFileMailer(tmp_path / "mail", "notifications@spectral.example.org")
    mailer.send(MESSAGE)
    [path] = list((tmp_path / "mail").iterdir())
    assert path.suffix == ".eml"

    raw = path.read_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["From"] == "notifications@spectral.example.org"
    assert parsed["To"] == MESSAGE.to
    assert parsed["Subject"] == MESSAGE.subject
    assert parsed["Date"] is not None
    assert parsed["Message-ID"].endswith("@spectral.local>")

    plain = parsed.get_body(preferencelist=("plain",))
    assert plain is not None
    assert plain.get_content() == MESSAGE.text + "\n"
    html = parsed.get_body(preferencelist=("html",))
    assert html is not None
    assert f'href="{LINK}"' in html.get_content()
    # The link is readable as is in the file: not quoted-printable soft-wrapped or =3D-escaped.
    assert LINK.encode() in raw


def test_eml_file_mailer_text_only_and_one_file_per_message(tmp_path: Path) -> None:
    mailer = EmlFileMailer(tmp_path / "mail", "n@localhost")
    for index in range(3):
        mailer.send(
            OutgoingEmail(to=f"user{index}@example.org", subject=f"#{index}", text="plain only")
        )
    files = sorted((tmp_path / "mail").iterdir())
    assert [f.suffix for f in files] == [".eml"] * 3
    recipients = set()
    for path in files:
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert parsed.get_content_type() == "text/plain"
        assert parsed.get_content() == "plain only\n"
        recipients.add(parsed["To"])
    assert recipients == {"user0@example.org", "user1@example.org", "user2@example.org"}


# ---- a fake SendGrid v3 API -----------------------------------------------------------------


@dataclass
class FakeSendGrid:
    url: str = ""
    status: int = 202
    requests: list[dict[str, Any]] = field(default_factory=list)
    unauthorized: int = 0


@pytest.fixture
def sendgrid() -> Iterator[FakeSendGrid]:
    fake = FakeSendGrid()

    class Handler(FakeApiHandler):
        def do_POST(self) -> None:
            body = self.read_json()
            if self.path != "/v3/mail/send":
                self.answer(404, {"errors": [{"message": "not found"}]})
                return
            if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                fake.unauthorized += 1
                self.answer(
                    401, {"errors": [{"message": "The provided authorization grant is invalid"}]}
                )
                return
            fake.requests.append({"json": body, "content_type": self.headers.get("Content-Type")})
            if fake.status == 202:
                self.answer(202)
            else:
                self.answer(fake.status, {"errors": [{"message": "internal error"}]})

    with serve_http(Handler) as url:
        fake.url = url
        yield fake


def test_sendgrid_mailer_speaks_v3(sendgrid: FakeSendGrid) -> None:
    SendGridMailer(API_KEY, "notifications@spectral.example.org", host=sendgrid.url).send(MESSAGE)
    [call] = sendgrid.requests
    assert call["content_type"] == "application/json"
    body = call["json"]
    assert body["from"] == {"email": "notifications@spectral.example.org"}
    assert body["subject"] == MESSAGE.subject
    assert [p["to"] for p in body["personalizations"]] == [[{"email": MESSAGE.to}]]
    assert body["content"] == [
        {"type": "text/plain", "value": MESSAGE.text},
        {"type": "text/html", "value": MESSAGE.html},
    ]


def test_sendgrid_mailer_raises_on_a_server_error(sendgrid: FakeSendGrid) -> None:
    sendgrid.status = 500
    with pytest.raises((RuntimeError, HTTPError)):
        SendGridMailer(API_KEY, "n@spectral.example.org", host=sendgrid.url).send(MESSAGE)
    assert len(sendgrid.requests) == 1


def test_sendgrid_mailer_raises_on_a_wrong_key(sendgrid: FakeSendGrid) -> None:
    with pytest.raises((RuntimeError, HTTPError)):
        SendGridMailer("SG.wrong", "n@spectral.example.org", host=sendgrid.url).send(MESSAGE)
    assert sendgrid.unauthorized == 1
    assert sendgrid.requests == []


# ---- the encrypted mail outbox --------------------------------------------------------------


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[tuple[Database, BusTables, FieldCipher, Path]]:
    path = tmp_path / "x.db"
    db = Database("auth", f"sqlite:///{path}")
    metadata = MetaData()
    tables = bus_tables(metadata)
    metadata.create_all(db.engine)
    cipher = FieldCipher.from_config(base64.b64encode(secrets.token_bytes(32)).decode())
    yield db, tables, cipher, path
    db.dispose()


def _raw_database_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_queued_mail_is_encrypted_at_rest(
    outbox: tuple[Database, BusTables, FieldCipher, Path],
) -> None:
    db, tables, cipher, path = outbox
    with db.session() as session:
        message_id = queue_email(session, tables, cipher, MESSAGE)
    with db.engine.connect() as conn:
        [stored] = conn.execute(
            text("SELECT id, channel, target, body, attempts, sent_at FROM deliveries")
        ).all()
    assert stored.id == message_id
    assert stored.attempts == 0
    assert stored.sent_at is None
    assert stored.channel == "email"
    assert stored.body.startswith(f"v1.{cipher.current_key_id}.")
    assert stored.target.startswith(f"v1.{cipher.current_key_id}.")
    for secret in (MESSAGE.to, "jane.doe", "verify-email", "A1b2C3d4E5", "Hello Jane"):
        assert secret not in stored.body and secret not in stored.target
        assert secret.encode() not in _raw_database_bytes(path)


def test_queued_mail_is_not_written_if_the_transaction_rolls_back(
    outbox: tuple[Database, BusTables, FieldCipher, Path],
) -> None:
    db, tables, cipher, _ = outbox

    def change_that_fails() -> None:
        with db.session() as session:
            queue_email(session, tables, cipher, MESSAGE)
            raise RuntimeError("business rule failed")

    with pytest.raises(RuntimeError, match="business rule"):
        change_that_fails()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM deliveries")).scalar_one() == 0


def test_delivery_sends_once_and_marks_sent(
    outbox: tuple[Database, BusTables, FieldCipher, Path], sendgrid: FakeSendGrid
) -> None:
    db, tables, cipher, _ = outbox
    with db.session() as session:
        queue_email(session, tables, cipher, MESSAGE)
    mailer = SendGridMailer(API_KEY, "n@spectral.example.org", host=sendgrid.url)

    assert deliver_due_mail(db, tables, cipher, mailer) == 1
    assert deliver_due_mail(db, tables, cipher, mailer) == 0
    assert len(sendgrid.requests) == 1
    assert sendgrid.requests[0]["json"]["personalizations"][0]["to"] == [{"email": MESSAGE.to}]
    assert sendgrid.requests[0]["json"]["content"][0]["value"] == MESSAGE.text

    with db.session() as session:
        row = session.execute(select(tables.deliveries)).one()
    assert row.sent_at is not None
    assert abs(utcnow() - row.sent_at) < timedelta(seconds=10)
    assert row.attempts == 0
    assert row.last_error is None


def test_failed_delivery_stays_pending_with_backoff(
    outbox: tuple[Database, BusTables, FieldCipher, Path], sendgrid: FakeSendGrid
) -> None:
    db, tables, cipher, _ = outbox
    with db.session() as session:
        queue_email(session, tables, cipher, MESSAGE)
    mailer = SendGridMailer(API_KEY, "n@spectral.example.org", host=sendgrid.url)
    sendgrid.status = 500

    before = utcnow()
    assert deliver_due_mail(db, tables, cipher, mailer) == 0
    with db.session() as session:
        row = session.execute(select(tables.deliveries)).one()
    assert row.sent_at is None
    assert row.attempts == 1
    assert row.available_at > before
    assert row.last_error
    assert len(sendgrid.requests) == 1

    # Not due yet: a second pass does not hammer the failing backend.
    assert deliver_due_mail(db, tables, cipher, mailer) == 0
    assert len(sendgrid.requests) == 1


def test_mail_delivery_respects_batch_size_and_order(
    outbox: tuple[Database, BusTables, FieldCipher, Path], tmp_path: Path
) -> None:
    db, tables, cipher, _ = outbox
    with db.session() as session:
        for index in range(3):
            queue_email(
                session,
                tables,
                cipher,
                OutgoingEmail(to=f"u{index}@example.org", subject="s", text="t"),
            )
    mailer = EmlFileMailer(tmp_path / "mail", "n@localhost")
    assert deliver_due_mail(db, tables, cipher, mailer, batch_size=2) == 2
    assert deliver_due_mail(db, tables, cipher, mailer, batch_size=2) == 1
    assert deliver_due_mail(db, tables, cipher, mailer, batch_size=2) == 0
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 3
