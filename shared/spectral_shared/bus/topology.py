"""Exchanges and queues (docs/architecture.md#message-bus).

One durable topic exchange; per consumer a durable quorum queue ``<consumer>.<purpose>`` bound to
the routing keys it needs, retry queues ``<queue>.retry.<n>`` whose TTL dead-letters messages back
to the main queue (the backoff), and ``<queue>.dead-letter`` where messages end, with their error,
after the last retry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kombu import Exchange, Queue, binding
from sqlalchemy.orm import Session

from spectral_shared.bus.envelope import Envelope
from spectral_shared.config import Settings

Handler = Callable[[Session, Envelope], None]
BatchHandler = Callable[[Session, list[Envelope]], None]


@dataclass(frozen=True)
class Subscription:
    """A consumer queue: what it is bound to and the handler that runs in the inbox transaction.

    A subscription with a ``batch_handler`` has up to ``batch_size`` messages handled in one
    transaction (one commit, one inbox insert), for consumers whose per-message cost is mostly
    the transaction; should a batch fail, its messages are handled one by one with ``handler``,
    so one bad message is retried or parked on its own."""

    consumer: str
    purpose: str
    bindings: tuple[str, ...]
    handler: Handler
    batch_handler: BatchHandler | None = None
    batch_size: int = 1

    @property
    def name(self) -> str:
        return f"{self.consumer}.{self.purpose}"


def is_memory_broker(url: str) -> bool:
    return url.startswith("memory://")


class Topology:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.exchange = Exchange(settings.bus_exchange, type="topic", durable=True)
        self.memory = is_memory_broker(settings.broker_url)
        self.retry_delays = settings.retry_delays

    def queue_name(self, subscription: Subscription) -> str:
        return f"{self.settings.bus_queue_prefix}{subscription.name}"

    def retry_queue_name(self, subscription: Subscription, tier: int) -> str:
        return f"{self.queue_name(subscription)}.retry.{tier}"

    def dead_letter_queue_name(self, subscription: Subscription) -> str:
        return f"{self.queue_name(subscription)}.dead-letter"

    def _quorum(self, **extra: object) -> dict[str, object]:
        return {} if self.memory else {"x-queue-type": "quorum", **extra}

    def main_queue(self, subscription: Subscription) -> Queue:
        return Queue(
            self.queue_name(subscription),
            bindings=[binding(self.exchange, routing_key=key) for key in subscription.bindings],
            durable=True,
            queue_arguments=self._quorum(),
        )

    def retry_queue(self, subscription: Subscription, tier: int) -> Queue:
        delay_ms = int(self.retry_delays[tier - 1] * 1000)
        return Queue(
            self.retry_queue_name(subscription, tier),
            durable=True,
            queue_arguments=self._quorum(
                **{
                    "x-message-ttl": delay_ms,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": self.queue_name(subscription),
                    # Quorum queues dead-letter at least once only when they refuse overflow.
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                }
            ),
        )

    def dead_letter_queue(self, subscription: Subscription) -> Queue:
        return Queue(
            self.dead_letter_queue_name(subscription),
            durable=True,
            queue_arguments=self._quorum(),
        )

    def queues_for(self, subscription: Subscription) -> list[Queue]:
        queues = [self.main_queue(subscription), self.dead_letter_queue(subscription)]
        if not self.memory:  # the in-process broker retries with timers instead of TTL queues
            queues += [
                self.retry_queue(subscription, tier)
                for tier in range(1, len(self.retry_delays) + 1)
            ]
        return queues

    def declare(self, channel: Any, subscriptions: list[Subscription]) -> None:
        self.exchange(channel).declare()
        for subscription in subscriptions:
            for queue in self.queues_for(subscription):
                queue(channel).declare()
