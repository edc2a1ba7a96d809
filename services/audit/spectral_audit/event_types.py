"""Events audit publishes: none yet (issue #5 adds checkpoint and purge events)."""

from spectral_shared.bus.catalog import EventCatalog

catalog = EventCatalog("audit")
