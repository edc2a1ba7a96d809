"""Mirroring a customer's state as just read from Stripe: subscriptions and invoices are replaced by
what Stripe has now (never patched from an event's payload), each change is recorded as an event,
and the admins are told once of what needs them (a failed payment, an action to take).

A step: it runs in the caller's transaction, with the organization's row locked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from spectral_billing.accounts.models import Organization
from spectral_billing.accounts.notices import tell_admins_once
from spectral_billing.db import bus
from spectral_billing.event_types import (
    INVOICE_UPDATED,
    SUBSCRIPTION_UPDATED,
    InvoiceChanged,
    SubscriptionChanged,
)
from spectral_billing.stripe_api.gateway import CustomerState, StripeInvoice, StripeSubscription
from spectral_billing.subscriptions.models import Invoice, Subscription
from spectral_shared.bus import record_event
from spectral_shared.bus.envelope import Actor
from spectral_shared.crypto import FieldCipher


@dataclass
class MirrorChanges:
    subscriptions: list[str] = field(default_factory=list)
    invoices: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.subscriptions or self.invoices)

    def describe(self) -> list[str]:
        return [*self.subscriptions, *self.invoices]


SUBSCRIPTION_FIELDS = (
    "customer_id",
    "plan",
    "price_id",
    "item_id",
    "status",
    "collection_method",
    "cancel_at_period_end",
    "created",
    "current_period_start",
    "current_period_end",
    "trial_end",
    "canceled_at",
    "ended_at",
)
INVOICE_FIELDS = (
    "customer_id",
    "subscription_id",
    "number",
    "status",
    "collection_method",
    "billing_reason",
    "currency",
    "subtotal",
    "total",
    "amount_due",
    "amount_paid",
    "amount_remaining",
    "attempt_count",
    "created",
    "finalized_at",
    "paid_at",
    "due_date",
    "period_start",
    "period_end",
    "hosted_invoice_url",
    "invoice_pdf",
)


def _copy(row: object, found: object, fields: tuple[str, ...]) -> bool:
    """Copy what Stripe has onto the mirrored row; True when anything differed (only then is
    the row written, and its ``synced_at`` moved)."""
    changed = False
    for name in fields:
        value = getattr(found, name)
        if getattr(row, name, None) != value:
            setattr(row, name, value)
            changed = True
    return changed


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def mirror_customer(
    session: Session,
    cipher: FieldCipher,
    organization: Organization,
    state: CustomerState,
    *,
    actor: Actor,
    now: datetime,
) -> MirrorChanges:
    changes = MirrorChanges()
    if state.deleted:
        organization.customer_deleted = True
        for row in session.scalars(
            select(Subscription).where(
                Subscription.customer_id == state.customer_id, Subscription.status != "canceled"
            )
        ):
            before = row.status
            row.status, row.ended_at, row.synced_at = "canceled", row.ended_at or now, now
            _subscription_changed(session, organization.id, row, before, row.plan, actor)
            changes.subscriptions.append(f"subscription {row.id}: {before} -> canceled")
        return changes
    # What billing holds of them, in two reads (the rows are then found in the session).
    if state.subscriptions:
        session.scalars(
            select(Subscription).where(Subscription.id.in_([s.id for s in state.subscriptions]))
        ).all()
    if state.invoices:
        session.scalars(select(Invoice).where(Invoice.id.in_([i.id for i in state.invoices]))).all()
    for subscription in state.subscriptions:
        note = _mirror_subscription(session, organization, subscription, actor=actor, now=now)
        if note:
            changes.subscriptions.append(note)
    for invoice in state.invoices:
        note = _mirror_invoice(session, cipher, organization, invoice, actor=actor, now=now)
        if note:
            changes.invoices.append(note)
    return changes


def _mirror_subscription(
    session: Session,
    organization: Organization,
    found: StripeSubscription,
    *,
    actor: Actor,
    now: datetime,
) -> str | None:
    row = session.get(Subscription, found.id)
    if row is None:
        row = Subscription(id=found.id, organization_id=organization.id)
        session.add(row)
        before_status, before_plan, before_cancel = None, None, False
    else:
        before_status, before_plan, before_cancel = row.status, row.plan, row.cancel_at_period_end
    if _copy(row, found, SUBSCRIPTION_FIELDS):
        row.synced_at = now
    if found.trial_end is not None:
        organization.trial_used = True
    if (before_status, before_plan, before_cancel) == (
        found.status,
        found.plan,
        found.cancel_at_period_end,
    ):
        return None
    _subscription_changed(session, organization.id, row, before_status, before_plan, actor)
    return f"subscription {found.id}: {before_status or 'new'} -> {found.status} ({found.plan})"


def _subscription_changed(
    session: Session,
    organization_id: str,
    row: Subscription,
    before_status: str | None,
    before_plan: str | None,
    actor: Actor,
) -> None:
    record_event(
        session,
        bus,
        SUBSCRIPTION_UPDATED,
        SubscriptionChanged(
            subscription_id=row.id,
            plan=row.plan,
            status=row.status,
            previous_status=before_status,
            previous_plan=before_plan,
            cancel_at_period_end=row.cancel_at_period_end,
            current_period_end=_iso(row.current_period_end),
            collection_method=row.collection_method,
        ),
        organization_id=organization_id,
        actor=actor,
    )


def _mirror_invoice(
    session: Session,
    cipher: FieldCipher,
    organization: Organization,
    found: StripeInvoice,
    *,
    actor: Actor,
    now: datetime,
) -> str | None:
    row = session.get(Invoice, found.id)
    if row is None:
        row = Invoice(id=found.id, organization_id=organization.id)
        session.add(row)
        before_status, before_attempts = None, 0
    else:
        before_status, before_attempts = row.status, row.attempt_count
    if _copy(row, found, INVOICE_FIELDS):
        row.synced_at = now
    failed = (
        found.status == "open"
        and found.collection_method == "charge_automatically"
        and found.attempt_count > 0
        and found.amount_remaining > 0
    )
    if failed:
        tell_admins_once(
            session,
            cipher,
            organization,
            kind="payment_failed",
            key=found.id,
            subject="Spectral: a payment failed",
            text=(
                f"The payment of invoice {found.number or found.id} "
                f"(${found.amount_remaining / 100:,.2f}) failed. Your subscription is past due; "
                "Spectral stays fully usable for 30 days, then becomes read-only until the "
                "invoice is paid.\n\n"
                f"Pay or update the payment method: {found.hosted_invoice_url or 'the billing page'}"
            ),
        )
    if (before_status, before_attempts) == (found.status, found.attempt_count):
        return None
    record_event(
        session,
        bus,
        INVOICE_UPDATED,
        InvoiceChanged(
            invoice_id=found.id,
            number=found.number,
            status=found.status,
            previous_status=before_status,
            amount_due=found.amount_due,
            amount_remaining=found.amount_remaining,
            attempt_count=found.attempt_count,
            due_date=_iso(found.due_date),
        ),
        organization_id=organization.id,
        actor=actor,
    )
    return f"invoice {found.number or found.id}: {before_status or 'new'} -> {found.status}"
