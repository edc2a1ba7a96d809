"""An organization's customization of the engine: threshold overrides and control toggles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from spectral_governance.db import Base
from spectral_shared.db import UUIDString, new_id, utcnow


class ThresholdOverride(Base):
    __tablename__ = "threshold_overrides"
    __table_args__ = (Index("ix_threshold_overrides_org", "organization_id", "created_at"),)

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(UUIDString)
    ai_system_id: Mapped[str | None] = mapped_column(UUIDString, ForeignKey("ai_systems.id"))
    event_type: Mapped[str | None] = mapped_column(String(40))  # canonical; None: every type
    threshold: Mapped[str] = mapped_column(String(64))  # group.key of the thresholds table
    value: Mapped[float]
    justification: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class ControlToggle(Base):
    __tablename__ = "control_toggles"
    __table_args__ = (Index("ix_control_toggles_org", "organization_id", "control_id"),)

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(UUIDString)
    ai_system_id: Mapped[str | None] = mapped_column(UUIDString, ForeignKey("ai_systems.id"))
    control_id: Mapped[str] = mapped_column(String(64), ForeignKey("controls.id"))
    justification: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]  # the control is on again
    revoked_by: Mapped[str | None] = mapped_column(String(64))
