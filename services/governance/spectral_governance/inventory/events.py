"""The inventory's events."""

from __future__ import annotations

from spectral_governance.event_catalog import catalog
from spectral_shared.bus.catalog import EventData
from spectral_shared.contracts import governance as contracts
from spectral_shared.contracts.governance import (
    AISystemCreated as AISystemCreated,
)
from spectral_shared.contracts.governance import (
    AISystemDeleted as AISystemDeleted,
)
from spectral_shared.contracts.governance import (
    AISystemSnapshot as AISystemSnapshot,
)
from spectral_shared.contracts.governance import (
    AISystemStatusChanged as AISystemStatusChanged,
)
from spectral_shared.contracts.governance import Source as Source


class AISystemUpdated(EventData):
    ai_system_id: str
    name: str
    version: int
    changes: dict[str, dict[str, object]]  # field -> {"from": ..., "to": ...}


AI_SYSTEM_CREATED = catalog.adopt(
    contracts.AI_SYSTEM_CREATED,
    "An AI system was added to an organization's inventory (API, CSV import or demo seed).",
)


AI_SYSTEM_UPDATED = catalog.define(
    "governance.ai_system.updated",
    AISystemUpdated,
    "An AI system's inventory fields changed (each field before and after).",
)


AI_SYSTEM_DELETED = catalog.adopt(
    contracts.AI_SYSTEM_DELETED,
    "An AI system was removed from the inventory (soft: its record and history stay readable).",
)


AI_SYSTEM_STATUS_CHANGED = catalog.adopt(
    contracts.AI_SYSTEM_STATUS_CHANGED,
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
