"""Stripe's webhook endpoint: forged, expired, future-dated and replayed signatures are refused
and store nothing; a second delivery of an event is harmless; a rolled secret is accepted beside
the new one; types billing does not act on are recorded, not handled."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from spectral_billing.settings import DOUBLE_WEBHOOK_SECRET
from spectral_billing.stripe_api.models import StripeEvent
from spectral_billing.stripe_double import sign
from spectral_billing.testing import WEBHOOK, Billing, billing_app
from spectral_shared.config import Settings

pytestmark = pytest.mark.integration


def event(
    event_id: str = "evt_test_1", type: str = "invoice.paid", customer: str = "cus_x"
) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": type,
        "created": int(time.time()),
        "livemode": False,
        "api_version": "2026-10-28.endive",
        "data": {"object": {"id": "in_1", "object": "invoice", "customer": customer}},
    }


def post(billing: Billing, body: str, header: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    return billing.client.post(WEBHOOK, data=body, headers=headers)


def stored(billing: Billing) -> int:
    with billing.runtime.database.session() as session:
        return int(session.scalar(select(func.count()).select_from(StripeEvent)) or 0)


def test_bad_signatures_are_refused_and_store_nothing(billing: Billing) -> None:
    body = json.dumps(event())
    now = int(time.time())
    other = json.dumps(event("evt_other"))
    cases = {
        "missing": None,
        "empty": "",
        "not a signature": "hello",
        "another secret": sign(body, "whsec_someone_else", now),
        "expired": sign(body, DOUBLE_WEBHOOK_SECRET, now - 301),
        "from the future": sign(body, DOUBLE_WEBHOOK_SECRET, now + 301),
        "replayed onto another body": sign(other, DOUBLE_WEBHOOK_SECRET, now),
        "a v0 scheme only": f"t={now},v0=" + sign(body, DOUBLE_WEBHOOK_SECRET, now).split("v1=")[1],
    }
    for name, header in cases.items():
        answer = post(billing, body, header)
        assert answer.status_code == 400, name
        problem = answer.get_json()
        assert problem["type"].endswith("/bad-signature"), name
        assert answer.content_type == "application/problem+json"
    assert stored(billing) == 0
    # Signed, but not an event; not sent as JSON.
    for body in ("[1, 2]", '{"id": "evt_1"}', "not json"):
        signed = post(billing, body, sign(body, DOUBLE_WEBHOOK_SECRET, now))
        assert signed.status_code == 422, body
        assert signed.get_json()["type"].endswith("/not-a-stripe-event")
    form = billing.client.post(
        WEBHOOK,
        data=json.dumps(event()),
        headers={
            "Content-Type": "text/plain",
            "Stripe-Signature": sign(json.dumps(event()), DOUBLE_WEBHOOK_SECRET),
        },
    )
    assert form.status_code == 415
    assert stored(billing) == 0


def test_a_valid_event_is_stored_once_and_acknowledged_at_once(billing: Billing) -> None:
    body = json.dumps(event())
    first = post(billing, body, sign(body, DOUBLE_WEBHOOK_SECRET))
    assert first.status_code == 200
    assert first.get_json() == {
        "received": True,
        "event_id": "evt_test_1",
        "duplicate": False,
        "handled": True,
    }
    again = post(billing, body, sign(body, DOUBLE_WEBHOOK_SECRET))
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert stored(billing) == 1
    with billing.runtime.database.session() as session:
        row = session.get(StripeEvent, "evt_test_1")
        assert row is not None and row.processed_at is None and row.customer_id == "cus_x"


def test_types_billing_does_not_act_on_are_recorded(billing: Billing) -> None:
    body = json.dumps(event("evt_price", "price.created"))
    answer = post(billing, body, sign(body, DOUBLE_WEBHOOK_SECRET))
    assert answer.get_json()["handled"] is False
    with billing.runtime.database.session() as session:
        row = session.get(StripeEvent, "evt_price")
        assert row is not None and row.outcome == "recorded" and row.processed_at is not None


@pytest.fixture
def rotating(
    make_settings: Callable[..., Settings], pg_url: str, redis_url: str
) -> Iterator[Billing]:
    yield from billing_app(
        make_settings(
            database_url=pg_url,
            redis_url=redis_url,
            stripe_webhook_secret="whsec_new_secret",
            stripe_webhook_secret_previous="whsec_old_secret",
        )
    )


def test_during_a_rotation_both_secrets_are_accepted(rotating: Billing) -> None:
    for number, secret in enumerate(("whsec_new_secret", "whsec_old_secret")):
        body = json.dumps(event(f"evt_rot_{number}"))
        assert post(rotating, body, sign(body, secret)).status_code == 200, secret
    body = json.dumps(event("evt_rot_x"))
    assert post(rotating, body, sign(body, DOUBLE_WEBHOOK_SECRET)).status_code == 400
    assert stored(rotating) == 2


def test_the_undelivered_events_of_a_real_flow_converge_after_any_replay(billing: Billing) -> None:
    """Stripe's retries: every event of a checkout delivered three times, newest first."""
    org = billing.organization()
    billing.checkout(org, "professional")
    events = billing.undelivered()
    for _ in range(3):
        for one in reversed(events):
            assert billing.post_webhook(one).status_code == 200
    billing.delivered.update(e["id"] for e in events)
    billing.work()
    assert stored(billing) == len(events)
    standing = billing.subscription(org)
    assert standing["status"] == "trialing" and standing["capabilities"]["ai_system_limit"] == 10
