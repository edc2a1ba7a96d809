"""The audit log on PostgreSQL. *Append*: `BENCH_AUDIT_EVENTS` sign-in events (10 organizations)
are put in audit's quorum queue first, then one or two `spectral audit worker` processes, as
deployed (batches of up to 500 per transaction: inbox rows, canonical entries, Merkle nodes, log
heads; checkpoint signing on its schedule), drain it; the rate is timed from the moment RabbitMQ
counts every worker as a consumer to the last entry committed. The baseline drains the same
messages from the same queue with a bare kombu consumer that only acks. *Verify*: a log of
`BENCH_AUDIT_LOG_SIZE` entries (written with COPY, as the service would have written them) is
recomputed by the same code as `GET /api/v1/audit/verify`; the baseline is
SHA-256 over the same entry bytes, already in memory. *Inclusion proof*: `services.inclusion_proof`
(one query for the log head, one for the proof's nodes) for random entries of that log; the
baseline is a primary-key lookup of one entry row on the same connection pool."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime

from harness import (
    BenchContext,
    BenchmarkFailed,
    Result,
    deployed_env,
    median_result,
    percentile,
)
from kombu import Connection, Consumer, Producer
from sqlalchemy import select, text

from spectral_audit import services
from spectral_audit.models import Entry
from spectral_audit.signing import runtime_signer
from spectral_shared.bus import Actor, Envelope
from spectral_shared.component import Runtime
from spectral_shared.tlog.canonical import canonical_json
from spectral_shared.tlog.merkle import CompactRange, leaf_hash

TITLE = "The audit log: appends from the bus, verification, proofs"
COMPONENTS = ("audit",)

EVENTS = int(os.environ.get("BENCH_AUDIT_EVENTS", "60000"))
LOG_SIZE = int(os.environ.get("BENCH_AUDIT_LOG_SIZE", "1000000"))
PROOFS = 2000
TIMEOUT = 300.0
ORGANIZATIONS = [uuid.uuid4() for _ in range(10)]


def parameters() -> dict[str, int]:
    """The knobs this benchmark reads from the environment, with the values in effect."""
    return {"BENCH_AUDIT_EVENTS": EVENTS, "BENCH_AUDIT_LOG_SIZE": LOG_SIZE}


# ---- append from the bus -----------------------------------------------------------------------


def fill_queue(runtime: Runtime, queue: str, count: int) -> None:
    """``count`` persistent envelopes straight into the queue, as the relay would deliver them."""
    with Connection(runtime.settings.broker_url) as conn, conn.channel() as channel:
        producer = Producer(channel)
        for i in range(count):
            user = str(uuid.uuid4())
            envelope = Envelope(
                type="auth.user.logged_in",
                organization_id=ORGANIZATIONS[i % len(ORGANIZATIONS)],
                actor=Actor.user(user),
                data={"user_id": user, "method": "password"},
            )
            producer.publish(
                envelope.to_json(),
                routing_key=queue,
                exchange="",
                delivery_mode=2,
                content_type="application/json",
                content_encoding="utf-8",
                message_id=str(envelope.id),
                headers={"correlation_id": str(envelope.id)},
            )
        # A passive declare answers with the queue's depth once the broker has them all.
        deadline = time.monotonic() + TIMEOUT
        while channel.queue_declare(queue, passive=True).message_count < count:
            if time.monotonic() > deadline:
                raise BenchmarkFailed("the queue never held every message")
            time.sleep(0.05)


def drain_bare(runtime: Runtime, queue: str, count: int) -> float:
    """messages/s a consumer that does nothing but ack gets from this queue."""
    seen = 0
    done = threading.Event()

    def on_message(_body: object, message: object) -> None:
        nonlocal seen
        message.ack()  # type: ignore[attr-defined]
        seen += 1
        if seen >= count:
            done.set()

    with Connection(runtime.settings.broker_url) as conn, conn.channel() as channel:
        channel.basic_qos(0, 1000, False)
        consumer = Consumer(channel, queues=[runtime.topology.main_queue(runtime.subscriptions[0])])
        consumer.register_callback(on_message)
        started = time.perf_counter()
        with consumer:
            while not done.is_set():
                conn.drain_events(timeout=TIMEOUT)
        return count / (time.perf_counter() - started)


def appended(runtime: Runtime) -> int:
    with runtime.database.session() as session:
        return int(session.scalar(text("SELECT coalesce(sum(size), 0) FROM logs")) or 0)


def drain_with_workers(context: BenchContext, queue: str, count: int, processes: int) -> float:
    """entries/s appended while ``processes`` audit workers (``spectral audit worker``, as
    deployed: batches, checkpoint signing) all consume the queue: timed from the moment the
    last of them is consuming (RabbitMQ counts its consumer) to the last entry committed."""
    runtime = context.runtime("audit")
    target = appended(runtime) + count
    command = [sys.executable, "-m", "spectral_shared.cli", "audit", "worker"]
    logs = [context.settings.var_dir / f"audit-worker-{i}.log" for i in range(processes)]
    workers = [
        subprocess.Popen(
            command,
            env=deployed_env(context.settings),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        for log in logs
    ]
    try:
        with Connection(runtime.settings.broker_url) as conn, conn.channel() as channel:
            deadline = time.monotonic() + 60
            while channel.queue_declare(queue, passive=True).consumer_count < processes:
                if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                    tail = logs[0].read_text(errors="replace")[-2000:]
                    raise BenchmarkFailed(f"the audit workers did not start consuming: {tail}")
                time.sleep(0.005)
        started, done_at_start = time.perf_counter(), appended(runtime)
        deadline = time.monotonic() + TIMEOUT
        while (done := appended(runtime)) < target:
            if time.monotonic() > deadline:
                raise BenchmarkFailed(f"only {done} of {target} appended in {TIMEOUT:.0f} s")
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
    if done_at_start > target - count // 2:
        raise BenchmarkFailed("the workers started too far apart to measure them together")
    return (target - done_at_start) / elapsed


def append_from_bus(context: BenchContext) -> list[Result]:
    runtime = context.runtime("audit")
    queue = runtime.topology.queue_name(runtime.subscriptions[0])
    with Connection(runtime.settings.broker_url) as conn, conn.channel() as channel:
        runtime.topology.declare(channel, runtime.subscriptions)
    bare: list[float] = []
    rates: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(context.repeats):
        fill_queue(runtime, queue, EVENTS)
        bare.append(drain_bare(runtime, queue, EVENTS))
        for processes, measured in rates.items():
            fill_queue(runtime, queue, EVENTS)
            measured.append(drain_with_workers(context, queue, EVENTS, processes))
    return [
        median_result(
            f"audit worker appends from RabbitMQ, two worker processes ({EVENTS:,} queued, "
            "10 logs; goal >= 5,000/s)",
            rates[2],
            "entries/s",
            "a bare consumer that only acks",
            bare,
        ),
        median_result(
            f"audit worker appends from RabbitMQ, one worker process ({EVENTS:,} queued)",
            rates[1],
            "entries/s",
            "a bare consumer that only acks",
            bare,
        ),
    ]


# ---- a large log -----------------------------------------------------------------------------------


def seed_log(runtime: Runtime, log_id: str, size: int) -> list[bytes]:
    """``size`` entries, nodes and head of one log, written with COPY; returns the bodies."""
    tree, bodies = CompactRange(), []
    moment = datetime(2026, 11, 26, tzinfo=UTC)
    stamp = "2026-11-26T00:00:00.000000Z"
    connection = runtime.database.engine.raw_connection()
    try:
        cursor = connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(
            "COPY entries (log_id, idx, message_id, action, actor_type, actor_id, "
            "resource_type, resource_id, occurred_at, received_at, body) FROM STDIN"
        ) as entries:
            nodes: list[tuple[str, int, int, bytes]] = []
            for index in range(size):
                user, message = str(uuid.uuid4()), str(uuid.uuid4())
                entry = {
                    "action": "auth.user.logged_in",
                    "actor": {"id": user, "type": "user"},
                    "data": {"method": "password", "user_id": user},
                    "event_version": 1,
                    "format": 1,
                    "message_id": message,
                    "occurred_at": stamp,
                    "organization_id": log_id,
                    "received_at": stamp,
                    "resource": {"id": user, "type": "user"},
                }
                body = canonical_json(entry)
                bodies.append(body)
                entries.write_row(
                    (
                        log_id,
                        index,
                        message,
                        "auth.user.logged_in",
                        "user",
                        user,
                        "user",
                        user,
                        moment,
                        moment,
                        body,
                    )
                )
                nodes += [(log_id, lv, ix, h) for lv, ix, h in tree.append(leaf_hash(body))]
        with cursor.copy("COPY nodes (log_id, level, idx, hash) FROM STDIN") as copy:
            for row in nodes:
                copy.write_row(row)
        cursor.execute(
            "INSERT INTO logs (id, size, compact_range, root, checkpointed_size, purged_below, "
            "legal_hold, created_at) VALUES (%s, %s, %s, %s, 0, 0, false, now())",
            (log_id, size, tree.to_bytes(), tree.root()),
        )
        connection.commit()
    finally:
        connection.close()
    with runtime.database.session() as session:
        services.sign_checkpoint(session, runtime_signer(runtime), log_id)
        session.execute(text("ANALYZE entries"))
        session.execute(text("ANALYZE nodes"))
    return bodies


def verify_large_log(context: BenchContext, log_id: str, bodies: list[bytes]) -> Result:
    runtime = context.runtime("audit")
    times, raw = [], []
    for _ in range(context.repeats):
        started = time.perf_counter()
        verdict = services.verify_log(runtime.database, log_id)
        times.append(time.perf_counter() - started)
        if verdict is None or not verdict.valid or verdict.tree_size != len(bodies):
            raise BenchmarkFailed(f"the seeded log did not verify: {verdict!r}")
        started = time.perf_counter()
        sha256 = hashlib.sha256
        for body in bodies:
            sha256(b"\x00" + body).digest()
        raw.append(time.perf_counter() - started)
    megabytes = sum(len(b) for b in bodies) / 1e6
    return median_result(
        f"GET /verify's recomputation of a {len(bodies):,}-entry log ({megabytes:,.0f} MB of "
        "entries; goal < 30 s)",
        times,
        "s",
        "SHA-256 of the same entry bytes in memory",
        raw,
    )


def proof_latency(context: BenchContext, log_id: str, size: int) -> list[Result]:
    runtime = context.runtime("audit")
    rng = random.Random(7)
    proofs, lookups = [], []
    for _ in range(PROOFS):
        index = rng.randrange(size)
        started = time.perf_counter()
        with runtime.database.session() as session:
            services.inclusion_proof(session, log_id, index, size)
        proofs.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        with runtime.database.session() as session:
            session.execute(
                select(Entry.body).where(Entry.log_id == log_id, Entry.idx == index)
            ).one()
        lookups.append((time.perf_counter() - started) * 1000)
    return [
        Result(
            f"inclusion proof at {size:,} entries, p50 ({PROOFS:,} random entries)",
            percentile(proofs, 0.5),
            "ms",
            "one entry row by primary key, p50",
            percentile(lookups, 0.5),
        ),
        Result(
            f"inclusion proof at {size:,} entries, p99 (goal < 10 ms)",
            percentile(proofs, 0.99),
            "ms",
            "one entry row by primary key, p99",
            percentile(lookups, 0.99),
        ),
    ]


def run(context: BenchContext) -> list[Result]:
    results = append_from_bus(context)
    log_id = str(uuid.uuid4())
    bodies = seed_log(context.runtime("audit"), log_id, LOG_SIZE)
    results.append(verify_large_log(context, log_id, bodies))
    results += proof_latency(context, log_id, LOG_SIZE)
    return results
