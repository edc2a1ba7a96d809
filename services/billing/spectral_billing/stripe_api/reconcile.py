"""The nightly reconciliation (and ``spectral billing reconcile``): every customer Stripe recorded
an event for in the last 48 hours, and every organization with a customer whose mirror says it is
live, is read from Stripe again; what differed is repaired and reported. Events that never
arrived as webhooks are recorded too, so the record of Stripe's events is complete."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from spectral_billing.accounts.models import Organization
from spectral_billing.db import bus
from spectral_billing.event_types import RECONCILED, Reconciled
from spectral_billing.stripe_api.gateway import StripeGateway
from spectral_billing.stripe_api.intake import HANDLED, customer_of
from spectral_billing.stripe_api.models import StripeEvent
from spectral_billing.stripe_api.processing import sync_customer
from spectral_shared.bus import record_event
from spectral_shared.bus.envelope import Actor
from spectral_shared.component import Runtime
from spectral_shared.db import utcnow

ACTOR = Actor.system("spectral billing reconcile")


@dataclass
class Reconciliation:
    since: datetime
    events_seen: int = 0
    events_missed: int = 0
    organizations_checked: int = 0
    repaired: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)


def reconcile(runtime: Runtime, gateway: StripeGateway, *, hours: int = 48) -> Reconciliation:
    since = utcnow() - timedelta(hours=hours)
    report = Reconciliation(since=since)
    customers: dict[str, None] = {}
    for event in gateway.recent_events(since):  # no transaction open
        report.events_seen += 1
        customer = customer_of(event)
        if customer:
            customers.setdefault(customer, None)
        if _record_missed(runtime, event):
            report.events_missed += 1
    with runtime.database.session() as session:
        for customer in session.scalars(
            select(Organization.stripe_customer_id).where(
                Organization.stripe_customer_id.is_not(None),
                Organization.customer_deleted.is_(False),
            )
        ):
            if customer:
                customers.setdefault(customer, None)
    for customer in customers:
        synced = sync_customer(runtime, gateway, customer, actor=ACTOR)
        if synced is None:
            report.busy.append(customer)
            continue
        report.organizations_checked += 1
        report.repaired += [f"{synced.organization_id}: {change}" for change in synced.changes]
    with runtime.database.session() as session:
        record_event(
            session,
            bus,
            RECONCILED,
            Reconciled(
                since=since.isoformat(),
                events_seen=report.events_seen,
                organizations_checked=report.organizations_checked,
                repaired=report.repaired[:500],
            ),
            organization_id=None,
            actor=ACTOR,
        )
    return report


def _record_missed(runtime: Runtime, event: dict[str, object]) -> bool:
    """Store an event that never arrived as a webhook, already handled by this reconciliation."""
    event_id = event.get("id")
    if not isinstance(event_id, str):
        return False
    with runtime.database.session() as session:
        if session.get(StripeEvent, event_id) is not None:
            return False
        created = event.get("created")
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        now = utcnow()
        try:
            with session.begin_nested():
                session.add(
                    StripeEvent(
                        id=event_id[:255],
                        type=str(event.get("type") or "")[:100],
                        created=datetime.fromtimestamp(created, UTC)
                        if isinstance(created, int)
                        else now,
                        customer_id=customer_of(event),
                        object_id=str(obj.get("id"))[:255]
                        if isinstance(obj, dict) and obj.get("id")
                        else None,
                        livemode=bool(event.get("livemode")),
                        received_at=now,
                        outcome="reconciled" if event.get("type") in HANDLED else "recorded",
                        processed_at=now,
                        attempts=0,
                    )
                )
                session.flush()
        except IntegrityError:
            return False
    return True
