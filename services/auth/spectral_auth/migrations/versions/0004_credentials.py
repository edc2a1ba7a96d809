"""Session revocation, MFA, refresh tokens, API keys, SSO connections.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from spectral_shared.db import UTCDateTime, UUIDString

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("sessions_revoked_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("mfa_secret", sa.Text, nullable=True))
        batch.add_column(sa.Column("mfa_pending_secret", sa.Text, nullable=True))
        batch.add_column(sa.Column("mfa_enabled_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("sso_provider", sa.String(32), nullable=True))
        batch.add_column(sa.Column("sso_external_id", sa.String(128), nullable=True))
    op.create_table(
        "mfa_backup_codes",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("user_id", UUIDString, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("code_hash", sa.String(200), nullable=False),
        sa.Column("used_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_mfa_backup_codes_user_id", "mfa_backup_codes", ["user_id"])
    op.create_table(
        "refresh_tokens",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("user_id", UUIDString, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("family_id", UUIDString, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("rotated_at", UTCDateTime, nullable=True),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"])
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_table(
        "api_keys",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("organization_id", UUIDString, sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False, unique=True),
        sa.Column("secret_hmac", sa.String(64), nullable=False),
        sa.Column("scopes", sa.Text, nullable=False, server_default="[]"),
        sa.Column("created_by", UUIDString, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.Column("last_used_at", UTCDateTime, nullable=True),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_api_keys_organization_id", "api_keys", ["organization_id"])
    op.create_table(
        "sso_connections",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("organization_id", UUIDString, sa.ForeignKey("organizations.id"), nullable=False, unique=True),
        sa.Column("workos_organization_id", sa.String(128), nullable=False, unique=True),
        sa.Column("created_by", UUIDString, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sso_connections")
    op.drop_table("api_keys")
    op.drop_table("refresh_tokens")
    op.drop_table("mfa_backup_codes")
    with op.batch_alter_table("users") as batch:
        for column in ("sso_external_id", "sso_provider", "mfa_enabled_at", "mfa_pending_secret", "mfa_secret", "sessions_revoked_at"):
            batch.drop_column(column)
