"""Plans, subscriptions, checkout and invoices: request and response shapes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from spectral_billing.plans.catalog import catalog
from spectral_billing.web import Request
from spectral_shared.contracts.billing import Capabilities
from spectral_shared.web.pagination import PageQuery

# The catalog's plans, by id (the document lists them; anything else is a 422).
PlanId = StrEnum("PlanId", {plan: plan for plan in catalog().plans})  # type: ignore[misc]


class PlanOut(BaseModel):
    id: str
    name: str
    audience: str
    price_cents: int  # a year, USD
    currency: str
    interval: str
    ai_system_limit: int | None
    requests_per_hour: int | None
    threshold_overrides: bool
    control_toggles: bool
    custom_controls: int
    reports: list[str]
    certification_tier: str | None
    trial_days: int | None


class PlanList(BaseModel):
    data: list[PlanOut]


class PlanChoice(Request):
    plan: PlanId


class CheckoutOut(BaseModel):
    id: str
    url: str
    plan: str
    trial_days: int | None
    test_mode: bool  # the Stripe test double: no money moves


class PortalOut(BaseModel):
    url: str
    test_mode: bool


class SubscriptionOut(BaseModel):
    """Where the organization stands: its plan, status, dates and what it may do."""

    organization_id: str
    status: str
    plan: str | None
    plan_name: str | None
    subscription_id: str | None
    collection_method: str | None
    trial_ends_at: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    overdue_since: datetime | None
    grace_ends_at: datetime | None
    read_only_since: datetime | None
    writable: bool
    read_only_reason: str | None
    pay_url: str | None
    trial_available: bool
    capabilities: Capabilities | None


class InvoiceOut(BaseModel):
    id: str
    number: str | None
    status: str
    collection_method: str
    billing_reason: str | None
    currency: str
    subtotal: int
    total: int
    amount_due: int
    amount_paid: int
    amount_remaining: int
    attempt_count: int
    created: datetime
    due_date: datetime | None
    paid_at: datetime | None
    period_start: datetime | None
    period_end: datetime | None
    hosted_invoice_url: str | None
    invoice_pdf: str | None


class InvoicePage(BaseModel):
    data: list[InvoiceOut]
    next_cursor: str | None


class InvoiceQuery(PageQuery):
    pass
