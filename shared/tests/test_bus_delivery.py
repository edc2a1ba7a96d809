"""The bus contract against real PostgreSQL and RabbitMQ (and the in-memory broker of the
all-in-one where the contract must hold there too)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kombu import Connection
from sqlalchemy import func, select

from spectral_auth import event_types as ev
from spectral_auth.models import bus as auth_bus
from spectral_shared.bus import Actor, Envelope, record_event
from spectral_shared.bus.publisher import Publisher
from spectral_shared.bus.relay import Relay
from spectral_shared.bus.topology import Subscription, Topology
from spectral_shared.bus.worker import Worker
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings
from spectral_shared.testing import fire, running_relay, running_worker, wait_until
from spectral_shared.testing.plugin import BusNamespace

pytestmark = pytest.mark.integration


@pytest.fixture
def auth(integration_settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime(installed_components()["auth"], integration_settings)
    yield runtime
    runtime.database.dispose()


@pytest.fixture
def audit(integration_settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime(installed_components()["audit"], integration_settings)
    yield runtime
    runtime.database.dispose()


def emit(runtime: Runtime, user_id: str = "u-1") -> Envelope:
    return emit_many(runtime, [user_id])[0]


def audit_count(audit: Runtime) -> int:
    from spectral_audit.models import Entry

    with audit.database.session() as session:
        return session.scalar(select(func.count()).select_from(Entry)) or 0


def pending(runtime: Runtime) -> list[Any]:
    outbox = runtime.component.tables.outbox
    with runtime.database.session() as session:
        return list(session.execute(select(outbox).where(outbox.c.published_at.is_(None))).all())


def worker_for(
    settings: Settings,
    auth: Runtime,
    namespace: BusNamespace,
    subscriptions: list[Subscription],
    prefetch: int = 16,
) -> Worker:
    """A worker for test subscriptions on auth's database, their queues deleted afterwards."""
    topology = Topology(settings)
    for subscription in subscriptions:
        namespace.extra_queues += [q.name for q in topology.queues_for(subscription)]
    return Worker(
        settings.broker_url,
        topology,
        auth.database,
        auth.component.tables,
        subscriptions,
        prefetch=prefetch,
    )


def test_an_event_exists_only_if_its_transaction_commits(auth: Runtime, audit: Runtime) -> None:
    class Abort(Exception):
        pass

    def change_that_fails() -> None:
        with auth.database.session() as session:
            record_event(
                session,
                auth_bus,
                ev.USER_EMAIL_VERIFIED,
                ev.UserEmailVerified(user_id="rolled-back"),
                organization_id=None,
                actor=Actor.system("test"),
            )
            raise Abort

    with pytest.raises(Abort):
        change_that_fails()
    committed = emit(auth, "committed")
    assert [row.id for row in pending(auth)] == [str(committed.id)]

    with running_worker(audit) as (_, deliveries):
        assert auth.relay().publish_due() == 1
        deliveries.wait_handled(str(committed.id))
    assert pending(auth) == []
    assert audit_count(audit) == 1


def test_unroutable_events_stay_in_the_outbox_until_a_queue_exists(
    auth: Runtime, audit: Runtime
) -> None:
    envelope = emit(auth)
    assert auth.relay().publish_due() == 0  # nothing bound to the exchange yet: mandatory refuses
    [row] = pending(auth)
    assert row.attempts == 1 and "unroutable" in row.last_error

    with running_worker(audit) as (_, deliveries):  # declares audit.log, bound to '#'
        outbox = auth.component.tables.outbox
        with auth.database.session() as session:  # skip the backoff instead of waiting for it
            session.execute(outbox.update().values(available_at=row.created_at))
        assert auth.relay().publish_due() == 1
        deliveries.wait_handled(str(envelope.id))


