"""The violations the translation engine found."""

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


class Violation(Base):
    __tablename__ = "violations"
    __table_args__ = (
        Index("ix_violations_org_detected", "organization_id", "detected_at", "id"),
        Index(
            "ix_violations_open_control",
            "ai_system_id",
            "control_id",
            postgresql_where=text("resolved_at IS NULL"),
            sqlite_where=text("resolved_at IS NULL"),
        ),
        Index("ix_violations_event", "telemetry_event_id"),
    )

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(UUIDString)
    ai_system_id: Mapped[str] = mapped_column(UUIDString, ForeignKey("ai_systems.id"))
    telemetry_event_id: Mapped[str] = mapped_column(UUIDString, ForeignKey("telemetry_events.id"))
    framework_id: Mapped[str] = mapped_column(String(32))
    control_id: Mapped[str] = mapped_column(String(64), ForeignKey("controls.id"))
    control_name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(8))
    requires_reporting: Mapped[bool]
    reporting_deadline: Mapped[datetime | None]
    description: Mapped[str] = mapped_column(Text)  # templated from the rule: never PHI
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolution_note: Mapped[str | None] = mapped_column(Text)  # PHI-redacted
