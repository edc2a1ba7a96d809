"""Recording events in the transactional outbox.

``record_event`` inserts the envelope in the caller's session: the event exists exactly when the
state change that caused it commits. Nothing publishes from a request handler; the relay does.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from spectral_shared.bus.catalog import EventData, EventType
from spectral_shared.bus.envelope import Actor, Envelope
from spectral_shared.bus.tables import BusTables
from spectral_shared.context import correlation_id
from spectral_shared.db import insert_rows, utcnow
from spectral_shared.tracing import inject_headers


class CommitSignal:
    """Wakes every in-process relay after a commit that added outbox rows (relays in other
    processes simply poll). A generation counter means no wake-up is missed between checks."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.generation = 0

    def notify(self) -> None:
        with self._condition:
            self.generation += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        with self._condition:
            self._condition.wait_for(lambda: self.generation != seen, timeout)
            return self.generation


outbox_committed = CommitSignal()


class UnknownEventType(LookupError):
    pass


def _envelope(
    event_type: EventType,
    data: EventData,
    *,
    organization_id: uuid.UUID | str | None,
    actor: Actor,
    occurred_at: datetime | None,
) -> Envelope:
    if not event_type.declared:
        raise UnknownEventType(
            f"{event_type.name} is not declared in its service's EventCatalog (and so not in docs/events.md)"
        )
    if not isinstance(data, event_type.data):
        raise UnknownEventType(
            f"{event_type.name} carries {event_type.data.__name__}, not {type(data).__name__}"
        )
    return Envelope(
        type=event_type.name,
        version=event_type.version,
        occurred_at=occurred_at or utcnow(),
        organization_id=uuid.UUID(str(organization_id)) if organization_id else None,
        actor=actor,
        data=data.model_dump(mode="json"),
    )


def _outbox_row(envelope: Envelope, headers: dict[str, str], now: datetime) -> dict[str, Any]:
    return {
        "id": str(envelope.id),
        "event_type": envelope.type,
        "body": envelope.to_json(),
        "headers": json.dumps(
            {**headers, "correlation_id": correlation_id.get() or str(envelope.id)}
        ),
        "created_at": now,
        "available_at": now,
        "attempts": 0,
    }


def record_event(
    session: Session,
    tables: BusTables,
    event_type: EventType,
    data: EventData,
    *,
    organization_id: uuid.UUID | str | None,
    actor: Actor,
    occurred_at: datetime | None = None,
) -> Envelope:
    envelope = _envelope(
        event_type, data, organization_id=organization_id, actor=actor, occurred_at=occurred_at
    )
    session.execute(
        tables.outbox.insert().values(**_outbox_row(envelope, inject_headers(), utcnow()))
    )
    _signal_after_commit(session)
    return envelope


@dataclass(frozen=True)
class PendingEvent:
    """An event to record with others (:func:`record_events`)."""

    event_type: EventType
    data: EventData
    organization_id: uuid.UUID | str | None
    actor: Actor
    occurred_at: datetime | None = None


def record_events(
    session: Session, tables: BusTables, events: Sequence[PendingEvent]
) -> list[Envelope]:
    """Record many events in one statement (``COPY`` on PostgreSQL): for a transaction that
    publishes hundreds (a batch of translated telemetry), where a round trip each would
    dominate. Their order in the outbox is the order given."""
    if not events:
        return []
    envelopes = [
        _envelope(
            e.event_type,
            e.data,
            organization_id=e.organization_id,
            actor=e.actor,
            occurred_at=e.occurred_at,
        )
        for e in events
    ]
    headers, now = inject_headers(), utcnow()
    insert_rows(session, tables.outbox, [_outbox_row(e, headers, now) for e in envelopes])
    _signal_after_commit(session)
    return envelopes


def _signal_after_commit(session: Session) -> None:
    if session.info.get("_outbox_signal"):
        return
    session.info["_outbox_signal"] = True

    def after_commit(s: Session) -> None:
        s.info.pop("_outbox_signal", None)
        outbox_committed.notify()

    def after_rollback(s: Session, _previous: object) -> None:
        s.info.pop("_outbox_signal", None)

    sa_event.listen(session, "after_commit", after_commit, once=True)
    sa_event.listen(session, "after_soft_rollback", after_rollback, once=True)
