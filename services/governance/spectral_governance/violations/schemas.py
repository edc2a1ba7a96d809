"""Violations' request and response shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from spectral_governance.web import Note, Request, Severity
from spectral_shared.web.pagination import PageQuery


class ViolationOut(BaseModel):
    id: str
    ai_system_id: str
    telemetry_event_id: str
    framework_id: str
    control_id: str
    control_name: str
    type: str
    severity: str
    description: str
    requires_reporting: bool
    reporting_deadline: datetime | None
    detected_at: datetime
    status: Literal["open", "resolved"]
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None


class ViolationPage(BaseModel):
    data: list[ViolationOut]
    next_cursor: str | None


class ViolationQuery(PageQuery):
    ai_system_id: uuid.UUID | None = None
    framework_id: str | None = None
    control_id: str | None = None
    severity: Severity | None = None
    status: Literal["open", "resolved"] | None = None
    deadline_before: AwareDatetime | None = Field(
        default=None, description="Reporting deadline before this instant."
    )


class ResolveViolation(Request):
    note: Note
