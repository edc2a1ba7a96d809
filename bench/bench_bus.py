"""Events through the bus: `record_event` into auth's outbox, the outbox relay (publisher confirms,
`mandatory`, persistent, then mark sent), RabbitMQ (a quorum queue), audit's worker (batches of
up to 500 messages: inbox rows and Merkle-log entries in one transaction, ack after commit). Everything runs through the project's own code
(`record_event`, `Runtime.relay()`, `Runtime.worker()`, `running_relay`, `running_worker`) against
the real services. The relay and the worker are threads of one Python process (they share the GIL;
in production each is its own process), except in the figures marked "relay in its own process",
which start `spectral auth relay` as deployed. The event is `auth.user.logged_in` with an
organization and a user actor. Latency is measured at a paced load of half the end-to-end
throughput of the same round, from the envelope's `occurred_at` to the audit entry's
`received_at`; its baseline sends the same bodies at the same pace straight through RabbitMQ."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from harness import (
    BenchContext,
    BenchmarkFailed,
    Result,
    deployed_env,
    median_result,
    percentile,
)
from kombu import Connection, Consumer, Producer, Queue

from spectral_auth import event_types as ev
from spectral_shared.bus import Actor, record_event
from spectral_shared.bus.publisher import broker_connection
from spectral_shared.bus.worker import Delivery, Worker
from spectral_shared.component import Runtime
from spectral_shared.config import Settings
from spectral_shared.testing import running_relay, running_worker

TITLE = "Events through the bus, end to end"
COMPONENTS = ("auth", "audit")

PER_TRANSACTION = 100  # events recorded (and baseline rows inserted) per transaction
TIMEOUT = 120.0  # seconds any one phase may take before the benchmark fails
LATENCY_LOAD = 0.5  # latency is measured at this fraction of the round's end-to-end throughput
LATENCY_PER_TRANSACTION = 10
ORGANIZATION = uuid.uuid4()

plain_events = sa.Table(
    "plain_events",
    sa.MetaData(),
    sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("headers", sa.Text, nullable=False),
)


@dataclass(frozen=True)
class OutboxRow:
    id: str
    body: str
    headers: dict[str, Any]


@dataclass
class Round:
    """One run of every measurement (rates in events/s, latencies in seconds)."""

    record: float = 0.0
    plain_insert: float = 0.0
    relay: float = 0.0
    raw_publish: float = 0.0
    worker: float = 0.0
    raw_consume: float = 0.0
    end_to_end: float = 0.0
    latency: tuple[float, float] = (0.0, 0.0)  # p50, p99
    latency_relay_process: tuple[float, float] = (0.0, 0.0)
    raw_latency: tuple[float, float] = (0.0, 0.0)
    body_bytes: float = 0.0


class DeliveryClock:
    """Counts a worker's deliveries and when the first and last happened. O(1) per message, so
    waiting for thousands of deliveries does not compete with the worker for the GIL."""

    def __init__(self, worker: Worker, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.first = self.last = 0.0
        self.failures: list[Delivery] = []
        self.done = threading.Event()
        worker.observers.append(self._observe)

    def _observe(self, delivery: Delivery) -> None:
        now = time.perf_counter()
        if delivery.outcome != "handled":
            self.failures.append(delivery)
            self.done.set()
            return
        self.count += 1
        if self.count == 1:
            self.first = now
        self.last = now
        if self.count >= self.expected:
            self.done.set()

    def wait(self, what: str) -> None:
        if not self.done.wait(TIMEOUT):
            raise BenchmarkFailed(
                f"{what}: only {self.count} of {self.expected} audit entries after {TIMEOUT:.0f} s"
            )
        if self.failures:
            raise BenchmarkFailed(f"{what}: a message was not handled: {self.failures[0]!r}")


# ---- the project's code paths ------------------------------------------------------------------


def record_events(auth: Runtime, count: int, per_transaction: int = PER_TRANSACTION) -> list[str]:
    ids: list[str] = []
    for start in range(0, count, per_transaction):
        with auth.database.session() as session:
            for _ in range(min(per_transaction, count - start)):
                user_id = str(uuid.uuid4())
                envelope = record_event(
                    session,
                    auth.component.tables,
                    ev.USER_LOGGED_IN,
                    ev.UserLoggedIn(user_id=user_id, method="password"),
                    organization_id=ORGANIZATION,
                    actor=Actor.user(user_id),
                )
                ids.append(str(envelope.id))
    return ids


def relay_alone(auth: Runtime, count: int) -> float:
    """Drain ``count`` outbox rows with ``publish_due`` in a loop; events/s."""
    relay = auth.relay()
    deadline = time.monotonic() + TIMEOUT
    published = 0
    try:
        started = time.perf_counter()
        while published < count:
            done = relay.publish_due()
            if done == 0 or time.monotonic() > deadline:
                raise BenchmarkFailed(
                    f"relay: {published} of {count} published; last error: {last_error(auth)}"
                )
            published += done
        return count / (time.perf_counter() - started)
    finally:
        relay.publisher.close()


def worker_drain(audit: Runtime, count: int) -> float:
    """Consume ``count`` messages waiting in the queue; events/s from the worker consuming to
    the last delivery (the audit worker handles batches, so the first delivery comes late)."""
    worker = audit.worker()
    clock = DeliveryClock(worker, count)
    with running_worker(worker):
        started = time.perf_counter()
        clock.wait("worker draining the queue")
    return count / (clock.last - started)


def end_to_end(auth: Runtime, audit: Runtime, count: int) -> float:
    """Relay and worker together, from the relay's start until the last audit entry; events/s."""
    worker = audit.worker()
    clock = DeliveryClock(worker, count)
    with running_worker(worker):
        started = time.perf_counter()
        with running_relay(auth):
            clock.wait("relay and worker")
    return count / (clock.last - started)


