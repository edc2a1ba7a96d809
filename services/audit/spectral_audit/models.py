"""Audit's tables, in the ``audit`` schema: one Merkle log per organization (and ``platform``).

``entries``, ``nodes`` and ``checkpoints`` are append-only: migration 0002 gives the application's
role no UPDATE (bar nulling a payload, for retention) and no DELETE, and a trigger refuses both on
PostgreSQL and SQLite; since migration 0005 a payload may go only below its log's purge
watermark, which only moves forward. ``logs`` is the mutable head of each log: its size and compact range (what
an append needs), the size last checkpointed, the purge watermark and the legal hold.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from spectral_shared.bus import bus_tables
from spectral_shared.db import UTCDateTime, make_metadata

# A log is named by its organization's id, or this for events that belong to no organization.
PLATFORM_LOG = "platform"


class Base(DeclarativeBase):
    metadata = make_metadata()
    type_annotation_map = {datetime: UTCDateTime}


bus = bus_tables(Base.metadata)


class Log(Base):
    __tablename__ = "logs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    compact_range: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    checkpointed_size: Mapped[int] = mapped_column(BigInteger, default=0)
    purged_below: Mapped[int] = mapped_column(BigInteger, default=0)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    legal_hold_reason: Mapped[str | None] = mapped_column(Text)
    legal_hold_since: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Entry(Base):
    """One audited event at its index in its log. ``body`` holds the RFC 8785 bytes that were
    hashed (NULL once purged); the other columns are a search index over them, which
    verification holds equal to them (``spectral_shared.tlog.audit_entries``)."""

    __tablename__ = "entries"
    __table_args__ = (
        Index("ix_entries_action", "log_id", "action", "idx"),
        Index("ix_entries_actor", "log_id", "actor_id", "idx"),
        Index("ix_entries_resource", "log_id", "resource_type", "resource_id", "idx"),
        Index("ix_entries_occurred", "log_id", "occurred_at"),
    )

    log_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    action: Mapped[str] = mapped_column(String(128))
    actor_type: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    body: Mapped[bytes | None] = mapped_column(LargeBinary)


class Node(Base):
    """A perfect subtree's hash: level 0 holds the leaf hashes, kept forever (even purged)."""

    __tablename__ = "nodes"

    log_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class Checkpoint(Base):
    """A signed C2SP checkpoint of a log at one size; ``note`` is the signed note as served."""

    __tablename__ = "checkpoints"

    log_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[datetime]
