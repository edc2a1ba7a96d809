"""Pruning the bus tables: what has done its job is deleted after ``BUS_RETENTION_DAYS``.

The outbox and the delivery outbox keep every row forever otherwise (a telemetry burst of 5,000
events a second leaves millions), and their bodies are copies of what the service's own tables
and the audit log already keep. What is pruned, and why it is safe:

- an outbox row **published** before the cutoff: RabbitMQ confirmed it; the relay only ever
  republishes rows not yet marked published;
- a delivery-outbox row **sent** before the cutoff: the mail backend, Slack or the webhook took
  it. Unsent deliveries (still retrying) and dead ones (waiting for an operator to replay them)
  are kept, however old;
- an inbox record **processed** before the cutoff: the inbox exists to drop a redelivery, and
  redeliveries come within seconds or minutes (an unacked message, a retry queue, a relay that
  died between publish and mark-published). A dead letter being replayed was never processed, so
  it has no record to lose.

Deletes go in batches, each in its own short transaction, oldest first, so pruning never holds
locks the relay or the worker waits on for long, and an interrupted run resumes where it stopped.
Every worker replica may run it at once: deleting what is already deleted is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, delete, select
from sqlalchemy.sql.elements import ColumnElement

from spectral_shared import metrics
from spectral_shared.bus.tables import BusTables
from spectral_shared.db import Database, utcnow
from spectral_shared.logging import get_logger

log = get_logger(__name__)

PRUNE_EVERY = 3600.0  # seconds between runs; a run with nothing to prune costs three queries
BATCH = 5000


@dataclass(frozen=True)
class Pruned:
    outbox: int
    deliveries: int
    inbox: int

    @property
    def total(self) -> int:
        return self.outbox + self.deliveries + self.inbox


def prune_bus_tables(
    database: Database,
    tables: BusTables,
    retention_days: int,
    *,
    now: datetime | None = None,
    batch: int = BATCH,
) -> Pruned:
    """Delete the rows older than ``retention_days`` that have done their job (see the module)."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    outbox, deliveries, inbox = tables.outbox, tables.deliveries, tables.inbox
    pruned = Pruned(
        outbox=_prune(
            database,
            outbox,
            outbox.c.published_at.is_not(None) & (outbox.c.published_at < cutoff),
            outbox.c.seq,
            batch,
        ),
        deliveries=_prune(
            database,
            deliveries,
            deliveries.c.sent_at.is_not(None) & (deliveries.c.sent_at < cutoff),
            deliveries.c.seq,
            batch,
        ),
        inbox=_prune(database, inbox, inbox.c.processed_at < cutoff, inbox.c.processed_at, batch),
    )
    if pruned.total:
        log.info(
            "bus.pruned",
            service=database.service,
            outbox=pruned.outbox,
            deliveries=pruned.deliveries,
            inbox=pruned.inbox,
            retention_days=retention_days,
        )
    return pruned


def _prune(
    database: Database,
    table: Table,
    done_before_cutoff: ColumnElement[bool],
    oldest_first: ColumnElement[Any],
    batch: int,
) -> int:
    """Delete in batches: read where the oldest ``batch`` matching rows end on an indexed column
    (the outbox's sequence, the inbox's processing time), then delete the matching rows up to
    there, a range the index serves, so no batch scans the whole table."""
    deleted = 0
    while True:
        with database.session() as session:
            oldest = session.scalars(
                select(oldest_first).where(done_before_cutoff).order_by(oldest_first).limit(batch)
            ).all()
            if not oldest:
                break
            result = cast(
                CursorResult[Any],
                session.execute(
                    delete(table).where(done_before_cutoff, oldest_first <= oldest[-1])
                ),
            )
            deleted += result.rowcount
        if len(oldest) < batch:
            break
    if deleted:
        metrics.bus_rows_pruned.labels(database.service, table.name).inc(deleted)
    return deleted
