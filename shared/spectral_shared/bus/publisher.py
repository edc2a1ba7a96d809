"""Publishing with publisher confirms and ``mandatory``: a publish returns only once the broker
has the message in a queue, and an unroutable message is an error, never a silent drop."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from typing import Any

from kombu import Connection, Exchange, Producer
from kombu.exceptions import OperationalError as KombuOperationalError

from spectral_shared.bus.topology import Topology
from spectral_shared.outbound import no_transaction_open


class PublishError(RuntimeError):
    """This message was not published (unroutable, refused, or the broker unreachable)."""


class BrokerUnavailable(PublishError):
    """The broker could not be reached at all: nothing about the message itself is wrong."""


def broker_connection(url: str) -> Connection:
    if url.startswith("memory://"):
        return Connection(url, transport_options={"polling_interval": 0.02})
    return Connection(
        url,
        heartbeat=30,
        connect_timeout=5,
        transport_options={"confirm_publish": True},
    )


class Publisher:
    """One connection and channel; not thread-safe, so each relay or worker owns its own."""

    def __init__(self, broker_url: str, topology: Topology) -> None:
        self.topology = topology
        self.connection = broker_connection(broker_url)
        self._producer: Producer | None = None
        self._returned: set[str] = set()
        self._lock = threading.Lock()

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        message_id = (getattr(message, "properties", None) or {}).get("message_id")
        if message_id:
            self._returned.add(message_id)

    def _get_producer(self) -> Producer:
        if self._producer is None:
            # Fail fast (about a second): relays and workers have their own backoff.
            self.connection.ensure_connection(max_retries=2, interval_start=0.2, interval_step=0.5)
            channel = self.connection.channel()
            self._producer = Producer(channel, on_return=self._on_return)
        return self._producer

    def _unreachable(self, exc: Exception) -> bool:
        """A connection that could not be made, or broke (not a message the broker refused)."""
        lost = (
            KombuOperationalError,  # ensure_connection gave up
            OSError,
            *self.connection.connection_errors,
            *self.connection.recoverable_connection_errors,
        )
        return isinstance(exc, lost)

    def _reset(self) -> None:
        self._producer = None
        with contextlib.suppress(Exception):  # already broken; the next publish reconnects
            self.connection.close()

    def _publish(
        self,
        body: str,
        *,
        exchange: Exchange | str,
        routing_key: str,
        message_id: str,
        headers: Mapping[str, Any],
        mandatory: bool,
    ) -> None:
        if not self.topology.memory:  # an in-process bus is no network call
            no_transaction_open("a publish to the broker")
        with self._lock:
            try:
                producer = self._get_producer()
                producer.publish(
                    body,
                    exchange=exchange,
                    routing_key=routing_key,
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=2,
                    message_id=message_id,
                    headers=dict(headers),
                    mandatory=mandatory and not self.topology.memory,
                    declare=[exchange] if isinstance(exchange, Exchange) else [],
                )
            except Exception as exc:
                self._reset()
                error = BrokerUnavailable if self._unreachable(exc) else PublishError
                raise error(f"publish of {message_id} failed: {exc}") from exc
            if message_id in self._returned:
                self._returned.discard(message_id)
                raise PublishError(
                    f"{routing_key} ({message_id}) is unroutable: no queue is bound to it yet"
                )

    def publish_event(
        self, body: str, *, event_type: str, message_id: str, headers: Mapping[str, Any]
    ) -> None:
        self._publish(
            body,
            exchange=self.topology.exchange,
            routing_key=event_type,
            message_id=message_id,
            headers=headers,
            mandatory=True,
        )

    def send_to_queue(
        self, queue: str, body: str, *, message_id: str, headers: Mapping[str, Any]
    ) -> None:
        """Direct to one queue through the default exchange (retries and dead letters)."""
        self._publish(
            body,
            exchange="",
            routing_key=queue,
            message_id=message_id,
            headers=headers,
            mandatory=True,
        )

    def close(self) -> None:
        self._reset()
