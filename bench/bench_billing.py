"""Stripe's webhooks into billing, and a change in Stripe reaching governance, with every target
as deployed in its own process (`spectral <service> <target>`) on this run's PostgreSQL database and
RabbitMQ namespace. Stripe is the test double `make run` and the tests use
(`spectral_billing.stripe_double`), served by this process: billing reads it through the Stripe SDK
and it signs and sends its webhooks as Stripe does.

*Acknowledgement*: `spectral billing web` (gunicorn gthread, `BENCH_BILLING_WORKERS` workers x
`BENCH_BILLING_THREADS` threads) on its own, billing's worker not running, so what is measured is
the intake: the signature checked by the Stripe SDK over the raw body, the event stored once by its
id (one `INSERT .. ON CONFLICT DO NOTHING` in its own transaction), the 200. The load is open loop
at a constant `BENCH_BILLING_RATE` deliveries/s for `BENCH_BILLING_SECONDS`: 32 sender threads in
this process send each delivery at its scheduled time on a new connection (as Stripe delivers), and
its latency counts from that scheduled time, so a stall delays the sends behind it without hiding
them (no coordinated omission). The bodies are the double's own events for one customer's Checkout
(paid at once) and upgrade, 15 of them (customer.created and .updated, payment_method.attached,
customer.subscription.created and .updated, invoice.created, .finalized, .paid and
.payment_succeeded, checkout.session.completed; 1 to 8 KB of Stripe's indented JSON; 40% of types
billing only records), delivered in turn, each with its own event id and one of 1,000 customers,
and signed when sent (`t=` now, HMAC-SHA256 with the webhook secret) as Stripe signs each attempt.
Every answer must be a 200 acknowledging that event as new, and the table must then hold each
delivery once. The baseline is `GET /livez` on the same server under the same load (a Flask view
behind the same request hooks, no database), the runs alternating (/livez, webhooks, and again),
each after 2 s of warm-up; the INSERT alone, timed from this process into a scratch copy of
`billing.stripe_events`, is in the notes. A delivery makes four PostgreSQL round trips (the pool's
pre-ping, BEGIN, the INSERT, COMMIT with its WAL flush) where /livez makes none, so when the cores
are short it waits its turn for them more often, and its tail grows faster than /livez's.

*Effect*: billing's web, worker and relay and governance's worker, the double sending its webhooks
to billing's web as events happen (one sender thread, in order, as under `make run`). Each round,
`BENCH_BILLING_CHANGES` new health systems are announced as auth announces them
(`auth.organization.created`, the admin's `auth.user.registered`, handed to billing's and
governance's consumers as their workers would): billing decides their first capabilities (no
subscription: 3 AI systems, version 1), which reach governance through the bus; then each admin
opens Checkout for the Professional plan through billing's own use case (a Stripe customer and a
Checkout Session). Once all is quiet, the admins pay on the double's hosted Checkout page, open loop
at `BENCH_BILLING_CHANGE_RATE` per second: the double creates the trialing subscription and sends
its 8 webhooks; billing's web stores them; billing's worker (every `BILLING_SYNC_INTERVAL_SECONDS`,
0.5 s as deployed) reads the customer, its subscriptions and invoices and the Checkout Session from
Stripe, mirrors them and decides again (Professional: 10 AI systems, version 2); its relay
publishes `billing.entitlements.updated`; governance's worker keeps it. The clock starts when the
payment is sent and stops when a read of governance's `organizations` (every 20 ms) finds the row at
version 2; the issue's figure, from the webhook, counts from the `received_at` of the change's
first webhook instead. Afterwards every row must hold the plan's limit, writable, and billing's
snapshot version 2, trialing, with every Stripe event handled and none failed. The stages come from
the rows each step left: the first webhook's `received_at`, the snapshot's outbox `created_at`,
governance's inbox `processed_at`. The baseline is the bus alone: the same organizations at the
same rate, each sent a newer snapshot (version 3) recorded straight into billing's outbox with
`record_event` from this process, the clock starting at its commit; it costs the relay's polling
(`OUTBOX_POLL_INTERVAL`, 0.5 s), RabbitMQ and governance's worker, without Stripe, the webhooks or
billing's worker. A warm-up round of 20 changes comes first. The double scans all it holds on each
call and each delivery (Stripe does not), so it is reset after every round, once that round's
customers are done with; its one sender thread, whose posts take a few ms each, keeps up with 5
changes/s (40 webhooks/s) on this machine but queues them at 10.

CPU is read from /proc per process; "other work" is the machine's busy time less this benchmark's
processes (and, for the effect, RabbitMQ): what else ran on the shared cores meanwhile."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
import psycopg
import requests
from bench_authorize import Server, delete_redis_keys, postgres_backends, service_web
from bench_telemetry import CpuClock, Process, pg_url, wait_for_consumers
from harness import (
    BenchContext,
    BenchmarkFailed,
    Result,
    deployed_env,
    format_number,
    median_result,
    percentile,
)
from kombu import Connection

from spectral_billing.db import bus as billing_bus
from spectral_billing.event_types import ENTITLEMENTS_UPDATED
from spectral_billing.plans.catalog import Plan, catalog
from spectral_billing.settings import DOUBLE_WEBHOOK_SECRET
from spectral_billing.stripe_api.gateway import StripeGateway
from spectral_billing.stripe_double import StripeDouble, serve, sign
from spectral_billing.subscriptions.use_cases import open_checkout
from spectral_billing.web import stripe_gateway
from spectral_shared.bus import Actor, Envelope, record_event
from spectral_shared.component import Runtime, installed_components
from spectral_shared.contracts.billing import Capabilities
from spectral_shared.identity import Identity
from spectral_shared.testing import fire
from spectral_shared.testing.billing import capabilities

TITLE = "Billing: Stripe's webhooks acknowledged, and a change in Stripe reaching governance"
COMPONENTS = ("billing", "governance")

GOAL_ACK_P99_MS = 200.0  # issue 19: webhook acknowledgement p99 under 200 ms at 200/s ...
GOAL_ACK_RATE_TEXT = "200 deliveries/s"
GOAL_EFFECT_P99_S = 5.0  # ... and a webhook's entitlement in effect in governance, p99 under 5 s
WEBHOOK = "/api/v1/billing/webhooks/stripe"
SENDERS = 32  # the open-loop generator's threads: enough that none is waited for at the rate
START_DELAY = 0.2  # seconds from building the schedule to its first send
WARM_UP_SECONDS = 2
CUSTOMERS = 1000  # the webhook load's deliveries name this many customers, in turn
INSERTS = 2000  # plain INSERTs timed for the acknowledgement's notes
HTTP_TIMEOUT = 30.0
POLL_SECONDS = 0.02  # how often governance's rows are read: the resolution of the lag
QUIET_POLL = 0.1
QUIET_TIMEOUT = 180.0
PLAN = "professional"  # the plan each organization checks out (from no subscription)
LIMIT_BEFORE, LIMIT_AFTER = 3, 10  # its AI-system limit before (no subscription) and after
BASELINE_VERSION = 3  # the bus-alone snapshot (the change's is 2, the first 1)
WARM_UP_CHANGES = 20
PIPELINE = ("web", "billing worker", "billing relay", "governance worker", "postgres")
EVT, CUS = "evt_PLACEHOLDER", "cus_PLACEHOLDER"


def parameters() -> dict[str, int]:
    """The knobs this benchmark reads from the environment, with the values in effect."""
    return {
        "BENCH_BILLING_RATE": int(os.environ.get("BENCH_BILLING_RATE", "200")),
        "BENCH_BILLING_SECONDS": int(os.environ.get("BENCH_BILLING_SECONDS", "20")),
        "BENCH_BILLING_CHANGE_RATE": int(os.environ.get("BENCH_BILLING_CHANGE_RATE", "5")),
        "BENCH_BILLING_CHANGES": int(os.environ.get("BENCH_BILLING_CHANGES", "100")),
        # 2 workers for this 2-core machine (what `spectral billing web` starts when
        # WEB_CONCURRENCY is unset); 4 threads each is the command's default.
        "BENCH_BILLING_WORKERS": int(os.environ.get("BENCH_BILLING_WORKERS", "2")),
        "BENCH_BILLING_THREADS": int(os.environ.get("BENCH_BILLING_THREADS", "4")),
    }


def progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


# ---- the open-loop generator -----------------------------------------------------------------------


@dataclass(frozen=True)
class Shot:
    intended: float  # when the schedule says it is sent (epoch seconds)
    sent: float
    answered: float
    error: str | None  # None: the answer expected

    @property
    def latency(self) -> float:
        """From the intended send time: a late send (no thread free) counts against the server,
        so a stall is not hidden by the generator waiting for it (no coordinated omission)."""
        return self.answered - self.intended


def open_loop(count: int, rate: float, shoot: Callable[[int], str | None]) -> list[Shot]:
    """``shoot(i)`` for i in 0..count-1, the i-th at ``i / rate`` seconds after the start, from
    ``SENDERS`` threads whatever the answers take."""
    shots: list[Shot | None] = [None] * count
    lock = threading.Lock()
    numbers = iter(range(count))
    began = time.time() + START_DELAY

    def sender() -> None:
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                return
            intended = began + number / rate
            delay = intended - time.time()
            if delay > 0:
                time.sleep(delay)  # the schedule, not a poll
            sent = time.time()
            try:
                error = shoot(number)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            shots[number] = Shot(intended, sent, time.time(), error)

    threads = [
        threading.Thread(target=sender, name=f"sender-{i}", daemon=True) for i in range(SENDERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [s for s in shots if s is not None]


def call(
    base_url: str, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, bytes]:
    """One request on a new connection, as Stripe delivers each webhook."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=HTTP_TIMEOUT
    )
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass(frozen=True)
class Usage:
    cpu: dict[str, float]  # CPU seconds by process group ("clients": this process)
    busy: float  # share of the machine's cores busy
    others: float  # cores the rest of the machine's work used (its busy time less ours)


