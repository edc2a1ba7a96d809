"""Alerts raised from telemetry and escalations, deduplicated within the hour."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from spectral_governance.db import Base
from spectral_shared.db import UUIDString, new_id, utcnow


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_org_raised", "organization_id", "raised_at", "id"),
        Index("ix_alerts_dedup", "dedup_key", "raised_at"),
        Index(
            "ix_alerts_sla_watch",
            "ack_due_at",
            postgresql_where=text("status = 'active' AND sla_breached_at IS NULL"),
            sqlite_where=text("status = 'active' AND sla_breached_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(UUIDString)
    ai_system_id: Mapped[str] = mapped_column(UUIDString, ForeignKey("ai_systems.id"))
    telemetry_event_id: Mapped[str | None] = mapped_column(UUIDString)
    type: Mapped[str] = mapped_column(String(24))
    severity: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text)
    dedup_key: Mapped[str] = mapped_column(String(300))
    occurrences: Mapped[int] = mapped_column(default=1)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(12), default="active")
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    ack_due_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    response_time_seconds: Mapped[int | None]
    dismissed_at: Mapped[datetime | None]
    dismissed_by: Mapped[str | None] = mapped_column(String(64))
    sla_breached_at: Mapped[datetime | None]
    # What the person who last acknowledged, resolved or dismissed it wrote (PHI-redacted).
    note: Mapped[str | None] = mapped_column(Text)
