"""The inventory, the control registry's tables, assessments, and what governance knows of
auth's organizations and users.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from spectral_shared.db import UTCDateTime, UUIDString

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("name", sa.String(200)),
        sa.Column("type", sa.String(20)),
        sa.Column("state", sa.String(2)),
        sa.Column("plan", sa.String(40)),
        sa.Column("ai_system_limit", sa.Integer),
        sa.Column("entitlements_as_of", UTCDateTime),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "members",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("organization_id", UUIDString, nullable=False, index=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "ai_systems",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("organization_id", UUIDString, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_key", sa.String(200), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("department", sa.String(100), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("clinical_use_case", sa.Text),
        sa.Column("vendor_name", sa.String(200)),
        sa.Column("vendor_organization_id", UUIDString),
        sa.Column("model_name", sa.String(200)),
        sa.Column("model_version", sa.String(100)),
        sa.Column("uses_phi", sa.Boolean, nullable=False),
        sa.Column("fda_status", sa.String(20), nullable=False),
        sa.Column("fda_submission_number", sa.String(20)),
        sa.Column("risk_level", sa.String(10), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("compliance_posture", sa.String(10), nullable=False),
        sa.Column("monitoring_enabled", sa.Boolean, nullable=False),
        sa.Column("serves_states", sa.String(240), nullable=False),  # CA,NY
        sa.Column("owner_user_id", UUIDString),
        sa.Column("provider_type", sa.String(20)),
        sa.Column("provider_system_id", sa.String(200)),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("deleted_at", UTCDateTime),
        sa.Column("deleted_by", sa.String(64)),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index(
        "uq_ai_systems_live_name",
        "ai_systems",
        ["organization_id", "name_key"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
        sqlite_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_ai_systems_org_created", "ai_systems", ["organization_id", "created_at", "id"]
    )
    op.create_index("ix_ai_systems_org_name", "ai_systems", ["organization_id", "name_key", "id"])
    op.create_table(
        "frameworks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("issuer", sa.Text, nullable=False),
        sa.Column("citation", sa.Text, nullable=False),
        sa.Column("jurisdiction", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(100)),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("effective_date", sa.Date),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("catalog_version", sa.Integer, nullable=False),
    )
    op.create_table(
        "controls",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "framework_id",
            sa.String(32),
            sa.ForeignKey("frameworks.id", name="fk_controls_framework_id_frameworks"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("parent_id", sa.String(64)),
        sa.Column("reference_id", sa.String(64)),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("required_evidence", sa.JSON, nullable=False),
        sa.Column("requirement", sa.String(12)),
        sa.Column("reporting_deadline_days", sa.Integer),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("catalog_version", sa.Integer, nullable=False),
        sa.Column("retired_in", sa.Integer),
    )
    op.create_index("ix_controls_framework_position", "controls", ["framework_id", "position"])
    op.create_table(
        "catalog_releases",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("changes", sa.Text, nullable=False),
        sa.Column("loaded_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "control_statuses",
        sa.Column(
            "ai_system_id",
            UUIDString,
            sa.ForeignKey("ai_systems.id", name="fk_control_statuses_ai_system_id_ai_systems"),
            primary_key=True,
        ),
        sa.Column(
            "control_id",
            sa.String(64),
            sa.ForeignKey("controls.id", name="fk_control_statuses_control_id_controls"),
            primary_key=True,
        ),
        sa.Column("organization_id", UUIDString, nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("updated_by", sa.String(64)),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "control_statuses",
        "catalog_releases",
        "controls",
        "frameworks",
        "ai_systems",
        "members",
        "organizations",
    ):
        op.drop_table(table)
