"""The event bus: envelope, catalog, transactional outbox, relay, idempotent consumers."""

from spectral_shared.bus.catalog import EventCatalog, EventType
from spectral_shared.bus.envelope import Actor, Envelope
from spectral_shared.bus.outbox import PendingEvent, record_event, record_events
from spectral_shared.bus.tables import BusTables, bus_tables

__all__ = [
    "Actor",
    "BusTables",
    "Envelope",
    "EventCatalog",
    "EventType",
    "PendingEvent",
    "bus_tables",
    "record_event",
    "record_events",
]
