"""Frozen DDL for the bus tables, called by each service's first migration.

Migrations must never change after they ship, so this is a snapshot named by version: a later
change to the bus tables adds ``create_bus_tables_v2`` rather than editing this one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from spectral_shared.db import UTCDateTime

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def create_bus_tables_v1() -> None:
    op.create_table(
        "outbox",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("headers", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("available_at", UTCDateTime, nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["available_at"],
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(128), primary_key=True),
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("processed_at", UTCDateTime, nullable=False),
    )
    _create_mail_outbox_v1()


def _create_mail_outbox_v1() -> None:
    """The mail outbox as the first bus tables had it (the delivery outbox replaced it)."""
    op.create_table(
        "mail_outbox",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("available_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index(
        "ix_mail_outbox_pending",
        "mail_outbox",
        ["available_at"],
        postgresql_where=sa.text("sent_at IS NULL"),
    )


def drop_bus_tables_v1() -> None:
    op.drop_table("mail_outbox")
    op.drop_table("inbox")
    op.drop_table("outbox")


def create_bus_retention_index_v2() -> None:
    """The inbox's processing time, indexed so pruning reads the oldest records first."""
    op.create_index("ix_inbox_processed_at", "inbox", ["processed_at"])


def drop_bus_retention_index_v2() -> None:
    op.drop_index("ix_inbox_processed_at", table_name="inbox")


# ---- v3: one delivery outbox (ADR 0032) -----------------------------------------------------------

# A migration holds no keys, so the rows it moves keep their ciphertext, prefixed with the
# associated data they were sealed under (``spectral_shared.delivery`` opens exactly these).
MAIL_SEALED_AS = "mail_outbox.message "


def create_deliveries_v3() -> None:
    """The delivery outbox: e-mail, Slack and webhook messages waiting for the relay."""
    op.create_table(
        "deliveries",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("available_at", UTCDateTime, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        sa.Column("dead_at", UTCDateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["available_at"],
        postgresql_where=sa.text("sent_at IS NULL AND dead_at IS NULL"),
    )


def move_mail_outbox_to_deliveries_v3() -> None:
    """Unsent mail becomes e-mail deliveries (same id, attempts and due time); sent mail is
    dropped with its table, as pruning would have done within BUS_RETENTION_DAYS."""
    op.execute(
        sa.text(
            "INSERT INTO deliveries"
            " (id, channel, target, body, attempts, available_at, created_at, last_error)"
            " SELECT id, 'email', :sealed || message, :sealed || message, attempts,"
            " available_at, created_at, last_error"
            " FROM mail_outbox WHERE sent_at IS NULL ORDER BY seq"
        ).bindparams(sealed=MAIL_SEALED_AS)
    )
    op.drop_table("mail_outbox")


def restore_mail_outbox_v3(also_moved_back: tuple[str, ...] = ()) -> None:
    """Undo :func:`move_mail_outbox_to_deliveries_v3` and drop ``deliveries``. Only rows that came
    from the old tables can go back (the others are sealed under ``deliveries``' own associated
    data, which no old code opens): with any other unsent row this refuses, before changing
    anything; let the relay send them first. ``also_moved_back``: body prefixes a service's own
    downgrade has already moved back (governance's Slack messages)."""
    deliveries = sa.table("deliveries", sa.column("body"), sa.column("sent_at"))
    movable = [MAIL_SEALED_AS, *also_moved_back]
    stuck = (
        op.get_bind()
        .execute(
            sa.select(sa.func.count())
            .select_from(deliveries)
            .where(
                deliveries.c.sent_at.is_(None),
                sa.not_(
                    sa.or_(
                        *(
                            sa.func.substr(deliveries.c.body, 1, len(prefix)) == prefix
                            for prefix in movable
                        )
                    )
                ),
            )
        )
        .scalar_one()
    )
    if stuck:
        raise RuntimeError(
            f"{stuck} unsent deliveries were queued after the upgrade and cannot be moved back: "
            "let the relay send them (or mark them sent) before downgrading"
        )
    _create_mail_outbox_v1()
    op.execute(
        sa.text(
            "INSERT INTO mail_outbox (id, message, created_at, available_at, attempts, last_error)"
            " SELECT id, substr(body, :start), created_at, available_at, attempts, last_error"
            " FROM deliveries WHERE sent_at IS NULL AND substr(body, 1, :length) = :prefix"
            " ORDER BY seq"
        ).bindparams(
            start=len(MAIL_SEALED_AS) + 1, length=len(MAIL_SEALED_AS), prefix=MAIL_SEALED_AS
        )
    )
    op.drop_table("deliveries")
