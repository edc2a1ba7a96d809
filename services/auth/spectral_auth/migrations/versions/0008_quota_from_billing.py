"""The request quota comes from billing's capabilities (a limit, a window and the snapshot's
version) instead of a plan tier auth interpreted. Organizations that had a tier keep its quota
until billing's first snapshot replaces it. API calls reported per organization and day.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from spectral_shared.db import UUIDString

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The hourly quotas the tiers gave (now in billing's plan catalog).
TIERS = {"starter": 1_000, "professional": 10_000, "enterprise": 100_000}


def upgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("quota_limit", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("quota_window_seconds", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("capabilities_version", sa.Integer(), nullable=True))
    organizations = sa.table(
        "organizations",
        sa.column("plan_tier", sa.String),
        sa.column("quota_limit", sa.Integer),
        sa.column("quota_window_seconds", sa.Integer),
    )
    for tier, limit in TIERS.items():
        op.execute(
            organizations.update()
            .where(organizations.c.plan_tier == tier)
            .values(quota_limit=limit, quota_window_seconds=3600)
        )
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("plan_tier")
    op.create_table(
        "api_usage",
        sa.Column("organization_id", UUIDString, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("calls", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("api_usage")
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("plan_tier", sa.String(20), nullable=True))
    organizations = sa.table(
        "organizations",
        sa.column("plan_tier", sa.String),
        sa.column("quota_limit", sa.Integer),
    )
    for tier, limit in TIERS.items():
        op.execute(
            organizations.update()
            .where(organizations.c.quota_limit == limit)
            .values(plan_tier=tier)
        )
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("capabilities_version")
        batch.drop_column("quota_window_seconds")
        batch.drop_column("quota_limit")
