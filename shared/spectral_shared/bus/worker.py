"""Idempotent consumers: handler and inbox row commit together, ack follows commit.

A handler that raises is retried through the retry queues (backoff by TTL), then parked in the
dead-letter queue with its error; the original is acked so the queue keeps flowing. A redelivered
message finds its inbox row and is acked without running the handler again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from kombu import Connection, Message
from kombu.mixins import ConsumerMixin
from opentelemetry import trace
from pydantic import ValidationError

from spectral_shared import metrics
from spectral_shared.bus.envelope import Envelope
from spectral_shared.bus.handlers import ContractBroken
from spectral_shared.bus.publisher import Publisher
from spectral_shared.bus.tables import BusTables
from spectral_shared.bus.topology import Subscription, Topology
from spectral_shared.context import correlation_id
from spectral_shared.db import Database, insert_new_rows, utcnow
from spectral_shared.liveness import Heartbeat
from spectral_shared.logging import (
    bind_context,
    clear_context,
    failure_text,
    get_logger,
)
from spectral_shared.tracing import extract_context, tracer

log = get_logger(__name__)

Outcome = Literal["handled", "duplicate", "retried", "dead_lettered"]


@dataclass(frozen=True)
class Delivery:
    """What became of one message; observers (tests, metrics) receive these."""

    subscription: str
    message_id: str
    event_type: str
    outcome: Outcome
    error: str | None = None


@dataclass(frozen=True)
class _InFlight:
    """A batch the handler thread has, and when it was handed over."""

    batch: list[_Received]
    future: Future[list[Literal["handled", "duplicate"]]]
    started: float


def _text(message: Message) -> str:
    """The message body as received, for a retry or the dead-letter queue."""
    raw = message.body
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)


def _what_is_wrong(exc: Exception) -> str:
    """Why a body is not an envelope, naming the fields but never quoting their values (pydantic
    quotes the input by default, and an event's data may hold personal information)."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
    return type(exc).__name__


@dataclass(frozen=True)
class _Received:
    subscription: Subscription
    envelope: Envelope
    headers: dict[str, Any]
    message: Message


class _Stopping(Exception):
    """The worker was told to stop while it waited for its database."""


class EventConsumer:
    """Runs a subscription's handler for one message, exactly once in effect."""

    def __init__(self, database: Database, tables: BusTables) -> None:
        self.database = database
        self.tables = tables

    def handle(
        self, subscription: Subscription, envelope: Envelope
    ) -> Literal["handled", "duplicate"]:
        return self.handle_batch(subscription, [envelope])[0]

    def handle_batch(
        self, subscription: Subscription, envelopes: list[Envelope]
    ) -> list[Literal["handled", "duplicate"]]:
        """One transaction for all: the inbox rows, then the handler for the messages not seen
        before (the batch handler if the subscription has one); outcomes in the given order."""
        with self.database.session() as session:
            now = utcnow()
            rows = {  # one row per message, however often it is in the batch
                str(envelope.id): {
                    "consumer": subscription.name,
                    "message_id": str(envelope.id),
                    "event_type": envelope.type,
                    "processed_at": now,
                }
                for envelope in envelopes
            }
            inbox = self.tables.inbox
            inserted = insert_new_rows(session, inbox, list(rows.values()), inbox.c.message_id)
            # The first copy of a message in the batch is handled; its repeats are duplicates.
            fresh: list[Envelope] = []
            outcomes: list[Literal["handled", "duplicate"]] = []
            for envelope in envelopes:
                key = str(envelope.id)
                if key in inserted:
                    inserted.discard(key)
                    fresh.append(envelope)
                    outcomes.append("handled")
                else:
                    outcomes.append("duplicate")
            if subscription.batch_handler is not None and fresh:
                subscription.batch_handler(session, fresh)
            else:
                for envelope in fresh:
                    subscription.handler(session, envelope)
        return outcomes


class Worker(ConsumerMixin):
    def __init__(
        self,
        broker_url: str,
        topology: Topology,
        database: Database,
        tables: BusTables,
        subscriptions: list[Subscription],
        *,
        prefetch: int = 16,
    ) -> None:
        self.connection: Connection = Connection(
            broker_url,
            heartbeat=30 if not topology.memory else 0,
            transport_options={"polling_interval": 0.02} if topology.memory else {},
        )
        self.topology = topology
        self.subscriptions = subscriptions
        self.consumer = EventConsumer(database, tables)
        self.publisher = Publisher(broker_url, topology)
        self.prefetch = prefetch
        self.observers: list[Callable[[Delivery], None]] = []
        self._timers: set[threading.Timer] = set()
        self._last_depth_check = 0.0
        self.ready = threading.Event()
        self.heartbeat = (
            Heartbeat()
        )  # beats each time round the consume loop, and while reconnecting
        # Batching subscriptions: messages received but not yet handled (nor acked), by queue.
        self._pending: dict[str, list[_Received]] = {}
        self._pending_since: dict[str, float] = {}  # when a batch's first message came
        # A full batch goes at once; a partial one once its first message has waited batch_wait
        # seconds and no batch is in flight. So a lone event waits a twentieth of a second, and
        # under a backlog the next batch grows while the database works on the last one.
        self.batch_wait = 0.05
        self._handler: ThreadPoolExecutor | None = None  # handles batches while run() runs
        self._in_flight: _InFlight | None = None

    # -- kombu ConsumerMixin ---------------------------------------------------------------

    def run(self, _tokens: int = 1, **kwargs: Any) -> None:
        if not any(s.batch_handler for s in self.subscriptions):
            super().run(_tokens, **kwargs)
            return
        kwargs.setdefault("safety_interval", self.batch_wait)  # wake to flush partial batches
        self._handler = ThreadPoolExecutor(1, thread_name_prefix="batch-handler")
        try:
            super().run(_tokens, **kwargs)
        finally:
            self._settle(wait=True, ack=False)  # no channel left to ack on; redelivered
            self._handler.shutdown()

    def get_consumers(self, consumer_cls: Any, channel: Any) -> list[Any]:
        self.topology.declare(channel, self.subscriptions)
        largest_batch = max(
            (s.batch_size for s in self.subscriptions if s.batch_handler), default=0
        )
        # Room for the next batch to arrive while one is being handled.
        channel.basic_qos(0, max(self.prefetch, 2 * largest_batch), False)
        return [
            consumer_cls(
                queues=[self.topology.main_queue(sub)],
                # Raw messages: the envelope is parsed once, from its JSON bytes, by pydantic.
                on_message=partial(self.on_message, sub),
                accept=["application/json"],
                no_ack=False,
            )
            for sub in self.subscriptions
        ]

    def on_consume_ready(
        self, connection: Any, channel: Any, consumers: Any, **kwargs: Any
    ) -> None:
        # Deliveries buffered on a lost channel can no longer be acked; the broker redelivers them.
        self._settle(wait=True, ack=False)
        self._pending.clear()
        self._pending_since.clear()
        self.ready.set()
        log.info(
            "worker.consuming", queues=[self.topology.queue_name(s) for s in self.subscriptions]
        )

    def on_consume_end(self, connection: Any, channel: Any) -> None:
        self._settle(wait=True)  # a clean stop: the batch in flight is acked

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        self.heartbeat.beat()  # waiting for the broker is not being stuck
        super().on_connection_error(exc, interval)

    def on_iteration(self) -> None:
        self.heartbeat.beat()
        self._settle(wait=False)
        now = time.monotonic()
        for name, since in list(self._pending_since.items()):
            if self._in_flight is None and now - since >= self.batch_wait:
                self._flush(name)
        if now - self._last_depth_check > 15 and not self.topology.memory:
            self._last_depth_check = now
            self._export_queue_depth()

    # -- handling --------------------------------------------------------------------------

    def on_message(self, subscription: Subscription, message: Message) -> None:
        clear_context()  # nothing of the previous message may colour this one's log lines
        headers = dict(message.headers or {})
        message_id = str((message.properties or {}).get("message_id") or "")
        try:
            envelope = Envelope.model_validate_json(message.body)
        except (ValidationError, ValueError, TypeError) as exc:
            # A malformed envelope will never succeed: park it at once.
            error = f"invalid envelope: {_what_is_wrong(exc)}"
            self._dead_letter(subscription, _text(message), message_id, headers, error, attempts=0)
            message.ack()
            self._notify(Delivery(subscription.name, message_id, "?", "dead_lettered", error))
            return
        received = _Received(subscription, envelope, headers, message)
        if subscription.batch_handler is None:
            self._handle_one(received)
            return
        pending = self._pending.setdefault(subscription.name, [])
        pending.append(received)
        self._pending_since.setdefault(subscription.name, time.monotonic())
        if len(pending) >= subscription.batch_size:
            self._flush(subscription.name)

    def _flush(self, name: str) -> None:
        """Hand the subscription's pending batch to the handler thread: the database works on it
        while this thread receives the next one. One batch is in flight at a time, so a batch
        waits for the one before it (whose acks go first)."""
        if not self._pending.get(name):
            return
        # Settled while this batch still counts as pending: its deliveries may precede the
        # last one of the batch in flight, which must then not be acked with ``multiple``.
        self._settle(wait=True)
        batch = self._pending.pop(name)
        self._pending_since.pop(name, None)
        assert self._handler is not None, "batches are handled while the worker runs"
        future = self._handler.submit(self._handle_batch, batch)
        self._in_flight = _InFlight(batch, future, time.perf_counter())

    def _handle_batch(self, batch: list[_Received]) -> list[Literal["handled", "duplicate"]]:
        """On the handler thread: the batch's one transaction."""
        subscription = batch[0].subscription
        clear_context()
        bind_context(consumer=subscription.name, batch=len(batch))
        # Each message keeps its own trace: a consumer span per message, parented on the
        # context it carried, spanning the batch's transaction.
        spans = [self._consumer_span(r) for r in batch]
        try:
            return self.consumer.handle_batch(subscription, [r.envelope for r in batch])
        finally:
            for span in spans:
                span.end()

    def _settle(self, *, wait: bool, ack: bool = True) -> None:
        """Conclude the batch in flight once it is done (or now, with ``wait``): ack it, or if it
        failed, handle each message on its own to find the culprit, with its own retries.
        Without ``ack`` (its channel is gone) it is dropped: the broker redelivers it and the
        inbox answers for what was committed."""
        flight = self._in_flight
        if flight is None or (not wait and not flight.future.done()):
            return
        self._in_flight = None
        batch = flight.batch
        name = batch[0].subscription.name
        try:
            outcomes = flight.future.result()
        except Exception as exc:
            if ack:
                log.warning("worker.batch_failed", error=type(exc).__name__, messages=len(batch))
                for received in batch:
                    self._handle_one(received)
            return
        if not ack:
            return
        self._ack_batch(batch)
        each = (time.perf_counter() - flight.started) / len(batch)
        duration = metrics.handler_duration.labels(name)
        for outcome in set(outcomes):
            metrics.messages_consumed.labels(name, outcome).inc(outcomes.count(outcome))
        for received, outcome in zip(batch, outcomes, strict=True):
            duration.observe(each)
            envelope = received.envelope
            self._notify(Delivery(name, str(envelope.id), envelope.type, outcome))

    def _ack_batch(self, batch: list[_Received]) -> None:
        """Ack a handled batch with one ``multiple`` ack of its last delivery, unless a delivery
        before that one is still unacked (another subscription's pending batch: every other
        subscription acks as it handles). The in-memory transport ignores ``multiple``, so
        there each message is acked."""
        last = batch[-1].message.delivery_tag
        earlier = any(p and p[0].message.delivery_tag < last for p in self._pending.values())
        if self.topology.memory or earlier:
            for received in batch:
                received.message.ack()
        else:
            batch[-1].message.ack(multiple=True)

    def _consumer_span(self, received: _Received) -> trace.Span:
        return tracer(__name__).start_span(
            f"consume {received.envelope.type}",
            context=extract_context(received.headers),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.destination.name": received.subscription.name,
            },
        )

    def _handle_one(self, received: _Received) -> None:
        subscription, envelope, headers = received.subscription, received.envelope, received.headers
        clear_context()
        token = correlation_id.set(headers.get("correlation_id") or str(envelope.id))
        bind_context(
            consumer=subscription.name,
            message_id=str(envelope.id),
            event_type=envelope.type,
            organization_id=str(envelope.organization_id) if envelope.organization_id else None,
            correlation_id=correlation_id.get(),
        )
        span = self._consumer_span(received)
        started = time.perf_counter()
        try:
            with trace.use_span(span, end_on_exit=True):
                bind_context(trace_id=format(span.get_span_context().trace_id, "032x"))
                try:
                    outcome: Outcome = self._handle_through_outages(subscription, envelope)
                    error = None
                except _Stopping:
                    return  # left unacked: the broker redelivers it to the next worker
                except Exception as exc:
                    # Kept in the retry and dead-letter headers too: without the values a
                    # validation error or a database error quotes.
                    error = failure_text(exc)
                    log.warning("worker.handler_failed", error=error)
                    outcome = self._retry_or_park(
                        subscription,
                        envelope,
                        _text(received.message),
                        headers,
                        error,
                        permanent=isinstance(exc, ContractBroken),
                    )
            received.message.ack()
        except Exception:
            # Could not even schedule the retry (broker gone): leave the message unacked so the
            # broker redelivers it; nothing is lost.
            log.exception("worker.message_left_unacked")
            raise
        finally:
            correlation_id.reset(token)
            metrics.handler_duration.labels(subscription.name).observe(
                time.perf_counter() - started
            )
        metrics.messages_consumed.labels(subscription.name, outcome).inc()
        self._notify(Delivery(subscription.name, str(envelope.id), envelope.type, outcome, error))

    def _handle_through_outages(self, subscription: Subscription, envelope: Envelope) -> Outcome:
        """Handle the message. A failure while the database is unreachable is not the message's
        fault: wait for the database and handle it again, spending none of the message's attempts
        (a database restart would otherwise park every message it catches as a dead letter)."""
        while True:
            try:
                return self.consumer.handle(subscription, envelope)
            except Exception:
                if self.consumer.database.ping():
                    raise  # the database answers: the failure is the message's own
            self._wait_for_database()

    def _wait_for_database(self) -> None:
        """Until the database answers again (or the worker is told to stop). The loop's heartbeat
        goes on: waiting for the database is not being stuck. Past a minute the broker drops the
        connection (no AMQP heartbeats meanwhile); the unacked messages come back afterwards and
        the inbox makes the repeat of what was committed harmless."""
        log.warning("worker.database_unavailable", service=self.consumer.database.service)
        started, delay = time.monotonic(), 0.25
        while not self.should_stop:
            self.heartbeat.beat()
            deadline = time.monotonic() + delay
            while not self.should_stop and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.consumer.database.ping():
                log.info(
                    "worker.database_available",
                    service=self.consumer.database.service,
                    waited_seconds=round(time.monotonic() - started, 1),
                )
                return
            delay = min(delay * 2, 5.0)
        raise _Stopping

    def _retry_or_park(
        self,
        subscription: Subscription,
        envelope: Envelope,
        raw: str,
        headers: dict[str, Any],
        error: str,
        *,
        permanent: bool = False,
    ) -> Outcome:
        """Retry the message later, or park it once its retries are spent, or at once when its
        failure is ``permanent`` (no retry can change it)."""
        attempts = int(headers.get("x-attempts", 0)) + 1
        if permanent or attempts > len(self.topology.retry_delays):
            self._dead_letter(
                subscription, raw, str(envelope.id), headers, error, attempts=attempts
            )
            return "dead_lettered"
        retry_headers = {**headers, "x-attempts": attempts, "x-last-error": error[:1000]}
        if self.topology.memory:
            self._retry_later_in_process(
                subscription, raw, str(envelope.id), retry_headers, attempts
            )
        else:
            self.publisher.send_to_queue(
                self.topology.retry_queue_name(subscription, attempts),
                raw,
                message_id=str(envelope.id),
                headers=retry_headers,
            )
        return "retried"

    def _retry_later_in_process(
        self,
        subscription: Subscription,
        raw: str,
        message_id: str,
        headers: dict[str, Any],
        attempts: int,
    ) -> None:
        delay = self.topology.retry_delays[attempts - 1]
        publisher = Publisher(self.topology.settings.broker_url, self.topology)

        def resend() -> None:
            try:
                publisher.send_to_queue(
                    self.topology.queue_name(subscription),
                    raw,
                    message_id=message_id,
                    headers=headers,
                )
            finally:
                publisher.close()
                self._timers.discard(timer)

        timer = threading.Timer(delay, resend)
        timer.daemon = True
        self._timers.add(timer)
        timer.start()

    def _dead_letter(
        self,
        subscription: Subscription,
        raw: str,
        message_id: str,
        headers: dict[str, Any],
        error: str,
        *,
        attempts: int,
    ) -> None:
        self.publisher.send_to_queue(
            self.topology.dead_letter_queue_name(subscription),
            raw,
            message_id=message_id or "unknown",
            headers={
                **headers,
                "x-attempts": attempts,
                "x-error": error[:4000],
                "x-failed-at": utcnow().isoformat(),
                "x-consumer": subscription.name,
            },
        )
        metrics.dead_letters.labels(subscription.name).inc()
        log.error(
            "worker.dead_lettered",
            consumer=subscription.name,
            message_id=message_id,
            error=error[:500],
        )

    def _notify(self, delivery: Delivery) -> None:
        for observer in list(self.observers):
            observer(delivery)

    def _export_queue_depth(self) -> None:
        try:
            with self.connection.channel() as channel:
                for sub in self.subscriptions:
                    name = self.topology.queue_name(sub)
                    _, ready, _ = channel.queue_declare(name, passive=True)
                    metrics.queue_depth.labels(name).set(ready)
        except Exception:
            log.debug("worker.queue_depth_unavailable")

    def stop(self) -> None:
        self.should_stop = True
        for timer in list(self._timers):
            timer.cancel()
        self.publisher.close()
