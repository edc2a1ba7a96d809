"""What the systems report, normalized at intake, the payload PHI-redacted and encrypted; and the
per-system webhook signing secrets."""

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
    # The incident's facts as reported (counts, state codes, harm): no PHI.
    incident: Mapped[dict[str, Any] | None]
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
