"""Governance's events that other services consume: the inventory (billing counts AI systems
against the plan) and accepted telemetry (billing meters it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from spectral_shared.bus.catalog import Contract, EventData

Source = Literal["api", "csv_import", "demo_seed"]
TelemetrySource = Literal["api", "langsmith", "arize", "langfuse", "wandb"]


class AISystemSnapshot(EventData):
    """The inventory fields of a system as recorded."""

    name: str
    description: str | None
    department: str
    category: str
    clinical_use_case: str | None
    vendor_name: str | None
    vendor_organization_id: str | None
    model_name: str | None
    model_version: str | None
    uses_phi: bool
    fda_status: str
    fda_submission_number: str | None
    risk_level: str
    status: str
    monitoring_enabled: bool
    serves_states: list[str]
    serves_localities: list[str] = Field(default_factory=list)
    owner_user_id: str | None
    provider_type: str | None
    provider_system_id: str | None


class AISystemCreated(EventData):
    ai_system_id: str
    source: Source
    system: AISystemSnapshot


class AISystemDeleted(EventData):
    ai_system_id: str
    name: str
    status: str  # the lifecycle state it was in; the record stays readable


class AISystemStatusChanged(EventData):
    ai_system_id: str
    name: str
    from_status: str
    to_status: str


class TelemetryReceived(EventData):
    """One accepted batch or webhook delivery: the events stored, to be translated."""

    source: TelemetrySource
    event_ids: list[str]
    ai_system_ids: list[str]
    duplicates: int


AI_SYSTEM_CREATED = Contract("governance.ai_system.created", AISystemCreated)
AI_SYSTEM_DELETED = Contract("governance.ai_system.deleted", AISystemDeleted)
AI_SYSTEM_STATUS_CHANGED = Contract("governance.ai_system.status_changed", AISystemStatusChanged)
TELEMETRY_RECEIVED = Contract("governance.telemetry.received", TelemetryReceived)
