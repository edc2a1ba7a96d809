"""The violations the translation engine found."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
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
        # One open violation per (AI system, control): a repeat adds to its occurrences.
        Index(
            "ux_violations_open_control",
            "ai_system_id",
            "control_id",
            unique=True,
            postgresql_where=text("resolved_at IS NULL"),
            sqlite_where=text("resolved_at IS NULL"),
        ),
        Index("ix_violations_event", "telemetry_event_id"),
    )

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(UUIDString)
    ai_system_id: Mapped[str] = mapped_column(UUIDString, ForeignKey("ai_systems.id"))
    # The first event that raised it; repeats are counted in occurrences.
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
    # When the organization knew or should have known: the first event's occurred_at. Reporting
    # clocks start here, not at detected_at (a back-filled event arrives late).
    discovered_at: Mapped[datetime | None]
    occurrences: Mapped[int] = mapped_column(default=1)
    # Who must be told by when, computed from the law's rule and the incident's facts
    # (engine/deadlines.py): a list of obligations, reporting_deadline the earliest mandatory one.
    obligations: Mapped[list[Any] | None] = mapped_column(JSON)
    # None: the finding stands on a law in force or a standard the organization follows; else why
    # it is only a recommendation (engine/law.py).
    legal_standing: Mapped[str | None] = mapped_column(Text)
    last_seen_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolution_note: Mapped[str | None] = mapped_column(Text)  # PHI-redacted
