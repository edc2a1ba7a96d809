"""The organizations billing serves, as auth describes them, with their Stripe customer; their
members (who is told when money stops); and the AI systems governance reports, which decide
whether a downgrade fits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String, false
from sqlalchemy.orm import Mapped, mapped_column

from spectral_billing.db import Base
from spectral_shared.db import UUIDString
from spectral_shared.directory import DirectoryMember, DirectoryOrganization


class Organization(DirectoryOrganization, Base):
    __tablename__ = "organizations"

    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    customer_deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Whether the organization has had a trial (one per organization).
    trial_used: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Stripe events waiting for the worker; the worker reads the customer's current state from
    # Stripe under a lease so that one worker at a time handles one customer (ADR 0041).
    sync_requested_at: Mapped[datetime | None]
    sync_lease_until: Mapped[datetime | None]
    sync_lease_token: Mapped[str | None] = mapped_column(String(36))
    synced_at: Mapped[datetime | None]


class Member(DirectoryMember, Base):
    """Admins are told of failed payments, trials ending and usage nearing a limit."""

    __tablename__ = "members"


class CountedSystem(Base):
    """An AI system governance reported, for the plan count (not deleted, not deprecated)."""

    __tablename__ = "ai_systems"

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True)
    organization_id: Mapped[str] = mapped_column(UUIDString, index=True)
    counted: Mapped[bool] = mapped_column(Boolean, default=True)
    name: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime]
