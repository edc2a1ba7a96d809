"""Every event billing publishes. The capabilities snapshot is a shared contract (other services
obey it); the rest record what happened to an organization's billing, for the audit log."""

from __future__ import annotations

from typing import Literal

from spectral_shared.bus.catalog import EventCatalog, EventData
from spectral_shared.contracts import billing as contracts

catalog = EventCatalog("billing")


ENTITLEMENTS_UPDATED = catalog.adopt(
    contracts.ENTITLEMENTS_UPDATED,
    "What an organization may do changed (plan, status, limits, read-only): a versioned "
    "snapshot of its capabilities that auth and governance obey.",
)


class CustomerLinked(EventData):
    customer_id: str


class CheckoutStarted(EventData):
    checkout_id: str
    plan: str
    trial: bool


class SubscriptionChanged(EventData):
    """A subscription as last read from Stripe, when its plan, status or cancellation changed."""

    subscription_id: str
    plan: str | None
    status: str
    previous_status: str | None
    previous_plan: str | None
    cancel_at_period_end: bool
    current_period_end: str | None
    collection_method: str


class SubscriptionRequested(EventData):
    """Spectral asked Stripe for a change (the webhook that follows brings the result)."""

    action: Literal["upgrade", "downgrade", "cancel_at_period_end", "resume", "contract"]
    subscription_id: str | None
    plan: str | None
    from_plan: str | None


class InvoiceChanged(EventData):
    invoice_id: str
    number: str | None
    status: str
    previous_status: str | None
    amount_due: int  # cents
    amount_remaining: int
    attempt_count: int
    due_date: str | None


class DisputeOpened(EventData):
    dispute_id: str
    charge_id: str | None
    amount: int
    reason: str | None


class UsageThresholdReached(EventData):
    metric: str
    used: int
    limit: int
    percent: int


class Reconciled(EventData):
    since: str
    events_seen: int
    organizations_checked: int
    repaired: list[str]


CUSTOMER_LINKED = catalog.define(
    "billing.customer.linked", CustomerLinked, "A Stripe customer was created for an organization."
)
CHECKOUT_STARTED = catalog.define(
    "billing.checkout.started",
    CheckoutStarted,
    "An admin opened a Stripe Checkout session for a plan (with a trial where one is due).",
)
SUBSCRIPTION_REQUESTED = catalog.define(
    "billing.subscription.requested",
    SubscriptionRequested,
    "Spectral asked Stripe to change a subscription (upgrade, cancel at period end, a "
    "sales-led contract); Stripe's webhook brings the result.",
)
SUBSCRIPTION_UPDATED = catalog.define(
    "billing.subscription.updated",
    SubscriptionChanged,
    "A subscription's plan, status or cancellation changed, as read from Stripe.",
)
INVOICE_UPDATED = catalog.define(
    "billing.invoice.updated",
    InvoiceChanged,
    "An invoice appeared or changed status or payment attempts, as read from Stripe.",
)
DISPUTE_OPENED = catalog.define(
    "billing.dispute.opened",
    DisputeOpened,
    "A customer disputed a charge; the organization's admins were told.",
)
USAGE_THRESHOLD_REACHED = catalog.define(
    "billing.usage.threshold_reached",
    UsageThresholdReached,
    "An organization reached 80% of a plan limit; its admins were told (once per period).",
)
RECONCILED = catalog.define(
    "billing.reconciliation.completed",
    Reconciled,
    "The reconciliation compared Stripe's last 48 hours with billing's mirror and repaired drift.",
)
