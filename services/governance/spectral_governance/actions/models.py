"""The required actions generated for violations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


class RequiredAction(Base):
    __tablename__ = "required_actions"
    __table_args__ = (
        Index("ix_required_actions_org_deadline", "organization_id", "deadline", "id"),
        Index(
            "ix_required_actions_automated_due",
            "deadline",
            postgresql_where=text("automated AND status = 'pending'"),
            sqlite_where=text("automated AND status = 'pending'"),
        ),
        Index("ix_required_actions_violation", "violation_id"),
    )

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(UUIDString)
    ai_system_id: Mapped[str] = mapped_column(UUIDString, ForeignKey("ai_systems.id"))
    violation_id: Mapped[str] = mapped_column(UUIDString, ForeignKey("violations.id"))
    action_type: Mapped[str] = mapped_column(String(12))
    priority: Mapped[str] = mapped_column(String(10))
    priority_rank: Mapped[int]  # 0 immediate .. 4 low, for sorting
    assignee: Mapped[str] = mapped_column(String(24))  # a persona
    assigned_user_id: Mapped[str | None] = mapped_column(UUIDString)
    deadline: Mapped[datetime]
    automated: Mapped[bool]
    description: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(12), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(64))
    notes: Mapped[str | None] = mapped_column(Text)  # PHI-redacted
    attempts: Mapped[int] = mapped_column(default=0)  # automated runs that failed