def test_a_relay_killed_between_publish_and_mark_sent_causes_no_duplicate_effect(
    auth: Runtime, audit: Runtime, integration_settings: Settings
) -> None:
    first, second = emit(auth, "first"), emit(auth, "second")
    env = {
        **os.environ,
        "DATABASE_URL": integration_settings.database_url or "",
        "BROKER_URL": integration_settings.broker_url,
        "BUS_EXCHANGE": integration_settings.bus_exchange,
        "BUS_QUEUE_PREFIX": integration_settings.bus_queue_prefix,
        "ENCRYPTION_KEY": integration_settings.secret("ENCRYPTION_KEY"),
        "SPECTRAL_ENV": "test",
        "LOG_LEVEL": "warning",
    }
    relay = [sys.executable, "-m", "spectral_shared.cli", "auth", "relay"]
    with running_worker(audit) as (_, deliveries):
        crashed = subprocess.run(
            relay,
            env={**env, "SPECTRAL_FAILPOINTS": "relay.after_publish=exit"},
            timeout=60,
            capture_output=True,
        )
        assert crashed.returncode == 137, crashed.stderr.decode()[-2000:]
        deliveries.wait_handled(str(first.id))
        # The first event reached the broker, yet its row still says unpublished: the crash
        # happened before the mark-sent commit.
        assert {row.id for row in pending(auth)} == {str(first.id), str(second.id)}
        # The dead relay's claim holds its rows for the lease: nobody publishes them meanwhile.
        assert auth.relay().publish_due() == 0
        outbox = auth.component.tables.outbox
        with auth.database.session() as session:  # the lease runs out, without waiting for it
            session.execute(outbox.update().values(available_at=outbox.c.created_at))

        restarted = subprocess.Popen(relay, env=env)
        try:
            wait_until(lambda: not pending(auth), what="the restarted relay to drain the outbox")
            deliveries.wait_for(
                lambda d: d.message_id == str(first.id) and d.outcome == "duplicate"
            )
            deliveries.wait_handled(str(second.id))
        finally:
            restarted.terminate()
            restarted.wait(20)
    assert audit_count(audit) == 2


@pytest.mark.parametrize("broker", ["rabbitmq", "memory"])
def test_a_handler_that_keeps_failing_is_dead_lettered_and_the_queue_keeps_flowing(
    broker: str, auth: Runtime, integration_settings: Settings, bus_namespace: BusNamespace
) -> None:
    settings = integration_settings
    if broker == "memory":
        settings = integration_settings.model_copy(update={"broker_url": "memory://"})
        auth = Runtime(auth.component, settings)
    handled: list[str] = []

    def handler(_session: Any, envelope: Envelope) -> None:
        if envelope.data["user_id"] == "poison":  # as a database error would say it
            raise ValueError(
                "cannot process the poison event\nDETAIL:  Key (email)=(jane@example.org) exists."
            )
        handled.append(envelope.data["user_id"])

    subscription = Subscription("test", "flaky", ("auth.user.*",), handler)
    worker = worker_for(settings, auth, bus_namespace, [subscription], prefetch=4)

    with running_worker(worker) as (_, deliveries), running_relay(auth):
        poison = emit(auth, "poison")
        good = [emit(auth, f"good-{i}") for i in range(5)]
        for envelope in good:
            deliveries.wait_handled(str(envelope.id))
        dead = deliveries.wait_for(
            lambda d: d.message_id == str(poison.id) and d.outcome == "dead_lettered"
        )
        outcomes = [d.outcome for d in deliveries.deliveries if d.message_id == str(poison.id)]

    tries = len(settings.retry_delays) + 1
    assert outcomes == ["retried"] * (tries - 1) + ["dead_lettered"]
    assert "cannot process the poison event" in (dead[0].error or "")
    assert sorted(handled) == sorted(f"good-{i}" for i in range(5))

    with Connection(settings.broker_url) as connection, connection.channel() as channel:
        parked = channel.basic_get(
            queue=worker.topology.dead_letter_queue_name(subscription), no_ack=True
        )
        assert parked is not None
        assert json.loads(parked.body)["id"] == str(poison.id)
        assert parked.headers["x-attempts"] == tries
        assert "cannot process the poison event" in parked.headers["x-error"]
        assert "jane@example.org" not in parked.headers["x-error"] + parked.headers["x-last-error"]
        assert parked.headers["x-consumer"] == "test.flaky"
        assert (
            channel.basic_get(queue=worker.topology.queue_name(subscription), no_ack=True) is None
        )


