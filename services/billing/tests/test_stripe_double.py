"""The Stripe test double, driven through the official SDK over HTTP the way billing drives Stripe.

Every test serves a fresh double on a free port; time moves only through the clock control.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe

from spectral_billing.stripe_double import API_VERSION, StripeDouble, create_app, serve, sign
from spectral_billing.stripe_double.core import DAY, RETRY_DAYS, prorate
from spectral_billing.stripe_double.forms import parse_pairs

SECRET = "whsec_test_double_secret"


# -- fixtures ---------------------------------------------------------------------------------


class Served:
    """A double served on a free port, with the SDK client and control helpers."""

    def __init__(self, double: StripeDouble) -> None:
        self.double = double
        self.server, self.thread, self.url = serve(double)
        self.client = stripe.StripeClient(
            "sk_test_double", base_addresses={"api": self.url}, max_network_retries=0
        )

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self.double.close()

    def control(self, path: str, **data: Any) -> Any:
        response = requests.post(f"{self.url}/_control/{path}", data=data, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def advance_to(self, moment: int) -> list[str]:
        ran: list[str] = self.control("advance", to=moment)["ran"]
        return ran

    def now(self) -> int:
        now: int = requests.get(f"{self.url}/_control/now", timeout=10).json()["now"]
        return now

    def event_types(self, **params: Any) -> list[str]:
        """Every event type, oldest first."""
        events = self.client.v1.events.list(params={"limit": 100, **params})
        return [event.type for event in reversed(list(events.auto_paging_iter()))]

    def price(self, amount: int = 300_000, interval: str = "year", **extra: Any) -> Any:
        return self.client.v1.prices.create(
            params={
                "unit_amount": amount,
                "currency": "usd",
                "recurring": {"interval": interval},
                "product_data": {"name": extra.pop("name", "Spectral Pro")},
                **extra,
            }
        )

    def customer(self, **params: Any) -> Any:
        return self.client.v1.customers.create(
            params={"name": "Acme Health", "email": "billing@acme.test", **params}
        )

    def checkout(
        self,
        customer: Any,
        price: Any,
        card: str = "good",
        trial_days: int | None = 30,
        **extra: Any,
    ) -> Any:
        """Create a Checkout Session and complete it by POSTing the hosted page's form."""
        subscription_data: dict[str, Any] = extra.pop("subscription_data", {})
        if trial_days:
            subscription_data["trial_period_days"] = trial_days
        session = self.client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": customer.id,
                "line_items": [{"price": price.id, "quantity": 1}],
                "subscription_data": subscription_data,
                "client_reference_id": "org_123",
                "success_url": "https://app.spectral.test/billing/done?session={CHECKOUT_SESSION_ID}",
                "cancel_url": "https://app.spectral.test/billing/cancel",
                **extra,
            }
        )
        page = requests.get(session.url, timeout=10)
        assert page.status_code == 200
        action = form_action(page.text, "card", card)
        answer = requests.post(
            f"{self.url}{action}", data={"card": card}, allow_redirects=False, timeout=10
        )
        assert answer.status_code == 303, answer.text
        assert answer.headers["Location"] == (
            f"https://app.spectral.test/billing/done?session={session.id}"
        )
        return self.client.v1.checkout.sessions.retrieve(session.id)


def form_action(html: str, field: str, value: str) -> str:
    """The action of the page's form whose hidden ``field`` has ``value``."""
    for match in re.finditer(r'<form method="post" action="([^"]+)">(.*?)</form>', html, re.S):
        if f'name="{field}" value="{value}"' in match.group(2):
            return match.group(1)
    raise AssertionError(f"no form with {field}={value}")


