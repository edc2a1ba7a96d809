"""The engine's customization changed."""

from __future__ import annotations

from typing import Literal

from spectral_governance.event_catalog import catalog
from spectral_shared.bus.catalog import EventData


class ThresholdOverrideChanged(EventData):
    override_id: str
    change: Literal["created", "revoked"]
    threshold: str
    value: float
    default: float
    event_type: str | None
    ai_system_id: str | None
    justification: str
    expires_at: str | None


class ControlToggleChanged(EventData):
    toggle_id: str
    control_id: str
    enabled: bool
    ai_system_id: str | None
    justification: str


class EngineSettingsChanged(EventData):
    recommendations: bool


THRESHOLD_OVERRIDE_CHANGED = catalog.define(
    "governance.threshold_override.changed",
    ThresholdOverrideChanged,
    "A threshold override was created or revoked (an engine customization).",
)


CONTROL_TOGGLE_CHANGED = catalog.define(
    "governance.control_toggle.changed",
    ControlToggleChanged,
    "A control was turned off or back on for the organization or one system (an engine customization).",
)


ENGINE_SETTINGS_CHANGED = catalog.define(
    "governance.engine_settings.changed",
    EngineSettingsChanged,
    "The organization turned the recommendations of sources that are not law on or off.",
)
