"""Required actions' request and response shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from spectral_governance.web import Note, Request
from spectral_shared.web.pagination import PageQuery

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
