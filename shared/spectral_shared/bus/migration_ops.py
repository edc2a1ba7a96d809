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