def button_action(html: str, label: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the form whose button says ``label``."""
    for match in re.finditer(r'<form method="post" action="([^"]+)">(.*?)</form>', html, re.S):
        if f">{label}</button>" in match.group(2):
            fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', match.group(2)))
            return match.group(1), fields
    raise AssertionError(f"no button {label!r}")


@pytest.fixture
def make_served(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    served: list[Served] = []

    def make(**options: Any) -> Served:
        options.setdefault("state_path", tmp_path / "stripe-double.json")
        options.setdefault("auto_deliver", False)
        one = Served(StripeDouble(**options))
        served.append(one)
        return one

    yield make
    for one in served:
        one.stop()


@pytest.fixture
def s(make_served: Callable[..., Served]) -> Served:
    return make_served()


class Receiver:
    """A webhook endpoint answering the statuses queued in ``answers`` (then 200)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/v1/billing/webhooks"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def wait_for(self, count: int, deadline: float = 10.0) -> None:
        end = time.monotonic() + deadline
        while len(self.received) < count:
            assert time.monotonic() < end, f"{len(self.received)} of {count} deliveries arrived"
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    one = Receiver()
    yield one
    one.stop()


# -- the form encoding ------------------------------------------------------------------------


def test_bracket_parameters_parse_into_nested_dicts_and_lists() -> None:
    parsed = parse_pairs(
        [
            ("items[0][price]", "price_a"),
            ("items[0][quantity]", "2"),
            ("items[1][price]", "price_b"),
            ("metadata[organization_id]", "org_1"),
            ("metadata[0]", "a key that looks like an index"),
            ("expand[]", "latest_invoice"),
            ("expand[]", "customer"),
            ("lookup_keys[0]", "pro"),
            ("trial_settings[end_behavior][missing_payment_method]", "pause"),
            ("description", ""),
        ]
    )
    assert parsed == {
        "items": [{"price": "price_a", "quantity": "2"}, {"price": "price_b"}],
        "metadata": {"organization_id": "org_1", "0": "a key that looks like an index"},
        "expand": ["latest_invoice", "customer"],
        "lookup_keys": ["pro"],
        "trial_settings": {"end_behavior": {"missing_payment_method": "pause"}},
        "description": "",
    }


# -- customers and prices ---------------------------------------------------------------------


def test_customers_are_created_read_updated_listed_and_deleted(s: Served) -> None:
    c = s.client.v1.customers
    customer = s.customer(metadata={"organization_id": "org_1", "plan": "pro"})
    assert customer.id.startswith("cus_")
    assert customer.object == "customer"
    assert customer.metadata.to_dict() == {"organization_id": "org_1", "plan": "pro"}

    updated = c.update(
        customer.id, params={"name": "Acme Health Inc", "metadata": {"plan": "", "seats": "5"}}
    )
    assert updated.name == "Acme Health Inc"
    assert updated.metadata.to_dict() == {"organization_id": "org_1", "seats": "5"}
    assert c.retrieve(customer.id).name == "Acme Health Inc"

    s.customer(email="other@acme.test")
    listed = c.list(params={"email": "billing@acme.test"})
    assert [x.id for x in listed.data] == [customer.id]
    assert listed.object == "list" and listed.has_more is False

    deleted = c.delete(customer.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (customer.id, "customer", True)
    assert c.retrieve(customer.id).to_dict() == {
        "id": customer.id,
        "object": "customer",
        "deleted": True,
    }
    with pytest.raises(stripe.InvalidRequestError) as missing:
        c.update(customer.id, params={"name": "ghost"})
    assert missing.value.http_status == 404
    updated_event = s.client.v1.events.list(params={"type": "customer.updated"}).data[0]
    assert updated_event.data.previous_attributes.to_dict()["metadata"] == {
        "organization_id": "org_1",
        "plan": "pro",
    }
    assert s.event_types(type="customer.*")[-1] == "customer.deleted"


def test_prices_are_found_by_lookup_key_and_keys_are_unique(s: Served) -> None:
    annual = s.price(300_000, "year", lookup_key="pro_annual", nickname="Pro annual")
    monthly = s.price(30_000, "month", lookup_key="pro_monthly")
    found = s.client.v1.prices.list(params={"lookup_keys": ["pro_annual"], "active": True})
    assert [p.id for p in found.data] == [annual.id]
    assert annual.product.startswith("prod_") and annual.recurring.interval == "year"
    assert s.client.v1.prices.retrieve(monthly.id).unit_amount == 30_000

    with pytest.raises(stripe.InvalidRequestError) as taken:
        s.price(250_000, lookup_key="pro_annual")
    assert taken.value.param == "lookup_key"
    moved = s.price(250_000, lookup_key="pro_annual", transfer_lookup_key=True)
    found = s.client.v1.prices.list(params={"lookup_keys": ["pro_annual"]})
    assert [p.id for p in found.data] == [moved.id]
    assert s.client.v1.prices.retrieve(annual.id).lookup_key is None


# -- checkout, trial, renewal -----------------------------------------------------------------


def test_checkout_with_a_trial_then_the_first_charge_when_it_ends(s: Served) -> None:
    customer = s.customer()
    price = s.price()
    session = s.checkout(customer, price, card="good", trial_days=30)
    assert session.status == "complete"
    assert session.payment_status == "no_payment_required"
    assert session.client_reference_id == "org_123"

    sub = s.client.v1.subscriptions.retrieve(session.subscription)
    assert sub.status == "trialing"
    assert sub.trial_end - sub.trial_start == 30 * DAY
    item = sub["items"].data[0]
    assert (item.current_period_start, item.current_period_end) == (sub.trial_start, sub.trial_end)
    assert item.price.id == price.id
    customer = s.client.v1.customers.retrieve(customer.id)
    assert customer.invoice_settings.default_payment_method.startswith("pm_")
    assert s.event_types() == [
        "customer.created",
        "product.created",
        "price.created",
        "payment_method.attached",
        "customer.updated",
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "checkout.session.completed",
    ]
    completed = s.client.v1.events.list(params={"type": "checkout.session.completed"}).data[0]
    assert completed.data.object.subscription == sub.id
    assert completed.api_version == API_VERSION

    s.advance_to(sub.trial_end + 60)
    sub = s.client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    assert sub.status == "active"
    invoice = sub.latest_invoice
    assert invoice.billing_reason == "subscription_cycle"
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == ("paid", 300_000, 0)
    assert invoice.parent.type == "subscription_details"
    assert invoice.parent.subscription_details.subscription == sub.id
    assert re.fullmatch(r"[A-Z0-9]{8}-0002", invoice.number)
    item = sub["items"].data[0]
    assert item.current_period_start == sub.trial_end
    assert item.current_period_end - item.current_period_start in (365 * DAY, 366 * DAY)
    types = s.event_types()
    assert types.index("customer.subscription.trial_will_end") < types.index("invoice.paid", 10)
    assert types[-5:] == [
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
    ]
    updated = s.client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert updated.data.previous_attributes.status == "trialing"

    # A year on, the renewal charges the card again for the next period.
    s.advance_to(item.current_period_end + 1)
    invoices = s.client.v1.invoices.list(params={"subscription": sub.id, "status": "paid"})
    assert [i.billing_reason for i in invoices.data][:2] == [
        "subscription_cycle",
        "subscription_cycle",
    ]


def test_a_declining_card_fails_retries_and_recovers_in_the_portal(s: Served) -> None:
    customer = s.customer()
    session = s.checkout(customer, s.price(), card="declining", trial_days=30)
    sub = s.client.v1.subscriptions.retrieve(session.subscription)
    assert sub.status == "trialing"

    s.advance_to(sub.trial_end + 1)
    sub = s.client.v1.subscriptions.retrieve(sub.id)
    invoice = s.client.v1.invoices.retrieve(sub.latest_invoice)
    assert sub.status == "past_due"
    assert (invoice.status, invoice.attempt_count, invoice.attempted) == ("open", 1, True)
    assert invoice.next_payment_attempt == sub.trial_end + RETRY_DAYS[0] * DAY
    assert s.event_types()[-2:] == ["invoice.payment_failed", "customer.subscription.updated"]

    s.advance_to(invoice.next_payment_attempt + 1)
    invoice = s.client.v1.invoices.retrieve(invoice.id)
    assert invoice.attempt_count == 2
    assert invoice.next_payment_attempt == sub.trial_end + RETRY_DAYS[1] * DAY

    portal = s.client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": "https://app.spectral.test/billing"}
    )
    assert portal.object == "billing_portal.session" and portal.id.startswith("bps_")
    page = requests.get(portal.url, timeout=10).text
    assert "past_due" in page and "declines every charge" in page
    action, fields = button_action(page, "Replace card with test card 4242")
    answer = requests.post(f"{s.url}{action}", data=fields, allow_redirects=False, timeout=10)
    assert answer.status_code == 303

    invoice = s.client.v1.invoices.retrieve(invoice.id)
    sub = s.client.v1.subscriptions.retrieve(sub.id)
    assert (invoice.status, invoice.attempt_count, invoice.next_payment_attempt) == (
        "paid",
        3,
        None,
    )
    assert sub.status == "active"
    recovered = s.client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert recovered.data.object.status == "active"
    assert recovered.data.previous_attributes.status == "past_due"
    assert "invoice.paid" in s.event_types()[-4:]
    assert "https://app.spectral.test/billing" in requests.get(portal.url, timeout=10).text


def test_when_every_retry_fails_it_stays_past_due_as_spectral_asks(s: Served) -> None:
    """Spectral's Stripe setting: leave the subscription past due after the last retry (billing
    applies its own 30 days of grace)."""
    customer = s.customer()
    session = s.checkout(customer, s.price(), card="declining", trial_days=30)
    sub = s.client.v1.subscriptions.retrieve(session.subscription)
    s.advance_to(sub.trial_end + RETRY_DAYS[-1] * DAY + 60)
    sub = s.client.v1.subscriptions.retrieve(sub.id)
    invoice = s.client.v1.invoices.retrieve(sub.latest_invoice)
    assert sub.status == "past_due" and invoice.status == "open"
    assert invoice.attempt_count == 1 + len(RETRY_DAYS) and invoice.next_payment_attempt is None


def test_when_every_retry_fails_the_subscription_can_be_canceled(
    make_served: Callable[..., Served],
) -> None:
    s = make_served(after_retries="cancel")
    customer = s.customer()
    session = s.checkout(customer, s.price(), card="declining", trial_days=30)
    sub = s.client.v1.subscriptions.retrieve(session.subscription)
    s.advance_to(sub.trial_end + RETRY_DAYS[-1] * DAY + 60)
    sub = s.client.v1.subscriptions.retrieve(sub.id)
    invoice = s.client.v1.invoices.retrieve(sub.latest_invoice)
    assert sub.status == "canceled"
    assert sub.cancellation_details.reason == "payment_failed"
    assert sub.ended_at == sub.trial_end + RETRY_DAYS[-1] * DAY
    assert (invoice.status, invoice.attempt_count) == ("uncollectible", 1 + len(RETRY_DAYS))
    types = s.event_types()
    assert types.count("invoice.payment_failed") == 1 + len(RETRY_DAYS)
    assert types[-2:] == ["customer.subscription.deleted", "invoice.marked_uncollectible"]
    assert s.client.v1.subscriptions.list(params={"customer": customer.id}).data == []
    assert len(s.client.v1.subscriptions.list(params={"status": "all"}).data) == 1


def test_checkout_without_a_trial_charges_now_or_leaves_the_subscription_incomplete(
    s: Served,
) -> None:
    price = s.price(30_000, "month")
    paid = s.checkout(s.customer(), price, card="good", trial_days=None)
    assert paid.payment_status == "paid" and paid.amount_total == 30_000
    assert s.client.v1.subscriptions.retrieve(paid.subscription).status == "active"

    declined = s.checkout(s.customer(), price, card="declining", trial_days=None)
    assert declined.payment_status == "unpaid"
    sub = s.client.v1.subscriptions.retrieve(declined.subscription)
    invoice = s.client.v1.invoices.retrieve(sub.latest_invoice)
    assert sub.status == "incomplete"
    assert (invoice.status, invoice.next_payment_attempt) == ("open", None)
    s.advance_to(sub.created + 23 * 3600 + 1)
    assert s.client.v1.subscriptions.retrieve(sub.id).status == "incomplete_expired"
    assert s.client.v1.invoices.retrieve(invoice.id).status == "void"


def test_a_trial_without_a_card_pauses_then_resumes(s: Served) -> None:
    customer = s.customer()
    session = s.checkout(
        customer,
        s.price(),
        card="none",
        trial_days=14,
        payment_method_collection="if_required",
        subscription_data={"trial_settings": {"end_behavior": {"missing_payment_method": "pause"}}},
    )
    sub = s.client.v1.subscriptions.retrieve(session.subscription)
    assert sub.status == "trialing"
    assert sub.trial_settings.end_behavior.missing_payment_method == "pause"
    s.advance_to(sub.trial_end + 1)
    assert s.client.v1.subscriptions.retrieve(sub.id).status == "paused"
    assert "customer.subscription.paused" in s.event_types()

    s.control(f"customers/{customer.id}/card", kind="good")
    resumed = s.client.v1.subscriptions.resume(sub.id, params={"billing_cycle_anchor": "now"})
    assert resumed.status == "active"
    assert s.client.v1.invoices.retrieve(resumed.latest_invoice).status == "paid"
    assert "customer.subscription.resumed" in s.event_types()


# -- plan changes and cancellation --------------------------------------------------------------


def test_an_upgrade_with_always_invoice_charges_the_proration_now(s: Served) -> None:
    customer = s.customer(
        payment_method="pm_card_visa", invoice_settings={"default_payment_method": "pm_card_visa"}
    )
    assert customer.invoice_settings.default_payment_method.startswith("pm_")
    starter, pro = s.price(120_000, name="Starter"), s.price(300_000, name="Pro")
    sub = s.client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": starter.id}],
            "metadata": {"organization_id": "org_1"},
        }
    )
    assert sub.status == "active"
    item = sub["items"].data[0]
    start, end = item.current_period_start, item.current_period_end

    s.advance_to(start + 100 * DAY)
    at = s.now()
    upgraded = s.client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": item.id, "price": pro.id}],
            "proration_behavior": "always_invoice",
            "proration_date": at,
        },
    )
    assert upgraded["items"].data[0].price.id == pro.id
    invoice = s.client.v1.invoices.retrieve(upgraded.latest_invoice)
    assert invoice.billing_reason == "subscription_update"
    remaining, length = end - at, end - start
    credit, charge = -prorate(120_000, remaining, length), prorate(300_000, remaining, length)
    assert [line.amount for line in invoice.lines.data] == [credit, charge]
    assert all(line.proration for line in invoice.lines.data)
    assert invoice.amount_due == credit + charge
    assert abs(invoice.amount_due - (300_000 - 120_000) * remaining / length) <= 1
    assert (invoice.status, invoice.amount_paid) == ("paid", invoice.amount_due)
    assert invoice.parent.subscription_details.metadata.organization_id == "org_1"

    updated = s.client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    previous = updated.data.previous_attributes
    assert previous["items"].data[0].price.id == starter.id
    assert updated.data.object["items"].data[0].price.id == pro.id


