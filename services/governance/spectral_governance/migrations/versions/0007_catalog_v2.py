"""Control catalog version 2: the same controls as version 1 (see ``catalog/data/catalog.yaml``);
the state-law files' comments changed, and with them the files' SHA-256 a version records.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

from spectral_governance.catalog.sync import sync_catalog

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATALOG_VERSION = 2


def upgrade() -> None:
    sync_catalog(op.get_bind(), at_least=CATALOG_VERSION)


def downgrade() -> None:
    op.execute("DELETE FROM catalog_releases WHERE version = 2")