def emit_many(runtime: Runtime, user_ids: list[str]) -> list[Envelope]:
    with runtime.database.session() as session:
        return [
            record_event(
                session,
                auth_bus,
                ev.USER_EMAIL_VERIFIED,
                ev.UserEmailVerified(user_id=user_id),
                organization_id=None,
                actor=Actor.system("test"),
            )
            for user_id in user_ids
        ]


def batching_worker(
    settings: Settings, auth: Runtime, namespace: BusNamespace, batch_handler: Any, size: int
) -> tuple[Worker, Subscription]:
    def one(session: Any, envelope: Envelope) -> None:
        raise AssertionError("a batching subscription handles even one message as a batch")

    subscription = Subscription(
        "test", "batched", ("auth.user.*",), one, batch_handler=batch_handler, batch_size=size
    )
    return worker_for(settings, auth, namespace, [subscription]), subscription


def test_a_batching_consumer_handles_many_messages_per_transaction_exactly_once(
    auth: Runtime, integration_settings: Settings, bus_namespace: BusNamespace
) -> None:
    batches: list[list[str]] = []

    def handle(_session: Any, envelopes: list[Envelope]) -> None:
        batches.append([e.data["user_id"] for e in envelopes])

    worker, _ = batching_worker(integration_settings, auth, bus_namespace, handle, size=25)
    with running_worker(worker) as (_, deliveries), running_relay(auth):
        sent = emit_many(auth, [f"user-{i}" for i in range(60)])
        for envelope in sent:
            deliveries.wait_handled(str(envelope.id))
        late = emit(auth, "late")  # a lone message is not kept waiting for a full batch
        deliveries.wait_handled(str(late.id), timeout=3)
    handled = [user for batch in batches for user in batch]
    assert sorted(handled) == sorted([f"user-{i}" for i in range(60)] + ["late"])
    assert max(len(batch) for batch in batches) > 1 and len(batches) < 61
    assert all(len(batch) <= 25 for batch in batches)


def test_batching_and_plain_subscriptions_on_one_channel_ack_every_message_once(
    auth: Runtime, integration_settings: Settings, bus_namespace: BusNamespace
) -> None:
    """Batches are acked with one ``multiple`` ack only when nothing delivered before them is
    still unacked: with two batching subscriptions and a plain one interleaved on one channel,
    an early multiple ack would ack another batch's messages before they were handled, and a
    second ack of a tag is a channel error that brings every pending message round again."""
    seen: dict[str, list[str]] = {"seven": [], "eleven": [], "plain": []}

    def batched(name: str) -> Any:
        def handle(_session: Any, envelopes: list[Envelope]) -> None:
            if name == "seven":
                time.sleep(0.05)  # in flight while the other subscription's batch fills
            seen[name].extend(e.data["user_id"] for e in envelopes)

        return handle

    def plain(_session: Any, envelope: Envelope) -> None:
        seen["plain"].append(envelope.data["user_id"])

    def never(_session: Any, _envelope: Envelope) -> None:
        raise AssertionError("a batching subscription handles even one message as a batch")

    subscriptions = [
        Subscription("test", "seven", ("auth.user.*",), never, batched("seven"), batch_size=7),
        Subscription("test", "eleven", ("auth.user.*",), never, batched("eleven"), batch_size=11),
        Subscription("test", "plain", ("auth.user.*",), plain),
    ]
    worker = worker_for(integration_settings, auth, bus_namespace, subscriptions)
    users = [f"user-{i}" for i in range(150)]
    with running_worker(worker) as (_, deliveries), running_relay(auth):
        emit_many(auth, users)
        deliveries.wait_for(lambda d: d.outcome == "handled", count=3 * len(users), timeout=30)
    assert {name: sorted(handled) for name, handled in seen.items()} == {
        name: sorted(users) for name in seen
    }
    assert not [d for d in deliveries.deliveries if d.outcome != "handled"]
    # The worker has disconnected: an unacked message would be back in its queue now.
    with Connection(integration_settings.broker_url) as conn, conn.channel() as channel:
        for subscription in subscriptions:
            queue = worker.topology.queue_name(subscription)
            assert channel.queue_declare(queue, passive=True).message_count == 0, queue


