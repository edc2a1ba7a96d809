"""Auth's events that other services consume: organizations and the people in them (governance's
directory; billing's and reports' to come)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator

from spectral_shared.bus.catalog import Contract, EventData


def _canonical(value: str) -> str:
    return str(uuid.UUID(value))


# Ids are UUIDs in their canonical text: a consumer stores them as they come.
Id = Annotated[str, AfterValidator(_canonical)]
OrganizationType = Literal["health_system", "vendor", "platform"]


class OrganizationCreated(EventData):
    organization_id: Id
    name: str
    type: OrganizationType


class OrganizationUpdated(EventData):
    organization_id: Id
    changes: dict[str, dict[str, object]]  # field -> {"from": ..., "to": ...}


class UserRegistered(EventData):
    user_id: Id
    email: str
    name: str
    role: str


class InvitationAccepted(EventData):
    invitation_id: Id
    user_id: Id
    role: str
    email: str | None = None  # where the user's notifications go


class SsoUserProvisioned(EventData):
    """A first sign-in through SSO created the account, with the organization's default role."""

    user_id: Id
    email: str
    role: str


class UserRoleChanged(EventData):
    user_id: Id
    before: dict[str, object]
    after: dict[str, object]


class UserDeactivated(EventData):
    """Every session, refresh token and API key of the user ends with it."""

    user_id: Id


class UserReactivated(EventData):
    user_id: Id


class UsageRecorded(EventData):
    """An organization's API calls on one UTC day so far (a running total: the newest wins)."""

    day: date
    api_calls: int


ORGANIZATION_CREATED = Contract("auth.organization.created", OrganizationCreated)
ORGANIZATION_UPDATED = Contract("auth.organization.updated", OrganizationUpdated)
USER_REGISTERED = Contract("auth.user.registered", UserRegistered)
INVITATION_ACCEPTED = Contract("auth.invitation.accepted", InvitationAccepted)
SSO_USER_PROVISIONED = Contract("auth.user.sso_provisioned", SsoUserProvisioned)
USER_ROLE_CHANGED = Contract("auth.user.role_changed", UserRoleChanged)
USER_DEACTIVATED = Contract("auth.user.deactivated", UserDeactivated)
USER_REACTIVATED = Contract("auth.user.reactivated", UserReactivated)
USAGE_RECORDED = Contract("auth.usage.recorded", UsageRecorded)
