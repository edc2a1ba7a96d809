"""Billing as a Spectral component."""

from __future__ import annotations

from pathlib import Path

from spectral_billing.event_types import catalog
from spectral_billing.models import Base, bus
from spectral_shared.component import Component

component = Component(
    name="billing",
    title="Plans, Stripe subscriptions, usage and entitlements",
    metadata=Base.metadata,
    tables=bus,
    migrations=Path(__file__).parent / "migrations",
    events=catalog,
    routes_module="spectral_billing.api.routes",
)