def test_create_prorations_wait_for_the_next_invoice(s: Served) -> None:
    customer = s.customer(
        payment_method="pm_card_visa", invoice_settings={"default_payment_method": "pm_card_visa"}
    )
    pro, starter = s.price(300_000), s.price(120_000)
    sub = s.client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": pro.id}]}
    )
    item = sub["items"].data[0]
    s.advance_to(item.current_period_start + 200 * DAY)
    downgraded = s.client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": item.id, "price": starter.id}],
            "proration_behavior": "create_prorations",
        },
    )
    assert downgraded.latest_invoice == sub.latest_invoice
    s.advance_to(item.current_period_end + 1)
    renewal = s.client.v1.invoices.retrieve(
        s.client.v1.subscriptions.retrieve(sub.id).latest_invoice
    )
    assert [line.proration for line in renewal.lines.data] == [True, True, False]
    assert renewal.lines.data[-1].amount == 120_000
    assert renewal.total == sum(line.amount for line in renewal.lines.data)
    assert renewal.total < 120_000


def test_cancel_at_period_end_keeps_the_subscription_until_the_period_ends(s: Served) -> None:
    customer = s.customer(
        payment_method="pm_card_visa", invoice_settings={"default_payment_method": "pm_card_visa"}
    )
    sub = s.client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": s.price(30_000, "month").id}]}
    )
    end = sub["items"].data[0].current_period_end
    canceling = s.client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    assert (canceling.status, canceling.cancel_at_period_end, canceling.cancel_at) == (
        "active",
        True,
        end,
    )
    kept = s.client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": False})
    assert (kept.cancel_at_period_end, kept.cancel_at, kept.canceled_at) == (False, None, None)
    s.client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})

    s.advance_to(end + 1)
    ended = s.client.v1.subscriptions.retrieve(sub.id)
    assert (ended.status, ended.ended_at) == ("canceled", end)
    assert ended.canceled_at is not None and ended.canceled_at < end
    assert s.event_types()[-1] == "customer.subscription.deleted"
    assert len(s.client.v1.invoices.list(params={"subscription": sub.id}).data) == 1

    other = s.client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": s.price(30_000, "month").id}]}
    )
    canceled = s.client.v1.subscriptions.cancel(other.id)
    assert canceled.status == "canceled"
    assert s.now() - 5 <= canceled.ended_at <= s.now()


