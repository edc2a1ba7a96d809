"""Convergence: whatever order Stripe delivers a lifecycle's events in, with duplicates and two
workers at once, billing ends in the same capabilities as in-order delivery, on PostgreSQL.

Each lifecycle is played once on the Stripe test double through billing's own gateway, and what
Stripe held after each step is recorded: the events the step emitted, the customer with every
subscription and invoice, and Stripe's clock. Hypothesis then generates schedules: the steps in
their order, each event delivered (once to three times) at any point after the step that emitted
it, and the worker run at any points, alone or two at once. A replaying Stripe answers each read
with the state after the steps taken so far, as Stripe would, so thousands of schedules run in
minutes; the webhook intake, the leases, the mirror and the decision are billing's own, against
PostgreSQL. Every schedule must end where in-order delivery ends.

BILLING_CONVERGENCE_ORDERINGS sets how many schedules run across the three lifecycles (10,000 by
default, the issue's floor)."""

from __future__ import annotations

import json
import math
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from spectral_billing.accounts.models import Organization
from spectral_billing.entitlements.models import Entitlement
from spectral_billing.plans.catalog import catalog
from spectral_billing.settings import DOUBLE_WEBHOOK_SECRET
from spectral_billing.stripe_api.gateway import (
    CustomerState,
    StripeGateway,
    StripeInvoice,
    StripeSubscription,
)
from spectral_billing.stripe_api.intake import HANDLED, receive
from spectral_billing.stripe_api.models import StripeEvent
from spectral_billing.stripe_api.processing import handle_pending
from spectral_billing.stripe_double import StripeDouble, serve, sign
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings

# Thousands of schedules per lifecycle: minutes, not the suite's two-minute default per test.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

ORDERINGS = int(os.environ.get("BILLING_CONVERGENCE_ORDERINGS", "10000"))
LIFECYCLES = ("trial_paid_upgrade_failed_recovered", "trial_canceled", "invoiced_paid_late")
# How many events billing acts on each step of each lifecycle emits (checked against the recording).
SHAPES = {
    "trial_paid_upgrade_failed_recovered": (5, 4, 3, 6, 1, 3),
    "trial_canceled": (5, 1, 2),
    "invoiced_paid_late": (2, 1, 2),
}
PER_LIFECYCLE = math.ceil(ORDERINGS / len(LIFECYCLES))
DAY = 86_400
ID = re.compile(r"\b(?:evt|cus|sub|si|in|cs|pi|ch|pm|ii|il|dp)_[A-Za-z0-9]+")


# ---- recording a lifecycle on the Stripe test double -------------------------------------------


@dataclass
class Moment:
    """What Stripe held after one step, and the events that step emitted."""

    events: list[dict[str, Any]]
    customer: dict[str, Any]
    subscriptions: list[dict[str, Any]]
    invoices: list[dict[str, Any]]
    clock: datetime


@dataclass
class Timeline:
    customer: str
    moments: list[Moment]
    expected: dict[str, Any] = field(default_factory=dict)  # capabilities after in-order delivery


