"""Violations found and resolved."""

from __future__ import annotations

from spectral_governance.event_catalog import catalog
from spectral_shared.bus.catalog import EventData


class ViolationDetected(EventData):
    violation_id: str
    ai_system_id: str
    telemetry_event_id: str
    framework_id: str
    control_id: str
    type: str
    severity: str
    requires_reporting: bool
    reporting_deadline: str | None
    # None: it stands on a law in force or a standard; else why it is only a recommendation.
    legal_standing: str | None = None


class ViolationRecurred(EventData):
    violation_id: str
    ai_system_id: str
    telemetry_event_id: str
    control_id: str
    occurrences: int
    severity: str  # after the repeat: the stronger of the two
    requires_reporting: bool
    reporting_deadline: str | None


class ViolationResolved(EventData):
    violation_id: str
    ai_system_id: str
    control_id: str
    control_status: str  # the control's status on the system afterwards


VIOLATION_DETECTED = catalog.define(
    "governance.violation.detected",
    ViolationDetected,
    "The translation engine found a compliance violation in a telemetry event.",
)


VIOLATION_RECURRED = catalog.define(
    "governance.violation.recurred",
    ViolationRecurred,
    "A telemetry event raised a control that already has an open violation on the AI system: "
    "one more occurrence of it (as severe and as urgent as the stronger), no new violation and "
    "no new actions.",
)


VIOLATION_RESOLVED = catalog.define(
    "governance.violation.resolved",
    ViolationResolved,
    "A user resolved a violation (with a note, which the event does not carry).",
)
