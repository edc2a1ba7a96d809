"""A control's status on a system, as assessed or as violations make it."""

from __future__ import annotations

from typing import Literal

from spectral_governance.event_catalog import catalog
from spectral_shared.bus.catalog import EventData


class ControlStatusChanged(EventData):
    ai_system_id: str
    ai_system_name: str
    control_id: str
    framework_id: str
    from_status: str
    to_status: str
    reason: str | None
    source: Literal["user", "violation"]


CONTROL_STATUS_CHANGED = catalog.define(
    "governance.control_status.changed",
    ControlStatusChanged,
    "A control's status on an AI system changed (not_assessed, compliant, non_compliant, "
    "not_applicable with a reason).",
)


class ControlAssessmentContested(EventData):
    ai_system_id: str
    ai_system_name: str
    control_id: str
    framework_id: str
    status: str  # the person's assessment, kept
    violation_id: str  # the open violation that contradicts it


CONTROL_ASSESSMENT_CONTESTED = catalog.define(
    "governance.control_assessment.contested",
    ControlAssessmentContested,
    "A violation was found on a control a person had assessed (compliant or not applicable). "
    "The assessment stays; the violation is recorded beside it for the person to decide.",
)
