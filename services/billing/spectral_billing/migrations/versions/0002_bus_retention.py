"""The inbox indexed by processing time, for pruning the bus tables (BUS_RETENTION_DAYS).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from spectral_shared.bus.migration_ops import (
    create_bus_retention_index_v2,
    drop_bus_retention_index_v2,
)

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_bus_retention_index_v2()


def downgrade() -> None:
    drop_bus_retention_index_v2()