def test_a_failing_batch_is_retried_message_by_message(
    auth: Runtime, integration_settings: Settings, bus_namespace: BusNamespace
) -> None:
    handled: list[str] = []

    def handle(_session: Any, envelopes: list[Envelope]) -> None:
        if any(e.data["user_id"] == "poison" for e in envelopes):
            raise ValueError("cannot process the poison event")
        handled.extend(e.data["user_id"] for e in envelopes)

    worker, _ = batching_worker(integration_settings, auth, bus_namespace, handle, size=50)
    with running_worker(worker) as (_, deliveries), running_relay(auth):
        sent = emit_many(auth, ["a", "b", "poison", "c", "d"])
        for envelope in sent:
            if envelope.data["user_id"] != "poison":
                deliveries.wait_handled(str(envelope.id))
        deliveries.wait_for(
            lambda d: d.message_id == str(sent[2].id) and d.outcome == "dead_lettered"
        )
    assert sorted(handled) == ["a", "b", "c", "d"]  # each once: the failed batch rolled back


def test_redelivery_is_harmless(audit: Runtime) -> None:
    envelope = Envelope(
        type="auth.user.logged_in",
        actor=Actor.user("u-9"),
        data={"user_id": "u-9", "method": "password"},
    )
    assert fire(audit, "audit.log", envelope) == "handled"
    assert fire(audit, "audit.log", envelope) == "duplicate"
    assert audit_count(audit) == 1


def test_a_malformed_message_is_parked_at_once_naming_what_is_wrong_without_quoting_it(
    auth: Runtime, integration_settings: Settings, bus_namespace: BusNamespace
) -> None:
    handled: list[str] = []
    subscription = Subscription(
        "test", "strict", ("auth.user.*",), lambda _s, e: handled.append(e.data["user_id"])
    )
    worker = worker_for(integration_settings, auth, bus_namespace, [subscription])
    queue = worker.topology.queue_name(subscription)
    not_json = "{not json"
    # An envelope without its type and with a wrong date, carrying someone's details.
    incomplete = json.dumps(
        {"id": "m-2", "occurred_at": "yesterday", "data": {"patient": "Jane Doe, MRN 4471"}}
    )
    with running_worker(worker) as (_, deliveries):
        publisher = Publisher(integration_settings.broker_url, worker.topology)
        try:
            for message_id, body in (("m-1", not_json), ("m-2", incomplete)):
                publisher.send_to_queue(queue, body, message_id=message_id, headers={})
        finally:
            publisher.close()
        good = emit(auth, "after-the-bad-ones")
        with running_relay(auth):
            deliveries.wait_handled(str(good.id))
        parked = deliveries.wait_for(lambda d: d.outcome == "dead_lettered", count=2)
    assert {d.message_id for d in parked} == {"m-1", "m-2"}
    assert handled == ["after-the-bad-ones"]

    with Connection(integration_settings.broker_url) as connection, connection.channel() as channel:
        letters = {}
        while (
            m := channel.basic_get(
                queue=worker.topology.dead_letter_queue_name(subscription), no_ack=True
            )
        ) is not None:
            letters[m.properties["message_id"]] = m
    assert set(letters) == {"m-1", "m-2"}
    assert all(m.headers["x-attempts"] == 0 for m in letters.values())  # no retry: it never will
    assert letters["m-1"].headers["x-error"].startswith("invalid envelope: body: Invalid JSON")
    error = letters["m-2"].headers["x-error"]
    assert "type: Field required" in error and "occurred_at:" in error
    assert "Jane Doe" not in error and "yesterday" not in error
    assert json.loads(letters["m-2"].body)["data"]["patient"] == "Jane Doe, MRN 4471"  # kept whole


