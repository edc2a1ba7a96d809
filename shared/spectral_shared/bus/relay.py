"""The outbox relay: publishes committed events with confirms, then marks them sent.

Rows are *claimed* in a short transaction (``FOR UPDATE SKIP LOCKED``, so any number of relays
share the work, then ``available_at`` moved a lease ahead), the transaction commits, and only then
are they published: no database transaction or lock is held while the broker is talked to (a
broker that blocks publishers, under a memory alarm say, holds nothing of the database). The
outcome is written in a second short transaction. A relay that dies between publish and
mark-sent leaves its rows to the next relay once the lease runs out (``LEASE``), which publishes
them again; consumers are idempotent (the inbox), so the repeat has no effect downstream. A publish
the broker refuses (unroutable, rejected) is retried with exponential backoff stored in the row. A
broker that cannot be reached is nobody's row's fault: the round stops, the rows not yet published
are due again at once, and the relay tries again with its own backoff (at most 5 s), so the outbox
drains as soon as the broker is back.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select, update

from spectral_shared import metrics
from spectral_shared.bus.outbox import CommitSignal
from spectral_shared.bus.publisher import BrokerUnavailable, Publisher, PublishError
from spectral_shared.bus.tables import BusTables
from spectral_shared.db import Database, utcnow
from spectral_shared.failpoints import failpoint
from spectral_shared.liveness import Heartbeat
from spectral_shared.logging import get_logger

log = get_logger(__name__)

MAX_BACKOFF = timedelta(minutes=5)
# How long claimed rows are left to the relay that claimed them: far longer than publishing a batch
# with confirms takes, so two live relays do not publish the same rows.
LEASE = timedelta(seconds=30)
MAX_OUTAGE_WAIT = 5.0  # seconds between tries while the broker cannot be reached


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=0.5 * 2 ** min(attempts, 20)), MAX_BACKOFF)


class Relay:
    def __init__(
        self,
        database: Database,
        tables: BusTables,
        publisher: Publisher,
        *,
        batch_size: int = 200,
        extra_work: list[Callable[[], int]] | None = None,
    ) -> None:
        self.database = database
        self.tables = tables
        self.publisher = publisher
        self.batch_size = batch_size
        self.extra_work = extra_work or []
        self.service = database.service
        self.heartbeat = Heartbeat()
        self.broker_down_since: float | None = None  # monotonic; None while the broker answers
        self._outage_wait = 0.25

    def publish_due(self) -> int:
        """Publish one batch of due rows; returns how many were published."""
        outbox = self.tables.outbox
        now = utcnow()
        with self.database.session() as session:
            rows = session.execute(
                select(
                    outbox.c.seq,
                    outbox.c.id,
                    outbox.c.event_type,
                    outbox.c.body,
                    outbox.c.headers,
                    outbox.c.attempts,
                )
                .where(outbox.c.published_at.is_(None), outbox.c.available_at <= now)
                .order_by(outbox.c.seq)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                session.execute(
                    update(outbox)
                    .where(outbox.c.seq.in_([row.seq for row in rows]))
                    .values(available_at=now + LEASE)
                )
        if not rows:
            return 0
        # Committed: the rows are this relay's for the lease, and nothing is held while publishing.
        published: list[int] = []
        refused: dict[int, tuple[int, str]] = {}  # seq -> (attempts, error)
        unsent: list[int] = []
        for position, row in enumerate(rows):
            try:
                self.publisher.publish_event(
                    row.body,
                    event_type=row.event_type,
                    message_id=row.id,
                    headers=json.loads(row.headers),
                )
            except BrokerUnavailable as exc:
                metrics.publish_failures.labels(self.service).inc()
                self._broker_lost(exc)
                unsent = [later.seq for later in rows[position:]]
                break  # the rest of the batch waits as it was: no row is at fault
            except PublishError as exc:
                metrics.publish_failures.labels(self.service).inc()
                log.warning(
                    "outbox.publish_failed",
                    event_id=row.id,
                    event_type=row.event_type,
                    error=str(exc),
                )
                refused[row.seq] = (row.attempts, str(exc))
                continue
            failpoint("relay.after_publish")
            published.append(row.seq)
        with self.database.session() as session:
            if published:
                session.execute(
                    update(outbox).where(outbox.c.seq.in_(published)).values(published_at=utcnow())
                )
            for seq, (attempts, error) in refused.items():
                session.execute(
                    update(outbox)
                    .where(outbox.c.seq == seq)
                    .values(
                        attempts=attempts + 1,
                        available_at=now + backoff(attempts),
                        last_error=error[:2000],
                    )
                )
            if unsent:
                session.execute(
                    update(outbox).where(outbox.c.seq.in_(unsent)).values(available_at=now)
                )
        if published:
            metrics.events_published.labels(self.service).inc(len(published))
            self._broker_back()
        return len(published)

    def _broker_lost(self, exc: Exception) -> None:
        if self.broker_down_since is None:
            self.broker_down_since = time.monotonic()
            log.warning("relay.broker_unavailable", service=self.service, error=str(exc)[:500])

    def _broker_back(self) -> None:
        if self.broker_down_since is not None:
            waited = time.monotonic() - self.broker_down_since
            log.info(
                "relay.broker_available", service=self.service, waited_seconds=round(waited, 1)
            )
            self.broker_down_since = None
        self._outage_wait = 0.25

    def measure_lag(self) -> None:
        outbox = self.tables.outbox
        with self.database.session() as session:
            pending, oldest = session.execute(
                select(func.count(), func.min(outbox.c.created_at)).where(
                    outbox.c.published_at.is_(None)
                )
            ).one()
        metrics.outbox_pending.labels(self.service).set(pending)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=utcnow().tzinfo)
        metrics.outbox_lag.labels(self.service).set(
            (utcnow() - oldest).total_seconds() if oldest else 0
        )

    def run_once(self) -> int:
        done = self.publish_due()
        for work in self.extra_work:
            done += work()
        return done

    def run(
        self, stop: threading.Event, poll_interval: float, wake: CommitSignal | None = None
    ) -> None:
        log.info("relay.started", service=self.service)
        ticks = 0
        seen = wake.generation if wake is not None else 0
        while not stop.is_set():
            self.heartbeat.beat()
            try:
                busy = self.run_once() > 0
                ticks += 1
                if ticks % 20 == 0:
                    self.measure_lag()
            except Exception:
                log.exception("relay.iteration_failed", service=self.service)
                busy = False
                stop.wait(min(poll_interval * 10, 5))
            if self.broker_down_since is not None:
                stop.wait(self._outage_wait)  # then try the broker again
                self._outage_wait = min(self._outage_wait * 2, MAX_OUTAGE_WAIT)
                continue
            if busy:
                continue
            if wake is not None:
                seen = wake.wait(seen, poll_interval)
            else:
                stop.wait(poll_interval)
        self.publisher.close()
        log.info("relay.stopped", service=self.service)
