"""Control catalog version 3 (see ``catalog/data/catalog.yaml``): every framework's legal status
and dates, and five new state frameworks (California AB 3030 and Health and Safety Code 1280.15,
Texas TRAIGA and SB 1188, the Utah AI Policy Act). The status columns of ``frameworks`` come in a
later migration, which writes them (``catalog.sync.write_framework_status``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

from spectral_governance.catalog.sync import sync_catalog

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATALOG_VERSION = 3


def upgrade() -> None:
    sync_catalog(op.get_bind(), at_least=CATALOG_VERSION)


def downgrade() -> None:
    op.execute("DELETE FROM catalog_releases WHERE version = 3")
