"""What audit consumes: every event on the bus."""

from __future__ import annotations

from sqlalchemy.orm import Session

from spectral_audit import services
from spectral_shared.bus import Envelope
from spectral_shared.bus.topology import Subscription
from spectral_shared.component import Runtime


def record(session: Session, envelope: Envelope) -> None:
    services.append_entry(session, envelope)


def subscriptions(runtime: Runtime) -> list[Subscription]:
    return [Subscription(consumer="audit", purpose="log", bindings=("#",), handler=record)]
