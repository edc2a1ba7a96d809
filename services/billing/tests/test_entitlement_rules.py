"""The capabilities rules (pure): what each plan allows, the 30-day grace, read-only, the 90 days
after a cancellation, and that the order Stripe's objects are read in never matters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from spectral_billing.entitlements.rules import (
    Account,
    InvoiceState,
    SubscriptionState,
    decide,
)
from spectral_billing.plans.catalog import catalog

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def sub(
    plan: str = "professional", status: str = "active", *, id: str = "sub_1", **kw: object
) -> SubscriptionState:
    values: dict[str, object] = {
        "created": NOW - 100 * DAY,
        "current_period_start": NOW - 10 * DAY,
        "current_period_end": NOW + 355 * DAY,
    }
    values.update(kw)
    return SubscriptionState(id=id, plan=plan, status=status, **values)  # type: ignore[arg-type]


def invoice(
    *, id: str = "in_1", status: str = "open", subscription: str = "sub_1", **kw: object
) -> InvoiceState:
    values: dict[str, object] = {"amount_remaining": 20_000_000, "number": "SPEC-0001"}
    values.update(kw)
    return InvoiceState(id=id, subscription_id=subscription, status=status, **values)  # type: ignore[arg-type]


def health_system(*subs: SubscriptionState, invoices: tuple[InvoiceState, ...] = ()) -> Account:
    return Account("health_system", subs, invoices, billing_url="https://spectral.test/billing")


def test_the_catalog_holds_the_domain_s_plans_and_prices() -> None:
    plans = catalog().plans
    assert {p: plans[p].price_cents for p in plans} == {
        "starter": 7_500_000,
        "professional": 20_000_000,
        "enterprise": 40_000_000,
        "verified": 1_500_000,
        "certified": 5_000_000,
        "trusted": 10_000_000,
    }
    assert [plans[p].ai_system_limit for p in ("starter", "professional", "enterprise")] == [
        3,
        10,
        None,
    ]
    assert catalog().trial.days == 30 and catalog().money_stops.grace_days == 30
    assert catalog().money_stops.canceled_read_days == 90


def test_an_organization_without_a_subscription_keeps_the_starter_allowance() -> None:
    decision = decide(health_system(), NOW)
    caps = decision.capabilities
    assert decision.status == "none" and caps["writable"] is True
    assert caps["ai_system_limit"] == 3 and caps["request_quota"] is None
    assert not caps["threshold_overrides"] and not caps["control_toggles"]
    vendor = decide(Account("vendor"), NOW).capabilities
    assert vendor["ai_system_limit"] == 0 and vendor["certification_tier"] is None
    staff = decide(Account("platform"), NOW).capabilities
    assert staff["ai_system_limit"] is None and staff["custom_controls"] == 100


def test_each_plan_gives_its_capabilities_not_its_name() -> None:
    trial = decide(health_system(sub("professional", "trialing", trial_end=NOW + 20 * DAY)), NOW)
    assert trial.status == "trialing"
    caps = trial.capabilities
    assert caps["ai_system_limit"] == 10 and caps["threshold_overrides"] and caps["control_toggles"]
    assert caps["request_quota"] == {"limit": 10_000, "window_seconds": 3600}
    assert caps["custom_controls"] == 0 and "executive_summary" in caps["reports"]
    enterprise = decide(health_system(sub("enterprise")), NOW).capabilities
    assert enterprise["ai_system_limit"] is None and enterprise["custom_controls"] == 100
    assert "evidence_package" in enterprise["reports"]
    certified = decide(Account("vendor", (sub("certified"),)), NOW).capabilities
    assert certified["certification_tier"] == "certified"


def test_a_failed_payment_gives_30_days_of_grace_then_read_only_until_paid() -> None:
    failed_at = NOW - 5 * DAY
    unpaid = invoice(attempt_count=1, finalized_at=failed_at, hosted_invoice_url="https://pay/in_1")
    account = health_system(sub(status="past_due"), invoices=(unpaid,))
    grace = decide(account, NOW)
    assert grace.status == "past_due" and grace.capabilities["writable"] is True
    assert grace.capabilities["pay_url"] == "https://pay/in_1"
    assert grace.next_review_at == failed_at + 30 * DAY  # the clock alone ends the grace

    after = decide(account, failed_at + 30 * DAY)
    caps = after.capabilities
    assert after.status == "read_only" and caps["writable"] is False
    assert "SPEC-0001" in caps["read_only_reason"] and "$200,000.00" in caps["read_only_reason"]
    assert caps["ai_system_limit"] == 10  # what it keeps stays; nothing new is added
    assert caps["pay_url"] == "https://pay/in_1"

    paid = health_system(
        sub(status="active"), invoices=(invoice(status="paid", amount_remaining=0),)
    )
    assert decide(paid, failed_at + 31 * DAY).capabilities["writable"] is True


def test_an_invoiced_contract_is_due_in_30_days_then_grace_then_read_only() -> None:
    contract = sub("enterprise", collection_method="send_invoice")
    due = NOW + 30 * DAY
    sent = invoice(collection_method="send_invoice", due_date=due, finalized_at=NOW)
    account = health_system(contract, invoices=(sent,))
    before = decide(account, NOW)
    assert before.status == "active" and before.next_review_at == due
    late = decide(account, due + DAY)
    assert late.status == "past_due" and late.capabilities["writable"]
    assert decide(account, due + 30 * DAY).capabilities["writable"] is False
    settled = health_system(contract, invoices=(invoice(status="paid", amount_remaining=0),))
    assert decide(settled, due + 45 * DAY).status == "active"


def test_canceled_is_read_only_for_90_days_then_expired() -> None:
    ended = NOW - 10 * DAY
    account = health_system(sub(status="canceled", ended_at=ended))
    canceled = decide(account, NOW)
    assert canceled.status == "canceled" and canceled.capabilities["writable"] is False
    assert canceled.next_review_at == ended + 90 * DAY
    expired = decide(account, ended + 90 * DAY)
    assert expired.status == "expired" and "retention" in expired.capabilities["read_only_reason"]


def test_a_paused_trial_is_read_only_until_a_payment_method_is_added() -> None:
    paused = decide(health_system(sub(status="paused")), NOW)
    assert paused.status == "paused" and paused.capabilities["writable"] is False
    assert "payment method" in paused.capabilities["read_only_reason"]


def test_the_live_subscription_decides_over_an_ended_or_unfinished_one() -> None:
    old = sub("enterprise", "canceled", id="sub_old", ended_at=NOW - 400 * DAY)
    new = sub("starter", "active", id="sub_new", created=NOW - DAY)
    abandoned = sub("enterprise", "incomplete_expired", id="sub_x", created=NOW)
    decision = decide(health_system(old, new, abandoned), NOW)
    assert decision.subscription_id == "sub_new" and decision.capabilities["ai_system_limit"] == 3


STATUSES = st.sampled_from(
    ["trialing", "active", "past_due", "unpaid", "paused", "canceled", "incomplete"]
)
PLANS = st.sampled_from(["starter", "professional", "enterprise", None])


@st.composite
def accounts(draw: st.DrawFn) -> Account:
    subs = tuple(
        sub(
            draw(PLANS) or "starter",
            draw(STATUSES),
            id=f"sub_{i}",
            created=NOW - draw(st.integers(0, 800)) * DAY,
            ended_at=NOW - draw(st.integers(0, 200)) * DAY,
        )
        for i in range(draw(st.integers(0, 3)))
    )
    invoices = tuple(
        invoice(
            id=f"in_{i}",
            subscription=f"sub_{draw(st.integers(0, 3))}",
            status=draw(st.sampled_from(["open", "paid", "void", "uncollectible"])),
            collection_method=draw(st.sampled_from(["charge_automatically", "send_invoice"])),
            attempt_count=draw(st.integers(0, 4)),
            finalized_at=NOW - draw(st.integers(0, 90)) * DAY,
            due_date=NOW + draw(st.integers(-90, 60)) * DAY,
        )
        for i in range(draw(st.integers(0, 4)))
    )
    return health_system(*subs, invoices=invoices)


@settings(max_examples=300, deadline=None)
@given(accounts(), st.randoms(use_true_random=False))
def test_the_order_stripe_objects_are_read_in_never_matters(account: Account, rnd: object) -> None:
    subs, invoices = list(account.subscriptions), list(account.invoices)
    rnd.shuffle(subs)  # type: ignore[attr-defined]
    rnd.shuffle(invoices)  # type: ignore[attr-defined]
    shuffled = Account(account.organization_type, tuple(subs), tuple(invoices), account.billing_url)
    assert decide(shuffled, NOW) == decide(account, NOW)


@settings(max_examples=200, deadline=None)
@given(accounts(), st.integers(0, 400))
def test_read_only_for_money_never_lifts_by_waiting(account: Account, days: int) -> None:
    """Only a payment (a new state) lifts read-only: the clock alone never does."""
    now = decide(account, NOW)
    later = decide(account, NOW + days * DAY)
    if not now.capabilities["writable"]:
        assert not later.capabilities["writable"]