def bus_latency(
    auth: Runtime,
    audit: Runtime,
    engine: sa.Engine,
    count: int,
    rate: float,
    relay: Callable[[], AbstractContextManager[object]],
) -> list[float]:
    """Record ``count`` events at ``rate`` with a worker and ``relay()`` running; seconds per event
    from ``occurred_at`` to ``received_at``. One warm-up event first proves the relay is up."""
    worker = audit.worker()
    warm_up = DeliveryClock(worker, 1)
    clock = DeliveryClock(worker, count + 1)
    with running_worker(worker), relay():
        record_events(auth, 1)
        warm_up.wait("warm-up event (is the relay running?)")
        ids: list[str] = []
        for batch in paced(count, LATENCY_PER_TRANSACTION, rate):
            ids += record_events(auth, batch, LATENCY_PER_TRANSACTION)
        clock.wait("paced latency run")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT occurred_at, received_at FROM audit.entries WHERE message_id = ANY(:ids)"
            ),
            {"ids": ids},
        ).all()
    if len(rows) != count:
        raise BenchmarkFailed(f"latency run: {len(rows)} audit entries, expected {count}")
    return [(received - occurred).total_seconds() for occurred, received in rows]


@contextlib.contextmanager
def relay_process(settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """``spectral auth relay`` in its own process, as deployed: it cannot see this process's
    commit signal, so it polls the outbox every ``OUTBOX_POLL_INTERVAL`` when idle."""
    env = deployed_env(settings, OUTBOX_POLL_INTERVAL=str(settings.outbox_poll_interval))
    log_path = settings.var_dir / "relay.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "spectral_shared.cli", "auth", "relay"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
    if process.returncode not in (0, -signal.SIGTERM):
        tail = log_path.read_text(errors="replace")[-2000:]
        raise BenchmarkFailed(f"relay process exited with {process.returncode}: {tail}")


# ---- baselines ---------------------------------------------------------------------------------


def plain_inserts(engine: sa.Engine, rows: list[OutboxRow]) -> float:
    """The same rows as single-row INSERTs, ``PER_TRANSACTION`` per transaction; rows/s."""
    started = time.perf_counter()
    for start in range(0, len(rows), PER_TRANSACTION):
        with engine.begin() as conn:
            for row in rows[start : start + PER_TRANSACTION]:
                conn.execute(
                    plain_events.insert().values(
                        id=row.id, body=row.body, headers=json.dumps(row.headers)
                    )
                )
    return len(rows) / (time.perf_counter() - started)


def raw_publish(broker_url: str, queue: Queue, rows: list[OutboxRow]) -> float:
    """kombu publishes with confirms (the relay's connection settings), one by one; msgs/s."""
    with broker_connection(broker_url) as conn:
        producer = Producer(conn.channel())
        started = time.perf_counter()
        for row in rows:
            producer.publish(
                row.body,
                exchange="",
                routing_key=queue.name,
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                message_id=row.id,
                headers=row.headers,
                mandatory=True,
            )
        return len(rows) / (time.perf_counter() - started)


def raw_consume(broker_url: str, queue: Queue, count: int, prefetch: int) -> float:
    """kombu consume + ack of ``count`` waiting messages, no database; msgs/s first to last."""
    stamps: list[float] = []

    def on_message(_body: Any, message: Any) -> None:
        message.ack()
        stamps.append(time.perf_counter())

    drain(broker_url, queue, count, prefetch, on_message, ready=None)
    return (count - 1) / (stamps[-1] - stamps[0])


def raw_latency(
    broker_url: str, queue: Queue, rows: list[OutboxRow], rate: float, prefetch: int
) -> list[float]:
    """The same bodies at the same pace, publish (confirms) → consume; seconds per message."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    ready = threading.Event()

    def on_message(_body: Any, message: Any) -> None:
        latencies.append(time.time() - float(message.headers["x-sent-at"]))
        message.ack()

    def consume() -> None:
        try:
            drain(broker_url, queue, len(rows), prefetch, on_message, ready=ready)
        except BaseException as exc:
            errors.append(exc)
            ready.set()

    thread = threading.Thread(target=consume, name="bench-raw-consumer", daemon=True)
    thread.start()
    if not ready.wait(15):
        raise BenchmarkFailed("raw consumer did not start within 15 s")
    with broker_connection(broker_url) as conn:
        producer = Producer(conn.channel())
        sent = 0
        for batch in paced(len(rows), LATENCY_PER_TRANSACTION, rate):
            for row in rows[sent : sent + batch]:
                producer.publish(
                    row.body,
                    exchange="",
                    routing_key=queue.name,
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=2,
                    message_id=row.id,
                    headers={**row.headers, "x-sent-at": repr(time.time())},
                    mandatory=True,
                )
            sent += batch
    thread.join(TIMEOUT)
    if errors:
        raise BenchmarkFailed(f"raw latency run: {errors[0]!r}")
    return latencies


def drain(
    broker_url: str,
    queue: Queue,
    count: int,
    prefetch: int,
    on_message: Any,
    ready: threading.Event | None,
) -> None:
    received = 0

    def counted(body: Any, message: Any) -> None:
        nonlocal received
        on_message(body, message)
        received += 1

    deadline = time.monotonic() + TIMEOUT
    with Connection(broker_url, connect_timeout=5) as conn, conn.channel() as channel:
        channel.basic_qos(0, prefetch, False)
        with Consumer(channel, queues=[queue], callbacks=[counted], accept=["application/json"]):
            if ready is not None:
                ready.set()
            while received < count:
                if time.monotonic() > deadline:
                    raise BenchmarkFailed(
                        f"raw consumer: {received} of {count} after {TIMEOUT:.0f} s"
                    )
                try:
                    conn.drain_events(timeout=1)
                except TimeoutError:  # socket.timeout is TimeoutError
                    continue


# ---- plumbing ----------------------------------------------------------------------------------


def paced(count: int, per_batch: int, rate: float) -> Iterator[int]:
    """Batch sizes adding up to ``count``, each yielded on schedule for ``rate`` items/s."""
    interval = per_batch / rate
    due = time.monotonic()
    for start in range(0, count, per_batch):
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # the producer's schedule, not a wait for a result
        yield min(per_batch, count - start)
        due += interval


def reset(engine: sa.Engine) -> int:
    """Empty the outbox, inbox and baseline table; the audit log is append-only (its tables
    refuse TRUNCATE), so a stage counts the entries above the log's size before it."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("TRUNCATE auth.outbox, audit.inbox, public.plain_events RESTART IDENTITY")
        )
        return int(conn.execute(sa.text("SELECT count(*) FROM audit.entries")).scalar_one())


