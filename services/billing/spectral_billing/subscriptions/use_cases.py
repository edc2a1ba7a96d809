"""What an organization's admins (and, for sales-led contracts, an operator) ask of billing:
checkout, a plan change, cancelling at period end and undoing it, the customer portal, an
invoiced contract.

Each use case reads what it needs in a short transaction, calls Stripe with none open (with an
idempotency key), then records what it asked for. The result arrives as Stripe's state: the use
case reads the customer back at once (as the webhook would), so the answer already shows it, and a
lost webhook cannot leave billing behind.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from spectral_billing.accounts.models import Organization
from spectral_billing.accounts.use_cases import count_systems, counted_systems, locked_organization
from spectral_billing.db import bus
from spectral_billing.event_types import (
    CHECKOUT_STARTED,
    CUSTOMER_LINKED,
    SUBSCRIPTION_REQUESTED,
    CheckoutStarted,
    CustomerLinked,
    SubscriptionRequested,
)
from spectral_billing.plans.catalog import Plan, catalog
from spectral_billing.stripe_api.gateway import StripeGateway, StripeUnavailable
from spectral_billing.stripe_api.processing import request_sync, sync_customer
from spectral_billing.subscriptions.models import Checkout, Subscription
from spectral_billing.subscriptions.queries import live_subscription
from spectral_shared.bus import record_event
from spectral_shared.bus.envelope import Actor
from spectral_shared.component import Runtime
from spectral_shared.db import utcnow
from spectral_shared.errors import Conflict, NotFound, RuleBroken
from spectral_shared.identity import Identity
from spectral_shared.logging import get_logger

log = get_logger(__name__)


class PlanDoesNotFit(Conflict):
    """A downgrade below what the organization keeps (409, with what to remove)."""

    title = "The organization keeps more than that plan allows"
    slug = "downgrade-refused"


@dataclass(frozen=True)
class CheckoutOpened:
    id: str
    url: str
    plan: str
    trial_days: int | None


def _plan(plan_id: str, organization: Organization) -> Plan:
    plan = catalog().plan(plan_id)
    if plan is None:
        names = ", ".join(catalog().plans)
        raise RuleBroken("plan", f"No plan '{plan_id}'. Plans: {names}.")
    kind = organization.type or "health_system"
    if kind == "platform":
        raise Conflict("Spectral's own organization has no plan.", slug="no-plan-for-platform")
    if plan.audience != kind:
        offered = ", ".join(p.id for p in catalog().for_audience(kind))
        raise RuleBroken(
            "plan",
            f"'{plan.id}' is a plan for {plan.audience.replace('_', ' ')}s; "
            f"your organization's plans are: {offered}.",
        )
    return plan


def _customer(runtime: Runtime, gateway: StripeGateway, organization_id: str) -> str:
    """The organization's Stripe customer, created (once) if it has none."""
    with runtime.database.session() as session:
        organization = locked_organization(session, organization_id)
        if organization.stripe_customer_id and not organization.customer_deleted:
            return organization.stripe_customer_id
        name = organization.name
        deleted = organization.customer_deleted
    # After Stripe deleted the last customer, a new one (a new idempotency key).
    customer_id = gateway.create_customer(organization_id, name, None, fresh=deleted)
    with runtime.database.session() as session:
        organization = locked_organization(session, organization_id)
        if organization.stripe_customer_id == customer_id and not organization.customer_deleted:
            return customer_id
        organization.stripe_customer_id = customer_id
        organization.customer_deleted = False
        record_event(
            session,
            bus,
            CUSTOMER_LINKED,
            CustomerLinked(customer_id=customer_id),
            organization_id=organization_id,
            actor=Actor.system("billing"),
        )
    return customer_id


def _read_back(
    runtime: Runtime, gateway: StripeGateway, organization_id: str, customer: str
) -> None:
    try:
        if sync_customer(runtime, gateway, customer) is None:
            request_sync(runtime, organization_id)
    except StripeUnavailable:
        request_sync(runtime, organization_id)


