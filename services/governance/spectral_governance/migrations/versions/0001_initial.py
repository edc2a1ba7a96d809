"""The bus tables (outbox, inbox, mail outbox).

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from spectral_shared.bus.migration_ops import create_bus_tables_v1, drop_bus_tables_v1

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_bus_tables_v1()


def downgrade() -> None:
    drop_bus_tables_v1()
