"""Billing through its API and Stripe (the test double), on PostgreSQL: trial, checkout, upgrade,
a refused downgrade, a failed payment through grace to read-only and back, cancellation, an
invoiced contract, permissions, other organizations, and the capabilities each step publishes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from spectral_billing.entitlements.models import Entitlement
from spectral_billing.testing import Billing

pytestmark = pytest.mark.integration

SUBSCRIPTION = "/api/v1/billing/subscription"


def published(billing: Billing, organization: str) -> list[dict[str, Any]]:
    """The capabilities snapshots billing recorded for the organization, oldest first."""
    outbox = billing.runtime.component.tables.outbox
    with billing.runtime.database.session() as session:
        rows = session.execute(
            select(outbox.c.body)
            .where(outbox.c.event_type == "billing.entitlements.updated")
            .order_by(outbox.c.seq)
        ).all()
    found = []
    for (body,) in rows:
        envelope = json.loads(body)
        if envelope["organization_id"] == organization:
            found.append(envelope["data"])
    return found


def test_the_plans_are_listed_with_what_each_allows(billing: Billing) -> None:
    org = billing.organization()
    plans = billing.request("GET", "/api/v1/billing/plans", org, role="viewer").get_json()["data"]
    by_id = {p["id"]: p for p in plans}
    assert by_id["professional"]["price_cents"] == 20_000_000
    assert (
        by_id["professional"]["ai_system_limit"] == 10 and by_id["professional"]["trial_days"] == 30
    )
    assert by_id["enterprise"]["ai_system_limit"] is None
    assert (
        by_id["trusted"]["certification_tier"] == "trusted"
        and by_id["trusted"]["trial_days"] is None
    )


def test_a_new_organization_gets_its_first_capabilities_at_once(billing: Billing) -> None:
    org = billing.organization()
    [first] = published(billing, org)
    assert first["version"] == 1 and first["status"] == "none"
    assert first["ai_system_limit"] == 3 and first["writable"] is True
    standing = billing.subscription(org)
    assert standing["status"] == "none" and standing["trial_available"] is True
    assert standing["capabilities"]["version"] == 1


def test_trial_checkout_upgrade_and_a_refused_downgrade(billing: Billing) -> None:
    org = billing.organization()
    opened = billing.checkout(org, "professional")
    assert opened["trial_days"] == 30 and opened["test_mode"] is True
    billing.settle()
    standing = billing.subscription(org)
    assert standing["status"] == "trialing" and standing["plan"] == "professional"
    assert standing["trial_ends_at"] is not None and standing["trial_available"] is False
    caps = published(billing, org)[-1]
    assert caps["ai_system_limit"] == 10 and caps["threshold_overrides"] is True

    again = billing.request("POST", "/api/v1/billing/checkout", org, {"plan": "enterprise"})
    assert again.status_code == 409 and again.get_json()["type"].endswith("/already-subscribed")

    upgraded = billing.request("POST", f"{SUBSCRIPTION}/plan", org, {"plan": "enterprise"})
    assert upgraded.status_code == 200, upgraded.get_json()
    assert upgraded.get_json()["plan"] == "enterprise"  # read back from Stripe at once
    assert upgraded.get_json()["capabilities"]["ai_system_limit"] is None

    billing.add_systems(org, 5)
    refused = billing.request("POST", f"{SUBSCRIPTION}/plan", org, {"plan": "starter"})
    problem = refused.get_json()
    assert refused.status_code == 409 and problem["type"].endswith("/downgrade-refused")
    assert problem["limit"] == 3 and problem["ai_systems"] == 5 and problem["remove"] == 2
    assert len(problem["counted"]) == 5 and "Delete or deprecate 2" in problem["detail"]
    assert billing.subscription(org)["plan"] == "enterprise"  # nothing changed

    fits = billing.request("POST", f"{SUBSCRIPTION}/plan", org, {"plan": "professional"})
    assert fits.status_code == 200 and fits.get_json()["plan"] == "professional"
    versions = [c["version"] for c in published(billing, org)]
    assert versions == list(range(1, len(versions) + 1))  # one version per change


def test_a_failed_payment_gives_grace_then_read_only_until_paid(billing: Billing) -> None:
    org = billing.organization(admin="pay@mercy.example")
    billing.checkout(org, "starter")
    billing.settle()
    customer = _customer(billing, org)
    billing.control(f"customers/{customer}/card", kind="declining")
    billing.advance(31)  # the trial ends; the first charge is declined
    billing.settle()
    standing = billing.subscription(org)
    assert standing["status"] == "past_due" and standing["writable"] is True
    assert standing["grace_ends_at"] is not None and standing["pay_url"]
    assert _emails(billing, "pay@mercy.example", "a payment failed") == 1

    billing.advance(31)  # Stripe retries and gives up; the grace period runs out
    billing.settle()
    from spectral_billing.entitlements.use_cases import review_due

    review_due(billing.runtime, now=billing.gateway.now())
    standing = billing.subscription(org)
    assert standing["writable"] is False, standing
    assert standing["read_only_reason"] and standing["pay_url"]
    caps = published(billing, org)[-1]
    assert caps["writable"] is False and caps["ai_system_limit"] == 3  # what exists stays
    assert _emails(billing, "pay@mercy.example", "a payment failed") == 1  # told once


def test_a_late_payment_makes_the_organization_writable_again(billing: Billing) -> None:
    org = billing.organization()
    billing.checkout(org, "professional")
    billing.settle()
    customer = _customer(billing, org)
    billing.control(f"customers/{customer}/card", kind="declining")
    billing.advance(31)
    billing.settle()
    billing.advance(10)
    billing.settle()
    assert billing.subscription(org)["status"] == "past_due"
    billing.control(f"customers/{customer}/card", kind="good", retry="true")
    billing.settle()
    standing = billing.subscription(org)
    assert standing["status"] == "active" and standing["writable"] is True
    assert standing["pay_url"] is None


def test_cancel_at_period_end_then_keep_it(billing: Billing) -> None:
    org = billing.organization()
    billing.checkout(org, "professional")
    billing.settle()
    canceled = billing.request("POST", f"{SUBSCRIPTION}/cancel", org)
    assert canceled.status_code == 200 and canceled.get_json()["cancel_at_period_end"] is True
    kept = billing.request("POST", f"{SUBSCRIPTION}/resume", org)
    assert kept.get_json()["cancel_at_period_end"] is False
    billing.request("POST", f"{SUBSCRIPTION}/cancel", org)
    billing.advance(40)  # canceled during the trial: it ends with the trial's period
    billing.settle()
    standing = billing.subscription(org)
    assert standing["status"] == "canceled" and standing["writable"] is False
    assert "readable" in standing["read_only_reason"]
    billing.advance(90)  # 90 days read-only, then data retention applies
    from spectral_billing.entitlements.use_cases import review_due

    assert review_due(billing.runtime, now=billing.gateway.now()) == 1
    assert billing.subscription(org)["status"] == "expired"


def test_an_invoiced_contract_is_due_in_30_days_and_can_be_paid_late(billing: Billing) -> None:
    from spectral_billing.subscriptions.use_cases import sign_contract
    from spectral_shared.bus import Actor

    org = billing.organization()
    subscription = sign_contract(
        billing.runtime,
        billing.gateway,
        organization_id=org,
        plan_id="enterprise",
        actor=Actor.system("spectral billing set-plan"),
    )
    assert subscription.collection_method == "send_invoice" and subscription.plan == "enterprise"
    billing.settle()
    [invoice] = billing.request("GET", "/api/v1/billing/invoices", org).get_json()["data"]
    assert invoice["status"] == "open" and invoice["amount_due"] == 40_000_000
    assert invoice["hosted_invoice_url"] and invoice["invoice_pdf"]
    assert billing.subscription(org)["capabilities"]["ai_system_limit"] is None

    billing.advance(45)  # 15 days past due: past due, still writable
    billing.settle()
    from spectral_billing.entitlements.use_cases import review_due

    review_due(billing.runtime, now=billing.gateway.now())
    assert billing.subscription(org)["status"] == "past_due"
    paid = billing.gateway.client.v1.invoices.pay(invoice["id"], params={"paid_out_of_band": True})
    assert paid.status == "paid"
    billing.settle()
    assert billing.subscription(org)["status"] == "active"


def test_only_admins_manage_billing_and_executives_read_it(billing: Billing) -> None:
    org = billing.organization()
    for role in ("viewer", "analyst", "compliance_officer", "executive"):
        refused = billing.request(
            "POST", "/api/v1/billing/checkout", org, {"plan": "starter"}, role=role
        )
        assert refused.status_code == 403, role
    assert billing.request("GET", SUBSCRIPTION, org, role="executive").status_code == 200
    assert billing.request("GET", SUBSCRIPTION, org, role="viewer").status_code == 403
    assert billing.request("GET", "/api/v1/billing/accounts", org).status_code == 403


def test_another_organizations_billing_is_invisible(billing: Billing) -> None:
    mercy, county = billing.organization(), billing.organization(admin="bo@county.example")
    billing.checkout(mercy, "professional")
    billing.settle()
    assert billing.request("GET", "/api/v1/billing/invoices", county).get_json()["data"] == []
    assert billing.subscription(county)["status"] == "none"
    assert billing.request("POST", f"{SUBSCRIPTION}/cancel", county).status_code == 404


def test_bad_plans_are_refused_and_change_nothing(billing: Billing) -> None:
    org = billing.organization()
    vendor = billing.organization(kind="vendor", admin="v@vendor.example")
    cases = [
        (org, {"plan": "gold"}, 422, "'starter', 'professional'"),
        (org, {"plan": "trusted"}, 422, "plan for vendors"),
        (vendor, {"plan": "starter"}, 422, "plan for health systems"),
        (org, {"plan": "starter", "seats": 5}, 422, "seats"),
        (org, {"plan": 3}, 422, "plan"),
    ]
    for who, body, status, words in cases:
        answer = billing.request("POST", "/api/v1/billing/checkout", who, body)
        assert answer.status_code == status, (body, answer.get_json())
        assert answer.content_type == "application/problem+json"
        if words:
            assert words in json.dumps(answer.get_json())
    with billing.runtime.database.session() as session:
        assert session.scalar(select(func.count()).select_from(Entitlement)) == 2
    assert billing.subscription(org)["status"] == "none"
    # A change with no subscription to change.
    none = billing.request("POST", f"{SUBSCRIPTION}/plan", org, {"plan": "enterprise"})
    assert none.status_code == 409 and none.get_json()["type"].endswith("/no-subscription")


def test_platform_staff_see_every_account_and_the_recurring_revenue(billing: Billing) -> None:
    paying, trial = billing.organization(), billing.organization(admin="t@t.example")
    staff = billing.organization(kind="platform", admin="sam@spectral.example")
    billing.checkout(paying, "enterprise")
    billing.checkout(trial, "professional")
    billing.settle()
    billing.advance(31)  # the enterprise trial converts; so does the professional one
    billing.settle()
    page = billing.request("GET", "/api/v1/billing/accounts", staff, role="super_admin")
    assert page.status_code == 200, page.get_json()
    body = page.get_json()
    rows = {r["organization_id"]: r for r in body["data"]}
    assert rows[paying]["plan"] == "enterprise" and rows[paying]["annual_value_cents"] == 40_000_000
    assert rows[paying]["renews_at"] is not None
    assert body["annual_recurring_revenue_cents"] == 40_000_000 + 20_000_000
    assert rows[staff]["status"] == "none"


def _customer(billing: Billing, organization: str) -> str:
    from spectral_billing.accounts.models import Organization

    with billing.runtime.database.session() as session:
        row = session.get(Organization, organization)
        assert row is not None and row.stripe_customer_id
        return row.stripe_customer_id


def _emails(billing: Billing, address: str, subject: str) -> int:
    """How many e-mails to ``address`` whose subject has ``subject`` are queued."""
    from spectral_billing.db import bus
    from spectral_shared.delivery import queued

    with billing.runtime.database.session() as session:
        mail = queued(session, bus, billing.runtime.cipher, "email")
    return sum(1 for to, body in mail if to == address and subject in body["subject"].lower())
