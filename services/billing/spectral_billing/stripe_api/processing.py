"""Handling stored Stripe events: one customer at a time, from Stripe's current state.

For each customer with events waiting, the worker takes a lease on the organization's row (a short
transaction), reads the customer, its subscriptions and invoices from Stripe with no transaction
open, then in one transaction mirrors what it read, acts on the waiting events (a notice, a
checkout marked complete), decides the capabilities again and marks those events handled. Which
order the events arrived in does not matter: every handling ends in Stripe's state as read, and
the capabilities are a pure function of that state and the clock (ADR 0041). A worker that dies
mid-way leaves a lease that expires; its events are handled again, harmlessly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from spectral_billing.accounts.models import Organization
from spectral_billing.accounts.notices import tell_admins_once
from spectral_billing.db import bus
from spectral_billing.entitlements.use_cases import decide_again
from spectral_billing.event_types import (
    CUSTOMER_LINKED,
    DISPUTE_OPENED,
    CustomerLinked,
    DisputeOpened,
)
from spectral_billing.stripe_api.gateway import CustomerState, StripeGateway
from spectral_billing.stripe_api.models import StripeEvent
from spectral_billing.subscriptions.mirror import mirror_customer
from spectral_billing.subscriptions.models import Checkout
from spectral_shared.bus import record_event
from spectral_shared.bus.envelope import Actor
from spectral_shared.component import Runtime
from spectral_shared.db import utcnow
from spectral_shared.logging import failure_text, get_logger

log = get_logger(__name__)

LEASE = timedelta(seconds=30)
ACTOR = Actor.system("billing.stripe")


@dataclass
class Synced:
    organization_id: str
    customer_id: str
    events: int
    changes: list[str] = field(default_factory=list)
    version: int | None = None


def handle_pending(runtime: Runtime, gateway: StripeGateway, *, limit: int = 50) -> list[Synced]:
    """One turn of the worker: disputes' customers found, then each customer with events
    waiting (or an organization asking for a refresh) synced. Returns what was synced."""
    with runtime.database.session() as session:
        waiting = session.execute(
            select(StripeEvent.customer_id, StripeEvent.type)
            .where(StripeEvent.processed_at.is_(None))
            .order_by(StripeEvent.received_at)
            .limit(limit * 20)
        ).all()
        requested = session.scalars(
            select(Organization.stripe_customer_id)
            .where(
                Organization.sync_requested_at.is_not(None),
                Organization.stripe_customer_id.is_not(None),
            )
            .limit(limit)
        ).all()
    if any(c is None and t == "charge.dispute.created" for c, t in waiting):
        _resolve_disputes(runtime, gateway)
    customers = [c for c, _ in waiting if c]
    done: list[Synced] = []
    for customer in list(dict.fromkeys([*customers, *(c for c in requested if c)]))[:limit]:
        try:
            synced = sync_customer(runtime, gateway, customer)
        except Exception as exc:  # one customer's failure must not stop the others
            _note_failure(runtime, customer, exc)
            log.warning("billing.sync_failed", customer_id=customer, error=failure_text(exc))
            continue
        if synced is not None:
            done.append(synced)
    return done


def sync_customer(
    runtime: Runtime, gateway: StripeGateway, customer_id: str, *, actor: Actor = ACTOR
) -> Synced | None:
    """Bring one customer's mirror and capabilities to Stripe's current state. None when another
    worker holds the customer (it will see the same events) or the customer is not Spectral's."""
    token = str(uuid.uuid4())
    claimed_at = utcnow()
    with runtime.database.session() as session:
        organization = session.scalars(
            select(Organization)
            .where(Organization.stripe_customer_id == customer_id)
            .with_for_update()
        ).first()
        if organization is not None:
            lease = organization.sync_lease_until
            if lease is not None and lease > claimed_at and organization.sync_lease_token:
                return None
            organization.sync_lease_until = claimed_at + LEASE
            organization.sync_lease_token = token
            organization_id = organization.id
            # What the waiting events ask beyond the mirror: checkouts and disputes to read.
            waiting = session.execute(
                select(StripeEvent.id, StripeEvent.type, StripeEvent.object_id).where(
                    StripeEvent.customer_id == customer_id,
                    StripeEvent.processed_at.is_(None),
                    StripeEvent.received_at <= claimed_at,
                )
            ).all()
    if organization is None:
        linked = _link(runtime, gateway, customer_id)
        return None if linked is None else sync_customer(runtime, gateway, customer_id, actor=actor)

    try:  # no transaction open from here to the mirror
        state = gateway.customer_state(customer_id)
        clock = gateway.now()
        checkouts = {
            o: str(gateway.checkout_session(o).get("status") or "open")
            for _, t, o in waiting
            if t == "checkout.session.completed" and o
        }
        disputes = {
            o: gateway.dispute(o) for _, t, o in waiting if t == "charge.dispute.created" and o
        }
    except BaseException:
        _release(runtime, organization_id, token)
        raise

    with runtime.database.session() as session:
        organization = session.get(Organization, organization_id, with_for_update=True)
        if organization is None or organization.sync_lease_token != token:
            return None  # the lease ran out and another worker took over
        now = utcnow()
        changes = mirror_customer(
            session, runtime.cipher, organization, state, actor=actor, now=now
        )
        for _, event_type, object_id in waiting:
            _act_on(session, runtime, organization, event_type, object_id, state, disputes)
        # The events this read answers; any that arrived since wait for the next turn.
        handled = cast(
            CursorResult[Any],
            session.execute(
                update(StripeEvent)
                .where(
                    StripeEvent.id.in_([event_id for event_id, _, _ in waiting]),
                    StripeEvent.processed_at.is_(None),
                )
                .values(processed_at=now, outcome="handled", attempts=StripeEvent.attempts + 1)
            ),
        )
        for checkout_id, status in checkouts.items():
            row = session.get(Checkout, checkout_id)
            if row is not None and row.organization_id == organization.id:
                row.status = status
        entitlement = decide_again(
            session, organization, base_url=runtime.settings.base_url, actor=actor, now=clock
        )
        organization.sync_lease_until = None
        organization.sync_lease_token = None
        organization.synced_at = now
        if (
            organization.sync_requested_at is not None
            and organization.sync_requested_at <= claimed_at
        ):
            organization.sync_requested_at = None
        return Synced(
            organization_id=organization.id,
            customer_id=customer_id,
            events=int(handled.rowcount or 0),
            changes=changes.describe(),
            version=entitlement.version,
        )