def outbox_rows(auth: Runtime) -> list[OutboxRow]:
    outbox = auth.component.tables.outbox
    with auth.database.session() as session:
        rows = session.execute(
            sa.select(outbox.c.id, outbox.c.body, outbox.c.headers).order_by(outbox.c.seq)
        ).all()
    return [OutboxRow(row.id, row.body, json.loads(row.headers)) for row in rows]


def last_error(auth: Runtime) -> str | None:
    outbox = auth.component.tables.outbox
    with auth.database.session() as session:
        return session.scalar(
            sa.select(outbox.c.last_error).where(outbox.c.last_error.is_not(None)).limit(1)
        )


def count_entries(engine: sa.Engine, expected: int, what: str, before: int) -> None:
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT count(*) FROM audit.entries")).scalar_one() - before
    if found != expected:
        raise BenchmarkFailed(f"{what}: {found} audit entries, expected {expected}")


# ---- the benchmark -----------------------------------------------------------------------------


def one_round(context: BenchContext, raw_queue: Queue, events: int, latency_events: int) -> Round:
    auth, audit = context.runtime("auth"), context.runtime("audit")
    engine, broker_url = context.engine(), context.broker_url
    prefetch = context.settings.bus_prefetch
    result = Round()

    # Stages one at a time: record, publish (queue bound, no consumer), consume.
    before = reset(engine)
    started = time.perf_counter()
    record_events(auth, events)
    result.record = events / (time.perf_counter() - started)
    rows = outbox_rows(auth)
    result.body_bytes = sum(len(row.body.encode()) for row in rows) / len(rows)
    result.plain_insert = plain_inserts(engine, rows)
    result.relay = relay_alone(auth, events)
    result.raw_publish = raw_publish(broker_url, raw_queue, rows)
    result.worker = worker_drain(audit, events)
    count_entries(engine, events, "worker", before)
    result.raw_consume = raw_consume(broker_url, raw_queue, events, prefetch)

    # The whole pipeline: relay and worker together on a full outbox.
    before = reset(engine)
    record_events(auth, events)
    result.end_to_end = end_to_end(auth, audit, events)
    count_entries(engine, events, "end to end", before)

    # Latency under a steady load below saturation.
    reset(engine)
    rate = LATENCY_LOAD * result.end_to_end
    bus = bus_latency(auth, audit, engine, latency_events, rate, lambda: running_relay(auth))
    result.latency = (percentile(bus, 0.5), percentile(bus, 0.99))
    reset(engine)
    bus = bus_latency(
        auth, audit, engine, latency_events, rate, lambda: relay_process(context.settings)
    )
    result.latency_relay_process = (percentile(bus, 0.5), percentile(bus, 0.99))
    raw = raw_latency(broker_url, raw_queue, rows[:latency_events], rate, prefetch)
    result.raw_latency = (percentile(raw, 0.5), percentile(raw, 0.99))
    return result


