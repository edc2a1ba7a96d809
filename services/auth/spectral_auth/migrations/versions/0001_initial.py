"""Organizations, users, e-mail verification, signing keys, and the bus tables.

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
        "organizations",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("state", sa.String(2), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("type IN ('health_system', 'vendor', 'platform')", name="organization_type"),
    )
    op.create_table(
        "users",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("organization_id", UUIDString, sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("email_verified_at", UTCDateTime, nullable=True),
        sa.Column("last_login_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_users_organization_id", "users", ["organization_id"])
    op.create_table(
        "email_verification_tokens",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("user_id", UUIDString, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_email_verification_tokens_user_id", "email_verification_tokens", ["user_id"])
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("private_key", sa.Text, nullable=False),
        sa.Column("public_jwk", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("retired_at", UTCDateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("signing_keys")
    op.drop_table("email_verification_tokens")
    op.drop_table("users")
    op.drop_table("organizations")
    drop_bus_tables_v1()
