"""HTTP API for platform staff: every organization's plan, status, renewal and past-due invoices,
and the annual recurring revenue."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response
from pydantic import BaseModel
from sqlalchemy import select

from spectral_billing.accounts.models import Organization
from spectral_billing.entitlements.models import Entitlement
from spectral_billing.plans.catalog import catalog
from spectral_billing.subscriptions.models import Invoice, Subscription
from spectral_billing.web import BILLING, api
from spectral_shared.db import utcnow
from spectral_shared.identity import requires
from spectral_shared.web.pagination import Keyset, PageQuery
from spectral_shared.web.responses import current_runtime, json_response
from spectral_shared.web.validation import parse_query

bp = Blueprint("accounts", __name__)

# Subscriptions that are revenue: paying, or owing (trials are not revenue yet).
REVENUE = ("active", "past_due", "unpaid")


class PastDueInvoice(BaseModel):
    id: str
    number: str | None
    amount_remaining: int
    due_date: datetime | None
    hosted_invoice_url: str | None


class AccountOut(BaseModel):
    organization_id: str
    name: str | None
    type: str | None
    plan: str | None
    status: str
    writable: bool
    subscription_status: str | None
    renews_at: datetime | None
    cancel_at_period_end: bool
    annual_value_cents: int
    past_due_invoices: list[PastDueInvoice]


class AccountPage(BaseModel):
    data: list[AccountOut]
    next_cursor: str | None
    annual_recurring_revenue_cents: int  # over every organization, not only this page
    by_status: dict[str, int]


@bp.get(f"{BILLING}/accounts")
@api.operation(
    "Every organization's plan, status, renewal and past-due invoices, and the annual recurring "
    "revenue (platform staff)",
    query=PageQuery,
    responses={200: AccountPage},
)
@requires("billing:platform")
def list_accounts() -> tuple[Response, int]:
    query = parse_query(PageQuery)
    plans = catalog().plans
    now = utcnow()
    keyset: Keyset[Organization] = Keyset((Organization.id,))
    with current_runtime().database.read_session() as session:
        organizations, cursor = keyset.page(
            session.scalars(keyset.apply(select(Organization), query)).all(), query
        )
        ids = [o.id for o in organizations]
        entitlements = {
            e.organization_id: e
            for e in session.scalars(
                select(Entitlement).where(Entitlement.organization_id.in_(ids))
            )
        }
        subscriptions = {
            s.id: s
            for s in session.scalars(
                select(Subscription).where(Subscription.organization_id.in_(ids))
            )
        }
        overdue: dict[str, list[PastDueInvoice]] = {}
        for invoice in session.scalars(
            select(Invoice)
            .where(
                Invoice.organization_id.in_(ids),
                Invoice.status == "open",
                Invoice.amount_remaining > 0,
            )
            .order_by(Invoice.due_date)
        ):
            late = invoice.due_date is not None and invoice.due_date <= now
            if late or invoice.attempt_count > 0:
                overdue.setdefault(invoice.organization_id, []).append(
                    PastDueInvoice(
                        id=invoice.id,
                        number=invoice.number,
                        amount_remaining=invoice.amount_remaining,
                        due_date=invoice.due_date,
                        hosted_invoice_url=invoice.hosted_invoice_url,
                    )
                )
        revenue_rows = session.execute(
            select(Subscription.plan).where(Subscription.status.in_(REVENUE))
        ).all()
        statuses = session.execute(select(Entitlement.status)).all()
    data = []
    for organization in organizations:
        entitlement = entitlements.get(organization.id)
        subscription = (
            subscriptions.get(entitlement.subscription_id)
            if entitlement and entitlement.subscription_id
            else None
        )
        paying = subscription is not None and subscription.status in REVENUE
        data.append(
            AccountOut(
                organization_id=organization.id,
                name=organization.name,
                type=organization.type,
                plan=subscription.plan if subscription else None,
                status=entitlement.status if entitlement else "none",
                writable=bool(entitlement.capabilities.get("writable", True))
                if entitlement
                else True,
                subscription_status=subscription.status if subscription else None,
                renews_at=(
                    subscription.current_period_end
                    if subscription and not subscription.cancel_at_period_end
                    else None
                ),
                cancel_at_period_end=bool(subscription and subscription.cancel_at_period_end),
                annual_value_cents=(
                    plans[subscription.plan].price_cents
                    if paying and subscription and subscription.plan in plans
                    else 0
                ),
                past_due_invoices=overdue.get(organization.id, []),
            )
        )
    by_status: dict[str, int] = {}
    for (status,) in statuses:
        by_status[status] = by_status.get(status, 0) + 1
    return json_response(
        AccountPage(
            data=data,
            next_cursor=cursor,
            annual_recurring_revenue_cents=sum(
                plans[p].price_cents for (p,) in revenue_rows if p in plans
            ),
            by_status=by_status,
        )
    )
