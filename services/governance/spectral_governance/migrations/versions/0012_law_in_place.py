"""Law as data: frameworks store their legal status and dates (catalog version 3); AI systems name the localities with their own AI law they serve (New York City);
violations record why one is only a recommendation (a source that is not law on the event's
date); organizations may turn those recommendations off.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from spectral_governance.catalog.sync import write_framework_status

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("frameworks", sa.Column("status", sa.String(16), nullable=True))
    op.add_column("frameworks", sa.Column("status_date", sa.Date(), nullable=True))
    op.add_column("frameworks", sa.Column("end_date", sa.Date(), nullable=True))
    op.add_column("frameworks", sa.Column("status_note", sa.Text(), nullable=True))
    write_framework_status(op.get_bind())
    op.add_column(
        "ai_systems",
        sa.Column("serves_localities", sa.String(240), nullable=False, server_default=""),
    )
    op.add_column("violations", sa.Column("legal_standing", sa.Text(), nullable=True))
    op.add_column(
        "organizations",
        sa.Column("recommendations", sa.Boolean(), nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("recommendations")
    with op.batch_alter_table("violations") as batch:
        batch.drop_column("legal_standing")
    with op.batch_alter_table("ai_systems") as batch:
        batch.drop_column("serves_localities")
    with op.batch_alter_table("frameworks") as batch:
        for column in ("status_note", "end_date", "status_date", "status"):
            batch.drop_column(column)