def request_sync(runtime: Runtime, organization_id: str) -> None:
    """Ask the worker to read the organization's customer again (after a change Spectral asked
    Stripe for), so a lost webhook cannot leave the mirror behind."""
    with runtime.database.session() as session:
        session.execute(
            update(Organization)
            .where(Organization.id == organization_id)
            .values(sync_requested_at=utcnow())
        )


def _link(runtime: Runtime, gateway: StripeGateway, customer_id: str) -> str | None:
    """The organization of a customer billing has not linked, linked now; None when Stripe's
    metadata names none of ours (its events are finished as ``unknown_customer``)."""
    # A customer billing has not linked (made elsewhere, or its link was lost): Stripe's metadata
    # names the organization when Spectral created it.
    state: CustomerState = gateway.customer_state(customer_id)
    with runtime.database.session() as session:
        if state.organization_id is None or not _is_uuid(state.organization_id):
            _finish_unlinked(session, customer_id)
            return None
        organization = session.get(Organization, state.organization_id, with_for_update=True)
        if organization is None:
            organization = Organization(id=state.organization_id, updated_at=utcnow())
            session.add(organization)
        if organization.stripe_customer_id not in (None, customer_id):
            _finish_unlinked(session, customer_id)  # the organization has another customer
            return None
        if organization.stripe_customer_id is None:
            organization.stripe_customer_id = customer_id
            session.flush()
            record_event(
                session,
                bus,
                CUSTOMER_LINKED,
                CustomerLinked(customer_id=customer_id),
                organization_id=organization.id,
                actor=ACTOR,
            )
        return organization.id


