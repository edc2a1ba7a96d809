"""The inventory's events."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from spectral_governance.event_catalog import catalog
from spectral_shared.bus.catalog import EventData

Source = Literal["api", "csv_import", "demo_seed"]


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


class AISystemUpdated(EventData):
    ai_system_id: str
    name: str
    version: int
    changes: dict[str, dict[str, object]]  # field -> {"from": ..., "to": ...}


class AISystemDeleted(EventData):
    ai_system_id: str
    name: str
    status: str  # the lifecycle state it was in; the record stays readable


class AISystemStatusChanged(EventData):
    ai_system_id: str
    name: str
    from_status: str
    to_status: str


AI_SYSTEM_CREATED = catalog.define(
    "governance.ai_system.created",
    AISystemCreated,
    "An AI system was added to an organization's inventory (API, CSV import or demo seed).",
)


AI_SYSTEM_UPDATED = catalog.define(
    "governance.ai_system.updated",
    AISystemUpdated,
    "An AI system's inventory fields changed (each field before and after).",
)


AI_SYSTEM_DELETED = catalog.define(
    "governance.ai_system.deleted",
    AISystemDeleted,
    "An AI system was removed from the inventory (soft: its record and history stay readable).",
)


AI_SYSTEM_STATUS_CHANGED = catalog.define(
    "governance.ai_system.status_changed",
    AISystemStatusChanged,
    "An AI system moved in its lifecycle (testing, active, paused, deprecated).",
)


class AISystemPostureChanged(EventData):
    """The system's standing, as its findings make it: posture and risk score (0 to 100)."""

    ai_system_id: str
    name: str
    from_posture: str
    to_posture: str
    risk_score: int


AI_SYSTEM_POSTURE_CHANGED = catalog.define(
    "governance.ai_system.posture_changed",
    AISystemPostureChanged,
    "An AI system's compliance posture (ok, drift, critical) changed with its open violations "
    "and recent alerts.",
)
