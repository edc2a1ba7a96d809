"""Control catalog version 1: HIPAA (Security Rule and breach notification), NIST AI RMF 1.0,
ISO/IEC 42001 Annex A, FDA AI-enabled device items and the state rules (see
``catalog/data/catalog.yaml`` for the changelog). A later catalog version is a new migration like
this one; on a fresh database the newest files load here and the later migrations find them loaded.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

from spectral_governance.catalog.sync import sync_catalog

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATALOG_VERSION = 1


def upgrade() -> None:
    sync_catalog(op.get_bind(), at_least=CATALOG_VERSION)


def downgrade() -> None:
    op.execute("DELETE FROM control_statuses")
    op.execute("DELETE FROM catalog_releases")
    op.execute("DELETE FROM controls")
    op.execute("DELETE FROM frameworks")
