"""Administering the caller's organization: profile, users, invitations. Thin views over services."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from flask import Blueprint, Response
from pydantic import (
    BaseModel,
    EmailStr,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import select

from spectral_auth import services
from spectral_auth.api.schemas import OrganizationOut, Request, UserOut
from spectral_auth.models import Invitation, Organization, User
from spectral_auth.passwords import MAX_LENGTH, password_problems
from spectral_auth.roles import OrganizationSettings, Persona
from spectral_shared.errors import NotFound
from spectral_shared.identity import current_identity, requires
from spectral_shared.us_states import USState
from spectral_shared.web.idempotency import idempotent
from spectral_shared.web.openapi import ApiDoc
from spectral_shared.web.pagination import Keyset, PageQuery
from spectral_shared.web.responses import current_runtime, json_response
from spectral_shared.web.validation import parse_json_body, parse_query

api = ApiDoc("auth", "Spectral auth")
bp = Blueprint("accounts", __name__)

# Members page in sign-up order.
SIGN_UP_ORDER: Keyset[User] = Keyset((User.created_at, User.id))

RoleName = Literal["viewer", "analyst", "compliance_officer", "admin", "executive", "super_admin"]


# ---- schemas -------------------------------------------------------------------------------------


class OrganizationProfile(OrganizationOut):
    """The organization with its settings."""

    settings: OrganizationSettings


class OrganizationUpdate(Request):
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
        | None
    ) = None
    state: USState | None = None
    settings: dict[str, Any] | None = None

    @field_validator("settings")
    @classmethod
    def _settings(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            OrganizationSettings.model_validate({**OrganizationSettings().model_dump(), **value})
        return value


class InviteRequest(Request):
    email: EmailStr
    role: RoleName
    personas: list[Persona] = Field(default_factory=list, max_length=5)


class InvitationOut(BaseModel):
    """An invitation (its token is only ever in the e-mail)."""

    id: str
    email: str
    role: str
    personas: list[str]
    invited_by: str
    expires_at: datetime
    created_at: datetime


class InvitationList(BaseModel):
    """Pending invitations."""

    data: list[InvitationOut]


class AcceptInvitationRequest(Request):
    token: str = Field(min_length=16, max_length=200)
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    password: str = Field(max_length=MAX_LENGTH * 4)

    @field_validator("password")
    @classmethod
    def _policy(cls, value: str, info: ValidationInfo) -> str:
        problems = password_problems(value)
        if problems:
            raise ValueError(" ".join(problems))
        return value


class RoleChange(Request):
    role: RoleName
    personas: list[Persona] | None = Field(default=None, max_length=5)


class MemberOut(UserOut):
    """A member of the organization."""

    personas: list[str]
    deactivated_at: datetime | None
    last_login_at: datetime | None


class MemberPage(BaseModel):
    """A page of members, in sign-up order."""

    data: list[MemberOut]
    next_cursor: str | None


class UserQuery(PageQuery):
    status: Literal["active", "pending_verification", "inactive"] | None = None
    role: RoleName | None = None


def profile_out(org: Organization) -> OrganizationProfile:
    return OrganizationProfile(
        id=org.id,
        name=org.name,
        type=org.type,
        state=org.state,
        created_at=org.created_at,
        settings=OrganizationSettings.model_validate_json(org.settings or "{}"),
    )


def member_out(user: User) -> MemberOut:
    from spectral_auth.api.schemas import user_fields

    return MemberOut(
        **user_fields(user),
        personas=json.loads(user.personas or "[]"),
        deactivated_at=user.deactivated_at,
        last_login_at=user.last_login_at,
    )


def invitation_out(inv: Invitation) -> InvitationOut:
    return InvitationOut(
        id=inv.id,
        email=inv.email,
        role=inv.role,
        personas=json.loads(inv.personas or "[]"),
        invited_by=inv.invited_by,
        expires_at=inv.expires_at,
        created_at=inv.created_at,
    )


# ---- organization ------------------------------------------------------------------------------------


@bp.get("/api/v1/auth/organization")
@api.operation(
    "Your organization's profile and settings",
    responses={200: OrganizationProfile, 401: "Not signed in"},
)
@requires("organization:read")
def get_organization() -> tuple[Response, int]:
    with current_runtime().database.read_session() as session:
        org = session.get(Organization, current_identity().organization_id)
    if org is None:
        raise NotFound("organization")
    return json_response(profile_out(org))


@bp.patch("/api/v1/auth/organization")
@api.operation(
    "Change the organization's name, state or settings",
    request=OrganizationUpdate,
    responses={200: OrganizationProfile, 403: "Admins only", 422: "Invalid fields"},
)
@requires("organization:update")
def update_organization() -> tuple[Response, int]:
    body = parse_json_body(OrganizationUpdate)
    org = services.update_organization(
        current_runtime(),
        current_identity(),
        name=body.name,
        state=body.state,
        settings=body.settings,
        fields_set=body.model_fields_set,
    )
    return json_response(profile_out(org))


# ---- users ------------------------------------------------------------------------------------------------


@bp.get("/api/v1/auth/users")
@api.operation(
    "List the organization's users",
    query=UserQuery,
    responses={200: MemberPage, 403: "Role lacks users:read"},
)
@requires("users:read")
def list_users() -> tuple[Response, int]:
    query = parse_query(UserQuery)
    statement = select(User).where(User.organization_id == current_identity().organization_id)
    if query.status:
        statement = statement.where(User.status == query.status)
    if query.role:
        statement = statement.where(User.role == query.role)
    with current_runtime().database.read_session() as session:
        rows = session.scalars(SIGN_UP_ORDER.apply(statement, query)).all()
    page, cursor = SIGN_UP_ORDER.page(rows, query)
    return json_response(MemberPage(data=[member_out(u) for u in page], next_cursor=cursor))


@bp.get("/api/v1/auth/users/<uuid:user_id>")
@api.operation(
    "One user of the organization", responses={200: MemberOut, 404: "Not in your organization"}
)
@requires("users:read")
def get_user(user_id: str) -> tuple[Response, int]:
    with current_runtime().database.read_session() as session:
        user = session.scalars(
            select(User).where(
                User.id == user_id, User.organization_id == current_identity().organization_id
            )
        ).first()
    if user is None:
        raise NotFound("user")
    return json_response(member_out(user))


@bp.patch("/api/v1/auth/users/<uuid:user_id>/role")
@api.operation(
    "Change a user's role and persona tags",
    request=RoleChange,
    responses={
        200: MemberOut,
        403: "Above your own role, or your own account",
        404: "Not in your organization",
    },
)
@requires("users:manage")
def change_role(user_id: str) -> tuple[Response, int]:
    body = parse_json_body(RoleChange)
    user = services.change_role(
        current_runtime(), current_identity(), user_id, role=body.role, personas=body.personas
    )
    return json_response(member_out(user))


def _set_active(user_id: str, active: bool) -> tuple[Response, int]:
    user = services.set_active(current_runtime(), current_identity(), user_id, active=active)
    return json_response(member_out(user))


@bp.post("/api/v1/auth/users/<uuid:user_id>/deactivate")
@api.operation(
    "Deactivate a user (ends their sign-ins at once)",
    responses={200: MemberOut, 403: "Your own account", 404: "Not in your organization"},
)
@requires("users:manage")
def deactivate(user_id: str) -> tuple[Response, int]:
    return _set_active(user_id, False)


@bp.post("/api/v1/auth/users/<uuid:user_id>/reactivate")
@api.operation(
    "Reactivate a user",
    responses={200: MemberOut, 403: "Your own account", 404: "Not in your organization"},
)
@requires("users:manage")
def reactivate(user_id: str) -> tuple[Response, int]:
    return _set_active(user_id, True)


@bp.post("/api/v1/auth/users/<uuid:user_id>/mfa/reset")
@api.operation(
    "Remove a user's MFA (lost device): their sessions end, they enrol again",
    responses={200: MemberOut, 403: "Your own account", 404: "Not in your organization"},
)
@requires("users:manage")
def reset_mfa(user_id: str) -> tuple[Response, int]:
    user = services.reset_mfa(current_runtime(), current_identity(), user_id)
    return json_response(member_out(user))


# ---- invitations -----------------------------------------------------------------------------------------------


@bp.get("/api/v1/auth/invitations")
@api.operation("Pending invitations", responses={200: InvitationList, 403: "Admins only"})
@requires("users:invite")
def list_invitations() -> tuple[Response, int]:
    from spectral_shared.db import utcnow

    with current_runtime().database.read_session() as session:
        rows = session.scalars(
            select(Invitation)
            .where(
                Invitation.organization_id == current_identity().organization_id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > utcnow(),
            )
            .order_by(Invitation.created_at)
        ).all()
    return json_response(InvitationList(data=[invitation_out(i) for i in rows]))


@bp.post("/api/v1/auth/invitations")
@api.operation(
    "Invite someone by e-mail (single-use link, 7 days)",
    request=InviteRequest,
    responses={
        201: InvitationOut,
        403: "Role above your own",
        409: "Already a member of your organization, or invited to it",
        422: "Invalid fields",
    },
    description="An address with an account in another organization gets the same answer as "
    "any other (an address belongs to one account in one organization: its owner is e-mailed "
    "that the invitation cannot be accepted with it). Accepts Idempotency-Key.",
)
@requires("users:invite")
@idempotent("auth.invite")
def create_invitation() -> tuple[Response, int]:
    body = parse_json_body(InviteRequest)
    invitation = services.invite(
        current_runtime(),
        current_identity(),
        email=str(body.email),
        role=body.role,
        personas=list(body.personas),
    )
    return json_response(invitation_out(invitation), 201)


@bp.delete("/api/v1/auth/invitations/<uuid:invitation_id>")
@api.operation(
    "Withdraw a pending invitation",
    responses={204: None, 404: "No pending invitation with this id"},
)
@requires("users:invite")
def revoke_invitation(invitation_id: str) -> tuple[str, int]:
    services.revoke_invitation(current_runtime(), current_identity(), invitation_id)
    return "", 204


@bp.post("/api/v1/auth/invitations/accept")
@api.operation(
    "Accept an invitation: choose your name and password",
    request=AcceptInvitationRequest,
    responses={
        201: MemberOut,
        400: "Invalid, used, withdrawn or expired invitation",
        409: "The address already has an account (an address belongs to one organization)",
        422: "Invalid fields",
    },
    public=True,
)
def accept_invitation() -> tuple[Response, int]:
    body = parse_json_body(AcceptInvitationRequest)
    user = services.accept_invitation(
        current_runtime(), token=body.token, name=body.name, password=body.password
    )
    return json_response(member_out(user), 201)
