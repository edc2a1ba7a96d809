"""What an organization may do, decided from its subscriptions, its invoices and the clock.

Pure: no I/O, no clock of its own. The same inputs give the same capabilities whatever order
Stripe's events arrived in, which is what makes the webhook handling converge (ADR 0041).

The rules (docs/billing.md#when-money-stops):

- The subscription that governs is the live one of the highest rank (trialing, active, past due,
  unpaid or paused); with none live, the one that ended last; with none at all, the organization
  has the allowance of an unsubscribed organization of its type.
- Trialing or active, and nothing overdue: the plan's capabilities, writable.
- Overdue (a charge failed on an open invoice, or a sent invoice passed its due date, or Stripe
  says past due or unpaid): 30 days' grace from the moment it became overdue, still writable;
  then read-only until it is paid.
- Paused (a trial ended without a payment method): read-only until a payment method is added.
- Canceled: read-only for 90 days from the end, then expired (still read-only; data retention
  applies).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from spectral_billing.plans.catalog import Allowance, Catalog, Plan, catalog
from spectral_shared.contracts.billing import BillingStatus, RequestQuota

LIVE = ("trialing", "active", "past_due", "unpaid", "paused")
OVERDUE = ("past_due", "unpaid")
# A first payment that never went through, or a checkout abandoned: not a subscription yet.
NOT_STARTED = ("incomplete", "incomplete_expired")


@dataclass(frozen=True)
class SubscriptionState:
    id: str
    plan: str | None  # the catalog plan its price is for (None: a price we do not know)
    status: str  # Stripe's subscription status
    created: datetime
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    trial_end: datetime | None = None
    cancel_at_period_end: bool = False
    ended_at: datetime | None = None
    collection_method: str = "charge_automatically"


@dataclass(frozen=True)
class InvoiceState:
    id: str
    subscription_id: str | None
    status: str  # draft | open | paid | void | uncollectible
    collection_method: str = "charge_automatically"
    number: str | None = None
    amount_remaining: int = 0  # cents
    attempt_count: int = 0
    finalized_at: datetime | None = None
    due_date: datetime | None = None
    hosted_invoice_url: str | None = None

    def overdue_since(self, now: datetime) -> datetime | None:
        """When this invoice became overdue, if it is (and still unpaid)."""
        if self.status != "open" or self.amount_remaining <= 0:
            return None
        if self.collection_method == "send_invoice":
            return self.due_date if self.due_date is not None and self.due_date <= now else None
        if self.attempt_count > 0:  # a charge was attempted and the invoice is still open
            return self.finalized_at or self.due_date
        return None


@dataclass(frozen=True)
class Account:
    organization_type: str | None  # health_system | vendor | platform (None: not heard of yet)
    subscriptions: tuple[SubscriptionState, ...] = ()
    invoices: tuple[InvoiceState, ...] = ()
    billing_url: str | None = None  # where an admin manages billing (the console's page)


@dataclass(frozen=True)
class Decision:
    """The capabilities (without their version), and when the clock alone will change them."""

    capabilities: dict[str, Any]
    status: BillingStatus
    subscription_id: str | None
    plan: str | None
    overdue_since: datetime | None = None
    read_only_since: datetime | None = None
    next_review_at: datetime | None = None
    notes: tuple[str, ...] = field(default=())


def governing(subscriptions: tuple[SubscriptionState, ...]) -> SubscriptionState | None:
    """The subscription whose plan and status decide: live first (highest rank, then newest)."""
    plans = catalog().plans
    live = [s for s in subscriptions if s.status in LIVE]
    if live:
        return max(
            live, key=lambda s: (plans[s.plan].rank if s.plan in plans else 0, s.created, s.id)
        )
    ended = [s for s in subscriptions if s.status == "canceled"]
    if ended:
        return max(ended, key=lambda s: (s.ended_at or s.created, s.id))
    return None


def decide(account: Account, now: datetime, plans: Catalog | None = None) -> Decision:
    plans = plans or catalog()
    rules = plans.money_stops
    subscription = governing(account.subscriptions)
    kind = account.organization_type or "health_system"
    unsubscribed = plans.unsubscribed.get(kind) or plans.unsubscribed["health_system"]  # type: ignore[call-overload]
    if subscription is None:
        return Decision(_capabilities(None, unsubscribed, "none"), "none", None, None)

    plan = plans.plan(subscription.plan or "")
    allowance: Allowance = plan or unsubscribed
    pay_url = account.billing_url

    if subscription.status == "canceled":
        ended = subscription.ended_at or subscription.created
        readable_until = ended + timedelta(days=rules.canceled_read_days)
        if now < readable_until:
            reason = (
                f"The subscription ended on {_day(ended)}. Everything stays readable and "
                f"exportable until {_day(readable_until)}; subscribe again to add or change "
                "anything."
            )
            return _read_only(
                plan,
                allowance,
                "canceled",
                subscription,
                reason,
                pay_url,
                ended,
                next_review_at=readable_until,
            )
        reason = (
            f"The subscription ended on {_day(ended)} and the {rules.canceled_read_days}-day "
            "read-only period is over; the data-retention rules apply. Subscribe again to resume."
        )
        return _read_only(plan, allowance, "expired", subscription, reason, pay_url, ended)

    if subscription.status == "paused":
        reason = (
            "The trial ended without a payment method. Add one in the billing portal to resume; "
            "everything stays readable meanwhile."
        )
        return _read_only(plan, allowance, "paused", subscription, reason, pay_url, None)

    overdue = _overdue(subscription, account.invoices, now)
    if overdue is not None:
        since, invoice = overdue
        grace_ends = since + timedelta(days=rules.grace_days)
        owed = _owed(invoice)
        if invoice is not None and invoice.hosted_invoice_url:
            pay_url = invoice.hosted_invoice_url
        if now < grace_ends:
            capabilities = _capabilities(plan, allowance, "past_due", pay_url=pay_url)
            return Decision(
                capabilities,
                "past_due",
                subscription.id,
                _plan_id(plan),
                overdue_since=since,
                next_review_at=grace_ends,
            )
        reason = (
            f"Payment is overdue since {_day(since)}{owed} and the {rules.grace_days}-day grace "
            f"period ended on {_day(grace_ends)}. Nothing new can be added until it is paid; "
            "everything stays readable and exportable, and telemetry keeps being checked."
        )
        return _read_only(
            plan,
            allowance,
            "read_only",
            subscription,
            reason,
            pay_url,
            grace_ends,
            overdue_since=since,
        )

    status: BillingStatus = "trialing" if subscription.status == "trialing" else "active"
    next_review = _next_due(subscription, account.invoices, now)
    return Decision(
        _capabilities(plan, allowance, status),
        status,
        subscription.id,
        _plan_id(plan),
        next_review_at=next_review,
    )


def _overdue(
    subscription: SubscriptionState, invoices: tuple[InvoiceState, ...], now: datetime
) -> tuple[datetime, InvoiceState | None] | None:
    mine = [i for i in invoices if i.subscription_id in (subscription.id, None)]
    late = [(since, i) for i in mine if (since := i.overdue_since(now)) is not None]
    if late:
        since, invoice = min(late, key=lambda pair: (pair[0], pair[1].id))
        return since, invoice
    if subscription.status in OVERDUE:
        # Stripe says it is overdue, and we hold no invoice that says since when: count from the
        # start of the period it failed to pay for.
        return subscription.current_period_start or subscription.created, None
    return None


def _next_due(
    subscription: SubscriptionState, invoices: tuple[InvoiceState, ...], now: datetime
) -> datetime | None:
    """The next moment the clock alone changes things: a sent invoice reaching its due date."""
    upcoming = [
        i.due_date
        for i in invoices
        if i.subscription_id in (subscription.id, None)
        and i.status == "open"
        and i.amount_remaining > 0
        and i.collection_method == "send_invoice"
        and i.due_date is not None
        and i.due_date > now
    ]
    return min(upcoming) if upcoming else None


def _read_only(
    plan: Plan | None,
    allowance: Allowance,
    status: BillingStatus,
    subscription: SubscriptionState,
    reason: str,
    pay_url: str | None,
    since: datetime | None,
    *,
    next_review_at: datetime | None = None,
    overdue_since: datetime | None = None,
) -> Decision:
    capabilities = _capabilities(
        plan, allowance, status, writable=False, reason=reason, pay_url=pay_url
    )
    return Decision(
        capabilities,
        status,
        subscription.id,
        _plan_id(plan),
        overdue_since=overdue_since,
        read_only_since=since,
        next_review_at=next_review_at,
    )


def _capabilities(
    plan: Plan | None,
    allowance: Allowance,
    status: BillingStatus,
    *,
    writable: bool = True,
    reason: str | None = None,
    pay_url: str | None = None,
) -> dict[str, Any]:
    per_hour = allowance.requests_per_hour
    return {
        "plan": _plan_id(plan),
        "plan_name": plan.name if plan else None,
        "status": status,
        "ai_system_limit": allowance.ai_system_limit,
        "request_quota": (
            RequestQuota(limit=per_hour, window_seconds=3600).model_dump() if per_hour else None
        ),
        "threshold_overrides": allowance.threshold_overrides,
        "control_toggles": allowance.control_toggles,
        "custom_controls": allowance.custom_controls,
        "reports": list(allowance.reports),
        "certification_tier": allowance.certification_tier,
        "writable": writable,
        "read_only_reason": reason,
        "pay_url": pay_url if (not writable or status == "past_due") else None,
    }


def _plan_id(plan: Plan | None) -> str | None:
    return plan.id if plan else None


def _owed(invoice: InvoiceState | None) -> str:
    if invoice is None or invoice.amount_remaining <= 0:
        return ""
    number = f" {invoice.number}" if invoice.number else ""
    return f" (invoice{number}, ${invoice.amount_remaining / 100:,.2f} due)"


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")
