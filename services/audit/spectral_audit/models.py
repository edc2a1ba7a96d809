"""Audit's tables, in the ``audit`` schema. Issue #5 adds the Merkle log on top of these entries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from spectral_shared.bus import bus_tables
from spectral_shared.db import UTCDateTime, UUIDString, make_metadata


class Base(DeclarativeBase):
    metadata = make_metadata()
    type_annotation_map = {datetime: UTCDateTime}


bus = bus_tables(Base.metadata)


class AuditEntry(Base):
    """One audited action, appended once per bus message."""

    __tablename__ = "entries"
    __table_args__ = (Index("ix_entries_org_seq", "organization_id", "seq"),)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    message_id: Mapped[str] = mapped_column(UUIDString, unique=True)
    organization_id: Mapped[str | None] = mapped_column(UUIDString)
    action: Mapped[str] = mapped_column(String(128))
    actor_type: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    data: Mapped[str] = mapped_column(Text)  # JSON summary, secrets removed
