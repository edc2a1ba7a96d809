"""The control registry's response shapes."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from spectral_shared.web.pagination import PageQuery


class FrameworkOut(BaseModel):
    """A regulatory framework of the control registry."""

    id: str
    name: str
    issuer: str
    citation: str
    jurisdiction: str
    description: str
    effective_date: date | None
    status: str | None = Field(
        description="Its legal standing: in_force, voluntary, vetoed, repealed or proposed."
    )
    status_date: date | None = Field(description="The day of the veto, repeal or proposal.")
    end_date: date | None = Field(description="The day it no longer binds from, if any.")
    status_note: str | None
    control_count: int
    catalog_version: int


class FrameworkList(BaseModel):
    """Every framework of the control registry."""

    data: list[FrameworkOut]
    catalog_version: int


class ControlOut(BaseModel):
    """A control of the registry."""

    id: str
    framework_id: str
    kind: str
    parent_id: str | None
    reference_id: str | None
    title: str
    description: str
    category: str
    severity: str
    required_evidence: list[str]
    requirement: str | None
    reporting_deadline_days: int | None
    tags: list[str]
    catalog_version: int
    retired_in: int | None
    aliases: list[str] = Field(description="Other ids rules and older catalogs use for it.")


class ControlPage(BaseModel):
    """A page of a framework's controls, in catalog order."""

    data: list[ControlOut]
    next_cursor: str | None


class ControlQuery(PageQuery):
    limit: int = Field(default=100, ge=1, le=500)
    severity: Literal["critical", "high", "medium", "low"] | None = None
