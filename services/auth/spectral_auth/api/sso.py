"""HTTP API: single sign-on with WorkOS. Thin views over ``services``."""

from __future__ import annotations

import uuid
from datetime import datetime

from flask import Blueprint, Response, redirect
from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator
from werkzeug.wrappers import Response as BaseResponse

from spectral_auth import services
from spectral_auth.api.schemas import Request, TokenResponse
from spectral_auth.models import SsoConnection
from spectral_shared.identity import current_identity, requires
from spectral_shared.web.openapi import ApiDoc
from spectral_shared.web.responses import current_runtime, json_response
from spectral_shared.web.validation import parse_json_body, parse_query

api = ApiDoc("auth", "Spectral auth")
bp = Blueprint("sso", __name__)

WORKOS_ORGANIZATION_ID = r"^org_[0-9A-Za-z]{1,100}$"


# ---- schemas -------------------------------------------------------------------------------------


class AuthorizeQuery(BaseModel):
    """Which organization to sign in to: its id, or the e-mail address of the person."""

    model_config = ConfigDict(extra="forbid")

    organization_id: uuid.UUID | None = None
    email: EmailStr | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> AuthorizeQuery:
        if (self.organization_id is None) == (self.email is None):
            raise ValueError("give either organization_id or email")
        return self


class CallbackQuery(BaseModel):
    """What WorkOS appends to the redirect URI. Unknown parameters are ignored: WorkOS, not the
    caller, shapes this request."""

    model_config = ConfigDict(extra="ignore")

    state: str = Field(min_length=16, max_length=200)
    code: str | None = Field(default=None, min_length=1, max_length=512)
    error: str | None = Field(default=None, max_length=200)
    error_description: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _code_or_error(self) -> CallbackQuery:
        if self.code is None and self.error is None:
            raise ValueError("code is required")
        return self


class SsoConnectionRequest(Request):
    workos_organization_id: str = Field(pattern=WORKOS_ORGANIZATION_ID, max_length=128)


class SsoConnectionOut(BaseModel):
    """The WorkOS organization whose members sign in to your organization."""

    workos_organization_id: str
    created_by: str
    created_at: datetime
    updated_at: datetime


def connection_out(connection: SsoConnection) -> SsoConnectionOut:
    return SsoConnectionOut(
        workos_organization_id=connection.workos_organization_id,
        created_by=connection.created_by,
        created_at=connection.created_at,
        updated_at=connection.updated_at,
    )


def _require_sso() -> None:
    services.require_sso(current_runtime().settings)


# ---- the flow ------------------------------------------------------------------------------------


@bp.get("/api/v1/auth/sso/authorize")
@api.operation(
    "Start single sign-on: redirect to WorkOS",
    query=AuthorizeQuery,
    responses={
        302: "Redirect to WorkOS AuthKit",
        400: "Neither or both of organization_id and email",
        404: "SSO is not configured here, or that organization has not set it up",
    },
    public=True,
    description="With `email`, the redirect never tells whether the address has an account.",
)
def authorize() -> BaseResponse:
    _require_sso()
    query = parse_query(AuthorizeQuery)
    url = services.authorization_url(
        current_runtime(),
        organization_id=str(query.organization_id) if query.organization_id else None,
        email=str(query.email) if query.email else None,
    )
    response = redirect(url, code=302)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/v1/auth/sso/callback")
@api.operation(
    "Finish single sign-on: WorkOS redirects here with a code",
    query=CallbackQuery,
    responses={
        200: TokenResponse,
        400: "Invalid, used or expired state or code",
        403: "Organization not mapped, account of another organization, or deactivated",
        502: "WorkOS unavailable",
        404: "SSO is not configured on this deployment",
    },
    public=True,
    description="A first sign-in creates the account with the organization's default SSO role.",
)
def callback() -> tuple[Response, int]:
    _require_sso()
    query = parse_query(CallbackQuery)
    if query.code is None:  # the person cancelled, or WorkOS refused before issuing a code
        raise services.SsoNotCompleted(query.error_description or query.error)
    grant = services.complete_sign_in(current_runtime(), code=query.code, state=query.state)
    response, status = json_response(TokenResponse.of(grant))
    response.headers["Cache-Control"] = "no-store"
    return response, status


# ---- the mapping ---------------------------------------------------------------------------------


@bp.get("/api/v1/auth/sso/connection")
@api.operation(
    "Your organization's WorkOS organization",
    responses={
        200: SsoConnectionOut,
        403: "Admins only",
        404: "SSO is not configured on this deployment, or no WorkOS organization is mapped",
    },
)
@requires("sso:manage")
def get_connection() -> tuple[Response, int]:
    _require_sso()
    with (
        current_runtime().database.session() as session
    ):  # the primary: right after a PUT it must show
        connection = services.sso_connection(session, current_identity().organization_id)
    if connection is None:
        raise services.NoSsoConnection()
    return json_response(connection_out(connection))


@bp.put("/api/v1/auth/sso/connection")
@api.operation(
    "Map a WorkOS organization to your organization",
    request=SsoConnectionRequest,
    responses={
        200: SsoConnectionOut,
        403: "Admins only",
        409: "Mapped to another organization",
        422: "Invalid or unknown WorkOS organization id",
        502: "WorkOS unavailable",
        404: "SSO is not configured on this deployment",
    },
    description="Its members then sign in through WorkOS; a first sign-in creates their account "
    "with the organization's `default_sso_role` setting (viewer unless changed).",
)
@requires("sso:manage")
def put_connection() -> tuple[Response, int]:
    _require_sso()
    body = parse_json_body(SsoConnectionRequest)
    connection = services.set_connection(
        current_runtime(), current_identity(), body.workos_organization_id
    )
    assert connection is not None
    return json_response(connection_out(connection))


@bp.delete("/api/v1/auth/sso/connection")
@api.operation(
    "Remove the mapping (members can no longer sign in through WorkOS)",
    responses={204: None, 403: "Admins only", 404: "SSO is not configured on this deployment"},
)
@requires("sso:manage")
def delete_connection() -> tuple[str, int]:
    _require_sso()
    services.set_connection(current_runtime(), current_identity(), None)
    return "", 204