def test_send_invoice_subscriptions_wait_for_payment_and_go_past_due(s: Served) -> None:
    customer = s.customer()
    sub = s.client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": s.price().id}],
            "collection_method": "send_invoice",
            "days_until_due": 30,
        }
    )
    assert sub.status == "active"
    invoice = s.client.v1.invoices.retrieve(sub.latest_invoice)
    assert (invoice.status, invoice.collection_method) == ("open", "send_invoice")
    assert invoice.due_date == invoice.status_transitions.finalized_at + 30 * DAY
    assert invoice.hosted_invoice_url.startswith(s.url)
    assert s.event_types()[-2:] == ["invoice.finalized", "invoice.sent"]

    s.advance_to(invoice.due_date + DAY)
    assert s.client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    assert s.event_types()[-2:] == ["invoice.overdue", "customer.subscription.updated"]

    paid = s.client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})
    assert (paid.status, paid.amount_remaining, paid.attempt_count) == ("paid", 0, 0)
    assert s.client.v1.subscriptions.retrieve(sub.id).status == "active"
    assert s.event_types()[-2:] == ["invoice.paid", "customer.subscription.updated"]
    with pytest.raises(stripe.InvalidRequestError):
        s.client.v1.invoices.pay(invoice.id)


def test_invoices_are_listed_voided_and_marked_uncollectible(s: Served) -> None:
    customer = s.customer()
    price = s.price(10_000, "month")
    created_after = s.now()
    subs = [
        s.client.v1.subscriptions.create(
            params={
                "customer": customer.id,
                "items": [{"price": price.id}],
                "collection_method": "send_invoice",
                "days_until_due": 7,
            }
        )
        for _ in range(3)
    ]
    listed = s.client.v1.invoices.list(
        params={
            "customer": customer.id,
            "status": "open",
            "created": {"gte": created_after},
            "limit": 2,
        }
    )
    assert len(listed.data) == 2 and listed.has_more
    rest = s.client.v1.invoices.list(
        params={"customer": customer.id, "limit": 2, "starting_after": listed.data[-1].id}
    )
    assert [i.id for i in listed.data + rest.data] == [sub.latest_invoice for sub in reversed(subs)]
    assert s.client.v1.invoices.void_invoice(subs[0].latest_invoice).status == "void"
    marked = s.client.v1.invoices.mark_uncollectible(subs[1].latest_invoice)
    assert marked.status_transitions.marked_uncollectible_at is not None
    with pytest.raises(stripe.InvalidRequestError):
        s.client.v1.invoices.void_invoice(subs[0].latest_invoice)


