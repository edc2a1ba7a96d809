"""A system's applicable controls and their assessments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from spectral_governance.catalog import load_catalog
from spectral_governance.web import Request
from spectral_shared.web.pagination import PageQuery

ControlState = Literal["not_assessed", "compliant", "non_compliant", "not_applicable"]


class ControlStatusUpdate(Request):
    status: ControlState
    reason: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=2000)]
        | None
    ) = None

    @model_validator(mode="after")
    def _reason_for_not_applicable(self) -> ControlStatusUpdate:
        if self.status == "not_applicable" and not self.reason:
            raise ValueError("Say why the control does not apply (reason).")
        return self


class FrameworkVerdictOut(BaseModel):
    framework_id: str
    applies: bool
    reason: str
    applicable_controls: int


class SystemControlOut(BaseModel):
    control_id: str
    framework_id: str
    title: str
    severity: str
    category: str
    applies_because: str
    status: ControlState
    status_reason: str | None
    status_source: str | None
    assessed_by: str | None
    assessed_at: datetime | None
    contested_by: str | None = Field(
        default=None,
        description="An open violation that contradicts a person's assessment of this control: "
        "the assessment stands until they assess it again.",
    )


class SystemControlPage(BaseModel):
    """The controls that apply to an AI system, why, and their status."""

    ai_system_id: str
    frameworks: list[FrameworkVerdictOut]
    data: list[SystemControlOut]
    next_cursor: str | None


class SystemControlQuery(PageQuery):
    limit: int = Field(default=100, ge=1, le=500)
    framework: Annotated[str, StringConstraints(max_length=32)] | None = None
    status: ControlState | None = None

    @field_validator("framework")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        known = [f.framework.id for f in load_catalog().frameworks]
        if value is not None and value not in known:
            raise ValueError(f"no framework {value!r}; one of {', '.join(known)}")
        return value
