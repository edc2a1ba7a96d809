"""Telemetry intake's request and response shapes."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from spectral_governance.web import Request, Severity
from spectral_shared.us_states import USState
from spectral_shared.web.pagination import PageQuery

MAX_BATCH = 1000


Token = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


# How far in the future a client's clock may be before its occurred_at is refused.
CLOCK_SKEW = timedelta(minutes=5)
# Nothing Spectral governs ran before this: an earlier occurred_at is a broken clock or a default.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class Incident(Request):
    """The facts of an incident that reporting obligations depend on (docs/domain.md#required-actions-and-deadlines):
    how many people and which states' residents it affected, and any harm to a patient."""

    # Strict: true is no count and "yes" no answer (JSON gives the types; none is guessed).
    affected_count: StrictInt | None = Field(
        default=None, ge=0, le=1_000_000_000, description="People whose information was involved."
    )
    affected_states: dict[USState, Annotated[StrictInt, Field(ge=0, le=1_000_000_000)]] = Field(
        default_factory=dict,
        max_length=60,
        description='Residents affected per US state code, e.g. {"CA": 620, "NV": 12}.',
    )
    patient_harm: Literal["death", "serious_injury", "malfunction"] | None = Field(
        default=None,
        description="A device event: a death, a serious injury, or a malfunction that could "
        "cause one (21 CFR 803).",
    )
    remedial_action: StrictBool = Field(
        default=False,
        description="The event needs remedial action to prevent an unreasonable risk of "
        "substantial harm to the public health (21 CFR 803.53).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Incident:
        counted = sum(self.affected_states.values())
        if self.affected_count is not None and counted > self.affected_count:
            raise ValueError(
                f"affected_states add up to {counted}, more than affected_count "
                f"({self.affected_count})"
            )
        return self


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
    incident: Incident | None = Field(
        default=None,
        description="Facts that decide who must be told by when: affected count and states, "
        "patient harm.",
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
        if value is not None and value < EARLIEST:
            raise ValueError(f"is before {EARLIEST:%Y-%m-%d}: not a plausible time for an event")
        return value.astimezone(UTC) if value is not None else None


class TelemetryBatch(BaseModel):
    # Any item is taken: each is judged on its own (the event shape below), and one that is not
    # an event is rejected in `results` without sinking the batch.
    events: list[TelemetryEventIn | Any] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description="Up to 1,000 events; an item that is not a valid event is rejected on its "
        "own in the answer's results.",
    )


class ItemResult(BaseModel):
    index: int
    status: Literal["accepted", "duplicate", "rejected"]
    id: str | None = Field(
        default=None, description="The stored event (the earlier one for a duplicate)."
    )
    errors: list[dict[str, str]] | None = None
    warnings: list[dict[str, Any]] | None = Field(
        default=None,
        description="For an accepted event of no known type: code unclassified, with the "
        "known_types it could have been.",
    )


class BatchResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[ItemResult]


class WebhookResult(BaseModel):
    id: str
    duplicate: bool
    warnings: list[dict[str, Any]] = Field(
        default_factory=list,
        description="For a delivery of no known type: code unclassified, with the known_types.",
    )


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
    incident: dict[str, Any] | None
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