def _finish_unlinked(session: Session, customer_id: str) -> None:
    session.execute(
        update(StripeEvent)
        .where(StripeEvent.customer_id == customer_id, StripeEvent.processed_at.is_(None))
        .values(processed_at=utcnow(), outcome="unknown_customer")
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _act_on(
    session: Session,
    runtime: Runtime,
    organization: Organization,
    event_type: str,
    object_id: str | None,
    state: CustomerState,
    disputes: dict[str, dict[str, Any]],
) -> None:
    """What an event asks beyond the mirror: people to tell. Keyed by the object, so a second
    delivery or a late one tells no one twice; and only while still true in Stripe's state."""
    cipher = runtime.cipher
    if event_type == "customer.subscription.trial_will_end" and object_id:
        subscription = next((s for s in state.subscriptions if s.id == object_id), None)
        if (
            subscription is not None
            and subscription.status == "trialing"
            and subscription.trial_end
        ):
            tell_admins_once(
                session,
                cipher,
                organization,
                kind="trial_will_end",
                key=f"{subscription.id}:{subscription.trial_end.isoformat()}",
                subject="Spectral: your trial ends soon",
                text=(
                    f"Your Spectral trial ends on {subscription.trial_end:%Y-%m-%d}. The "
                    "subscription continues on its plan then; manage it from the billing page."
                ),
            )
    elif event_type == "invoice.payment_action_required" and object_id:
        invoice = next((i for i in state.invoices if i.id == object_id), None)
        if invoice is not None and invoice.status == "open":
            tell_admins_once(
                session,
                cipher,
                organization,
                kind="payment_action_required",
                key=invoice.id,
                subject="Spectral: your bank asks you to confirm a payment",
                text=(
                    f"The payment of invoice {invoice.number or invoice.id} needs your "
                    f"confirmation: {invoice.hosted_invoice_url or 'see the billing page'}"
                ),
            )
    elif event_type == "charge.dispute.created" and object_id in disputes:
        dispute = disputes[object_id]
        amount = int(dispute.get("amount") or 0)
        told = tell_admins_once(
            session,
            cipher,
            organization,
            kind="dispute",
            key=object_id,
            subject="Spectral: a payment was disputed",
            text=(
                f"A payment of ${amount / 100:,.2f} to Spectral was disputed with your bank "
                f"(reason: {dispute.get('reason') or 'not given'}). Spectral's billing team will "
                "be in touch; nothing changes in your account meanwhile."
            ),
        )
        if told:
            session.flush()
            record_event(
                session,
                bus,
                DISPUTE_OPENED,
                DisputeOpened(
                    dispute_id=object_id,
                    charge_id=_text(dispute.get("charge")),
                    amount=amount,
                    reason=_text(dispute.get("reason")),
                ),
                organization_id=organization.id,
                actor=ACTOR,
            )


def _text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None


def _resolve_disputes(runtime: Runtime, gateway: StripeGateway) -> None:
    """A dispute names a charge, not a customer: find the customer through the charge."""
    with runtime.database.session() as session:
        waiting = session.scalars(
            select(StripeEvent.id)
            .where(
                StripeEvent.processed_at.is_(None),
                StripeEvent.customer_id.is_(None),
                StripeEvent.type == "charge.dispute.created",
            )
            .limit(20)
        ).all()
    for event_id in waiting:
        with runtime.database.session() as session:
            event = session.get(StripeEvent, event_id)
            dispute_id = event.object_id if event else None
        customer = gateway.customer_of_dispute(dispute_id) if dispute_id else None
        with runtime.database.session() as session:
            event = session.get(StripeEvent, event_id, with_for_update=True)
            if event is None or event.processed_at is not None:
                continue
            if customer:
                event.customer_id = customer
            else:
                event.processed_at, event.outcome = utcnow(), "unknown_customer"


def _note_failure(runtime: Runtime, customer_id: str, exc: Exception) -> None:
    with runtime.database.session() as session:
        session.execute(
            update(StripeEvent)
            .where(StripeEvent.customer_id == customer_id, StripeEvent.processed_at.is_(None))
            .values(attempts=StripeEvent.attempts + 1, last_error=failure_text(exc)[:2000])
        )


def _release(runtime: Runtime, organization_id: str, token: str) -> None:
    """Give the lease back at once (a failed read), so the next turn need not wait it out."""
    with runtime.database.session() as session:
        session.execute(
            update(Organization)
            .where(Organization.id == organization_id, Organization.sync_lease_token == token)
            .values(sync_lease_until=None, sync_lease_token=None)
        )
