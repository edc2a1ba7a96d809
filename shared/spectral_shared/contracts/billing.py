"""Billing's events that other services consume: what an organization's plan allows."""

from __future__ import annotations

from spectral_shared.bus.catalog import Contract, EventData


class EntitlementsUpdated(EventData):
    """What an organization's plan allows, as of the event's ``occurred_at``."""

    plan: str  # starter | professional | enterprise
    ai_system_limit: int | None  # None: unlimited


ENTITLEMENTS_UPDATED = Contract("billing.entitlements.updated", EntitlementsUpdated)