# -- idempotency and errors -------------------------------------------------------------------


def test_idempotency_keys_replay_and_refuse_other_parameters(s: Served) -> None:
    options: Any = {"idempotency_key": "create-acme-1"}
    first = s.client.v1.customers.create(params={"email": "a@acme.test"}, options=options)
    again = s.client.v1.customers.create(params={"email": "a@acme.test"}, options=options)
    assert again.id == first.id
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(s.client.v1.customers.list().data) == 1

    with pytest.raises(stripe.IdempotencyError) as mismatch:
        s.client.v1.customers.create(params={"email": "b@acme.test"}, options=options)
    assert mismatch.value.http_status == 400
    assert mismatch.value.json_body["error"]["type"] == "idempotency_error"

    s.control("advance", seconds=DAY + 1)  # keys are kept 24 hours
    other = s.client.v1.customers.create(params={"email": "b@acme.test"}, options=options)
    assert other.id != first.id


def test_errors_have_stripes_shape_and_status(s: Served) -> None:
    with pytest.raises(stripe.InvalidRequestError) as unknown_id:
        s.client.v1.customers.retrieve("cus_nope")
    assert unknown_id.value.http_status == 404
    assert (unknown_id.value.code, unknown_id.value.param) == ("resource_missing", "id")
    assert unknown_id.value.json_body["error"]["message"] == "No such customer: 'cus_nope'"

    with pytest.raises(stripe.InvalidRequestError) as no_customer:
        s.client.v1.subscriptions.create(params={"items": [{"price": "price_x"}]})
    assert (no_customer.value.http_status, no_customer.value.code) == (400, "parameter_missing")
    assert no_customer.value.param == "customer"

    with pytest.raises(stripe.InvalidRequestError) as unknown_param:
        s.client.v1.customers.create(params={"nmae": "typo"})  # type: ignore[typeddict-unknown-key]
    assert (unknown_param.value.code, unknown_param.value.param) == ("parameter_unknown", "nmae")

    with pytest.raises(stripe.InvalidRequestError) as bad_limit:
        s.client.v1.events.list(params={"limit": 101})
    assert bad_limit.value.param == "limit"

    answer = requests.get(
        f"{s.url}/v1/customers", headers={"Authorization": "Bearer pk_test_x"}, timeout=10
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "authentication_error"
    bad_key = stripe.StripeClient("sk_live_x", base_addresses={"api": s.url}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError):
        bad_key.v1.customers.list()

    raw = requests.post(
        f"{s.url}/v1/subscriptions",
        data={"customer": "cus_nope", "items[0][price]": "price_x"},
        auth=("sk_test_basic", ""),
        timeout=10,
    )
    assert raw.status_code == 404
    assert raw.json()["error"] | {"doc_url": None, "request_log_url": None} == {
        "type": "invalid_request_error",
        "message": "No such customer: 'cus_nope'",
        "param": "customer",
        "code": "resource_missing",
        "doc_url": None,
        "request_log_url": None,
    }
    assert raw.headers["Request-Id"].startswith("req_")
    unknown_route = requests.get(f"{s.url}/v1/nothing", auth=("sk_test_x", ""), timeout=10)
    assert unknown_route.status_code == 404
    assert "Unrecognized request URL" in unknown_route.json()["error"]["message"]

    customer = s.customer(
        payment_method="pm_card_chargeCustomerFail",
        invoice_settings={"default_payment_method": "pm_card_chargeCustomerFail"},
    )
    with pytest.raises(stripe.CardError) as declined:
        s.client.v1.subscriptions.create(
            params={
                "customer": customer.id,
                "items": [{"price": s.price().id}],
                "payment_behavior": "error_if_incomplete",
            }
        )
    assert (declined.value.http_status, declined.value.code) == (402, "card_declined")


# -- events and webhooks ----------------------------------------------------------------------


def test_events_filter_and_page_newest_first(s: Served) -> None:
    start = s.now()
    customers = [s.customer(email=f"c{i}@acme.test") for i in range(5)]
    s.control("advance", seconds=10)
    later = s.now()
    s.client.v1.customers.update(customers[0].id, params={"name": "renamed"})

    created = s.client.v1.events.list(params={"type": "customer.created", "limit": 2})
    assert len(created.data) == 2 and created.has_more
    assert created.data[0].data.object.id == customers[-1].id
    every = list(
        s.client.v1.events.list(params={"type": "customer.created", "limit": 2}).auto_paging_iter()
    )
    assert [e.data.object.id for e in every] == [c.id for c in reversed(customers)]
    assert all(e.created >= start for e in every)

    both = s.client.v1.events.list(params={"types": ["customer.created", "customer.updated"]})
    assert len(both.data) == 6
    recent = s.client.v1.events.list(params={"created": {"gte": later}})
    assert [e.type for e in recent.data] == ["customer.updated"]
    event = s.client.v1.events.retrieve(recent.data[0].id)
    assert event.request.id.startswith("req_")
    assert event.data.previous_attributes.name == "Acme Health"
    assert event.pending_webhooks == 0


def test_webhooks_are_signed_for_the_sdk_and_retried_after_a_failure(
    make_served: Callable[..., Served], receiver: Receiver
) -> None:
    receiver.answers = [500]
    s = make_served(
        webhook_endpoints=[(receiver.url, SECRET)], auto_deliver=True, retry_delays=(0.05,)
    )
    customer = s.customer()
    receiver.wait_for(2)
    (_, first), (headers, body) = receiver.received[:2]
    assert first == body
    assert headers["Content-Type"].startswith("application/json")
    event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)
    assert (event.type, event.data.object.id) == ("customer.created", customer.id)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            body.replace(b"Acme", b"Evil"), headers["Stripe-Signature"], SECRET
        )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_other")

    deadline = time.monotonic() + 5
    while True:
        deliveries = requests.get(f"{s.url}/_control/deliveries", timeout=10).json()["data"]
        if deliveries[0]["delivered"] or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert deliveries[0] | {"created": 0, "last_attempt_at": 0} == deliveries[0] | {
        "event": event.id,
        "type": "customer.created",
        "endpoint": receiver.url,
        "attempts": 2,
        "last_status": 200,
        "delivered": True,
        "created": 0,
        "last_attempt_at": 0,
    }
    assert s.client.v1.events.retrieve(event.id).pending_webhooks == 0


