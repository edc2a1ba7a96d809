"""The engine customization's request and response shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from spectral_governance.web import Request


class ThresholdOverrideIn(Request):
    threshold: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = Field(
        description="A threshold's name, e.g. drift.accuracy_drop_high."
    )
    value: float
    event_type: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = (
        None
    )
    ai_system_id: uuid.UUID | None = None
    justification: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=10, max_length=2000)
    ]
    expires_at: AwareDatetime | None = None


class ThresholdOverrideOut(BaseModel):
    id: str
    threshold: str
    value: float
    default: float
    event_type: str | None
    ai_system_id: str | None
    justification: str
    expires_at: datetime | None
    created_at: datetime
    created_by: str | None
    active: bool


class ThresholdsOut(BaseModel):
    thresholds: list[dict[str, Any]]
    overrides: list[ThresholdOverrideOut]


class ControlToggleIn(Request):
    control_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
    ai_system_id: uuid.UUID | None = None
    justification: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=10, max_length=2000)
    ]


class ControlToggleOut(BaseModel):
    id: str
    control_id: str
    ai_system_id: str | None
    justification: str
    created_at: datetime
    created_by: str | None
    active: bool


class ControlToggleList(BaseModel):
    data: list[ControlToggleOut]


class EngineSettings(Request):
    recommendations: bool = Field(
        description="Raise findings of sources that are not law (a vetoed bill, a repealed law, "
        "a law not in force on the event's date) as labelled, non-reportable recommendations. "
        "On by default."
    )
