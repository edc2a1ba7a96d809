"""The catalog every governance event type is declared in. Each domain package declares its own
events on it (``<domain>/events.py``); ``published.py`` imports them all, so the catalog the
component registers is complete. docs/events.md lists the same; a test keeps them in step.

Each event carries what an auditor needs without another lookup: the system's name and, for
changes, every changed field's value before and after."""

from __future__ import annotations

from spectral_shared.bus.catalog import EventCatalog

catalog = EventCatalog("governance")
