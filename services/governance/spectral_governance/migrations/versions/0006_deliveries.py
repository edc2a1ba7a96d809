"""One delivery outbox (`deliveries`) for e-mail, Slack and webhooks, replacing `mail_outbox`
and governance's own `notifications` (ADR 0032).

Unsent mail and Slack messages move over as they are sealed (a migration holds no keys: each
value is prefixed with the associated data it was sealed under, which the relay accepts for these
rows only); abandoned Slack messages move as dead deliveries, so they can be replayed; sent ones
are dropped with their tables. The downgrade moves the moved rows back, and refuses while rows
queued since wait unsent.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-13
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from spectral_shared.bus.migration_ops import (
    create_deliveries_v3,
    move_mail_outbox_to_deliveries_v3,
    restore_mail_outbox_v3,
)
from spectral_shared.bus.tables import SEQ
from spectral_shared.db import UTCDateTime, UUIDString

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What notifications' values were sealed under (frozen here: migrations never change).
BODY_SEALED_AS = "governance.notifications "
URL_SEALED_AS = "governance.organizations.slack_webhook_url:"


def upgrade() -> None:
    create_deliveries_v3()
    move_mail_outbox_to_deliveries_v3()
    bind = op.get_bind()
    notes = bind.execute(
        sa.text(
            "SELECT organization_id, target, body, created_at, available_at, attempts,"
            " abandoned_at FROM notifications WHERE sent_at IS NULL ORDER BY seq"
        )
    ).all()
    insert = sa.text(
        "INSERT INTO deliveries (id, channel, target, body, attempts, available_at, created_at,"
        " dead_at, last_error)"
        " VALUES (:id, 'slack', :target, :body, :attempts, :available_at, :created_at,"
        " :dead_at, :last_error)"
    )
    for note in notes:
        bind.execute(
            insert,
            {
                "id": str(uuid.uuid4()),
                "target": f"{URL_SEALED_AS}{note.organization_id} {note.target}",
                "body": BODY_SEALED_AS + note.body,
                "attempts": note.attempts,
                "available_at": note.available_at,
                "created_at": note.created_at,
                "dead_at": note.abandoned_at,
                "last_error": "abandoned by the Slack job" if note.abandoned_at else None,
            },
        )
    op.drop_table("notifications")


def downgrade() -> None:
    bind = op.get_bind()
    slack = bind.execute(
        sa.text(
            "SELECT target, body, created_at, available_at, attempts, dead_at FROM deliveries"
            " WHERE sent_at IS NULL AND substr(body, 1, :length) = :prefix ORDER BY seq"
        ).bindparams(length=len(BODY_SEALED_AS), prefix=BODY_SEALED_AS)
    ).all()
    # Refuses (before any change) while deliveries queued since the upgrade wait unsent.
    restore_mail_outbox_v3(also_moved_back=(BODY_SEALED_AS,))
    op.create_table(
        "notifications",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("organization_id", UUIDString, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("available_at", UTCDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("sent_at", UTCDateTime),
        sa.Column("abandoned_at", UTCDateTime),
    )
    where = sa.text("sent_at IS NULL AND abandoned_at IS NULL")
    op.create_index(
        "ix_notifications_pending",
        "notifications",
        ["available_at"],
        postgresql_where=where,
        sqlite_where=where,
    )
    insert = sa.text(
        "INSERT INTO notifications (organization_id, channel, target, body, created_at,"
        " available_at, attempts, abandoned_at)"
        " VALUES (:organization_id, 'slack', :target, :body, :created_at, :available_at,"
        " :attempts, :abandoned_at)"
    )
    for row in slack:
        sealed_as, _, target = row.target.rpartition(" ")
        bind.execute(
            insert,
            {
                "organization_id": sealed_as.removeprefix(URL_SEALED_AS),
                "target": target,
                "body": row.body.removeprefix(BODY_SEALED_AS),
                "created_at": row.created_at,
                "available_at": row.available_at,
                "attempts": row.attempts,
                "abandoned_at": row.dead_at,
            },
        )
