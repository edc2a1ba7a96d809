"""HTTP API: plans, the organization's subscription, checkout, plan changes, cancellation, the
customer portal and invoices. Thin views over the subscription use cases."""

from __future__ import annotations

from flask import Blueprint, Response, request
from sqlalchemy import select

from spectral_billing.plans.catalog import catalog
from spectral_billing.subscriptions import use_cases
from spectral_billing.subscriptions.models import Invoice
from spectral_billing.subscriptions.queries import invoice_out, plan_out, standing
from spectral_billing.subscriptions.schemas import (
    CheckoutOut,
    InvoicePage,
    InvoiceQuery,
    PlanChoice,
    PlanList,
    PortalOut,
    SubscriptionOut,
)
from spectral_billing.web import BILLING, api, stripe_gateway
from spectral_shared.identity import current_identity, requires
from spectral_shared.web.idempotency import idempotent
from spectral_shared.web.pagination import Keyset
from spectral_shared.web.responses import current_runtime, json_response
from spectral_shared.web.validation import parse_json_body, parse_query

bp = Blueprint("subscriptions", __name__)
SUBSCRIPTION = f"{BILLING}/subscription"


def _standing() -> tuple[Response, int]:
    with current_runtime().database.read_session() as session:
        return json_response(standing(session, current_identity().organization_id))


@bp.get(f"{BILLING}/plans")
@api.operation("The plans and what each allows", responses={200: PlanList})
@requires("organization:read")
def list_plans() -> tuple[Response, int]:
    plans = sorted(catalog().plans.values(), key=lambda p: (p.audience, p.rank))
    return json_response(PlanList(data=[plan_out(p.id) for p in plans]))


@bp.get(SUBSCRIPTION)
@api.operation(
    "The organization's plan, status, trial and renewal, and what it may do",
    responses={200: SubscriptionOut},
)
@requires("billing:read")
def get_subscription() -> tuple[Response, int]:
    return _standing()


@bp.post(f"{BILLING}/checkout")
@api.operation(
    "Open a Stripe Checkout session for a plan (a health system's first one starts a 30-day trial)",
    request=PlanChoice,
    responses={
        201: CheckoutOut,
        409: "A subscription is live already (change its plan instead)",
        422: "No such plan, or a plan for another kind of organization",
        503: "Stripe could not be reached; nothing was changed",
    },
)
@requires("billing:manage")
@idempotent("billing.checkout")
def open_checkout() -> tuple[Response, int]:
    body = parse_json_body(PlanChoice)
    runtime = current_runtime()
    gateway = stripe_gateway(runtime)
    page = f"{runtime.settings.base_url.rstrip('/')}{SUBSCRIPTION}"
    opened = use_cases.open_checkout(
        runtime,
        gateway,
        current_identity(),
        plan_id=str(body.plan),
        success_url=f"{page}?checkout={{CHECKOUT_SESSION_ID}}",
        cancel_url=f"{page}?checkout=canceled",
        request_key=request.headers.get("Idempotency-Key"),
    )
    return json_response(
        CheckoutOut(
            id=opened.id,
            url=opened.url,
            plan=opened.plan,
            trial_days=opened.trial_days,
            test_mode=gateway.is_double,
        ),
        201,
    )


@bp.post(f"{SUBSCRIPTION}/plan")
@api.operation(
    "Change the plan: an upgrade is invoiced now, prorated; a downgrade must fit the inventory",
    request=PlanChoice,
    responses={
        200: SubscriptionOut,
        409: "No live subscription, the same plan, or a downgrade below the AI systems kept "
        "(downgrade-refused, with what to remove)",
        422: "No such plan, or a plan for another kind of organization",
        503: "Stripe could not be reached; nothing was changed",
    },
)
@requires("billing:manage")
def change_plan() -> tuple[Response, int]:
    body = parse_json_body(PlanChoice)
    identity = current_identity()
    runtime = current_runtime()
    use_cases.change_plan(
        runtime,
        stripe_gateway(runtime),
        identity,
        organization_id=identity.organization_id,
        plan_id=str(body.plan),
        actor=identity.actor,
    )
    return _standing()


@bp.post(f"{SUBSCRIPTION}/cancel")
@api.operation(
    "Cancel at the end of the current period (everything stays readable for 90 days after)",
    responses={
        200: SubscriptionOut,
        404: "No live subscription",
        503: "Stripe could not be reached; nothing was changed",
    },
)
@requires("billing:manage")
def cancel() -> tuple[Response, int]:
    runtime = current_runtime()
    use_cases.set_cancellation(runtime, stripe_gateway(runtime), current_identity(), cancel=True)
    return _standing()


@bp.post(f"{SUBSCRIPTION}/resume")
@api.operation(
    "Keep the subscription after all (undo a cancellation at period end)",
    responses={
        200: SubscriptionOut,
        404: "No live subscription",
        503: "Stripe could not be reached; nothing was changed",
    },
)
@requires("billing:manage")
def resume() -> tuple[Response, int]:
    runtime = current_runtime()
    use_cases.set_cancellation(runtime, stripe_gateway(runtime), current_identity(), cancel=False)
    return _standing()


@bp.post(f"{BILLING}/portal")
@api.operation(
    "A Stripe Customer Portal link: payment methods and invoices",
    responses={201: PortalOut, 503: "Stripe could not be reached"},
)
@requires("billing:manage")
def portal() -> tuple[Response, int]:
    runtime = current_runtime()
    gateway = stripe_gateway(runtime)
    url = use_cases.portal_link(
        runtime,
        gateway,
        current_identity(),
        return_url=f"{runtime.settings.base_url.rstrip('/')}{SUBSCRIPTION}",
    )
    return json_response(PortalOut(url=url, test_mode=gateway.is_double), 201)


@bp.get(f"{BILLING}/invoices")
@api.operation(
    "The organization's invoices, newest first", query=InvoiceQuery, responses={200: InvoicePage}
)
@requires("billing:read")
def list_invoices() -> tuple[Response, int]:
    query = parse_query(InvoiceQuery)
    keyset: Keyset[Invoice] = Keyset((Invoice.created, Invoice.id), descending=True)
    statement = select(Invoice).where(Invoice.organization_id == current_identity().organization_id)
    with current_runtime().database.read_session() as session:
        rows, cursor = keyset.page(session.scalars(keyset.apply(statement, query)).all(), query)
        return json_response(InvoicePage(data=[invoice_out(r) for r in rows], next_cursor=cursor))