def parameters() -> dict[str, int]:
    """The knobs this benchmark reads from the environment, with the values in effect."""
    events = int(os.environ.get("BENCH_EVENTS", "5000"))
    if events < 2:
        raise BenchmarkFailed("BENCH_EVENTS must be at least 2")
    latency_events = min(events, int(os.environ.get("BENCH_LATENCY_EVENTS", "500")))
    return {"BENCH_EVENTS": events, "BENCH_LATENCY_EVENTS": latency_events}


def run(context: BenchContext) -> list[Result]:
    knobs = parameters()
    events, latency_events = knobs["BENCH_EVENTS"], knobs["BENCH_LATENCY_EVENTS"]
    audit = context.runtime("audit")
    raw_queue = Queue(
        context.private_queue("raw"), durable=True, queue_arguments={"x-queue-type": "quorum"}
    )
    plain_events.create(context.engine())
    with Connection(context.broker_url, connect_timeout=5) as conn, conn.channel() as channel:
        # audit.log exists (bound to '#') before anything publishes: mandatory needs a queue.
        audit.topology.declare(channel, audit.subscriptions)
        raw_queue(channel).declare()

    rounds: list[Round] = []
    for number in range(1, context.repeats + 1):
        started = time.monotonic()
        rounds.append(one_round(context, raw_queue, events, latency_events))
        print(
            f"  round {number}/{context.repeats}: {time.monotonic() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    def each(field: str) -> list[float]:
        return [getattr(r, field) for r in rounds]

    def ms(field: str, index: int) -> list[float]:
        return [getattr(r, field)[index] * 1000 for r in rounds]

    plain = f"plain INSERT of the same rows, {PER_TRANSACTION} per transaction (SQLAlchemy Core)"
    body = f"{sum(each('body_bytes')) / len(rounds):.0f}-byte bodies"
    prefetch = context.settings.bus_prefetch
    latency_note = (
        f"{latency_events} events at {LATENCY_LOAD:.0%} of the end-to-end rate, "
        f"{LATENCY_PER_TRANSACTION} per transaction; occurred_at → received_at"
    )
    return [
        median_result(
            "End to end: outbox → relay → RabbitMQ → audit worker → audit entry",
            each("end_to_end"),
            "events/s",
            plain,
            each("plain_insert"),
            f"{events} events waiting in the outbox; from the relay's start to the last entry",
        ),
        median_result(
            "Relay alone: claim, publish with confirms, mark sent",
            each("relay"),
            "events/s",
            "raw kombu publish with confirms of the same bodies to a quorum queue",
            each("raw_publish"),
            f"{events} events; audit.log bound but not consumed; {body}",
        ),
        median_result(
            "Latency record → audit entry, relay in-process (woken on commit), p50",
            ms("latency", 0),
            "ms",
            "raw kombu publish (confirms) → consume, same bodies and pace, p50",
            ms("raw_latency", 0),
            latency_note,
        ),
        median_result(
            "Latency record → audit entry, relay in-process (woken on commit), p99",
            ms("latency", 1),
            "ms",
            "raw kombu publish (confirms) → consume, same bodies and pace, p99",
            ms("raw_latency", 1),
            latency_note,
        ),
        median_result(
            "Latency record → audit entry, relay in its own process, p50",
            ms("latency_relay_process", 0),
            "ms",
            "raw kombu publish (confirms) → consume, same bodies and pace, p50",
            ms("raw_latency", 0),
            f"{latency_note}; `spectral auth relay` polling every "
            f"{context.settings.outbox_poll_interval} s (OUTBOX_POLL_INTERVAL)",
        ),
        median_result(
            "Latency record → audit entry, relay in its own process, p99",
            ms("latency_relay_process", 1),
            "ms",
            "raw kombu publish (confirms) → consume, same bodies and pace, p99",
            ms("raw_latency", 1),
            f"{latency_note}; `spectral auth relay` polling every "
            f"{context.settings.outbox_poll_interval} s (OUTBOX_POLL_INTERVAL)",
        ),
        median_result(
            "record_event into the outbox",
            each("record"),
            "events/s",
            plain,
            each("plain_insert"),
            f"{events} events, {PER_TRANSACTION} per transaction",
        ),
        median_result(
            "Audit worker alone: batches of up to 500 (inbox rows and entries) per transaction, ack after commit",
            each("worker"),
            "events/s",
            f"raw kombu consume + ack of the same bodies, prefetch {prefetch}, no database",
            each("raw_consume"),
            f"{events} messages waiting in the queue; prefetch {prefetch}",
        ),
    ]
