"""Request and response bodies of telemetry, violations, required actions, alerts and the
engine's customization (issue 7)."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from spectral_shared.web.pagination import PageQuery

MAX_BATCH = 1000
Severity = Literal["critical", "high", "medium", "low"]
Token = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
# How far in the future a client's clock may be before its occurred_at is refused.
CLOCK_SKEW = timedelta(minutes=5)


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TelemetryEventIn(Request):
    """One event as a system (or its pusher) reports it."""

    ai_system_id: uuid.UUID
    event_type: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ] = Field(description="A canonical type, an alias, or the source's own name (normalized).")
    source: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,23}$")] = Field(
        default="api", description="langsmith, arize, langfuse, wandb, epic_ehr, manual, api..."
    )
    occurred_at: AwareDatetime | None = Field(
        default=None, description="When it happened (with a time zone); default: now."
    )
    run_id: Token | None = Field(
        default=None, description="The source's run id: one event per system, source and run."
    )
    event_id: Token | None = Field(
        default=None, description="Your own id for the event: a repeat is reported as duplicate."
    )
    severity: Severity | None = None
    metric: Token | None = None
    metric_value: float | None = None
    threshold: float | None = None
    payload: dict[str, Any] = Field(
        default_factory=dict,
        description="Anything else. Numbers the rules use are kept; free text is PHI-redacted "
        "and the payload stored encrypted.",
    )

    @field_validator("severity", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("metric_value", "threshold")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _not_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value > datetime.now(UTC) + CLOCK_SKEW:
            raise ValueError("is in the future")
        return value.astimezone(UTC) if value is not None else None


class TelemetryBatch(BaseModel):
    events: list[dict[str, Any]] = Field(
        min_length=1, max_length=MAX_BATCH, description="Up to 1,000 events."
    )


class ItemResult(BaseModel):
    index: int
    status: Literal["accepted", "duplicate", "rejected"]
    id: str | None = Field(
        default=None, description="The stored event (the earlier one for a duplicate)."
    )
    errors: list[dict[str, str]] | None = None


class BatchResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[ItemResult]


class WebhookResult(BaseModel):
    id: str
    duplicate: bool


class TelemetryEventOut(BaseModel):
    id: str
    ai_system_id: str
    source: str
    event_type: str
    canonical_type: str
    category: str
    severity: str
    confidence: float
    matched_by: str
    metric: str | None
    metric_value: float | None
    threshold: float | None
    metrics: dict[str, float]
    run_id: str | None
    event_id: str | None
    occurred_at: datetime
    received_at: datetime
    phi_redactions: dict[str, int]
    translated_at: datetime | None
    risk_score: int | None
    risk_level: str | None
    escalate: bool | None
    escalation_path: list[str] | None


class TelemetryPage(BaseModel):
    data: list[TelemetryEventOut]
    next_cursor: str | None


class TelemetryQuery(PageQuery):
    ai_system_id: uuid.UUID | None = None
    event_type: str | None = None
    source: str | None = None


class PayloadOut(BaseModel):
    id: str
    payload: dict[str, Any]
    phi_redactions: dict[str, int]


class WebhookSecretOut(BaseModel):
    id: str
    ai_system_id: str
    created_at: datetime
    secret: str | None = Field(
        default=None, description="Shown once, when created; store it in the sender."
    )
    previous_expires_at: datetime | None = None
    header: str = Field(description="Where senders put the signature, per source.")


class WebhookSecretState(BaseModel):
    ai_system_id: str
    secrets: list[dict[str, Any]]


# ---- violations, actions, alerts -------------------------------------------------------------


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


ActionStatus = Literal["pending", "in_progress", "completed", "cancelled"]


class ActionOut(BaseModel):
    id: str
    violation_id: str
    ai_system_id: str
    action_type: str
    priority: str
    assignee: str
    assigned_user_id: str | None
    deadline: datetime
    overdue: bool
    automated: bool
    description: str
    details: dict[str, Any]
    status: ActionStatus
    created_at: datetime
    completed_at: datetime | None
    completed_by: str | None
    notes: str | None


class ActionPage(BaseModel):
    data: list[ActionOut]
    next_cursor: str | None


class ActionQuery(PageQuery):
    ai_system_id: uuid.UUID | None = None
    violation_id: uuid.UUID | None = None
    status: ActionStatus | None = None
    assignee: str | None = None
    overdue: bool | None = None


class ActionUpdate(Request):
    status: ActionStatus | None = None
    assigned_user_id: uuid.UUID | None = None
    notes: Note | None = None


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


class AlertPage(BaseModel):
    data: list[AlertOut]
    next_cursor: str | None


class AlertQuery(PageQuery):
    ai_system_id: uuid.UUID | None = None
    status: AlertStatus | None = None
    severity: Severity | None = None
    type: str | None = None


class AlertSettings(Request):
    slack_webhook_url: (
        Annotated[str, StringConstraints(pattern=r"^https://", max_length=500)] | None
    ) = Field(default=None, description="A Slack incoming webhook; null removes it.")
    sla_minutes: dict[Severity, int] | None = Field(
        default=None, description="Acknowledge within, per severity; null restores the defaults."
    )


class AlertSettingsOut(BaseModel):
    slack_webhook_set: bool
    sla_minutes: dict[str, int]


# ---- customization ---------------------------------------------------------------------------


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
