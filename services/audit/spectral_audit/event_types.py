"""Events audit publishes. It publishes no event per entry or checkpoint (audit consumes every
event, so that would feed on itself); only what changes what the log keeps."""

from __future__ import annotations

from spectral_shared.bus.catalog import EventCatalog, EventData

catalog = EventCatalog("audit")


class EntriesPurged(EventData):
    log: str
    purged_from: int
    purged_to: int  # exclusive: entries [purged_from, purged_to) lost their payloads
    received_before: str
    retention_days: int


class LegalHoldPlaced(EventData):
    log: str
    reason: str


class LegalHoldReleased(EventData):
    log: str
    reason: str


ENTRIES_PURGED = catalog.define(
    "audit.entries.purged",
    EntriesPurged,
    "Retention dropped the payloads of a log's expired entries; their leaf hashes stay, so "
    "earlier checkpoints and proofs still verify.",
)
LEGAL_HOLD_PLACED = catalog.define(
    "audit.legal_hold.placed",
    LegalHoldPlaced,
    "A legal hold was placed on an organization's audit log: nothing of it is purged until release.",
)
LEGAL_HOLD_RELEASED = catalog.define(
    "audit.legal_hold.released",
    LegalHoldReleased,
    "An organization's legal hold was released; retention applies again.",
)
