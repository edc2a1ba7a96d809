"""An organization's assessment of a control on one of its systems; a missing row means
``not_assessed``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from spectral_governance.db import Base
from spectral_shared.db import UUIDString, utcnow


class ControlStatus(Base):
    __tablename__ = "control_statuses"

    ai_system_id: Mapped[str] = mapped_column(
        UUIDString, ForeignKey("ai_systems.id"), primary_key=True
    )
    control_id: Mapped[str] = mapped_column(String(64), ForeignKey("controls.id"), primary_key=True)
    organization_id: Mapped[str] = mapped_column(UUIDString, index=True)
    status: Mapped[str] = mapped_column(String(16))  # compliant | non_compliant | not_applicable
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # user | violation
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A person's assessment a finding contradicts is kept; the open violation that contradicts it
    # is recorded beside it, for the person to decide (cleared by a new assessment).
    contested_by: Mapped[str | None] = mapped_column(UUIDString)
    contested_at: Mapped[datetime | None]
