"""Reading where an organization stands with billing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from spectral_billing.accounts.models import Organization
from spectral_billing.entitlements.models import Entitlement
from spectral_billing.entitlements.use_cases import snapshot
from spectral_billing.plans.catalog import catalog
from spectral_billing.subscriptions.models import Invoice, Subscription
from spectral_billing.subscriptions.schemas import InvoiceOut, PlanOut, SubscriptionOut


def live_subscription(session: Session, organization_id: str) -> Subscription | None:
    """The organization's subscription that is not over (the one a plan change applies to)."""
    rows = session.scalars(
        select(Subscription).where(
            Subscription.organization_id == organization_id,
            Subscription.status.in_(("trialing", "active", "past_due", "unpaid", "paused")),
        )
    ).all()
    return max(rows, key=lambda s: (s.created, s.id)) if rows else None


def plan_out(plan_id: str) -> PlanOut:
    plan = catalog().plans[plan_id]
    trial = catalog().trial
    return PlanOut(
        id=plan.id,
        name=plan.name,
        audience=plan.audience,
        price_cents=plan.price_cents,
        currency="usd",
        interval="year",
        ai_system_limit=plan.ai_system_limit,
        requests_per_hour=plan.requests_per_hour,
        threshold_overrides=plan.threshold_overrides,
        control_toggles=plan.control_toggles,
        custom_controls=plan.custom_controls,
        reports=list(plan.reports),
        certification_tier=plan.certification_tier,
        trial_days=trial.days if trial.audience == plan.audience else None,
    )


def standing(session: Session, organization_id: str) -> SubscriptionOut:
    organization = session.get(Organization, organization_id)
    entitlement = session.get(Entitlement, organization_id)
    subscription: Subscription | None = None
    if entitlement is not None and entitlement.subscription_id:
        subscription = session.get(Subscription, entitlement.subscription_id)
    if subscription is None:
        subscription = live_subscription(session, organization_id)
    capabilities = snapshot(entitlement) if entitlement is not None else None
    grace = catalog().money_stops.grace_days
    overdue = entitlement.overdue_since if entitlement else None
    kind = (organization.type if organization else None) or "health_system"
    return SubscriptionOut(
        organization_id=organization_id,
        status=entitlement.status if entitlement else "none",
        plan=subscription.plan if subscription else None,
        plan_name=capabilities.plan_name if capabilities else None,
        subscription_id=subscription.id if subscription else None,
        collection_method=subscription.collection_method if subscription else None,
        trial_ends_at=subscription.trial_end
        if subscription and subscription.status == "trialing"
        else None,
        current_period_end=subscription.current_period_end if subscription else None,
        cancel_at_period_end=bool(subscription and subscription.cancel_at_period_end),
        overdue_since=overdue,
        grace_ends_at=overdue + timedelta(days=grace) if overdue else None,
        read_only_since=entitlement.read_only_since if entitlement else None,
        writable=capabilities.writable if capabilities else True,
        read_only_reason=capabilities.read_only_reason if capabilities else None,
        pay_url=capabilities.pay_url if capabilities else None,
        trial_available=(
            kind == catalog().trial.audience and not (organization and organization.trial_used)
        ),
        capabilities=capabilities,
    )


def invoice_out(row: Invoice) -> InvoiceOut:
    return InvoiceOut(
        id=row.id,
        number=row.number,
        status=row.status,
        collection_method=row.collection_method,
        billing_reason=row.billing_reason,
        currency=row.currency,
        subtotal=row.subtotal,
        total=row.total,
        amount_due=row.amount_due,
        amount_paid=row.amount_paid,
        amount_remaining=row.amount_remaining,
        attempt_count=row.attempt_count,
        created=row.created,
        due_date=row.due_date,
        paid_at=row.paid_at,
        period_start=row.period_start,
        period_end=row.period_end,
        hosted_invoice_url=row.hosted_invoice_url,
        invoice_pdf=row.invoice_pdf,
    )
