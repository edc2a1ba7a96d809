"""Billing's capabilities replace its plan entitlement: a snapshot version instead of a time, the
customization rights, and whether the organization is read-only (why, and where to pay).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from spectral_shared.db import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("plan_name", sa.String(60), nullable=True))
        batch.add_column(sa.Column("entitlements_version", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("threshold_overrides", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("control_toggles", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("writable", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("read_only_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("pay_url", sa.Text(), nullable=True))
        batch.drop_column("entitlements_as_of")
    # Organizations that had a paid plan keep its customization rights until billing's first
    # snapshot replaces them (the rights the old plan names gave).
    op.execute(
        "UPDATE organizations SET threshold_overrides = true, control_toggles = true "
        "WHERE plan IN ('professional', 'growth', 'enterprise')"
    )


def downgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("entitlements_as_of", UTCDateTime, nullable=True))
        for column in (
            "pay_url",
            "read_only_reason",
            "writable",
            "control_toggles",
            "threshold_overrides",
            "entitlements_version",
            "plan_name",
        ):
            batch.drop_column(column)
