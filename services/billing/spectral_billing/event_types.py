"""Events billing publishes. Declared here as the contract other services consume; the billing
issue publishes them from Stripe subscriptions."""

from __future__ import annotations

from spectral_shared.bus.catalog import EventCatalog, EventData

catalog = EventCatalog("billing")


class EntitlementsUpdated(EventData):
    """What an organization's plan allows, as of the event's ``occurred_at``."""

    plan: str  # starter | professional | enterprise
    ai_system_limit: int | None  # None: unlimited


ENTITLEMENTS_UPDATED = catalog.define(
    "billing.entitlements.updated",
    EntitlementsUpdated,
    "An organization's entitlements changed with its plan (e.g. the AI-system limit).",
)