def test_dead_letters_replay_once_the_cause_is_fixed(
    auth: Runtime, integration_settings: Settings, bus_namespace: BusNamespace
) -> None:
    from spectral_shared.bus.dead_letters import dead_letter_counts, replay_dead_letters

    broken = {"yes": True}
    handled: list[str] = []

    def handler(_session: Any, envelope: Envelope) -> None:
        if broken["yes"]:
            raise RuntimeError("downstream outage")
        handled.append(str(envelope.id))

    subscription = Subscription("test", "dlq", ("auth.user.*",), handler)
    topology = Topology(integration_settings)
    bus_namespace.extra_queues += [q.name for q in topology.queues_for(subscription)]
    worker = Worker(
        integration_settings.broker_url,
        topology,
        auth.database,
        auth.component.tables,
        [subscription],
    )
    with running_worker(worker) as (_, deliveries), running_relay(auth):
        parked = [emit(auth, f"user-{i}") for i in range(3)]
        deliveries.wait_for(lambda d: d.outcome == "dead_lettered", count=3)
        assert dead_letter_counts(topology, [subscription]) == {
            topology.dead_letter_queue_name(subscription): 3
        }

        broken["yes"] = False
        assert replay_dead_letters(topology, subscription, limit=2) == 2
        assert replay_dead_letters(topology, subscription) == 1
        for envelope in parked:
            deliveries.wait_handled(str(envelope.id))
    assert sorted(handled) == sorted(str(e.id) for e in parked)
    assert dead_letter_counts(topology, [subscription]) == {
        topology.dead_letter_queue_name(subscription): 0
    }


def test_only_declared_event_types_can_be_recorded(auth: Runtime) -> None:
    from spectral_shared.bus.catalog import EventType
    from spectral_shared.bus.outbox import UnknownEventType

    undeclared = EventType("auth.user.teleported", ev.UserEmailVerified, "not in any catalog")
    with auth.database.session() as session:
        with pytest.raises(UnknownEventType, match="not declared"):
            record_event(
                session,
                auth_bus,
                undeclared,
                ev.UserEmailVerified(user_id="u"),
                organization_id=None,
                actor=Actor.system("t"),
            )
        with pytest.raises(UnknownEventType, match="carries UserLoggedIn, not UserEmailVerified"):
            record_event(
                session,
                auth_bus,
                ev.USER_LOGGED_IN,
                ev.UserEmailVerified(user_id="u"),
                organization_id=None,
                actor=Actor.system("t"),
            )
    assert pending(auth) == []


class _SlowBroker:
    """A publisher whose broker takes its time: each publish waits until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.sent: list[str] = []

    def publish_event(self, body: str, *, message_id: str, **_: Any) -> None:
        self.entered.set()
        assert self.release.wait(20)
        self.sent.append(message_id)


def test_a_slow_broker_holds_nothing_of_the_database(
    make_settings: Callable[..., Settings],
) -> None:
    """On SQLite, where one write lock serves the whole database: while the relay waits on the
    broker, a business transaction writes at once (issue 18 §2)."""
    runtime = Runtime(installed_components()["auth"], make_settings())
    runtime.migrate()
    try:
        event = emit(runtime)
        broker = _SlowBroker()
        relay = Relay(runtime.database, runtime.component.tables, broker)  # type: ignore[arg-type]
        published: list[int] = []
        publishing = threading.Thread(target=lambda: published.append(relay.publish_due()))
        publishing.start()
        assert broker.entered.wait(10)
        started = time.monotonic()
        emit(runtime, "written-while-the-broker-is-slow")
        waited = time.monotonic() - started
        broker.release.set()
        publishing.join(20)
        assert waited < 1.0, f"a write waited {waited:.1f}s on the relay"
        assert published == [1] and broker.sent == [str(event.id)]
        assert str(event.id) not in {row.id for row in pending(runtime)}  # marked sent
    finally:
        runtime.database.dispose()
