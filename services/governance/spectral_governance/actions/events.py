"""Required actions generated and moved."""

from __future__ import annotations

from typing import Literal

from spectral_governance.event_catalog import catalog
from spectral_shared.bus.catalog import EventData


class ActionCreated(EventData):
    action_id: str
    violation_id: str
    ai_system_id: str
    action_type: str
    priority: str
    assignee: str
    deadline: str
    automated: bool


class ActionStatusChanged(EventData):
    action_id: str
    ai_system_id: str
    from_status: str
    to_status: str
    assigned_user_id: str | None = None
    by: Literal["user", "executor"] = "user"


ACTION_CREATED = catalog.define(
    "governance.action.created",
    ActionCreated,
    "A required action was generated for a violation.",
)


ACTION_STATUS_CHANGED = catalog.define(
    "governance.action.status_changed",
    ActionStatusChanged,
    "A required action moved (pending, in_progress, completed, cancelled) or was assigned.",
)