class Meter:
    """CPU by process group over a stretch of time, and what else kept the machine busy."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.clock = CpuClock(groups)
        self.started = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        self.clock.start()

    def stop(self) -> Usage:
        cpu, busy = self.clock.stop()
        elapsed = max(1e-9, time.monotonic() - self.started)
        others = busy * (os.cpu_count() or 1) - sum(cpu.values()) / elapsed
        return Usage(cpu, busy, max(0.0, others))


# ---- part 1: acknowledgement -----------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    type: str
    text: str  # the event as the double sends it, its id and customer replaced by placeholders


def make_templates(double: StripeDouble, gateway: StripeGateway) -> list[Template]:
    """The events of one customer's Checkout (paid at once) and upgrade, as the double records
    them: what Stripe sends an endpoint for a new subscriber, in order."""
    organization = str(uuid.uuid4())
    customer = gateway.create_customer(organization, "Template Health", "billing@template.example")
    opened = gateway.create_checkout(
        organization_id=organization,
        customer_id=customer,
        plan=plan(PLAN),
        trial_days=None,
        success_url="https://spectral.example/billing?done={CHECKOUT_SESSION_ID}",
        cancel_url="https://spectral.example/billing",
        key=f"bench-{uuid.uuid4()}",
    )
    double.complete_checkout(str(opened["id"]), "good")
    subscription = gateway.customer_state(customer).subscriptions[0]
    assert subscription.item_id is not None
    gateway.change_price(
        subscription.id,
        subscription.item_id,
        plan("enterprise"),
        upgrade=True,
        key=f"bench-{uuid.uuid4()}",
    )
    with double.lock:
        events = [json.loads(json.dumps(e)) for e in double.db["events"].values()]
    templates = []
    for event in events:
        text = json.dumps(event, indent=2)  # as the double (and Stripe) sends it
        if customer not in text:
            continue  # the catalog's product and price
        text = text.replace(event["id"], EVT).replace(customer, CUS)
        templates.append(Template(event["type"], text))
    return templates


def plan(name: str) -> Plan:
    found = catalog().plan(name)
    if found is None:
        raise BenchmarkFailed(f"no plan {name!r} in the catalog")
    return found


@dataclass(frozen=True)
class Ack:
    """One run of the acknowledgement load (milliseconds; CPU in µs per request)."""

    requests: int
    errors: int
    first_error: str | None
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    service_p99_ms: float  # from the actual send: what the generator's lateness leaves out
    late_max_ms: float  # the generator's own lateness: the latest send after its time
    rate: float  # answers per second over the run
    cpu_us: dict[str, float]
    busy: float
    others: float  # cores other work on the machine used meanwhile


def summarize(shots: list[Shot], usage: Usage) -> Ack:
    good = [s for s in shots if s.error is None]
    errors = [s.error for s in shots if s.error is not None]
    if not good:
        raise BenchmarkFailed(f"no request answered as expected: {errors[:3]!r}")
    latencies = [s.latency * 1000 for s in good]
    span = max(s.answered for s in shots) - min(s.intended for s in shots)
    return Ack(
        requests=len(shots),
        errors=len(errors),
        first_error=errors[0] if errors else None,
        p50_ms=percentile(latencies, 0.5),
        p95_ms=percentile(latencies, 0.95),
        p99_ms=percentile(latencies, 0.99),
        max_ms=max(latencies),
        service_p99_ms=percentile([(s.answered - s.sent) * 1000 for s in good], 0.99),
        late_max_ms=max((s.sent - s.intended) * 1000 for s in shots),
        rate=len(shots) / span,
        cpu_us={name: seconds * 1e6 / len(shots) for name, seconds in usage.cpu.items()},
        busy=usage.busy,
        others=usage.others,
    )


@dataclass
class AckLoad:
    """The webhook load and its baseline against one billing web server."""

    context: BenchContext
    web: Server
    templates: list[Template]
    rate: float
    runs: int = 0

    def meter(self) -> Meter:
        engine = self.context.engine()
        return Meter({"web": self.web.worker_pids, "postgres": lambda: postgres_backends(engine)})

    def webhooks(self, seconds: float) -> Ack:
        self.runs += 1
        tag = f"evt_bench{self.runs:02d}{uuid.uuid4().hex[:6]}_"
        count = round(self.rate * seconds)
        bodies = []
        for number in range(count):
            template = self.templates[number % len(self.templates)]
            event_id = f"{tag}{number:06d}"
            customer = f"cus_bench{number % CUSTOMERS:06d}"
            text = template.text.replace(EVT, event_id).replace(CUS, customer)
            bodies.append((event_id, text.encode()))

        def deliver(number: int) -> str | None:
            event_id, body = bodies[number]
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                # Signed now, as Stripe signs each attempt: the timestamp is checked.
                "Stripe-Signature": sign(body, DOUBLE_WEBHOOK_SECRET),
            }
            status, answer = call(self.web.base_url, "POST", WEBHOOK, body, headers)
            if status != 200:
                return f"HTTP {status}: {answer[:300]!r}"
            ack = orjson.loads(answer)
            if ack.get("event_id") != event_id or ack.get("duplicate") is not False:
                return f"unexpected acknowledgement: {ack!r}"
            return None

        meter = self.meter()
        meter.start()
        shots = open_loop(count, self.rate, deliver)
        return summarize(shots, meter.stop())

    def livez(self, seconds: float) -> Ack:
        def probe(number: int) -> str | None:
            status, answer = call(self.web.base_url, "GET", "/livez", None, {})
            return None if status == 200 else f"HTTP {status}: {answer[:300]!r}"

        meter = self.meter()
        meter.start()
        shots = open_loop(round(self.rate * seconds), self.rate, probe)
        return summarize(shots, meter.stop())

    def check(self, url: str, expected: int) -> None:
        """Every acknowledged delivery stored once, none handled (no worker runs)."""
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE outcome = 'recorded'), "
                "count(DISTINCT customer_id) FROM billing.stripe_events "
                "WHERE id LIKE 'evt_bench%%'"
            ).fetchone()
        assert row is not None
        stored, recorded, customers = (int(v) for v in row)
        if stored != expected:
            raise BenchmarkFailed(f"{stored} events stored for {expected} acknowledged")
        progress(
            f"{stored:,} deliveries stored once each ({recorded:,} of a type billing only "
            f"records), naming {customers:,} customers"
        )

    def forget(self, url: str) -> None:
        """The load's events gone, so the worker started next does not try its made-up
        customers."""
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DELETE FROM billing.stripe_events WHERE id LIKE 'evt_bench%%'")


def plain_inserts(url: str, template: Template) -> tuple[float, float]:
    """p50 and p99 (ms) of one row like intake's, inserted in its own transaction (INSERT .. ON
    CONFLICT DO NOTHING RETURNING, as intake does) into a scratch copy of the table, one after
    another from this process."""
    scratch = "public.bench_billing_plain"
    latencies = []
    with psycopg.connect(url) as conn:
        conn.execute(f"CREATE TABLE {scratch} (LIKE billing.stripe_events INCLUDING ALL)")
        conn.commit()
        try:
            for number in range(INSERTS + 50):
                started = time.perf_counter()
                conn.execute(
                    f"INSERT INTO {scratch} (id, type, created, customer_id, object_id, "  # noqa: S608
                    "livemode, received_at, outcome, processed_at, attempts, last_error) "
                    "VALUES (%s, %s, now(), %s, %s, false, now(), NULL, NULL, 0, NULL) "
                    "ON CONFLICT (id) DO NOTHING RETURNING id",
                    (
                        f"evt_plain{number:06d}",
                        template.type,
                        f"cus_bench{number % CUSTOMERS:06d}",
                        "in_plain",
                    ),
                ).fetchone()
                conn.commit()
                if number >= 50:  # the first warm the connection and the statement
                    latencies.append((time.perf_counter() - started) * 1000)
        finally:
            conn.rollback()
            conn.execute(f"DROP TABLE {scratch}")
            conn.commit()
    return percentile(latencies, 0.5), percentile(latencies, 0.99)


# ---- part 2: from a change in Stripe to governance --------------------------------------------------


@dataclass
class Organization:
    id: str
    user: str
    checkout: str = ""


def envelope(kind: str, organization: Organization, data: dict[str, Any]) -> Envelope:
    return Envelope(
        type=kind,
        organization_id=uuid.UUID(organization.id),
        actor=Actor.user(organization.user),
        data=data,
    )


def seed(
    billing: Runtime, governance: Runtime, gateway: StripeGateway, count: int
) -> list[Organization]:
    """``count`` health systems as auth announces them (billing decides their first
    capabilities, which its relay publishes to governance), each with an admin who has opened
    Checkout for the plan (a Stripe customer and a Checkout Session, through billing's use case)."""
    organizations = [Organization(str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(count)]
    for organization in organizations:
        events = [
            envelope(
                "auth.organization.created",
                organization,
                {
                    "organization_id": organization.id,
                    "name": f"Bench Health {organization.id[:8]}",
                    "type": "health_system",
                },
            ),
            envelope(
                "auth.user.registered",
                organization,
                {
                    "user_id": organization.user,
                    "email": f"admin-{organization.id[:8]}@bench.example",
                    "name": "Bea Bench",
                    "role": "admin",
                },
            ),
        ]
        for event in events:
            fire(billing, "billing.accounts", event)
            fire(governance, "governance.directory", event)

    def checkout(organization: Organization) -> None:
        identity = Identity("user", organization.user, organization.id, "admin")
        opened = open_checkout(
            billing,
            gateway,
            identity,
            plan_id=PLAN,
            success_url="https://spectral.example/billing?done={CHECKOUT_SESSION_ID}",
            cancel_url="https://spectral.example/billing",
        )
        organization.checkout = opened.id

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(checkout, organizations))
    return organizations


class EffectPoller(threading.Thread):
    """Reads governance's ``organizations`` every ``POLL_SECONDS`` for the rows still awaited;
    a row is in effect once its ``entitlements_version`` reaches the target. The lag of one is
    the read's start minus the moment its change was made."""

    def __init__(self, url: str, target: int) -> None:
        super().__init__(name="effect-poller", daemon=True)
        self.url = url
        self.target = target
        self.pending: dict[str, float] = {}
        self.seen: dict[str, float] = {}
        self.lags: dict[str, float] = {}
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.ready = threading.Event()
        self.backend_pid = 0
        self.error: BaseException | None = None

    def add(self, organization_id: str, made: float) -> None:
        with self.lock:
            self.pending[organization_id] = made

    def waiting(self) -> int:
        with self.lock:
            return len(self.pending)

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                self.backend_pid = conn.info.backend_pid
                self.ready.set()
                while not self.halt.is_set():
                    with self.lock:
                        ids = list(self.pending)
                    if ids:
                        issued = time.time()
                        rows = conn.execute(
                            "SELECT id FROM governance.organizations "
                            "WHERE id = ANY(%s) AND entitlements_version >= %s",
                            (ids, self.target),
                        ).fetchall()
                        with self.lock:
                            for (organization_id,) in rows:
                                made = self.pending.pop(organization_id, None)
                                if made is not None:
                                    self.seen[organization_id] = issued
                                    self.lags[organization_id] = issued - made
                    self.halt.wait(POLL_SECONDS)
        except BaseException as exc:
            self.error = exc
            self.ready.set()


@dataclass(frozen=True)
class Effect:
    """One run of changes (or of the bus-alone baseline): lags in ms, stages in ms (p50, p99),
    CPU in ms per change."""

    changes: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    rate: float
    stages: dict[str, tuple[float, float]]
    webhooks: float  # webhooks a change made, on average
    from_webhook_p50_ms: float  # the lag from the change's first webhook stored by billing
    from_webhook_p99_ms: float
    cpu_ms: dict[str, float]
    busy: float
    others: float  # cores other work on the machine used meanwhile (RabbitMQ among it)


@dataclass(frozen=True)
class Trace:
    stages: dict[str, tuple[float, float]]  # stage: (p50, p99) in ms
    webhooks: float
    from_webhook_p50_ms: float
    from_webhook_p99_ms: float


@dataclass
class Pipeline:
    context: BenchContext
    url: str
    double: StripeDouble
    double_url: str
    billing: Runtime
    groups: dict[str, Callable[[], list[int]]]

    # -- quiet -----------------------------------------------------------------------------

    def check_first(self, organizations: list[Organization]) -> None:
        """Governance holds billing's first decision for each: no subscription, 3 AI systems."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            wrong = conn.execute(
                "SELECT id, entitlements_version, ai_system_limit FROM governance.organizations "
                "WHERE id = ANY(%s) AND NOT (entitlements_version = 1 AND ai_system_limit = %s)",
                ([o.id for o in organizations], LIMIT_BEFORE),
            ).fetchall()
        if wrong:
            raise BenchmarkFailed(f"{len(wrong)} organizations not as seeded: {wrong[:3]!r}")

    def quiet(self, organizations: Sequence[Organization], version: int) -> None:
        """Until governance holds ``version`` for every organization and nothing waits anywhere:
        no webhook undelivered, no Stripe event unhandled, no outbox row unpublished."""
        ids = [o.id for o in organizations]
        deadline = time.monotonic() + QUIET_TIMEOUT
        with psycopg.connect(self.url, autocommit=True) as conn:
            while True:
                with self.double.lock:
                    deliveries = list(self.double.db["deliveries"])
                undelivered = sum(1 for d in deliveries if not d["delivered"] and not d["gave_up"])
                gave_up = [d for d in deliveries if d["gave_up"]]
                if gave_up:
                    raise BenchmarkFailed(f"the double gave up a delivery: {gave_up[0]!r}")
                row = conn.execute(
                    "SELECT (SELECT count(*) FROM billing.stripe_events "
                    "        WHERE processed_at IS NULL), "
                    "       (SELECT count(*) FROM billing.stripe_events "
                    "        WHERE last_error IS NOT NULL), "
                    "       (SELECT count(*) FROM billing.outbox WHERE published_at IS NULL), "
                    "       (SELECT count(*) FROM governance.organizations "
                    "        WHERE id = ANY(%s) AND entitlements_version >= %s)",
                    (ids, version),
                ).fetchone()
                assert row is not None
                unhandled, failed, unpublished, applied = (int(v) for v in row)
                if failed:
                    error = conn.execute(
                        "SELECT last_error FROM billing.stripe_events "
                        "WHERE last_error IS NOT NULL LIMIT 1"
                    ).fetchone()
                    raise BenchmarkFailed(f"a Stripe event failed: {error!r}")
                if not (undelivered or unhandled or unpublished) and applied == len(ids):
                    return
                if time.monotonic() > deadline:
                    raise BenchmarkFailed(
                        f"not quiet within {QUIET_TIMEOUT:.0f} s: {undelivered} webhooks "
                        f"undelivered, {unhandled} Stripe events unhandled, {unpublished} outbox "
                        f"rows unpublished, {applied} of {len(ids)} organizations at v{version}"
                    )
                time.sleep(QUIET_POLL)  # polling other processes, bounded by the deadline

    # -- the runs ----------------------------------------------------------------------------

    def _measure(
        self,
        organizations: list[Organization],
        rate: float,
        target: int,
        act: Callable[[Organization, EffectPoller], str | None],
    ) -> tuple[EffectPoller, list[Shot], Usage]:
        poller = EffectPoller(self.url, target)
        poller.start()
        poller.ready.wait(30)
        everything = self.groups["postgres"]
        meter = Meter(
            self.groups | {"postgres": lambda: [p for p in everything() if p != poller.backend_pid]}
        )
        meter.start()
        try:
            shots = open_loop(
                len(organizations), rate, lambda number: act(organizations[number], poller)
            )
            deadline = time.monotonic() + QUIET_TIMEOUT
            while poller.waiting() and poller.error is None:
                if time.monotonic() > deadline:
                    raise BenchmarkFailed(
                        f"{poller.waiting()} of {len(organizations)} organizations not at "
                        f"v{target} in governance within {QUIET_TIMEOUT:.0f} s"
                    )
                time.sleep(QUIET_POLL)  # the poller's answers, bounded by the deadline
            # Everything the run set off is counted: the late webhooks, their second reading.
            self.quiet(organizations, target)
            usage = meter.stop()
        finally:
            poller.halt.set()
            poller.join()
        if poller.error is not None:
            raise BenchmarkFailed(f"the poller failed: {poller.error!r}")
        return poller, shots, usage

    def changes(self, organizations: list[Organization], rate: float) -> Effect:
        """Each organization's admin pays on Stripe's Checkout page, on a schedule; the clock
        starts when the payment is sent (the double makes the subscription and queues its events
        before it answers, and may deliver the first before the answer is read)."""

        def pay(organization: Organization, poller: EffectPoller) -> str | None:
            sent = time.time()
            answer = requests.post(
                f"{self.double_url}/checkout/{organization.checkout}/pay",
                data={"card": "good"},
                allow_redirects=False,
                timeout=HTTP_TIMEOUT,
            )
            if answer.status_code != 303:
                return f"HTTP {answer.status_code}: {answer.text[:300]}"
            poller.add(organization.id, sent)
            return None

        poller, shots, usage = self._measure(organizations, rate, 2, pay)
        self._check_changed(organizations)
        trace = self._stages(organizations, poller, 2, webhook=True)
        return self._effect(organizations, poller, shots, usage, trace)

    def bus_alone(self, organizations: list[Organization], rate: float) -> Effect:
        """The same organizations, each sent a newer snapshot recorded straight into billing's
        outbox (no Stripe, no webhook, no worker of billing's): the clock starts at its commit."""
        snapshot = capabilities("enterprise", ai_system_limit=None, version=BASELINE_VERSION)

        def record(organization: Organization, poller: EffectPoller) -> str | None:
            with self.billing.database.session() as session:
                record_event(
                    session,
                    billing_bus,
                    ENTITLEMENTS_UPDATED,
                    Capabilities(**snapshot),
                    organization_id=organization.id,
                    actor=Actor.system("bench"),
                )
            poller.add(organization.id, time.time())
            return None

        poller, shots, usage = self._measure(organizations, rate, BASELINE_VERSION, record)
        trace = self._stages(organizations, poller, BASELINE_VERSION, webhook=False)
        return self._effect(organizations, poller, shots, usage, trace)

    def _effect(
        self,
        organizations: list[Organization],
        poller: EffectPoller,
        shots: list[Shot],
        usage: Usage,
        trace: Trace,
    ) -> Effect:
        errors = [s.error for s in shots if s.error is not None]
        if errors:
            raise BenchmarkFailed(f"{len(errors)} changes failed: {errors[:3]!r}")
        lags = [lag * 1000 for lag in poller.lags.values()]
        if len(lags) != len(organizations):
            raise BenchmarkFailed(f"lags for {len(lags)} of {len(organizations)} organizations")
        span = max(s.answered for s in shots) - min(s.intended for s in shots)
        return Effect(
            changes=len(organizations),
            p50_ms=percentile(lags, 0.5),
            p95_ms=percentile(lags, 0.95),
            p99_ms=percentile(lags, 0.99),
            max_ms=max(lags),
            rate=len(shots) / span,
            stages=trace.stages,
            webhooks=trace.webhooks,
            from_webhook_p50_ms=trace.from_webhook_p50_ms,
            from_webhook_p99_ms=trace.from_webhook_p99_ms,
            cpu_ms={name: s * 1000 / len(organizations) for name, s in usage.cpu.items()},
            busy=usage.busy,
            others=usage.others,
        )

    def _check_changed(self, organizations: list[Organization]) -> None:
        """What governance and billing hold after the change: the plan's limit, writable, one new
        version; every event of the customers handled."""
        ids = [o.id for o in organizations]
        with psycopg.connect(self.url, autocommit=True) as conn:
            wrong = conn.execute(
                "SELECT g.id, g.entitlements_version, g.ai_system_limit, g.plan, g.writable, "
                "e.version, e.status FROM governance.organizations g "
                "JOIN billing.entitlements e ON e.organization_id = g.id "
                "WHERE g.id = ANY(%s) AND NOT (g.entitlements_version = 2 AND "
                "g.ai_system_limit = %s AND g.plan = %s AND g.writable AND e.version = 2 "
                "AND e.status = 'trialing')",
                (ids, LIMIT_AFTER, PLAN),
            ).fetchall()
        if wrong:
            raise BenchmarkFailed(
                f"{len(wrong)} organizations not as the change makes them: {wrong[:3]!r}"
            )

    def _stages(
        self,
        organizations: list[Organization],
        poller: EffectPoller,
        version: int,
        *,
        webhook: bool,
    ) -> Trace:
        """Where the time went, per organization, from the rows each step left (ms, p50 and
        p99): the first webhook stored by billing's web, the snapshot recorded in billing's outbox
        (the worker's decision), published by the relay, applied by governance's worker (its
        inbox row), seen by the poller; the webhooks a change made, on average; and the lag
        counted from the first webhook billing stored (the issue's figure)."""
        ids = [o.id for o in organizations]
        with psycopg.connect(self.url, autocommit=True) as conn:
            published = {
                organization_id: (float(created), float(applied))
                for organization_id, created, applied in conn.execute(
                    "SELECT o.body::jsonb ->> 'organization_id', "
                    "extract(epoch FROM o.created_at)::float8, "
                    "extract(epoch FROM i.processed_at)::float8 "
                    "FROM billing.outbox o JOIN governance.inbox i ON i.message_id = o.id "
                    "AND i.consumer = 'governance.directory' "
                    "WHERE o.event_type = %s AND o.body::jsonb ->> 'organization_id' = ANY(%s) "
                    "AND (o.body::jsonb -> 'data' ->> 'version')::int = %s",
                    (ENTITLEMENTS_UPDATED.name, ids, version),
                )
            }
            stored = {
                organization_id: (float(first), int(webhooks))
                for organization_id, first, webhooks in conn.execute(
                    "SELECT o.id, extract(epoch FROM min(e.received_at))::float8, count(*) "
                    "FROM billing.organizations o "
                    "JOIN billing.stripe_events e ON e.customer_id = o.stripe_customer_id "
                    "WHERE o.id = ANY(%s) AND e.type <> 'customer.created' GROUP BY o.id",
                    (ids,),
                )
            }
        if len(published) != len(ids) or (webhook and len(stored) != len(ids)):
            raise BenchmarkFailed(
                f"{len(published)} snapshots and {len(stored)} webhooks traced for {len(ids)} "
                "organizations"
            )
        spans: dict[str, list[float]] = {}

        def add(name: str, seconds: float) -> None:
            spans.setdefault(name, []).append(seconds * 1000)

        for organization_id in ids:
            made = poller.seen[organization_id] - poller.lags[organization_id]
            created, applied = published[organization_id]
            if webhook:
                first, count = stored[organization_id]
                add("webhook stored", first - made)
                spans.setdefault("webhooks", []).append(count)
                add("from the webhook", poller.seen[organization_id] - first)
                add("billing's worker decided", created - first)
            # The relay marks a row published after RabbitMQ confirms it, which can be after
            # governance applied it: relay and consumer are one stage.
            add("relay to governance applied", applied - created)
            add("poller saw", poller.seen[organization_id] - applied)
        per_change = spans.pop("webhooks", [0.0])
        from_webhook = spans.pop("from the webhook", [float("nan")])
        return Trace(
            {
                name: (percentile(values, 0.5), percentile(values, 0.99))
                for name, values in spans.items()
            },
            statistics.mean(per_change),
            percentile(from_webhook, 0.5),
            percentile(from_webhook, 0.99),
        )


@contextlib.contextmanager
def pipeline_processes(context: BenchContext, env: dict[str, str]) -> Iterator[dict[str, Process]]:
    """Governance's worker and billing's worker, each consuming before anything is published,
    then billing's relay; stopped on exit."""
    var = context.settings.var_dir
    governance, billing = context.runtime("governance"), context.runtime("billing")
    with Connection(context.broker_url) as conn, conn.channel() as channel:
        # audit.log, bound to '#' as deployed, so every publish is routed (mandatory); unread.
        audit = context.runtime("audit")
        audit.topology.declare(channel, audit.subscriptions)
    processes = {
        "governance worker": Process("worker", env, var / "governance-worker.log"),
        "billing worker": Process("worker", env, var / "billing-worker.log", service="billing"),
        "billing relay": Process("relay", env, var / "billing-relay.log", service="billing"),
    }
    try:
        for name, runtime, purpose in (
            ("governance worker", governance, "directory"),
            ("billing worker", billing, "accounts"),
        ):
            processes[name].start()
            subscription = next(s for s in runtime.subscriptions if s.purpose == purpose)
            queue = runtime.topology.queue_name(subscription)
            wait_for_consumers(context.broker_url, queue, [processes[name]])
        processes["billing relay"].start()
        yield processes
    finally:
        for process in reversed(processes.values()):
            process.stop()


def pid_of(process: Process) -> Callable[[], list[int]]:
    return lambda: [process.pid]


# ---- the benchmark -----------------------------------------------------------------------------------


def run(context: BenchContext) -> list[Result]:
    knobs = parameters()
    rate, seconds = float(knobs["BENCH_BILLING_RATE"]), knobs["BENCH_BILLING_SECONDS"]
    change_rate, changes = float(knobs["BENCH_BILLING_CHANGE_RATE"]), knobs["BENCH_BILLING_CHANGES"]
    workers, threads = knobs["BENCH_BILLING_WORKERS"], knobs["BENCH_BILLING_THREADS"]
    settings = context.settings
    url = pg_url(context)
    prefix = f"spectral-bench-{uuid.uuid4().hex[:10]}"
    double = StripeDouble(auto_deliver=True)
    server, thread, double_url = serve(double, "127.0.0.1", 0)
    billing = Runtime(
        installed_components()["billing"],
        settings.model_copy(update={"stripe_api_base": double_url}),
    )
    acks: list[Ack] = []
    livez: list[Ack] = []
    effects: list[Effect] = []
    alone: list[Effect] = []
    try:
        gateway = stripe_gateway(billing)
        templates = make_templates(double, gateway)
        progress(
            f"{len(templates)} event templates from the double: "
            + ", ".join(sorted({t.type for t in templates}))
        )
        stripe = {"STRIPE_API_BASE": double_url}
        with service_web(settings, "billing", workers, threads, prefix, stripe) as web:
            load = AckLoad(context, web, templates, rate)
            load.livez(WARM_UP_SECONDS)
            load.webhooks(WARM_UP_SECONDS)
            for number in range(1, context.repeats + 1):
                livez.append(load.livez(seconds))
                acks.append(load.webhooks(seconds))
                a, b = acks[-1], livez[-1]
                progress(
                    f"round {number}/{context.repeats}: webhook ack p50 {a.p50_ms:.1f} ms, p99 "
                    f"{a.p99_ms:.1f} ms, max {a.max_ms:.0f} ms, {a.errors} errors "
                    f"({a.rate:.0f}/s); /livez p50 {b.p50_ms:.1f} ms, p99 {b.p99_ms:.1f} ms"
                )
                progress(
                    "  CPU µs per request: "
                    + ", ".join(f"{k} {v:,.0f}" for k, v in a.cpu_us.items())
                    + " (livez: "
                    + ", ".join(f"{k} {v:,.0f}" for k, v in b.cpu_us.items())
                    + f"); machine {a.busy:.0%} busy, other work {a.others:.2f} cores"
                )
            load.check(url, round(rate * WARM_UP_SECONDS) + sum(a.requests for a in acks))
            plain = plain_inserts(url, templates[0])
            load.forget(url)

            double.add_webhook_endpoint(f"{web.base_url}{WEBHOOK}", DOUBLE_WEBHOOK_SECRET)
            env = deployed_env(settings, **stripe)
            with pipeline_processes(context, env) as processes:
                engine = context.engine()
                groups: dict[str, Callable[[], list[int]]] = {
                    "web": web.worker_pids,
                    **{name: pid_of(process) for name, process in processes.items()},
                    "postgres": lambda: postgres_backends(engine),
                }
                pipeline = Pipeline(context, url, double, double_url, billing, groups)
                governance = context.runtime("governance")
                for number in range(context.repeats + 1):
                    warm = number == 0
                    count = WARM_UP_CHANGES if warm else changes
                    organizations = seed(billing, governance, gateway, count)
                    pipeline.quiet(organizations, 1)
                    pipeline.check_first(organizations)
                    effect = pipeline.changes(organizations, change_rate)
                    baseline = pipeline.bus_alone(organizations, change_rate)
                    if not warm:
                        effects.append(effect)
                        alone.append(baseline)
                    # The double scans everything it holds on every call and every delivery
                    # (Stripe does not): each round starts it afresh, the last round's
                    # customers done with.
                    double.reset()
                    progress(
                        f"{'warm-up' if warm else f'round {number}/{context.repeats}'}: "
                        f"{count} changes at {change_rate:g}/s: p50 {effect.p50_ms:,.0f} ms, "
                        f"p99 {effect.p99_ms:,.0f} ms, max {effect.max_ms:,.0f} ms; bus alone "
                        f"p50 {baseline.p50_ms:,.0f} ms, p99 {baseline.p99_ms:,.0f} ms; from the "
                        f"webhook p50 {effect.from_webhook_p50_ms:,.0f} ms, p99 "
                        f"{effect.from_webhook_p99_ms:,.0f} ms"
                    )
                    progress(
                        "  stages p50/p99 ms: "
                        + "; ".join(
                            f"{name} {p50:,.0f}/{p99:,.0f}"
                            for name, (p50, p99) in effect.stages.items()
                        )
                    )
                    progress(
                        "  CPU ms per change: "
                        + ", ".join(f"{k} {v:,.1f}" for k, v in effect.cpu_ms.items())
                        + f"; machine {effect.busy:.0%} busy, other work {effect.others:.2f} cores"
                    )
                for process in processes.values():
                    if not process.alive():
                        raise BenchmarkFailed(f"billing's pipeline died: {process.log_tail()}")
    finally:
        billing.database.dispose()
        server.shutdown()
        server.server_close()
        double.close()
        thread.join(timeout=5)
        delete_redis_keys(prefix)
    return report(acks, livez, plain, effects, alone, knobs)


def report(
    acks: list[Ack],
    livez: list[Ack],
    plain: tuple[float, float],
    effects: list[Effect],
    alone: list[Effect],
    knobs: dict[str, int],
) -> list[Result]:
    rate, seconds = knobs["BENCH_BILLING_RATE"], knobs["BENCH_BILLING_SECONDS"]
    change_rate = knobs["BENCH_BILLING_CHANGE_RATE"]
    changes = knobs["BENCH_BILLING_CHANGES"]
    workers, threads = knobs["BENCH_BILLING_WORKERS"], knobs["BENCH_BILLING_THREADS"]
    fn = format_number

    def med(runs: Sequence[Any], attribute: str) -> float:
        return statistics.median(float(getattr(r, attribute)) for r in runs)

    def each(runs: Sequence[Any], attribute: str) -> str:
        return ", ".join(fn(float(getattr(r, attribute))) for r in runs)

    def cpu(runs: Sequence[Ack], name: str) -> str:
        return fn(statistics.median(r.cpu_us[name] for r in runs))

    def machine(runs: Sequence[Ack | Effect]) -> str:
        return (
            f"machine {med(runs, 'busy'):.0%} busy, other work on it "
            f"{fn(med(runs, 'others'))} cores ({each(runs, 'others')} by run)"
        )

    load = (
        f"open loop at a constant {rate} requests/s for {seconds} s ({SENDERS} sender threads; "
        "latency from each request's scheduled send time; a new connection per request, as "
        "Stripe delivers)"
    )
    shape = (
        f"`spectral billing web`: {workers} gunicorn workers x {threads} threads, billing's "
        f"worker not running; {os.cpu_count()} cores shared with PostgreSQL, the generator "
        "and whatever else runs on the machine"
    )
    errors = sum(a.errors for a in acks)
    first_error = next((f" (first: {a.first_error})" for a in acks if a.first_error), "")
    ack_p99 = med(acks, "p99_ms")
    ack_goal = f"goal p99 < {GOAL_ACK_P99_MS:g} ms at {GOAL_ACK_RATE_TEXT}: " + (
        "met"
        if ack_p99 < GOAL_ACK_P99_MS and not errors and rate >= 200
        else f"MISSED in {sum(a.p99_ms >= GOAL_ACK_P99_MS for a in acks)} of {len(acks)} runs"
    )
    ack_cpu = (
        f"CPU per request: web workers {cpu(acks, 'web')} µs, PostgreSQL {cpu(acks, 'postgres')}"
        f" µs, generator {cpu(acks, 'clients')} µs (/livez: web workers {cpu(livez, 'web')} µs)"
    )

    def goal(values: list[float]) -> str:
        value = statistics.median(values)
        return f"goal p99 < {GOAL_EFFECT_P99_S:g} s: " + (
            "met" if value < GOAL_EFFECT_P99_S * 1000 else "MISSED"
        )

    def stages(runs: list[Effect], index: int) -> str:
        return ", ".join(
            f"{name} {fn(statistics.median(r.stages[name][index] for r in runs))}"
            for name in runs[0].stages
        )

    def cpu_total(runs: list[Effect]) -> list[float]:
        return [sum(r.cpu_ms[name] for name in PIPELINE) for r in runs]

    def cpu_split(runs: list[Effect]) -> str:
        return ", ".join(
            f"{name} {fn(statistics.median(r.cpu_ms[name] for r in runs))}"
            for name in (*PIPELINE, "clients")
        )

    paced = f"{changes} Checkouts paid at {change_rate}/s"
    bus_name = (
        "the bus alone: a snapshot recorded straight into billing's outbox, to governance's row"
    )
    return [
        median_result(
            f"Webhook acknowledged at {rate} deliveries/s: p99",
            [a.p99_ms for a in acks],
            "ms",
            "GET /livez on the same server under the same load, p99",
            [b.p99_ms for b in livez],
            f"{ack_goal}; p95 {fn(med(acks, 'p95_ms'))} ms, max {fn(med(acks, 'max_ms'))} ms "
            f"(runs: {each(acks, 'max_ms')}); {errors} errors in "
            f"{sum(a.requests for a in acks):,} deliveries{first_error}; answered {fn(med(acks, 'rate'))}/s; "
            f"from the actual send, p99 {fn(med(acks, 'service_p99_ms'))} ms; the generator's "
            f"latest send {fn(med(acks, 'late_max_ms'))} ms behind schedule; {load}; {shape}; "
            f"{ack_cpu}; {machine(acks)}",
        ),
        median_result(
            f"Webhook acknowledged at {rate} deliveries/s: p50",
            [a.p50_ms for a in acks],
            "ms",
            "GET /livez on the same server under the same load, p50",
            [b.p50_ms for b in livez],
            f"/livez p99 {fn(med(livez, 'p99_ms'))} ms, max {fn(med(livez, 'max_ms'))} ms, "
            f"{machine(livez)}; the INSERT alone (a row like intake's in its own transaction, "
            f"{INSERTS:,} one after another from this process): p50 {fn(plain[0])} ms, p99 "
            f"{fn(plain[1])} ms",
        ),
        median_result(
            f"From a Checkout paid in Stripe to governance obeying the plan, at {change_rate} "
            "changes/s: p99",
            [e.p99_ms for e in effects],
            "ms",
            f"{bus_name}, p99",
            [e.p99_ms for e in alone],
            f"{goal([e.p99_ms for e in effects])}; {paced} (achieved "
            f"{fn(med(effects, 'rate'))}/s); p95 {fn(med(effects, 'p95_ms'))} ms,"
            f" max {fn(med(effects, 'max_ms'))} ms; stages p99 (ms): {stages(effects, 1)}; bus "
            f"alone max {fn(med(alone, 'max_ms'))} ms; {fn(med(effects, 'webhooks'))} webhooks "
            f"per change; {machine(effects)}",
        ),
        median_result(
            f"From a Checkout paid in Stripe to governance obeying the plan, at {change_rate} "
            "changes/s: p50",
            [e.p50_ms for e in effects],
            "ms",
            f"{bus_name}, p50",
            [e.p50_ms for e in alone],
            f"stages p50 (ms): {stages(effects, 0)}; bus alone: {stages(alone, 0)}",
        ),
        median_result(
            f"From the change's first webhook stored by billing to governance obeying, at "
            f"{change_rate} changes/s: p99",
            [e.from_webhook_p99_ms for e in effects],
            "ms",
            f"{bus_name}, p99",
            [e.p99_ms for e in alone],
            f"the issue's figure: the same runs, each lag counted from the `received_at` of the "
            f"change's first webhook; {goal([e.from_webhook_p99_ms for e in effects])}; p50 "
            f"{fn(med(effects, 'from_webhook_p50_ms'))} ms",
        ),
        median_result(
            "CPU per change: billing's web, worker and relay, governance's worker, PostgreSQL",
            cpu_total(effects),
            "ms",
            "the bus alone, per snapshot",
            cpu_total(alone),
            "user + system time from the first change until all is quiet (every webhook "
            "delivered and handled, the outbox published, governance at the version); by "
            f"process: {cpu_split(effects)} ms (bus alone: {cpu_split(alone)} ms); clients is "
            "this process: the Stripe double (its API answering billing's reads, its webhook "
            "sender), the generator and the poller",
        ),
    ]
