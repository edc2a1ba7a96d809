"""The control registry's tables, loaded from the versioned data files by migrations; not
tenant-owned."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from spectral_governance.db import Base
from spectral_shared.db import utcnow


class FrameworkRow(Base):
    __tablename__ = "frameworks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    issuer: Mapped[str] = mapped_column(Text)
    citation: Mapped[str] = mapped_column(Text)
    jurisdiction: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    effective_date: Mapped[date | None]
    # Its legal standing (catalog.Framework): in_force, voluntary, vetoed, repealed, proposed.
    status: Mapped[str | None] = mapped_column(String(16))
    status_date: Mapped[date | None]
    end_date: Mapped[date | None]
    status_note: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int]
    catalog_version: Mapped[int]


class ControlRow(Base):
    __tablename__ = "controls"
    __table_args__ = (Index("ix_controls_framework_position", "framework_id", "position"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    framework_id: Mapped[str] = mapped_column(String(32), ForeignKey("frameworks.id"))
    kind: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[str | None] = mapped_column(String(64))
    reference_id: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(10))
    required_evidence: Mapped[list[str]]
    requirement: Mapped[str | None] = mapped_column(String(12))
    reporting_deadline_days: Mapped[int | None]
    tags: Mapped[list[str]]
    position: Mapped[int]
    # The catalog version that last changed it; retired_in: the version that removed it (kept for
    # the assessments and violations that name it).
    catalog_version: Mapped[int]
    retired_in: Mapped[int | None]


class CatalogRelease(Base):
    __tablename__ = "catalog_releases"

    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    sha256: Mapped[str] = mapped_column(String(64))
    changes: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
