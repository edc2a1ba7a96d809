"""One delivery outbox (`deliveries`) for e-mail, Slack and webhooks, replacing `mail_outbox`
(ADR 0032). Unsent mail moves over as it is sealed; sent mail is dropped with the table. The
downgrade moves the moved rows back, and refuses while rows queued since wait unsent.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-13
"""

from collections.abc import Sequence

from spectral_shared.bus.migration_ops import (
    create_deliveries_v3,
    move_mail_outbox_to_deliveries_v3,
    restore_mail_outbox_v3,
)

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_deliveries_v3()
    move_mail_outbox_to_deliveries_v3()


def downgrade() -> None:
    restore_mail_outbox_v3()
