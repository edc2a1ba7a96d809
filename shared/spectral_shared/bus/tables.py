"""The outbox, inbox and mail-outbox tables every service keeps in its own schema."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

from spectral_shared.db import UTCDateTime

# 64-bit on PostgreSQL; SQLite only autoincrements a column declared INTEGER.
SEQ = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class BusTables:
    outbox: Table
    inbox: Table
    mail_outbox: Table


def bus_tables(metadata: MetaData) -> BusTables:
    outbox = Table(
        "outbox",
        metadata,
        Column("seq", SEQ, primary_key=True, autoincrement=True),
        Column("id", String(36), nullable=False, unique=True),  # the envelope id
        Column("event_type", String(128), nullable=False),
        Column("body", Text, nullable=False),  # the envelope as JSON
        Column("headers", Text, nullable=False),  # traceparent, correlation_id as JSON
        Column("created_at", UTCDateTime, nullable=False),
        Column("available_at", UTCDateTime, nullable=False),  # backoff after a failed publish
        Column("published_at", UTCDateTime, nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
    )
    Index(
        "ix_outbox_pending", outbox.c.available_at, postgresql_where=outbox.c.published_at.is_(None)
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", String(128), primary_key=True),
        Column("message_id", String(36), primary_key=True),
        Column("event_type", String(128), nullable=False),
        Column("processed_at", UTCDateTime, nullable=False),
    )
    Index("ix_inbox_processed_at", inbox.c.processed_at)  # pruning, oldest first
    mail_outbox = Table(
        "mail_outbox",
        metadata,
        Column("seq", SEQ, primary_key=True, autoincrement=True),
        Column("id", String(36), nullable=False, unique=True),
        Column("message", Text, nullable=False),  # AES-256-GCM: it may hold links with tokens
        Column("created_at", UTCDateTime, nullable=False),
        Column("available_at", UTCDateTime, nullable=False),
        Column("sent_at", UTCDateTime, nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
    )
    Index(
        "ix_mail_outbox_pending",
        mail_outbox.c.available_at,
        postgresql_where=mail_outbox.c.sent_at.is_(None),
    )
    return BusTables(outbox=outbox, inbox=inbox, mail_outbox=mail_outbox)
