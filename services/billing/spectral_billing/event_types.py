"""Events billing publishes. Declared here as the contract other services consume; the billing
issue publishes them from Stripe subscriptions."""

from __future__ import annotations

from spectral_shared.bus.catalog import EventCatalog
from spectral_shared.contracts import billing as contracts
from spectral_shared.contracts.billing import EntitlementsUpdated as EntitlementsUpdated

catalog = EventCatalog("billing")


ENTITLEMENTS_UPDATED = catalog.adopt(
    contracts.ENTITLEMENTS_UPDATED,
    "An organization's entitlements changed with its plan (e.g. the AI-system limit).",
)
