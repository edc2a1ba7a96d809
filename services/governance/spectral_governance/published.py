"""Every event type governance publishes: importing each domain's ``events`` module declares its
types on the one catalog, in this order (the order docs/events.md lists them in)."""

from __future__ import annotations

from spectral_governance.actions import events as _actions
from spectral_governance.alerts import events as _alerts
from spectral_governance.controls import events as _controls
from spectral_governance.customization import events as _customization
from spectral_governance.event_catalog import catalog
from spectral_governance.inventory import events as _inventory
from spectral_governance.telemetry import events as _telemetry
from spectral_governance.violations import events as _violations

DOMAINS = (_inventory, _controls, _telemetry, _violations, _actions, _alerts, _customization)

__all__ = ["DOMAINS", "catalog"]
