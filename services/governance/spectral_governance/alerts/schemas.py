"""Alerts' request and response shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from spectral_governance.web import Note, Request, Severity
from spectral_shared.web.pagination import PageQuery

AlertStatus = Literal["active", "acknowledged", "resolved", "dismissed"]


class AlertOut(BaseModel):
    id: str
    ai_system_id: str
    telemetry_event_id: str | None
    type: str
    severity: str
    message: str
    occurrences: int
    status: AlertStatus
    raised_at: datetime
    last_seen_at: datetime
    ack_due_at: datetime
    sla_breached: bool
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    response_time_seconds: int | None
    dismissed_at: datetime | None
    note: str | None = None


class AlertPage(BaseModel):
    data: list[AlertOut]
    next_cursor: str | None


class AlertQuery(PageQuery):
    ai_system_id: uuid.UUID | None = None
    status: AlertStatus | None = None
    severity: Severity | None = None
    type: str | None = None


class AlertSettings(Request):
    slack_webhook_url: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None,
        description="A Slack incoming webhook (https://hooks.slack.com/...); null removes it. "
        "Clearing or changing it cancels the messages still waiting for the old one.",
    )
    sla_minutes: dict[Severity, int] | None = Field(
        default=None, description="Acknowledge within, per severity; null restores the defaults."
    )


class AlertSettingsOut(BaseModel):
    slack_webhook_set: bool
    sla_minutes: dict[str, int]


class AlertMove(Request):
    """Optional with acknowledge, resolve and dismiss: what the responder found or did."""

    note: Note | None = None