def test_sign_is_what_the_sdk_computes() -> None:
    payload = '{"id": "evt_1", "object": "event"}'
    assert sign(
        payload, SECRET, 1_700_000_000
    ) == stripe.WebhookSignature.generate_signature_header(payload, SECRET, 1_700_000_000)
    assert StripeDouble.sign(payload.encode(), SECRET, 5) == sign(payload, SECRET, 5)


def test_queued_webhooks_wait_for_a_flush(
    make_served: Callable[..., Served], receiver: Receiver
) -> None:
    s = make_served(webhook_endpoints=[(receiver.url, SECRET)], auto_deliver=False)
    s.customer()
    s.price()
    assert receiver.received == []
    pending = requests.get(f"{s.url}/_control/deliveries", timeout=10).json()["data"]
    assert [d["attempts"] for d in pending] == [0, 0, 0]
    result = s.control("webhooks/flush")
    assert result == {"attempted": 3, "delivered": 3, "pending": 0}
    assert [json.loads(body)["type"] for _, body in receiver.received] == [
        "customer.created",
        "product.created",
        "price.created",
    ]
    assert s.control("webhooks", auto_deliver="true")["auto_deliver"] is True


def test_a_dispute_is_opened_on_the_invoice_charge(s: Served) -> None:
    customer = s.customer(
        payment_method="pm_card_visa", invoice_settings={"default_payment_method": "pm_card_visa"}
    )
    sub = s.client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": s.price().id}]}
    )
    invoice = s.client.v1.invoices.retrieve(sub.latest_invoice)
    payment_intent = invoice.payments.data[0].payment.payment_intent
    dispute = s.control("charges/dispute", invoice=invoice.id)
    assert dispute["id"].startswith("dp_") and dispute["payment_intent"] == payment_intent
    event = s.client.v1.events.list(params={"type": "charge.dispute.created"}).data[0]
    assert event.data.object.charge == dispute["charge"]
    charge = s.client.v1.charges.retrieve(dispute["charge"])
    assert (charge.customer, charge.disputed, charge.amount) == (customer.id, True, 300_000)


