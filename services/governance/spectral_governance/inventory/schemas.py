"""The inventory's request and response shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from spectral_governance.inventory.rules import (
    NAME_MAX_LENGTH,
    NAME_MIN_LENGTH,
    Category,
    FdaStatus,
    Lifecycle,
    Locality,
    Posture,
    ProviderType,
    RiskLevel,
)
from spectral_governance.web import Request
from spectral_shared.us_states import USState
from spectral_shared.web.pagination import PageQuery

Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=NAME_MIN_LENGTH, max_length=NAME_MAX_LENGTH
    ),
]


Department = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


Version = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


SubmissionNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=4, max_length=20)
]


# Fields that may not be null (a PATCH may leave them out, never clear them).
REQUIRED = ("name", "department", "category", "uses_phi", "fda_status", "risk_level", "status")


class _Fields(Request):
    description: LongText | None = None
    clinical_use_case: LongText | None = None
    vendor_name: ShortText | None = None
    vendor_organization_id: uuid.UUID | None = Field(
        default=None, description="The vendor's organization on Spectral, when it has one."
    )
    model_name: ShortText | None = None
    model_version: Version | None = None
    fda_submission_number: SubmissionNumber | None = Field(
        default=None, description="510(k) number (K123456) or De Novo number (DEN123456)."
    )
    monitoring_enabled: bool | None = Field(
        default=None, description="Omit to let the rules decide: on for high and critical risk."
    )
    owner_user_id: uuid.UUID | None = None
    provider_type: ProviderType | None = None
    provider_system_id: ShortText | None = None


class AISystemCreate(_Fields):
    """A new AI system for the inventory."""

    name: Name
    department: Department
    category: Category
    uses_phi: bool
    risk_level: RiskLevel
    fda_status: FdaStatus = "unknown"
    status: Lifecycle = Field(default="testing", description="testing (default) or active.")
    serves_states: list[USState] = Field(
        default_factory=list, max_length=60, description="US state codes the system serves."
    )
    serves_localities: list[Locality] = Field(
        default_factory=list,
        max_length=10,
        description="Localities with their own AI law the system serves: NYC (New York City, "
        "whose Local Law 144 governs automated employment decision tools).",
    )


class AISystemUpdate(_Fields):
    """The fields to change; null clears an optional field. ``status`` moves the lifecycle."""

    name: Name | None = None
    department: Department | None = None
    category: Category | None = None
    uses_phi: bool | None = None
    risk_level: RiskLevel | None = None
    fda_status: FdaStatus | None = None
    status: Lifecycle | None = None
    serves_states: list[USState] | None = Field(default=None, max_length=60)
    serves_localities: list[Locality] | None = Field(default=None, max_length=10)

    @model_validator(mode="after")
    def _required_not_cleared(self) -> AISystemUpdate:
        cleared = [f for f in REQUIRED if f in self.model_fields_set and getattr(self, f) is None]
        if cleared:
            raise ValueError(f"{', '.join(cleared)} cannot be null.")
        for listed in ("serves_states", "serves_localities"):
            if listed in self.model_fields_set and getattr(self, listed) is None:
                raise ValueError(f"{listed} cannot be null; send [] for none.")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: _value(getattr(self, name)) for name in self.model_fields_set}


def _value(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


def create_values(body: AISystemCreate) -> dict[str, Any]:
    return {name: _value(getattr(body, name)) for name in type(body).model_fields} | {
        "monitoring_enabled": body.monitoring_enabled
        if "monitoring_enabled" in body.model_fields_set
        else None
    }


class AISystemOut(BaseModel):
    """An AI system of the organization's inventory."""

    id: str
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
    status: Lifecycle
    compliance_posture: Posture = Field(
        description="Computed from open violations and the last day's alerts; not a lifecycle state."
    )
    risk_score: int = Field(description="0 to 100, computed with the posture.")
    monitoring_enabled: bool
    requires_monitoring: bool = Field(description="High or critical risk, or uses PHI.")
    serves_states: list[str]
    serves_localities: list[str]
    owner_user_id: str | None
    provider_type: str | None
    provider_system_id: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    version: int


class AISystemPage(BaseModel):
    """A page of the organization's AI systems."""

    data: list[AISystemOut]
    next_cursor: str | None


Sort = Literal[
    "name",
    "-name",
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "risk_level",
    "-risk_level",
    "risk_score",
    "-risk_score",
]


class AISystemQuery(PageQuery):
    status: Lifecycle | None = None
    risk_level: RiskLevel | None = None
    department: Annotated[str, StringConstraints(max_length=100)] | None = None
    vendor: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="Vendor name (case-insensitive) or vendor organization id."
    )
    uses_phi: bool | None = None
    posture: Posture | None = Field(default=None, description="ok, drift or critical.")
    q: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="Search: part of the name, case-insensitive."
    )
    sort: Sort = "created_at"
    include_deleted: bool = False


class ExportQuery(AISystemQuery):
    model_config = ConfigDict(extra="forbid")


class ImportResult(BaseModel):
    """Every row imported; with ``dry_run``, every row would be (nothing was kept)."""

    imported: int = Field(description="Systems added; with dry_run, systems the file would add.")
    ids: list[str]
    dry_run: bool