class Recorder:
    def __init__(self, double: StripeDouble, url: str) -> None:
        self.double, self.url = double, url
        self.gateway = StripeGateway(
            "sk_test_recorder", api_base=url, webhook_secrets=(), tolerance_seconds=300
        )
        self.seen: set[str] = set()

    def get(self, path: str, **params: Any) -> Any:
        answer = requests.get(
            f"{self.url}{path}",
            params=params,
            headers={"Authorization": "Bearer sk_test_recorder"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def new_events(self) -> list[dict[str, Any]]:
        """The events since the last moment that billing acts on, oldest first (the others are
        acknowledged and recorded only; they cannot change capabilities)."""
        fresh = [e for e in self.get("/v1/events", limit=100)["data"] if e["id"] not in self.seen]
        self.seen.update(e["id"] for e in fresh)
        return [e for e in reversed(fresh) if e["type"] in HANDLED]

    def moment(self, customer: str) -> Moment:
        return Moment(
            events=self.new_events(),
            customer=self.get(f"/v1/customers/{customer}"),
            subscriptions=self.get("/v1/subscriptions", customer=customer, status="all", limit=100)[
                "data"
            ],
            invoices=self.get("/v1/invoices", customer=customer, limit=100)["data"],
            clock=self.gateway.now(),
        )

    def control(self, path: str, **data: Any) -> None:
        assert (
            requests.post(f"{self.url}/_control/{path}", data=data, timeout=10).status_code == 200
        )

    def checkout(self, customer: str, plan: str, trial: bool) -> None:
        session = self.gateway.create_checkout(
            organization_id="00000000-0000-4000-8000-000000000000",
            customer_id=customer,
            plan=catalog().plans[plan],
            trial_days=30 if trial else None,
            success_url="https://spectral.test/ok",
            cancel_url="https://spectral.test/no",
            key=str(uuid.uuid4()),
        )
        page = requests.get(session["url"], timeout=10).text
        action = next(
            m.group(1)
            for m in re.finditer(r'<form method="post" action="([^"]+)">(.*?)</form>', page, re.S)
            if 'name="card" value="good"' in m.group(2)
        )
        paid = requests.post(
            f"{self.url}{action}", data={"card": "good"}, allow_redirects=False, timeout=10
        )
        assert paid.status_code == 303

    def record(self, name: str) -> Timeline:
        customer = self.gateway.create_customer(
            "00000000-0000-4000-8000-000000000000", name, None, fresh=True
        )
        moments: list[Moment] = []
        snap = lambda: moments.append(self.moment(customer))  # noqa: E731
        subscription = lambda: self.get(  # noqa: E731
            "/v1/subscriptions", customer=customer, status="all"
        )["data"][0]
        if name == "trial_paid_upgrade_failed_recovered":
            self.checkout(customer, "professional", trial=True)
            snap()
            self.control("advance", seconds=str(31 * DAY))  # the trial converts, paid
            snap()
            sub = subscription()
            self.gateway.change_price(
                sub["id"],
                sub["items"]["data"][0]["id"],
                catalog().plans["enterprise"],
                upgrade=True,
                key=str(uuid.uuid4()),
            )
            snap()
            self.control(f"customers/{customer}/card", kind="declining")
            self.control("advance", seconds=str(370 * DAY))  # the renewal's charge fails
            snap()
            self.control("advance", seconds=str(4 * DAY))  # a retry fails too
            snap()
            self.control(f"customers/{customer}/card", kind="good", retry="true")  # recovered
            snap()
        elif name == "trial_canceled":
            self.checkout(customer, "starter", trial=True)
            snap()
            sub = subscription()
            self.gateway.set_cancel_at_period_end(sub["id"], True, key=str(uuid.uuid4()))
            snap()
            self.control("advance", seconds=str(31 * DAY))
            snap()
        else:
            self.gateway.create_invoiced_subscription(
                organization_id="00000000-0000-4000-8000-000000000000",
                customer_id=customer,
                plan=catalog().plans["enterprise"],
                days_until_due=30,
                key=str(uuid.uuid4()),
            )
            snap()
            self.control("advance", seconds=str(45 * DAY))  # 15 days past due
            snap()
            invoice = self.get("/v1/invoices", customer=customer)["data"][0]
            self.gateway.client.v1.invoices.pay(invoice["id"], params={"paid_out_of_band": True})
            snap()
        assert all(m.events for m in moments), "every step emits events billing acts on"
        return Timeline(customer, moments)


# ---- replaying Stripe --------------------------------------------------------------------------


def renamed(document: Any, suffix: str) -> Any:
    """``document`` with every Stripe object id made this schedule's own."""
    return json.loads(ID.sub(lambda m: f"{m.group(0)}x{suffix}", json.dumps(document)))


class ReplayedStripe(StripeGateway):
    """Stripe as it stood after the steps a schedule has taken: every read answers the state
    recorded after the latest step, under the schedule's own ids."""

    def __init__(self) -> None:
        super().__init__(
            "sk_test_replay",
            api_base=None,
            webhook_secrets=(DOUBLE_WEBHOOK_SECRET,),
            tolerance_seconds=300,
        )
        self.lock = threading.Lock()
        # customer -> (timeline, step, suffix); (customer, step) -> the state read then
        self.position: dict[str, tuple[Timeline, int, str]] = {}
        self.states: dict[tuple[str, int], CustomerState] = {}

    def at(self, timeline: Timeline, step: int, suffix: str) -> None:
        with self.lock:
            self.position[f"{timeline.customer}x{suffix}"] = (timeline, step, suffix)

    def customer_state(self, customer_id: str) -> CustomerState:
        with self.lock:
            timeline, step, suffix = self.position[customer_id]
            known = self.states.get((customer_id, step))
        if known is not None:
            return known
        moment = timeline.moments[step]
        state = CustomerState(
            customer_id=customer_id,
            organization_id=None,
            deleted=False,
            email=None,
            subscriptions=tuple(
                StripeSubscription.of(renamed(s, suffix)) for s in moment.subscriptions
            ),
            invoices=tuple(StripeInvoice.of(renamed(i, suffix)) for i in moment.invoices),
        )
        with self.lock:
            self.states[(customer_id, step)] = state
        return state

    def forget(self, customer_id: str) -> None:
        with self.lock:
            self.position.pop(customer_id, None)
            for key in [k for k in self.states if k[0] == customer_id]:
                del self.states[key]

    def now(self) -> datetime:
        with self.lock:
            clocks = [t.moments[s].clock for t, s, _ in self.position.values()]
        return max(clocks, default=datetime.now(UTC))

    def checkout_session(self, session_id: str) -> dict[str, Any]:
        return {"id": session_id, "status": "complete"}


# ---- schedules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """Per step: what happens after it (deliveries by event index, and worker runs of one or
    two workers at once), in order."""

    after_step: tuple[tuple[tuple[str, int], ...], ...]


def in_order(timeline: Timeline) -> Schedule:
    slots = []
    index = 0
    for moment in timeline.moments:
        ops = [("deliver", index + i) for i in range(len(moment.events))]
        index += len(moment.events)
        slots.append((*ops, ("work", 1)))
    return Schedule(tuple(slots))


def schedules(shape: tuple[int, ...]) -> st.SearchStrategy[Schedule]:
    """Schedules for a lifecycle whose steps emit ``shape[k]`` events each."""
    emitted = [k for k, count in enumerate(shape) for _ in range(count)]
    last = len(shape) - 1

    @st.composite
    def build(draw: st.DrawFn) -> Schedule:
        slots: list[list[tuple[str, int]]] = [[] for _ in shape]
        for index, step in enumerate(emitted):
            # A delivery, and now and then Stripe's retries of it (duplicates).
            copies = draw(st.sampled_from((1, 1, 1, 1, 1, 2, 2, 3)))
            for _ in range(copies):
                slots[draw(st.integers(step, last))].append(("deliver", index))
        for slot in slots:
            if draw(st.booleans()):  # the worker turns, alone or two at once
                slot.append(("work", draw(st.sampled_from((1, 2)))))
        return Schedule(tuple(tuple(draw(st.permutations(slot))) for slot in slots))

    return build()


# ---- running a schedule against billing ---------------------------------------------------------


@dataclass(repr=False)
class World:
    runtime: Runtime
    stripe: ReplayedStripe
    timelines: dict[str, Timeline]
    runs: int = 0

    def __repr__(self) -> str:
        return f"World({', '.join(self.timelines)}; {self.runs} schedules run)"

    def work(self, workers: int) -> None:
        if workers == 1:
            handle_pending(self.runtime, self.stripe)
            return
        failures: list[BaseException] = []

        def one() -> None:
            try:
                handle_pending(self.runtime, self.stripe)
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)

        threads = [threading.Thread(target=one) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures, failures

    def run(self, name: str, schedule: Schedule) -> dict[str, Any]:
        timeline = self.timelines[name]
        self.runs += 1
        suffix = f"{self.runs}{uuid.uuid4().hex[:6]}"
        customer = f"{timeline.customer}x{suffix}"
        organization = str(uuid.uuid4())
        with self.runtime.database.session() as session:
            session.add(
                Organization(
                    id=organization,
                    type="health_system",
                    stripe_customer_id=customer,
                    updated_at=datetime.now(UTC),
                )
            )
        events = [renamed(e, suffix) for m in timeline.moments for e in m.events]
        for step, ops in enumerate(schedule.after_step):
            self.stripe.at(timeline, step, suffix)
            for op, value in ops:
                if op == "work":
                    self.work(value)
                else:
                    body = json.dumps(events[value]).encode()
                    receive(self.runtime, self.stripe, body, sign(body, DOUBLE_WEBHOOK_SECRET))
        for _ in range(10):  # the worker keeps turning until nothing waits
            self.work(1)
            if not self.waiting(customer):
                break
        assert not self.waiting(customer), "every delivered event is handled"
        self.stripe.forget(customer)
        with self.runtime.database.session() as session:
            row = session.get(Entitlement, organization)
            assert row is not None
            return {"status": row.status, **row.capabilities}

    def waiting(self, customer: str) -> bool:
        with self.runtime.database.session() as session:
            return (
                session.scalar(
                    select(StripeEvent.id)
                    .where(StripeEvent.customer_id == customer, StripeEvent.processed_at.is_(None))
                    .limit(1)
                )
                is not None
            )


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    pg_template: Any,
    redis_url: str,
) -> Iterator[World]:
    from spectral_shared.testing.plugin import TEST_ENCRYPTION_KEY, _fresh_database

    double = StripeDouble(auto_deliver=False)
    server, _thread, url = serve(double, "127.0.0.1", 0)
    try:
        recorder = Recorder(double, url)
        timelines = {name: recorder.record(name) for name in LIFECYCLES}
    finally:
        server.shutdown()
        server.server_close()
        double.close()
    admin, template = pg_template
    with _fresh_database(admin, "spectral_test", template) as database_url:
        settings = Settings(
            spectral_env="test",
            var_dir=tmp_path_factory.mktemp("convergence"),
            encryption_key=TEST_ENCRYPTION_KEY,
            database_url=database_url,
            redis_url=redis_url,
            redis_key_prefix=f"test-{uuid.uuid4().hex[:12]}",
        )
        runtime = Runtime(installed_components()["billing"], settings)
        world = World(runtime, ReplayedStripe(), timelines)
        for name, timeline in timelines.items():
            timeline.expected = world.run(name, in_order(timeline))
        yield world
        runtime.database.dispose()


def test_the_lifecycles_end_where_the_domain_says(world: World) -> None:
    paid, canceled, late = (world.timelines[n].expected for n in LIFECYCLES)
    assert paid["status"] == "active" and paid["plan"] == "enterprise" and paid["writable"]
    assert canceled["status"] == "canceled" and not canceled["writable"]
    assert late["status"] == "active" and late["ai_system_limit"] is None and late["writable"]


def convergence(name: str) -> Callable[[World], None]:
    # Drawn from the recorded step and event counts, which the module records again each run.
    shape = SHAPES[name]

    @settings(
        max_examples=PER_LIFECYCLE,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(schedule=schedules(shape))
    def check(world: World, schedule: Schedule) -> None:
        timeline = world.timelines[name]
        assert [len(m.events) for m in timeline.moments] == list(shape), "the lifecycle changed"
        assert world.run(name, schedule) == timeline.expected

    return check  # type: ignore[return-value]


test_any_order_converges_trial_paid_upgrade_failed_recovered = convergence(LIFECYCLES[0])
test_any_order_converges_trial_canceled = convergence(LIFECYCLES[1])
test_any_order_converges_invoiced_paid_late = convergence(LIFECYCLES[2])
