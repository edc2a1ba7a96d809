"""Slack messages waiting to be posted (e-mail goes through the mail outbox)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from spectral_governance.db import Base
from spectral_shared.bus.tables import SEQ
from spectral_shared.db import UUIDString, utcnow


class Notification(Base):
    """A Slack message to post, kept until it is delivered (retried with backoff)."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index(
            "ix_notifications_pending",
            "available_at",
            postgresql_where=text("sent_at IS NULL AND abandoned_at IS NULL"),
            sqlite_where=text("sent_at IS NULL AND abandoned_at IS NULL"),
        ),
    )

    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(UUIDString)
    channel: Mapped[str] = mapped_column(String(16))  # slack
    target: Mapped[str] = mapped_column(Text)  # encrypted webhook URL
    body: Mapped[str] = mapped_column(Text)  # encrypted JSON message
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[datetime | None]
    abandoned_at: Mapped[datetime | None]
