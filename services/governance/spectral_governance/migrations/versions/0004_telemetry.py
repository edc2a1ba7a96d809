"""Telemetry, violations, required actions, alerts, webhook secrets, the engine's
customization, Slack notifications, and what governance keeps of members for routing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from spectral_shared.bus.tables import SEQ
from spectral_shared.db import UTCDateTime, UUIDString

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _partial(name: str, table: str, columns: list[str], where: str, unique: bool = False) -> None:
    op.create_index(
        name,
        table,
        columns,
        unique=unique,
        postgresql_where=sa.text(where),
        sqlite_where=sa.text(where),
    )


def upgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("slack_webhook_url", sa.Text))
        batch.add_column(sa.Column("alert_sla_minutes", sa.JSON))
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("email", sa.String(320)))
        batch.add_column(sa.Column("role", sa.String(20)))
        batch.add_column(sa.Column("personas", sa.JSON, nullable=False, server_default="[]"))

    op.create_table(
        "telemetry_events",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("organization_id", UUIDString, nullable=False),
        sa.Column("ai_system_id", UUIDString, sa.ForeignKey("ai_systems.id"), nullable=False),
        sa.Column("source", sa.String(24), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("canonical_type", sa.String(40), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("matched_by", sa.String(16), nullable=False),
        sa.Column("metric", sa.String(200)),
        sa.Column("metric_value", sa.Float),
        sa.Column("threshold", sa.Float),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("run_id", sa.String(200)),
        sa.Column("client_event_id", sa.String(200)),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("payload", sa.Text),
        sa.Column("phi_redactions", sa.JSON, nullable=False),
        sa.Column("translated_at", UTCDateTime),
        sa.Column("risk_score", sa.Integer),
        sa.Column("risk_level", sa.String(8)),
        sa.Column("escalate", sa.Boolean),
        sa.Column("escalation_path", sa.JSON),
        postgresql_with={"fillfactor": 85},
    )
    _partial(
        "uq_telemetry_events_run",
        "telemetry_events",
        ["ai_system_id", "source", "run_id"],
        "run_id IS NOT NULL",
        unique=True,
    )
    _partial(
        "uq_telemetry_events_client_id",
        "telemetry_events",
        ["ai_system_id", "client_event_id"],
        "client_event_id IS NOT NULL",
        unique=True,
    )
    op.create_index(
        "ix_telemetry_events_org_received",
        "telemetry_events",
        ["organization_id", "received_at", "id"],
    )

    op.create_table(
        "violations",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("organization_id", UUIDString, nullable=False),
        sa.Column("ai_system_id", UUIDString, sa.ForeignKey("ai_systems.id"), nullable=False),
        sa.Column(
            "telemetry_event_id",
            UUIDString,
            sa.ForeignKey("telemetry_events.id"),
            nullable=False,
        ),
        sa.Column("framework_id", sa.String(32), nullable=False),
        sa.Column("control_id", sa.String(64), sa.ForeignKey("controls.id"), nullable=False),
        sa.Column("control_name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("requires_reporting", sa.Boolean, nullable=False),
        sa.Column("reporting_deadline", UTCDateTime),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("detected_at", UTCDateTime, nullable=False),
        sa.Column("resolved_at", UTCDateTime),
        sa.Column("resolved_by", sa.String(64)),
        sa.Column("resolution_note", sa.Text),
    )
    op.create_index(
        "ix_violations_org_detected", "violations", ["organization_id", "detected_at", "id"]
    )
    _partial(
        "ix_violations_open_control",
        "violations",
        ["ai_system_id", "control_id"],
        "resolved_at IS NULL",
    )
    op.create_index("ix_violations_event", "violations", ["telemetry_event_id"])

    op.create_table(
        "required_actions",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("organization_id", UUIDString, nullable=False),
        sa.Column("ai_system_id", UUIDString, sa.ForeignKey("ai_systems.id"), nullable=False),
        sa.Column("violation_id", UUIDString, sa.ForeignKey("violations.id"), nullable=False),
        sa.Column("action_type", sa.String(12), nullable=False),
        sa.Column("priority", sa.String(10), nullable=False),
        sa.Column("priority_rank", sa.Integer, nullable=False),
        sa.Column("assignee", sa.String(24), nullable=False),
        sa.Column("assigned_user_id", UUIDString),
        sa.Column("deadline", UTCDateTime, nullable=False),
        sa.Column("automated", sa.Boolean, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("completed_at", UTCDateTime),
        sa.Column("completed_by", sa.String(64)),
        sa.Column("notes", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_required_actions_org_deadline",
        "required_actions",
        ["organization_id", "deadline", "id"],
    )
    _partial(
        "ix_required_actions_automated_due",
        "required_actions",
        ["deadline"],
        "automated AND status = 'pending'",
    )
    op.create_index("ix_required_actions_violation", "required_actions", ["violation_id"])

    op.create_table(
        "alerts",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("organization_id", UUIDString, nullable=False),
        sa.Column("ai_system_id", UUIDString, sa.ForeignKey("ai_systems.id"), nullable=False),
        sa.Column("telemetry_event_id", UUIDString),
        sa.Column("type", sa.String(24), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("dedup_key", sa.String(300), nullable=False),
        sa.Column("occurrences", sa.Integer, nullable=False),
        sa.Column("last_seen_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("raised_at", UTCDateTime, nullable=False),
        sa.Column("ack_due_at", UTCDateTime, nullable=False),
        sa.Column("acknowledged_at", UTCDateTime),
        sa.Column("acknowledged_by", sa.String(64)),
        sa.Column("resolved_at", UTCDateTime),
        sa.Column("resolved_by", sa.String(64)),
        sa.Column("response_time_seconds", sa.Integer),
        sa.Column("dismissed_at", UTCDateTime),
        sa.Column("dismissed_by", sa.String(64)),
        sa.Column("sla_breached_at", UTCDateTime),
    )
    op.create_index("ix_alerts_org_raised", "alerts", ["organization_id", "raised_at", "id"])
    op.create_index("ix_alerts_dedup", "alerts", ["dedup_key", "raised_at"])
    _partial(
        "ix_alerts_sla_watch",
        "alerts",
        ["ack_due_at"],
        "status = 'active' AND sla_breached_at IS NULL",
    )

    op.create_table(
        "webhook_secrets",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("organization_id", UUIDString, nullable=False),
        sa.Column("ai_system_id", UUIDString, sa.ForeignKey("ai_systems.id"), nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.Column("expires_at", UTCDateTime),
    )
    op.create_index(
        "ix_webhook_secrets_system", "webhook_secrets", ["ai_system_id", "created_at"]
    )

    op.create_table(
        "threshold_overrides",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("organization_id", UUIDString, nullable=False),
        sa.Column("ai_system_id", UUIDString, sa.ForeignKey("ai_systems.id")),
        sa.Column("event_type", sa.String(40)),
        sa.Column("threshold", sa.String(64), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("justification", sa.Text, nullable=False),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime),
        sa.Column("revoked_by", sa.String(64)),
    )
    op.create_index(
        "ix_threshold_overrides_org", "threshold_overrides", ["organization_id", "created_at"]
    )

    op.create_table(
        "control_toggles",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("organization_id", UUIDString, nullable=False),
        sa.Column("ai_system_id", UUIDString, sa.ForeignKey("ai_systems.id")),
        sa.Column("control_id", sa.String(64), sa.ForeignKey("controls.id"), nullable=False),
        sa.Column("justification", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime),
        sa.Column("revoked_by", sa.String(64)),
    )
    op.create_index("ix_control_toggles_org", "control_toggles", ["organization_id", "control_id"])

    op.create_table(
        "notifications",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("organization_id", UUIDString, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("available_at", UTCDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("sent_at", UTCDateTime),
        sa.Column("abandoned_at", UTCDateTime),
    )
    _partial(
        "ix_notifications_pending",
        "notifications",
        ["available_at"],
        "sent_at IS NULL AND abandoned_at IS NULL",
    )


def downgrade() -> None:
    for table in (
        "notifications",
        "control_toggles",
        "threshold_overrides",
        "webhook_secrets",
        "alerts",
        "required_actions",
        "violations",
        "telemetry_events",
    ):
        op.drop_table(table)
    with op.batch_alter_table("members") as batch:
        batch.drop_column("personas")
        batch.drop_column("email")
        batch.drop_column("role")
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("alert_sla_minutes")
        batch.drop_column("slack_webhook_url")