# -- state, pages, concurrency ----------------------------------------------------------------


def test_state_survives_a_restart_from_its_file(
    make_served: Callable[..., Served], tmp_path: Path
) -> None:
    state = tmp_path / "restart.json"
    before = make_served(state_path=state)
    customer = before.customer()
    session = before.checkout(customer, before.price(), trial_days=30)
    before.control("advance", seconds=5 * DAY)
    moved = before.now()
    before.stop()

    after = make_served(state_path=state)
    assert after.now() >= moved
    sub = after.client.v1.subscriptions.retrieve(session.subscription)
    assert (sub.customer, sub.status) == (customer.id, "trialing")
    assert len(after.client.v1.events.list(params={"limit": 100}).data) == len(
        json.loads(state.read_text())["events"]
    )
    after.advance_to(sub.trial_end + 1)
    assert after.client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_hosted_pages_say_test_and_escape_markup(s: Served) -> None:
    customer = s.customer(name="<script>x</script>", email="e@acme.test")
    session = s.client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": s.price(name="<b>Pro</b>").id}],
            "success_url": "https://app.spectral.test/done",
        }
    )
    checkout = requests.get(session.url, timeout=10)
    assert "Spectral Stripe test double" in checkout.text and "no money moves" in checkout.text
    assert "&lt;b&gt;Pro&lt;/b&gt;" in checkout.text and "<b>Pro" not in checkout.text
    assert "<script" not in checkout.text
    assert "Pay with test card 4242 4242 4242 4242" in checkout.text
    assert (
        "Use test card 4000 0000 0000 0341 (attaches, then declines every charge)" in checkout.text
    )
    cancel_action, _ = button_action(checkout.text, "Cancel")
    canceled = requests.post(f"{s.url}{cancel_action}", allow_redirects=False, timeout=10)
    assert canceled.status_code == 303

    s.control(f"customers/{customer.id}/card", kind="good")
    sub = s.client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": s.price().id}]}
    )
    portal = s.client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": "javascript:alert(1)"}
    )
    page = requests.get(portal.url, timeout=10).text
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<script" not in page and "javascript:" not in page
    assert "Spectral Stripe test double" in page

    invoice = s.client.v1.invoices.retrieve(sub.latest_invoice)
    hosted = requests.get(invoice.hosted_invoice_url, timeout=10)
    assert "test double" in hosted.text and "&lt;script&gt;" in hosted.text
    pdf = requests.get(invoice.invoice_pdf, timeout=10)
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.content.rstrip().endswith(b"%%EOF")
    assert b"TEST INVOICE" in pdf.content and b"test double" in pdf.content
    control = requests.get(f"{s.url}/_control/", timeout=10).text
    assert "&lt;script&gt;" in control and "Advance to the renewal" in control


