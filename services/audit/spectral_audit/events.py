"""What audit consumes: every event on the bus, appended in batches (one transaction each)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from spectral_audit import services
from spectral_shared.bus import Envelope
from spectral_shared.bus.topology import Subscription
from spectral_shared.component import Runtime

# Messages appended per transaction when the queue is busy; a quiet queue waits at most 50 ms.
BATCH_SIZE = 500


def record(session: Session, envelope: Envelope) -> None:
    services.append_entries(session, [envelope])


def record_batch(session: Session, envelopes: list[Envelope]) -> None:
    services.append_entries(session, envelopes)


def subscriptions(runtime: Runtime) -> list[Subscription]:
    return [
        Subscription(
            consumer="audit",
            purpose="log",
            bindings=("#",),
            handler=record,
            batch_handler=record_batch,
            batch_size=BATCH_SIZE,
        )
    ]
