"""Governance's tables, in the ``governance`` schema.

- ``organizations`` and ``members``: what governance knows of auth's organizations and users,
  kept from ``auth.*`` events (state for the state-law rules, vendor organizations, owners) and
  of billing's entitlements (the AI-system limit). Governance never reads auth's tables.
- ``ai_systems``: the inventory (docs/domain.md#the-ai-system-inventory), soft-deleted so auditors keep its history.
- ``frameworks``, ``controls``, ``catalog_releases``: the control registry, loaded from the
  versioned data files by migrations; not tenant-owned.
- ``control_statuses``: an organization's assessment of a control on one of its systems; a
  missing row means ``not_assessed``.
- ``telemetry_events``: what the systems report (issue 7), normalized at intake, their payload
  PHI-redacted and encrypted; ``violations``, ``required_actions`` and ``alerts``: what the
  translation engine made of them.
- ``webhook_secrets``, ``threshold_overrides``, ``control_toggles``: per-system webhook signing
  secrets and the organization's customization of the engine (docs/domain.md#customization-and-guardrails).
- ``notifications``: Slack messages waiting to be posted (e-mail goes through the mail outbox).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from spectral_shared.bus import bus_tables
from spectral_shared.bus.tables import SEQ
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
    # Alerting settings (docs/domain.md#decision-9-alerts): the Slack incoming webhook (encrypted) and the SLA minutes
    # per severity that replace the defaults.
    slack_webhook_url: Mapped[str | None] = mapped_column(Text)
    alert_sla_minutes: Mapped[dict[str, Any] | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Member(Base):
    __tablename__ = "members"

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True)
    organization_id: Mapped[str] = mapped_column(UUIDString, index=True)
    active: Mapped[bool] = mapped_column(default=True)
    # Where required actions and alerts are sent: the role, persona tags and e-mail auth gave.
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str | None] = mapped_column(String(20))
    personas: Mapped[list[str]] = mapped_column(default=list)
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


class TelemetryEvent(Base):
    """One event an AI system reported, normalized when it arrived (docs/domain.md#decision-6-telemetry: the metrics the
    rules need are kept before the payload is redacted and encrypted)."""

    __tablename__ = "telemetry_events"
    __table_args__ = (
        # The same run reported twice (webhook and poll, or a retried delivery) is one event.
        Index(
            "uq_telemetry_events_run",
            "ai_system_id",
            "source",
            "run_id",
            unique=True,
            postgresql_where=text("run_id IS NOT NULL"),
            sqlite_where=text("run_id IS NOT NULL"),
        ),
        Index(
            "uq_telemetry_events_client_id",
            "ai_system_id",
            "client_event_id",
            unique=True,
            postgresql_where=text("client_event_id IS NOT NULL"),
            sqlite_where=text("client_event_id IS NOT NULL"),
        ),
        Index("ix_telemetry_events_org_received", "organization_id", "received_at", "id"),
        # No index mentions translated_at: marking an event translated changes no indexed
        # column, so PostgreSQL can make it a HOT update (fillfactor leaves room on the page).
        {"postgresql_with": {"fillfactor": 85}},
    )

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(UUIDString)
    ai_system_id: Mapped[str] = mapped_column(UUIDString, ForeignKey("ai_systems.id"))
    source: Mapped[str] = mapped_column(String(24))
    event_type: Mapped[str] = mapped_column(String(100))  # as the source named it
    canonical_type: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(8))
    confidence: Mapped[float]
    matched_by: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str | None] = mapped_column(String(200))
    metric_value: Mapped[float | None]
    threshold: Mapped[float | None]
    metrics: Mapped[dict[str, Any]]
    run_id: Mapped[str | None] = mapped_column(String(200))
    client_event_id: Mapped[str | None] = mapped_column(String(200))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[str | None] = mapped_column(Text)  # redacted, then AES-256-GCM
    phi_redactions: Mapped[dict[str, Any]]  # PHI type -> how many were redacted
    translated_at: Mapped[datetime | None]
    risk_score: Mapped[int | None]
    risk_level: Mapped[str | None] = mapped_column(String(8))
    escalate: Mapped[bool | None]
    escalation_path: Mapped[list[str] | None]


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


class WebhookSecret(Base):
    """A system's webhook signing secret (encrypted). Rotating one leaves the previous valid for
    a grace period, so a sender can switch without dropping deliveries."""

    __tablename__ = "webhook_secrets"
    __table_args__ = (Index("ix_webhook_secrets_system", "ai_system_id", "created_at"),)

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(UUIDString)
    ai_system_id: Mapped[str] = mapped_column(UUIDString, ForeignKey("ai_systems.id"))
    secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]  # set when a newer secret replaced it


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
