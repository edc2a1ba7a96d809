"""Audit entries and the bus tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from spectral_shared.bus.migration_ops import create_bus_tables_v1, drop_bus_tables_v1
from spectral_shared.db import UTCDateTime, UUIDString

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_bus_tables_v1()
    op.create_table(
        "entries",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("message_id", UUIDString, nullable=False, unique=True),
        sa.Column("organization_id", UUIDString, nullable=True),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("actor_type", sa.String(32), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=True),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=True),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_entries_org_seq", "entries", ["organization_id", "seq"])


def downgrade() -> None:
    op.drop_table("entries")
    drop_bus_tables_v1()
