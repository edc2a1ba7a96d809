"""Billing's one way to Stripe: the official SDK, with an idempotency key on every write, and never
with a database transaction open (the caller reads, closes, calls Stripe, then writes).

The objects billing reads back are turned into plain ``CustomerState`` records here, so the rest of
billing never handles the SDK's types; what a subscription or an invoice looks like follows the
SDK's pinned API version (periods on subscription items, an invoice's subscription under
``parent.subscription_details``).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from spectral_billing.plans.catalog import Plan, catalog
from spectral_billing.settings import DOUBLE_SECRET_KEY, DOUBLE_WEBHOOK_SECRET, BillingSettings
from spectral_shared.config import Settings
from spectral_shared.errors import DomainError
from spectral_shared.outbound import no_transaction_open

# The SDK logs every request at INFO with its query string (which can carry a customer's e-mail
# address): only its warnings reach Spectral's logs.
logging.getLogger("stripe").setLevel(logging.WARNING)

if TYPE_CHECKING:  # the SDK takes a while to import: load it on first use, not at start-up
    from stripe import StripeClient


class StripeUnavailable(DomainError):
    """Stripe could not be reached or refused the call (503): nothing was changed."""

    status = 503
    title = "Billing provider unavailable"
    slug = "stripe-unavailable"


class SignatureRefused(DomainError):
    status = 400
    title = "Webhook signature refused"
    slug = "bad-signature"


class NotAnEvent(DomainError):
    """Signed, but not a Stripe event (422): nothing is stored."""

    status = 422
    title = "Not a Stripe event"
    slug = "not-a-stripe-event"


def _time(value: Any) -> datetime | None:
    return None if value in (None, 0) else datetime.fromtimestamp(int(value), UTC)


@dataclass(frozen=True)
class StripeSubscription:
    id: str
    customer_id: str
    plan: str | None
    price_id: str | None
    item_id: str | None
    status: str
    collection_method: str
    cancel_at_period_end: bool
    created: datetime
    current_period_start: datetime | None
    current_period_end: datetime | None
    trial_end: datetime | None
    canceled_at: datetime | None
    ended_at: datetime | None

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> StripeSubscription:
        items = (raw.get("items") or {}).get("data") or []
        item = items[0] if items else {}
        price = item.get("price") or {}
        plan = catalog().by_lookup_key(price.get("lookup_key"))
        named = (price.get("metadata") or {}).get("plan") or (raw.get("metadata") or {}).get("plan")
        return cls(
            id=raw["id"],
            customer_id=_id(raw.get("customer")),
            plan=plan.id if plan else (named if catalog().plan(named or "") else None),
            price_id=price.get("id"),
            item_id=item.get("id"),
            status=raw["status"],
            collection_method=raw.get("collection_method") or "charge_automatically",
            cancel_at_period_end=bool(raw.get("cancel_at_period_end")),
            created=_time(raw.get("created")) or datetime.now(UTC),
            current_period_start=_time(item.get("current_period_start")),
            current_period_end=_time(item.get("current_period_end")),
            trial_end=_time(raw.get("trial_end")),
            canceled_at=_time(raw.get("canceled_at")),
            ended_at=_time(raw.get("ended_at")),
        )


@dataclass(frozen=True)
class StripeInvoice:
    id: str
    customer_id: str
    subscription_id: str | None
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
    finalized_at: datetime | None
    paid_at: datetime | None
    due_date: datetime | None
    period_start: datetime | None
    period_end: datetime | None
    hosted_invoice_url: str | None
    invoice_pdf: str | None

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> StripeInvoice:
        parent = raw.get("parent") or {}
        details = parent.get("subscription_details") or {}
        transitions = raw.get("status_transitions") or {}
        return cls(
            id=raw["id"],
            customer_id=_id(raw.get("customer")),
            subscription_id=_id(details.get("subscription")) or None,
            number=raw.get("number"),
            status=raw.get("status") or "draft",
            collection_method=raw.get("collection_method") or "charge_automatically",
            billing_reason=raw.get("billing_reason"),
            currency=(raw.get("currency") or "usd")[:3],
            subtotal=int(raw.get("subtotal") or 0),
            total=int(raw.get("total") or 0),
            amount_due=int(raw.get("amount_due") or 0),
            amount_paid=int(raw.get("amount_paid") or 0),
            amount_remaining=int(raw.get("amount_remaining") or 0),
            attempt_count=int(raw.get("attempt_count") or 0),
            created=_time(raw.get("created")) or datetime.now(UTC),
            finalized_at=_time(transitions.get("finalized_at")),
            paid_at=_time(transitions.get("paid_at")),
            due_date=_time(raw.get("due_date")),
            period_start=_time(raw.get("period_start")),
            period_end=_time(raw.get("period_end")),
            hosted_invoice_url=raw.get("hosted_invoice_url"),
            invoice_pdf=raw.get("invoice_pdf"),
        )


@dataclass(frozen=True)
class CustomerState:
    """A customer as Stripe has it now: what billing mirrors and decides from."""

    customer_id: str
    organization_id: str | None
    deleted: bool
    email: str | None
    subscriptions: tuple[StripeSubscription, ...] = ()
    invoices: tuple[StripeInvoice, ...] = ()
    read_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _id(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("id") or "")
    return str(value or "")


def _plain(obj: Any) -> Any:
    """An SDK object as plain JSON data."""
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return obj


class StripeGateway:
    """Stripe through the SDK. ``api_base`` points it at the test double when set."""

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None,
        webhook_secrets: tuple[str, ...],
        tolerance_seconds: int,
        timeout_seconds: float = 20.0,
        configured: bool = True,
    ) -> None:
        self.configured = configured
        self.api_key = api_key
        self.api_base = api_base
        self.webhook_secrets = webhook_secrets
        self.tolerance_seconds = tolerance_seconds
        self.timeout_seconds = timeout_seconds
        self._client: StripeClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings, own: BillingSettings) -> StripeGateway:
        key = settings.stripe_secret_key.get_secret_value() if settings.stripe_secret_key else None
        secret = (
            settings.stripe_webhook_secret.get_secret_value()
            if settings.stripe_webhook_secret
            else None
        )
        previous = (
            own.stripe_webhook_secret_previous.get_secret_value()
            if own.stripe_webhook_secret_previous
            else None
        )
        configured = key is not None or own.stripe_api_base is not None
        # The double's public secret only where the double is what billing talks to.
        fallback = DOUBLE_WEBHOOK_SECRET if own.stripe_api_base is not None else None
        secrets = tuple(s for s in (secret or fallback, previous) if s)
        return cls(
            key or DOUBLE_SECRET_KEY,
            api_base=own.stripe_api_base,
            webhook_secrets=secrets,
            tolerance_seconds=own.stripe_webhook_tolerance_seconds,
            # Neither a key nor a test double: never send the double's test key to Stripe.
            configured=configured,
        )

    @property
    def is_double(self) -> bool:
        return self.api_base is not None

    def now(self) -> datetime:
        """Billing's clock: Stripe's. Real time with Stripe; the test double's clock with the
        double, so that moving it (a trial ending, 30 days of grace running out) moves billing's
        decisions with it, on a laptop and in tests alike (ADR 0041)."""
        if self.api_base is None or not self.configured:
            return datetime.now(UTC)
        no_transaction_open("stripe test double clock")
        import requests

        try:
            answer = requests.get(f"{self.api_base.rstrip('/')}/_control/now", timeout=5)
            answer.raise_for_status()
            offset = timedelta(seconds=float(answer.json()["offset"]))
        except (requests.RequestException, ValueError, KeyError) as exc:
            raise StripeUnavailable(
                f"The Stripe test double did not answer ({type(exc).__name__})."
            ) from None
        return datetime.now(UTC) + offset

    @property
    def client(self) -> StripeClient:
        if self._client is None:
            import stripe

            addresses: Any = {"api": self.api_base.rstrip("/")} if self.api_base else None
            self._client = stripe.StripeClient(
                self.api_key,
                base_addresses=addresses,
                max_network_retries=2,
                http_client=stripe.RequestsClient(timeout=self.timeout_seconds),
            )
        return self._client

    # ---- the calls ------------------------------------------------------------------------

    def _call(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.configured:
            raise StripeUnavailable(
                "Stripe is not configured: set STRIPE_SECRET_KEY (or STRIPE_API_BASE for the "
                "Stripe test double); nothing was changed."
            )
        no_transaction_open(f"stripe {what}")
        import stripe

        try:
            return call(*args, **kwargs)
        except stripe.InvalidRequestError:
            raise
        except stripe.StripeError as exc:
            raise StripeUnavailable(
                f"Stripe did not complete '{what}' ({type(exc).__name__}); nothing was changed. "
                "Try again in a moment."
            ) from None

    def _write(self, what: str, call: Any, params: dict[str, Any], key: str) -> Any:
        return _plain(self._call(what, call, params=params, options={"idempotency_key": key}))

    def create_customer(
        self, organization_id: str, name: str | None, email: str | None, *, fresh: bool = False
    ) -> str:
        params: dict[str, Any] = {"metadata": {"organization_id": organization_id}}
        if name:
            params["name"] = name
        if email:
            params["email"] = email
        customer = self._write(
            "create customer",
            self.client.v1.customers.create,
            params,
            f"spectral-customer-{organization_id}" + (f"-{uuid.uuid4()}" if fresh else ""),
        )
        return str(customer["id"])

    def price_for(self, plan: Plan) -> str:
        """The Stripe price of ``plan`` (made once, found again by its lookup key)."""
        found = _plain(
            self._call(
                "find price",
                self.client.v1.prices.list,
                params={"lookup_keys": [plan.lookup_key], "active": True, "limit": 1},
            )
        )
        if found.get("data"):
            return str(found["data"][0]["id"])
        price = self._write(
            "create price",
            self.client.v1.prices.create,
            {
                "unit_amount": plan.price_cents,
                "currency": "usd",
                "recurring": {"interval": "year"},
                "product_data": {"name": plan.product_name},
                "lookup_key": plan.lookup_key,
                "nickname": plan.name,
                "metadata": {"plan": plan.id},
            },
            f"spectral-price-{plan.lookup_key}",
        )
        return str(price["id"])

    def create_checkout(
        self,
        *,
        organization_id: str,
        customer_id: str,
        plan: Plan,
        trial_days: int | None,
        success_url: str,
        cancel_url: str,
        key: str,
    ) -> dict[str, Any]:
        subscription_data: dict[str, Any] = {
            "metadata": {"organization_id": organization_id, "plan": plan.id}
        }
        if trial_days:
            subscription_data["trial_period_days"] = trial_days
        session: dict[str, Any] = self._write(
            "create checkout session",
            self.client.v1.checkout.sessions.create,
            {
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": organization_id,
                "line_items": [{"price": self.price_for(plan), "quantity": 1}],
                "subscription_data": subscription_data,
                "metadata": {"organization_id": organization_id, "plan": plan.id},
                "success_url": success_url,
                "cancel_url": cancel_url,
            },
            key,
        )
        return session

    def change_price(
        self, subscription_id: str, item_id: str, plan: Plan, *, upgrade: bool, key: str
    ) -> None:
        self._write(
            "change plan",
            lambda params, options: self.client.v1.subscriptions.update(
                subscription_id, params=params, options=options
            ),
            {
                "items": [{"id": item_id, "price": self.price_for(plan)}],
                # An upgrade is invoiced now for the rest of the period; a downgrade credits the
                # difference on the next invoice.
                "proration_behavior": "always_invoice" if upgrade else "create_prorations",
                "metadata": {"plan": plan.id},
            },
            key,
        )

    def set_cancel_at_period_end(self, subscription_id: str, cancel: bool, *, key: str) -> None:
        self._write(
            "cancel at period end" if cancel else "keep subscription",
            lambda params, options: self.client.v1.subscriptions.update(
                subscription_id, params=params, options=options
            ),
            {"cancel_at_period_end": cancel},
            key,
        )

    def create_invoiced_subscription(
        self, *, organization_id: str, customer_id: str, plan: Plan, days_until_due: int, key: str
    ) -> str:
        subscription = self._write(
            "create invoiced subscription",
            self.client.v1.subscriptions.create,
            {
                "customer": customer_id,
                "items": [{"price": self.price_for(plan)}],
                "collection_method": "send_invoice",
                "days_until_due": days_until_due,
                "metadata": {"organization_id": organization_id, "plan": plan.id},
            },
            key,
        )
        return str(subscription["id"])

    def portal_url(self, customer_id: str, return_url: str, *, key: str) -> str:
        session = self._write(
            "open billing portal",
            self.client.v1.billing_portal.sessions.create,
            {"customer": customer_id, "return_url": return_url},
            key,
        )
        return str(session["url"])

    def checkout_session(self, session_id: str) -> dict[str, Any]:
        session: dict[str, Any] = _plain(
            self._call(
                "read checkout session", self.client.v1.checkout.sessions.retrieve, session_id
            )
        )
        return session

    def dispute(self, dispute_id: str) -> dict[str, Any]:
        found: dict[str, Any] = _plain(
            self._call("read dispute", self.client.v1.disputes.retrieve, dispute_id)
        )
        return found

    def customer_of_dispute(self, dispute_id: str) -> str | None:
        """The customer a disputed charge belongs to (a dispute names only the charge)."""
        dispute = self.dispute(dispute_id)
        charge_id = _id(dispute.get("charge"))
        if not charge_id:
            return None
        charge = _plain(self._call("read charge", self.client.v1.charges.retrieve, charge_id))
        return _id(charge.get("customer")) or None

    def customer_state(self, customer_id: str) -> CustomerState:
        """The customer, every subscription and its recent invoices, as Stripe has them now."""
        read_at = datetime.now(UTC)
        customer = _plain(
            self._call("read customer", self.client.v1.customers.retrieve, customer_id)
        )
        if customer.get("deleted"):
            return CustomerState(customer_id, None, True, None, read_at=read_at)
        subscriptions = [
            StripeSubscription.of(s)
            for s in self._all(
                "list subscriptions",
                self.client.v1.subscriptions.list,
                {"customer": customer_id, "status": "all", "limit": 100},
            )
        ]
        invoices = [
            StripeInvoice.of(i)
            for i in self._all(
                "list invoices",
                self.client.v1.invoices.list,
                {"customer": customer_id, "limit": 100},
                most=300,
            )
        ]
        return CustomerState(
            customer_id=customer_id,
            organization_id=(customer.get("metadata") or {}).get("organization_id"),
            deleted=False,
            email=customer.get("email"),
            subscriptions=tuple(subscriptions),
            invoices=tuple(invoices),
            read_at=read_at,
        )

    def recent_events(self, since: datetime) -> Iterator[dict[str, Any]]:
        """Every event Stripe recorded since ``since`` (newest first)."""
        yield from self._all(
            "list events",
            self.client.v1.events.list,
            {"created": {"gte": int(since.timestamp())}, "limit": 100},
            most=100_000,
        )

    def _all(
        self, what: str, call: Any, params: dict[str, Any], most: int = 10_000
    ) -> Iterator[dict[str, Any]]:
        seen = 0
        page = _plain(self._call(what, call, params=params))
        while True:
            data = page.get("data") or []
            for row in data:
                yield row
                seen += 1
                if seen >= most:
                    return
            if not page.get("has_more") or not data:
                return
            page = _plain(
                self._call(what, call, params={**params, "starting_after": data[-1]["id"]})
            )

    # ---- webhooks -------------------------------------------------------------------------

    def verified_event(self, payload: bytes, header: str | None) -> dict[str, Any]:
        """The event in ``payload`` if ``header`` signs it with one of the webhook secrets within
        the tolerance (either way in time); else ``SignatureRefused``. Checked by the SDK."""
        import stripe

        refusal = "The Stripe-Signature header is missing."
        if header:
            text = payload.decode("utf-8", errors="replace")
            refusal = "No valid signature for this body with the webhook signing secret."
            for secret in self.webhook_secrets:
                try:
                    stripe.WebhookSignature.verify_header(
                        text, header, secret, self.tolerance_seconds
                    )
                except stripe.SignatureVerificationError as exc:
                    if "tolerance" in str(exc):
                        refusal = "The signature's timestamp is outside the tolerance."
                    continue
                if _signed_at(header) > time.time() + self.tolerance_seconds:
                    refusal = "The signature's timestamp is in the future."
                    break
                try:
                    event = json.loads(text)
                except ValueError:
                    event = None
                if (
                    isinstance(event, dict)
                    and isinstance(event.get("id"), str)
                    and isinstance(event.get("type"), str)
                ):
                    return event
                raise NotAnEvent("The body is signed, but it is not a Stripe event (id, type).")
        raise SignatureRefused(refusal)


def _signed_at(header: str) -> int:
    for part in header.split(","):
        key, _, value = part.partition("=")
        if key.strip() == "t" and value.strip().isdigit():
            return int(value.strip())
    return 0
