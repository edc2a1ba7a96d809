"""Organization settings, user personas and deactivation, invitations.

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
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("settings", sa.Text, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("updated_at", UTCDateTime, nullable=True))
    op.execute("UPDATE organizations SET updated_at = created_at")
    with op.batch_alter_table("organizations") as batch:
        batch.alter_column("updated_at", nullable=False)
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("personas", sa.Text, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("deactivated_at", UTCDateTime, nullable=True))
    op.create_table(
        "invitations",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("organization_id", UUIDString, sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("personas", sa.Text, nullable=False, server_default="[]"),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("invited_by", UUIDString, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("accepted_at", UTCDateTime, nullable=True),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_invitations_organization_id", "invitations", ["organization_id"])


def downgrade() -> None:
    op.drop_table("invitations")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("deactivated_at")
        batch.drop_column("personas")
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("updated_at")
        batch.drop_column("settings")