def test_the_hosted_invoice_page_pays_an_open_invoice(s: Served) -> None:
    customer = s.customer(
        payment_method="pm_card_chargeCustomerFail",
        invoice_settings={"default_payment_method": "pm_card_chargeCustomerFail"},
    )
    sub = s.client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": s.price().id}]}
    )
    assert sub.status == "incomplete"
    invoice = s.client.v1.invoices.retrieve(sub.latest_invoice)
    page = requests.get(invoice.hosted_invoice_url, timeout=10).text
    action, fields = button_action(page, "Pay with test card 4242")
    paid = requests.post(f"{s.url}{action}", data=fields, timeout=10)
    assert "is paid" in paid.text
    assert s.client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_concurrent_requests_keep_state_whole(s: Served) -> None:
    price = s.price()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(5):
                customer = s.customer(
                    email=f"w{n}-{i}@acme.test",
                    payment_method="pm_card_visa",
                    invoice_settings={"default_payment_method": "pm_card_visa"},
                )
                s.client.v1.subscriptions.create(
                    params={"customer": customer.id, "items": [{"price": price.id}]}
                )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    subs = list(s.client.v1.subscriptions.list(params={"limit": 100}).auto_paging_iter())
    assert len(subs) == 20 and {sub.status for sub in subs} == {"active"}
    numbers = [i.number for i in s.client.v1.invoices.list(params={"limit": 100}).data]
    assert len(set(numbers)) == 20


def test_the_app_serves_under_any_wsgi_root() -> None:
    double = StripeDouble(public_url="http://double.test/stripe")
    app = create_app(double)
    client = app.test_client()
    created = client.post(
        "/v1/customers",
        data={"name": "Root"},
        headers={"Authorization": "Bearer sk_test_root"},
        base_url="http://double.test/stripe/",
    )
    assert created.status_code == 200 and created.json is not None
    session = client.post(
        "/v1/billing_portal/sessions",
        data={"customer": created.json["id"]},
        headers={"Authorization": "Bearer sk_test_root"},
    )
    assert session.json is not None
    assert session.json["url"].startswith("http://double.test/stripe/portal/bps_")
    page = client.get(f"/portal/{session.json['id']}", base_url="http://double.test/stripe/")
    assert 'action="/stripe/portal/' in page.text
    double.close()


def test_the_control_page_buttons_renew_with_a_failing_card(s: Served) -> None:
    customer = s.customer(
        payment_method="pm_card_visa", invoice_settings={"default_payment_method": "pm_card_visa"}
    )
    sub = s.client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": s.price(30_000, "month").id}]}
    )
    page = requests.get(f"{s.url}/_control/", timeout=10).text
    action, fields = button_action(page, "Renew with a failing card")
    answer = requests.post(f"{s.url}{action}", data=fields, allow_redirects=False, timeout=10)
    assert (answer.status_code, answer.headers["Location"]) == (303, "/_control/")

    renewed = s.client.v1.subscriptions.retrieve(
        sub.id, params={"expand": ["latest_invoice", "customer"]}
    )
    assert renewed.status == "past_due"
    assert renewed.customer.id == customer.id
    assert renewed.latest_invoice.billing_reason == "subscription_cycle"
    assert renewed.latest_invoice.status == "open"
    assert renewed["items"].data[0].current_period_start == sub["items"].data[0].current_period_end

    s.client.v1.customers.delete(customer.id)
    assert s.client.v1.subscriptions.retrieve(sub.id).status == "canceled"
    assert s.event_types()[-2:] == ["customer.subscription.deleted", "customer.deleted"]


def test_ending_a_trial_now_charges_at_once(s: Served) -> None:
    customer = s.customer()
    session = s.checkout(customer, s.price(), trial_days=30)
    ended = s.client.v1.subscriptions.update(session.subscription, params={"trial_end": "now"})
    assert ended.status == "active"
    assert s.now() - 5 <= ended.trial_end <= s.now()
    invoice = s.client.v1.invoices.retrieve(ended.latest_invoice)
    assert (invoice.billing_reason, invoice.status, invoice.amount_paid) == (
        "subscription_cycle",
        "paid",
        300_000,
    )
