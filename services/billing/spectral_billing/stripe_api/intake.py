"""Stripe's webhooks, received: verified over the raw body by the SDK, stored once by event id and
acknowledged at once. Nothing is acted on here; the worker handles stored events afterwards,
reading the customer's current state from Stripe (``processing``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from spectral_billing.stripe_api.gateway import StripeGateway
from spectral_billing.stripe_api.models import StripeEvent
from spectral_shared.component import Runtime
from spectral_shared.db import utcnow

# The events billing acts on; any other type is acknowledged and recorded.
HANDLED = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "customer.subscription.trial_will_end",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_failed",
        "invoice.payment_action_required",
        "invoice.voided",
        "invoice.marked_uncollectible",
        "checkout.session.completed",
        "customer.updated",
        "customer.deleted",
        "charge.dispute.created",
    }
)


@dataclass(frozen=True)
class Received:
    event_id: str
    type: str
    duplicate: bool
    handled: bool


def customer_of(event: dict[str, Any]) -> str | None:
    obj = (event.get("data") or {}).get("object") or {}
    if not isinstance(obj, dict):
        return None
    value = obj.get("id") if obj.get("object") == "customer" else obj.get("customer")
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def receive(
    runtime: Runtime, gateway: StripeGateway, payload: bytes, header: str | None
) -> Received:
    """Verify and store one delivery. A bad or missing signature raises ``SignatureRefused``
    before anything is stored; a delivery of an event already stored changes nothing."""
    event = gateway.verified_event(payload, header)
    event_id = event["id"]
    event_type = str(event.get("type") or "")
    handled = event_type in HANDLED
    obj = (event.get("data") or {}).get("object") or {}
    created = event.get("created")
    now = utcnow()
    customer = customer_of(event)
    values = {
        "id": event_id[:255],
        "type": event_type[:100],
        "created": (
            datetime.fromtimestamp(created, UTC)
            if isinstance(created, int) and created > 0
            else now
        ),
        "customer_id": customer,
        "object_id": str(obj.get("id"))[:255] if isinstance(obj, dict) and obj.get("id") else None,
        "livemode": bool(event.get("livemode")),
        "received_at": now,
        "outcome": None if handled else "recorded",
        "processed_at": None if handled else now,
        "attempts": 0,
        "last_error": None,
    }
    # One statement: stored, or already there (a redelivery, or a concurrent one).
    with runtime.database.engine.begin() as connection:
        stored = connection.execute(
            _insert_new(runtime.database.engine.dialect.name, values)
        ).first()
    return Received(event_id, event_type, duplicate=stored is None, handled=handled)


def _insert_new(dialect: str, values: dict[str, Any]) -> Any:
    table: Table = StripeEvent.__table__  # type: ignore[assignment]
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table).values(**values)
    return statement.on_conflict_do_nothing(index_elements=["id"]).returning(table.c.id)


def pending_customers(runtime: Runtime, limit: int = 50) -> list[str]:
    """Customers with stored events not handled yet, oldest first."""
    with runtime.database.session() as session:
        rows = session.execute(
            select(StripeEvent.customer_id, StripeEvent.received_at)
            .where(StripeEvent.processed_at.is_(None), StripeEvent.customer_id.is_not(None))
            .order_by(StripeEvent.received_at)
            .limit(limit * 20)
        ).all()
    seen: dict[str, None] = {}
    for customer, _ in rows:
        if customer:
            seen.setdefault(customer, None)
    return list(seen)[:limit]
