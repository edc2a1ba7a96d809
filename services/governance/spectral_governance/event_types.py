"""Events governance publishes: none yet."""

from spectral_shared.bus.catalog import EventCatalog

catalog = EventCatalog("governance")
