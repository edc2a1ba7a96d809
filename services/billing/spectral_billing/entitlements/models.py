"""The capabilities billing last decided for each organization, with their version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from spectral_billing.db import Base
from spectral_shared.db import UUIDString


class Entitlement(Base):
    __tablename__ = "entitlements"

    organization_id: Mapped[str] = mapped_column(UUIDString, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    capabilities: Mapped[dict[str, Any]]  # the published snapshot, without its version
    status: Mapped[str] = mapped_column(String(20))
    plan: Mapped[str | None] = mapped_column(String(40))
    subscription_id: Mapped[str | None] = mapped_column(String(255))
    overdue_since: Mapped[datetime | None]
    read_only_since: Mapped[datetime | None]
    # When the clock alone changes the decision (grace ends, a sent invoice falls due).
    next_review_at: Mapped[datetime | None] = mapped_column(index=True)
    decided_at: Mapped[datetime]


class Notice(Base):
    """Something admins are told once (a failed payment per invoice, usage at 80% per period)."""

    __tablename__ = "notices"

    organization_id: Mapped[str] = mapped_column(UUIDString, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    sent_at: Mapped[datetime]
