"""Who may grant what, and what an organization may configure (docs/domain.md#decision-2-roles).
Pure rules: no I/O."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from spectral_shared.errors import Forbidden
from spectral_shared.identity import ROLE_RANK, Role

Persona = Literal["ciso", "privacy_officer", "compliance_officer", "clinical_owner", "it_owner"]

# What an API key may be allowed to do (machines: telemetry pushers, vendor integrations).
API_KEY_SCOPES = (
    "telemetry:write",
    "ai_systems:read",
    "ai_systems:write",
    "controls:read",
    "violations:read",
    "alerts:read",
    "telemetry:read",
    "reports:read",
    "audit_log:read",
)
ApiKeyScope = Literal[
    "telemetry:write",
    "ai_systems:read",
    "ai_systems:write",
    "controls:read",
    "violations:read",
    "alerts:read",
    "telemetry:read",
    "reports:read",
    "audit_log:read",
]


class RoleRefused(Forbidden):
    """Why a role change is not allowed, in words fit for a problem response."""

    title = "Not allowed"
    slug = "role-not-allowed"


def check_role_grant(*, actor_role: str, target_role: str, organization_type: str) -> None:
    """An actor grants at most their own rank; super_admin only within the platform organization."""
    if target_role not in {r.value for r in Role}:
        raise RoleRefused(f"{target_role!r} is not a role")
    if target_role == Role.SUPER_ADMIN and organization_type != "platform":
        raise RoleRefused("super_admin exists only in the platform organization")
    if ROLE_RANK[Role(target_role)] > ROLE_RANK[Role(actor_role)]:
        raise RoleRefused(
            f"you cannot grant {target_role}, which is above your own role ({actor_role})"
        )


class OrganizationSettings(BaseModel):
    """What an organization's admins configure. Defaults: docs/domain.md#passwords-lockout-and-sessions."""

    model_config = ConfigDict(extra="forbid")

    mfa_required: bool = False
    password_expiry_days: int | None = Field(default=None, ge=30, le=730)
    idle_timeout_minutes: int = Field(default=15, ge=5, le=240)
    absolute_timeout_hours: int = Field(default=12, ge=1, le=72)
    default_sso_role: Literal["viewer", "analyst", "compliance_officer"] = "viewer"
