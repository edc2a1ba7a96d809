"""What billing mirrors of Stripe: subscriptions and invoices, as last read from Stripe (never
as an event said), and the checkout sessions Spectral opened."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from spectral_billing.db import Base
from spectral_shared.db import UUIDString


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Stripe's sub_ id
    organization_id: Mapped[str] = mapped_column(UUIDString, index=True)
    customer_id: Mapped[str] = mapped_column(String(255))
    plan: Mapped[str | None] = mapped_column(String(40))
    price_id: Mapped[str | None] = mapped_column(String(255))
    item_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(30))
    collection_method: Mapped[str] = mapped_column(String(30))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime]
    current_period_start: Mapped[datetime | None]
    current_period_end: Mapped[datetime | None]
    trial_end: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    synced_at: Mapped[datetime]


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Stripe's in_ id
    organization_id: Mapped[str] = mapped_column(UUIDString, index=True)
    customer_id: Mapped[str] = mapped_column(String(255))
    subscription_id: Mapped[str | None] = mapped_column(String(255))
    number: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(30))
    collection_method: Mapped[str] = mapped_column(String(30))
    billing_reason: Mapped[str | None] = mapped_column(String(50))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    amount_due: Mapped[int] = mapped_column(Integer)
    amount_paid: Mapped[int] = mapped_column(Integer)
    amount_remaining: Mapped[int] = mapped_column(Integer)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime]
    finalized_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    due_date: Mapped[datetime | None]
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    hosted_invoice_url: Mapped[str | None] = mapped_column(Text)
    invoice_pdf: Mapped[str | None] = mapped_column(Text)
    synced_at: Mapped[datetime]


class Checkout(Base):
    """A Stripe Checkout session Spectral opened for an organization."""

    __tablename__ = "checkouts"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Stripe's cs_ id
    organization_id: Mapped[str] = mapped_column(UUIDString, index=True)
    plan: Mapped[str] = mapped_column(String(40))
    trial: Mapped[bool] = mapped_column(Boolean, default=False)
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # open | complete | expired
    created_by: Mapped[str | None] = mapped_column(UUIDString)
    created_at: Mapped[datetime]
