"""Deciding an organization's capabilities again, and publishing them when they change.

``decide_again`` is a step: it takes the caller's open session (the worker's sync, a command, a
consumer) and records the new snapshot in the same transaction as the change that caused it. The
version counts up by one per change, so consumers keep only a newer snapshot than theirs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spectral_billing.accounts.models import Organization
from spectral_billing.db import bus
from spectral_billing.entitlements.models import Entitlement, Notice
from spectral_billing.entitlements.rules import (
    Account,
    Decision,
    InvoiceState,
    SubscriptionState,
    decide,
)
from spectral_billing.event_types import ENTITLEMENTS_UPDATED
from spectral_billing.subscriptions.models import Invoice, Subscription
from spectral_shared.bus import record_event
from spectral_shared.bus.envelope import Actor
from spectral_shared.component import Runtime
from spectral_shared.contracts.billing import Capabilities
from spectral_shared.db import utcnow


def billing_page(base_url: str) -> str:
    """Where an organization's admins manage billing (the console's page; the API until then)."""
    return f"{base_url.rstrip('/')}/api/v1/billing/subscription"


def account_of(session: Session, organization: Organization, base_url: str) -> Account:
    subscriptions = session.scalars(
        select(Subscription).where(Subscription.organization_id == organization.id)
    ).all()
    invoices = session.scalars(
        select(Invoice).where(
            Invoice.organization_id == organization.id, Invoice.status.in_(("open", "draft"))
        )
    ).all()
    return Account(
        organization_type=organization.type,
        subscriptions=tuple(
            SubscriptionState(
                id=s.id,
                plan=s.plan,
                status=s.status,
                created=s.created,
                current_period_start=s.current_period_start,
                current_period_end=s.current_period_end,
                trial_end=s.trial_end,
                cancel_at_period_end=s.cancel_at_period_end,
                ended_at=s.ended_at or s.canceled_at,
                collection_method=s.collection_method,
            )
            for s in subscriptions
        ),
        invoices=tuple(
            InvoiceState(
                id=i.id,
                subscription_id=i.subscription_id,
                status=i.status,
                collection_method=i.collection_method,
                number=i.number,
                amount_remaining=i.amount_remaining,
                attempt_count=i.attempt_count,
                finalized_at=i.finalized_at,
                due_date=i.due_date,
                hosted_invoice_url=i.hosted_invoice_url,
            )
            for i in invoices
        ),
        billing_url=billing_page(base_url),
    )


def decide_again(
    session: Session,
    organization: Organization,
    *,
    base_url: str,
    actor: Actor,
    now: datetime | None = None,
) -> Entitlement:
    """Decide the organization's capabilities from what billing holds now; record a new version
    (and its event) only when they differ from the last one. The caller holds the organization's
    row locked, so two decisions for one organization never interleave."""
    now = now or utcnow()
    decision = decide(account_of(session, organization, base_url), now)
    return apply_decision(session, organization.id, decision, actor=actor, now=now)


def apply_decision(
    session: Session, organization_id: str, decision: Decision, *, actor: Actor, now: datetime
) -> Entitlement:
    row = session.get(Entitlement, organization_id)
    capabilities: dict[str, Any] = decision.capabilities
    if row is None:
        row = Entitlement(organization_id=organization_id, version=0, capabilities={})
        session.add(row)
    changed = row.capabilities != capabilities
    row.status = decision.status
    row.plan = decision.plan
    row.subscription_id = decision.subscription_id
    row.overdue_since = decision.overdue_since
    row.read_only_since = decision.read_only_since
    row.next_review_at = decision.next_review_at
    row.decided_at = now
    if changed:
        row.version += 1
        row.capabilities = capabilities
        record_event(
            session,
            bus,
            ENTITLEMENTS_UPDATED,
            Capabilities(version=row.version, **capabilities),
            organization_id=organization_id,
            actor=actor,
        )
    session.flush()
    return row


def snapshot(row: Entitlement) -> Capabilities:
    return Capabilities(version=row.version, **row.capabilities)


def review_due(runtime: Runtime, *, now: datetime | None = None, limit: int = 200) -> int:
    """The clock's part (a job): decide again for organizations whose grace period ended, whose
    read-only period ran out or whose sent invoice fell due. Returns how many were reviewed."""
    now = now or utcnow()
    with runtime.database.session() as session:
        due = session.scalars(
            select(Entitlement.organization_id)
            .where(Entitlement.next_review_at <= now)
            .order_by(Entitlement.next_review_at)
            .limit(limit)
        ).all()
    reviewed = 0
    for organization_id in due:
        with runtime.database.session() as session:
            organization = session.get(Organization, organization_id, with_for_update=True)
            row = session.get(Entitlement, organization_id)
            if organization is None or row is None or row.next_review_at is None:
                continue
            if row.next_review_at > now:
                continue  # decided again meanwhile
            decide_again(
                session,
                organization,
                base_url=runtime.settings.base_url,
                actor=Actor.system("billing.review"),
                now=now,
            )
            reviewed += 1
    return reviewed


# The organization id a job's runs are recorded under in ``notices`` (no organization's).
PLATFORM_JOBS = "00000000-0000-0000-0000-000000000000"


def claim_run(runtime: Runtime, job: str, now: datetime, every_seconds: float) -> bool:
    """True for the one caller, across restarts and replicas, that runs ``job`` in the current
    window of ``every_seconds`` (the nightly reconciliation): the window's notice is written
    once."""
    window = int(now.timestamp() // every_seconds)
    with runtime.database.session() as session:
        if session.get(Notice, (PLATFORM_JOBS, job, str(window))) is not None:
            return False
        try:
            with session.begin_nested():
                session.add(
                    Notice(organization_id=PLATFORM_JOBS, kind=job, key=str(window), sent_at=now)
                )
                session.flush()
        except IntegrityError:
            return False
    return True
