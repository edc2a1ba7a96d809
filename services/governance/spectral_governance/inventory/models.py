"""The AI-system inventory's table (``docs/domain.md``'s inventory lifecycle), soft-deleted so
auditors keep its history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from spectral_governance.db import Base, StateCodes
from spectral_shared.db import UUIDString, new_id, utcnow


class AISystem(Base):
    __tablename__ = "ai_systems"
    __table_args__ = (
        # One live system per name in an organization; a deleted one frees its name.
        Index(
            "uq_ai_systems_live_name",
            "organization_id",
            "name_key",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
            sqlite_where=text("deleted_at IS NULL"),
        ),
        Index("ix_ai_systems_org_created", "organization_id", "created_at", "id"),
        Index("ix_ai_systems_org_name", "organization_id", "name_key", "id"),
        Index("ix_ai_systems_org_risk_score", "organization_id", "risk_score", "id"),
    )

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(UUIDString)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))  # lower-cased name: search, sort, unique
    description: Mapped[str | None] = mapped_column(Text)
    department: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(40))
    clinical_use_case: Mapped[str | None] = mapped_column(Text)
    vendor_name: Mapped[str | None] = mapped_column(String(200))
    vendor_organization_id: Mapped[str | None] = mapped_column(UUIDString)
    model_name: Mapped[str | None] = mapped_column(String(200))
    model_version: Mapped[str | None] = mapped_column(String(100))
    uses_phi: Mapped[bool]
    fda_status: Mapped[str] = mapped_column(String(20))
    fda_submission_number: Mapped[str | None] = mapped_column(String(20))
    risk_level: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12))
    compliance_posture: Mapped[str] = mapped_column(String(10), default="ok")
    # Computed by the worker from open violations and the last day's alerts (0 to 100).
    risk_score: Mapped[int] = mapped_column(default=0, server_default="0")
    monitoring_enabled: Mapped[bool]
    serves_states: Mapped[list[str]] = mapped_column(StateCodes, default=list)
    serves_localities: Mapped[list[str]] = mapped_column(StateCodes, default=list)
    owner_user_id: Mapped[str | None] = mapped_column(UUIDString)
    provider_type: Mapped[str | None] = mapped_column(String(20))
    provider_system_id: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]
    deleted_by: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)
