"""Operating dead-letter queues: count what is parked, and replay it once the cause is fixed.

Replay moves each message back to its consumer's main queue with publisher confirms before
acknowledging it in the dead-letter queue, so a crash mid-replay duplicates at worst (harmless:
the inbox) and never loses. The attempt count starts again; the last error is kept as
``x-replayed-error`` for the record.
"""

from __future__ import annotations

from amqp.exceptions import ChannelError

from spectral_shared.bus.publisher import Publisher, broker_connection
from spectral_shared.bus.topology import Subscription, Topology

_RETRY_HEADERS = (
    "x-attempts",
    "x-last-error",
    "x-error",
    "x-failed-at",
    "x-consumer",
    "x-death",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
)


def dead_letter_counts(
    topology: Topology, subscriptions: list[Subscription]
) -> dict[str, int | None]:
    """Messages parked per dead-letter queue; None for a queue not declared yet."""
    counts: dict[str, int | None] = {}
    with broker_connection(topology.settings.broker_url) as connection:
        for subscription in subscriptions:
            queue = topology.dead_letter_queue(subscription)
            # A passive declare of a missing queue closes the channel: one channel per queue.
            with connection.channel() as channel:
                try:
                    counts[queue.name] = int(
                        queue(channel).queue_declare(passive=True).message_count
                    )
                except ChannelError:
                    counts[queue.name] = None
    return counts


def replay_dead_letters(
    topology: Topology, subscription: Subscription, limit: int | None = None
) -> int:
    """Move up to ``limit`` parked messages back to the subscription's queue; returns how many."""
    publisher = Publisher(topology.settings.broker_url, topology)
    moved = 0
    try:
        with (
            broker_connection(topology.settings.broker_url) as connection,
            connection.channel() as channel,
        ):
            while limit is None or moved < limit:
                message = channel.basic_get(
                    queue=topology.dead_letter_queue_name(subscription), no_ack=False
                )
                if message is None:
                    break
                headers = {
                    k: v for k, v in (message.headers or {}).items() if k not in _RETRY_HEADERS
                }
                if message.headers and "x-error" in message.headers:
                    headers["x-replayed-error"] = str(message.headers["x-error"])[:1000]
                body = message.body.decode() if isinstance(message.body, bytes) else message.body
                publisher.send_to_queue(
                    topology.queue_name(subscription),
                    body,
                    message_id=str((message.properties or {}).get("message_id") or ""),
                    headers=headers,
                )
                channel.basic_ack(message.delivery_tag)
                moved += 1
    finally:
        publisher.close()
    return moved