def _asked(
    runtime: Runtime,
    gateway: StripeGateway,
    organization_id: str,
    customer: str,
    asked: SubscriptionRequested,
    actor: Actor,
) -> Subscription:
    """After Stripe took a change: record what was asked, read the customer back at once, and
    answer the subscription as Stripe now has it."""
    with runtime.database.session() as session:
        record_event(
            session,
            bus,
            SUBSCRIPTION_REQUESTED,
            asked,
            organization_id=organization_id,
            actor=actor,
        )
    _read_back(runtime, gateway, organization_id, customer)
    with runtime.database.session() as session:
        row = session.get(Subscription, asked.subscription_id)
        if row is None:
            raise StripeUnavailable(
                "Stripe accepted the change but could not be read back yet; it will appear "
                "within a minute."
            )
        session.expunge(row)
        return row


def open_checkout(
    runtime: Runtime,
    gateway: StripeGateway,
    identity: Identity,
    /,
    *,
    plan_id: str,
    success_url: str,
    cancel_url: str,
    request_key: str | None = None,
) -> CheckoutOpened:
    """A Stripe Checkout session for ``plan``: a health system's first subscription starts with
    the 30-day trial. Refused (409) while a subscription is live: change its plan instead."""
    organization_id = identity.organization_id
    with runtime.database.session() as session:
        organization = locked_organization(session, organization_id)
        plan = _plan(plan_id, organization)
        live = live_subscription(session, organization_id)
        if live is not None:
            raise Conflict(
                f"The organization already has a {live.status} subscription ({live.plan}); "
                "change its plan with POST /api/v1/billing/subscription/plan.",
                slug="already-subscribed",
            )
        trial = catalog().trial
        trial_days = (
            trial.days if plan.audience == trial.audience and not organization.trial_used else None
        )
    customer = _customer(runtime, gateway, organization_id)
    key = f"spectral-checkout-{organization_id}-{plan.id}-{request_key or uuid.uuid4()}"
    session_obj = gateway.create_checkout(
        organization_id=organization_id,
        customer_id=customer,
        plan=plan,
        trial_days=trial_days,
        success_url=success_url,
        cancel_url=cancel_url,
        key=key,
    )
    opened = CheckoutOpened(str(session_obj["id"]), str(session_obj["url"]), plan.id, trial_days)
    with runtime.database.session() as session:
        if session.get(Checkout, opened.id) is None:
            session.add(
                Checkout(
                    id=opened.id,
                    organization_id=organization_id,
                    plan=plan.id,
                    trial=bool(trial_days),
                    url=opened.url,
                    status=str(session_obj.get("status") or "open"),
                    created_by=identity.subject_id if identity.subject_type == "user" else None,
                    created_at=utcnow(),
                )
            )
            session.flush()
            record_event(
                session,
                bus,
                CHECKOUT_STARTED,
                CheckoutStarted(checkout_id=opened.id, plan=plan.id, trial=bool(trial_days)),
                organization_id=organization_id,
                actor=identity.actor,
            )
    return opened


def _downgrade_fits(session: Session, organization_id: str, plan: Plan) -> None:
    limit = plan.ai_system_limit
    if limit is None:
        return
    kept = count_systems(session, organization_id)
    if kept <= limit:
        return
    systems = counted_systems(session, organization_id)
    raise PlanDoesNotFit(
        f"The {plan.name} plan allows {limit} AI systems and the organization keeps {kept}. "
        f"Delete or deprecate {kept - limit} of them first, then change the plan.",
        plan=plan.id,
        limit=limit,
        ai_systems=kept,
        remove=kept - limit,
        counted=[{"id": s.id, "name": s.name} for s in systems[:100]],
    )


