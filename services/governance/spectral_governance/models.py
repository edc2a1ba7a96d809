"""Governance's tables, in the ``governance`` schema.

- ``organizations`` and ``members``: what governance knows of auth's organizations and users,
  kept from ``auth.*`` events (state for the state-law rules, vendor organizations, owners) and
  of billing's entitlements (the AI-system limit). Governance never reads auth's tables.
- ``ai_systems``: the inventory (DOMAIN decision 5), soft-deleted so auditors keep its history.
- ``frameworks``, ``controls``, ``catalog_releases``: the control registry, loaded from the
  versioned data files by migrations; not tenant-owned.
- ``control_statuses``: an organization's assessment of a control on one of its systems; a
  missing row means ``not_assessed``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, TypeDecorator, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from spectral_shared.bus import bus_tables
from spectral_shared.db import UTCDateTime, UUIDString, make_metadata, new_id, utcnow


class StateCodes(TypeDecorator[list[str]]):
    """A list of US state codes kept as one comma-separated text (``CA,NY``): cheaper to read
    than JSON on the hot list path, and searchable with LIKE."""

    impl = String(240)
    cache_ok = True

    def process_bind_param(self, value: list[str] | None, dialect: Dialect) -> str:
        return ",".join(value or ())

    def process_result_value(self, value: str | None, dialect: Dialect) -> list[str]:
        return value.split(",") if value else []


class Base(DeclarativeBase):
    metadata = make_metadata()
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


bus = bus_tables(Base.metadata)


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    type: Mapped[str | None] = mapped_column(String(20))  # health_system | vendor | platform
    state: Mapped[str | None] = mapped_column(String(2))
    plan: Mapped[str | None] = mapped_column(String(40))
    # None: no entitlement event yet (the starter limit applies); -1: unlimited.
    ai_system_limit: Mapped[int | None]
    entitlements_as_of: Mapped[datetime | None]  # occurred_at of the entitlement event applied
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Member(Base):
    __tablename__ = "members"

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True)
    organization_id: Mapped[str] = mapped_column(UUIDString, index=True)
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


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
    monitoring_enabled: Mapped[bool]
    serves_states: Mapped[list[str]] = mapped_column(StateCodes, default=list)
    owner_user_id: Mapped[str | None] = mapped_column(UUIDString)
    provider_type: Mapped[str | None] = mapped_column(String(20))
    provider_system_id: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]
    deleted_by: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)


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
