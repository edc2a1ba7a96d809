"""The outbox, inbox and delivery-outbox tables every service keeps in its own schema."""

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
    deliveries: Table


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
    # Outgoing messages (e-mail, Slack, webhooks) waiting for the relay: spectral_shared.delivery.
    deliveries = Table(
        "deliveries",
        metadata,
        Column("seq", SEQ, primary_key=True, autoincrement=True),
        Column("id", String(36), nullable=False, unique=True),
        Column("channel", String(16), nullable=False),  # email, slack, webhook
        Column("target", Text, nullable=False),  # AES-256-GCM: an address or a webhook URL
        Column("body", Text, nullable=False),  # AES-256-GCM: JSON, it may hold links with tokens
        Column("attempts", Integer, nullable=False, default=0),
        Column("available_at", UTCDateTime, nullable=False),  # backoff, or a relay's lease
        Column("created_at", UTCDateTime, nullable=False),
        Column("sent_at", UTCDateTime, nullable=True),
        Column("dead_at", UTCDateTime, nullable=True),  # gave up after DELIVERY_MAX_ATTEMPTS
        Column("last_error", Text, nullable=True),  # the error's type and status, never contents
    )
    Index(
        "ix_deliveries_due",
        deliveries.c.available_at,
        postgresql_where=deliveries.c.sent_at.is_(None) & deliveries.c.dead_at.is_(None),
    )
    return BusTables(outbox=outbox, inbox=inbox, deliveries=deliveries)
