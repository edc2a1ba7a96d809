"""An AI system's risk score, computed with its posture from its findings; listed by either.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "ai_systems", sa.Column("risk_score", sa.Integer(), nullable=False, server_default="0")
    )
    op.create_index(
        "ix_ai_systems_org_risk_score", "ai_systems", ["organization_id", "risk_score", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_ai_systems_org_risk_score", table_name="ai_systems")
    with op.batch_alter_table("ai_systems") as batch:
        batch.drop_column("risk_score")
