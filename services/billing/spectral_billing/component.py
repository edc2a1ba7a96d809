"""Billing as a Spectral component."""

from __future__ import annotations

from pathlib import Path

from spectral_billing.event_types import catalog
from spectral_billing.models import Base, bus
from spectral_shared.component import Component
from spectral_shared.routing import Route

component = Component(
    name="billing",
    title="Plans, Stripe subscriptions, usage and entitlements",
    metadata=Base.metadata,
    tables=bus,
    migrations=Path(__file__).parent / "migrations",
    events=catalog,
    routes_module="spectral_billing.api.routes",
    routes=(
        # Stripe's webhooks carry their own signature, not a Spectral credential (the billing issue
        # serves them; until then billing answers 404). Stripe retries what the per-IP limit refuses.
        Route(
            "/api/v1/billing/webhooks", "billing", public=True, abuse_prone=True, max_body="512k"
        ),
        Route("/api/v1/billing", "billing"),
    ),
)
