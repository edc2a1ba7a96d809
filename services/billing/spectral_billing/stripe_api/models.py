"""Stripe's webhook events as received: stored once by id, acknowledged at once, handled by the
worker afterwards."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from spectral_billing.db import Base


class StripeEvent(Base):
    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Stripe's evt_ id
    type: Mapped[str] = mapped_column(String(100))
    created: Mapped[datetime]  # when Stripe created it
    customer_id: Mapped[str | None] = mapped_column(String(255), index=True)
    object_id: Mapped[str | None] = mapped_column(String(255))
    livemode: Mapped[bool]
    received_at: Mapped[datetime]
    # handled | recorded (a type billing does not act on) | unknown_customer
    outcome: Mapped[str | None] = mapped_column(String(30))
    processed_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