def change_plan(
    runtime: Runtime,
    gateway: StripeGateway,
    identity: Identity | None,
    /,
    *,
    organization_id: str,
    plan_id: str,
    actor: Actor,
) -> Subscription:
    """Move the live subscription to ``plan``: an upgrade is invoiced now for the rest of the
    period; a downgrade is refused (409) while the organization keeps more AI systems than the
    lower plan allows."""
    with runtime.database.session() as session:
        organization = locked_organization(session, organization_id)
        plan = _plan(plan_id, organization)
        live = live_subscription(session, organization_id)
        if live is None:
            raise Conflict(
                "The organization has no subscription to change; start one with "
                "POST /api/v1/billing/checkout.",
                slug="no-subscription",
            )
        if live.status == "paused":
            raise Conflict(
                "The subscription is paused: add a payment method in the billing portal first.",
                slug="subscription-paused",
            )
        if live.plan == plan.id:
            raise Conflict(f"The subscription is already on {plan.name}.", slug="same-plan")
        current = catalog().plan(live.plan or "")
        upgrade = current is None or plan.rank > current.rank
        if not upgrade:
            _downgrade_fits(session, organization_id, plan)
        if live.item_id is None:
            raise Conflict("The subscription has no item to change.", slug="no-subscription-item")
        subscription_id, item_id, from_plan, customer = (
            live.id,
            live.item_id,
            live.plan,
            live.customer_id,
        )
    gateway.change_price(
        subscription_id,
        item_id,
        plan,
        upgrade=upgrade,
        key=f"spectral-plan-{subscription_id}-{uuid.uuid4()}",
    )
    return _asked(
        runtime,
        gateway,
        organization_id,
        customer,
        SubscriptionRequested(
            action="upgrade" if upgrade else "downgrade",
            subscription_id=subscription_id,
            plan=plan.id,
            from_plan=from_plan,
        ),
        actor,
    )


def set_cancellation(
    runtime: Runtime, gateway: StripeGateway, identity: Identity, /, *, cancel: bool
) -> Subscription:
    """Cancel at the end of the period (``cancel``), or keep the subscription after all."""
    organization_id = identity.organization_id
    with runtime.database.session() as session:
        live = live_subscription(session, organization_id)
        if live is None:
            raise NotFound("subscription")
        if live.cancel_at_period_end == cancel:
            session.expunge(live)
            return live
        subscription_id, customer = live.id, live.customer_id
    gateway.set_cancel_at_period_end(
        subscription_id, cancel, key=f"spectral-cancel-{subscription_id}-{uuid.uuid4()}"
    )
    return _asked(
        runtime,
        gateway,
        organization_id,
        customer,
        SubscriptionRequested(
            action="cancel_at_period_end" if cancel else "resume",
            subscription_id=subscription_id,
            plan=None,
            from_plan=None,
        ),
        identity.actor,
    )


def portal_link(
    runtime: Runtime, gateway: StripeGateway, identity: Identity, /, *, return_url: str
) -> str:
    """A Stripe Customer Portal link (payment methods, invoices) for the organization."""
    customer = _customer(runtime, gateway, identity.organization_id)
    return gateway.portal_url(
        customer, return_url, key=f"spectral-portal-{identity.organization_id}-{uuid.uuid4()}"
    )


def sign_contract(
    runtime: Runtime, gateway: StripeGateway, /, *, organization_id: str, plan_id: str, actor: Actor
) -> Subscription:
    """A sales-led contract: the plan invoiced yearly (Stripe sends the invoice, 30 days to pay).
    An organization with a live subscription has its plan changed instead, under the same rules."""
    with runtime.database.session() as session:
        organization = locked_organization(session, organization_id)
        plan = _plan(plan_id, organization)
        live = live_subscription(session, organization_id)
    if live is not None:
        return change_plan(
            runtime, gateway, None, organization_id=organization_id, plan_id=plan_id, actor=actor
        )
    customer = _customer(runtime, gateway, organization_id)
    subscription_id = gateway.create_invoiced_subscription(
        organization_id=organization_id,
        customer_id=customer,
        plan=plan,
        days_until_due=catalog().money_stops.invoice_days_until_due,
        key=f"spectral-contract-{organization_id}-{plan.id}-{uuid.uuid4()}",
    )
    return _asked(
        runtime,
        gateway,
        organization_id,
        customer,
        SubscriptionRequested(
            action="contract", subscription_id=subscription_id, plan=plan.id, from_plan=None
        ),
        actor,
    )
