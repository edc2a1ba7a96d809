"""Violations' request and response shapes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from spectral_governance.web import Note, Request, Severity
from spectral_shared.web.pagination import PageQuery


class ObligationOut(BaseModel):
    """One duty to notify that a finding carries, computed from its legal source's rule
    (docs/domain.md#required-actions-and-deadlines)."""

    rule: str = Field(description="The deadline rule, for example hipaa.breach.")
    part: str = Field(description="The part of the rule, for example individuals or hhs.")
    recipient: str
    citation: str
    anchor: Literal["discovery", "awareness", "detection"] = Field(
        description="What the law calls the start of the clock."
    )
    counting: Literal["calendar", "business"] = Field(description="Calendar or business days.")
    days: int | None
    due: datetime | None = Field(
        description="The end of the due day in the organization's time zone; null for a "
        'duty without a fixed period ("most expedient time").'
    )
    due_local: date | None = Field(description="The due date in the organization's time zone.")
    tz: str
    counted_from: date | None = Field(description="The local date day 1 follows.")
    calendars: list[str] = Field(
        default_factory=list, description="The holiday calendars of business days."
    )
    basis: Literal["law", "spectral"] = Field(
        description="law: a duty under a law in force; spectral: Spectral's own default period."
    )
    mandatory: bool = Field(
        description="False: the law invites the report but does not require it."
    )
    state: str | None = Field(description="The state whose residents' count made it apply.")
    note: str | None


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
    binding: bool = Field(
        description="True: the finding stands on a law in force or a standard the organization "
        "follows. False: a labelled recommendation (a vetoed, repealed or proposed source, or "
        "one not in force on the event's date), never reportable."
    )
    legal_standing: str | None = Field(
        description="Why a non-binding finding is only a recommendation, in words."
    )
    reporting_deadline: datetime | None = Field(
        description="The earliest mandatory obligation's due date."
    )
    obligations: list[ObligationOut] = Field(
        default_factory=list, description="Every notice this finding requires, with its basis."
    )
    discovered_at: datetime = Field(
        description="When the organization knew or should have known: the first event's "
        "occurred_at. Reporting clocks start here."
    )
    detected_at: datetime
    occurrences: int = Field(description="How many events raised it while it was open.")
    last_seen_at: datetime
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
