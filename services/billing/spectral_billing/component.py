"""Billing as a Spectral component."""

from __future__ import annotations

from pathlib import Path

from spectral_billing.commands import commands
from spectral_billing.consumers import schedules, subscriptions
from spectral_billing.embedded import start_double
from spectral_billing.event_types import catalog
from spectral_billing.settings import BillingSettings
from spectral_billing.tables import bus, metadata
from spectral_shared.component import Component
from spectral_shared.routing import Route

component = Component(
    name="billing",
    title="Plans, Stripe subscriptions, usage and entitlements",
    metadata=metadata,
    tables=bus,
    migrations=Path(__file__).parent / "migrations",
    events=catalog,
    routes_module="spectral_billing.routes",
    routes=(
        # Stripe's webhooks carry their own signature, not a Spectral credential. No per-IP limit:
        # Stripe delivers bursts from a few addresses, and a forgery costs one HMAC, no query.
        Route("/api/v1/billing/webhooks", "billing", public=True, max_body="512k"),
        Route("/api/v1/billing", "billing"),
    ),
    subscriptions=subscriptions,
    schedules=schedules,
    commands=commands,
    settings=BillingSettings,
    production_requires=("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"),
    embedded=start_double,
)
