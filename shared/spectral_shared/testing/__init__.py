"""Test helpers for Spectral services (nameko-style): fire a handler as if a message arrived,
wait until a message is handled (no sleeps), run a component's relay and worker for a test.

The pytest plugin (``spectral_shared.testing.plugin``) provides real PostgreSQL, RabbitMQ and
Redis per test run, and a fresh broker namespace per test.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

from spectral_shared.bus.envelope import Envelope
from spectral_shared.bus.worker import Delivery, EventConsumer, Worker
from spectral_shared.component import Runtime

T = TypeVar("T")


def fire(runtime: Runtime, subscription_name: str, envelope: Envelope) -> str:
    """Run a subscription's handler for ``envelope`` exactly as the worker would (inbox included)."""
    subscription = next(s for s in runtime.subscriptions if s.name == subscription_name)
    return EventConsumer(runtime.database, runtime.component.tables).handle(subscription, envelope)


def wait_until(
    predicate: Callable[[], T | None],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Poll a predicate (for state in another process) until it is truthy; fail with ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class DeliveryLog:
    """Observes a worker; ``wait_for`` blocks until a matching delivery happened."""

    def __init__(self, worker: Worker) -> None:
        self.deliveries: list[Delivery] = []
        self._condition = threading.Condition()
        worker.observers.append(self._observe)

    def _observe(self, delivery: Delivery) -> None:
        with self._condition:
            self.deliveries.append(delivery)
            self._condition.notify_all()

    def wait_for(
        self, predicate: Callable[[Delivery], bool], *, count: int = 1, timeout: float = 10.0
    ) -> list[Delivery]:
        with self._condition:
            ok = self._condition.wait_for(
                lambda: len([d for d in self.deliveries if predicate(d)]) >= count, timeout
            )
            matched = [d for d in self.deliveries if predicate(d)]
        if not ok:
            raise AssertionError(
                f"timed out: {len(matched)} of {count} deliveries; saw {self.deliveries!r}"
            )
        return matched

    def wait_handled(self, message_id: str, *, timeout: float = 10.0) -> Delivery:
        return self.wait_for(
            lambda d: d.message_id == message_id and d.outcome in ("handled", "duplicate"),
            timeout=timeout,
        )[0]


@contextmanager
def running_worker(source: Runtime | Worker) -> Iterator[tuple[Worker, DeliveryLog]]:
    """A worker consuming on a thread for the duration of the block (started and ready on entry)."""
    worker = source.worker() if isinstance(source, Runtime) else source
    log = DeliveryLog(worker)
    thread = threading.Thread(target=worker.run, name="test-worker", daemon=True)
    thread.start()
    if not worker.ready.wait(15):
        worker.stop()
        raise AssertionError("worker did not start consuming within 15s")
    try:
        yield worker, log
    finally:
        worker.stop()
        thread.join(10)


@contextmanager
def running_relay(runtime: Runtime) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(
        target=runtime.run_relay, args=(stop,), kwargs={"in_process": True}, daemon=True
    )
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(10)


def read_emails(mail_dir: Path) -> list[EmailMessage]:
    """The ``.eml`` files the embedded mailer wrote, oldest first, parsed."""
    if not mail_dir.exists():
        return []
    return [
        message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in sorted(mail_dir.glob("*.eml"))
    ]


def link_in(message: EmailMessage, pattern: str = r"https?://\S+") -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None, "the e-mail has no text part"
    found = re.search(pattern, body.get_content())
    assert found, f"no link matching {pattern!r} in the e-mail"
    return found.group(0)


def verification_token(mail_dir: Path, to: str) -> str:
    """The token from the newest verification e-mail sent to ``to``."""
    messages = [m for m in read_emails(mail_dir) if m["To"] == to]
    assert messages, f"no e-mail to {to} in {mail_dir}"
    return link_in(messages[-1], r"token=([A-Za-z0-9_\-]+)").split("token=", 1)[1]
