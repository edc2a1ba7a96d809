"""Auth's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from spectral_auth.models import User
from spectral_auth.passwords import MAX_LENGTH, password_problems
from spectral_auth.services.registration import AccessGrant
from spectral_shared.web.text import PlainText

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Request(PlainText):
    """A request body: unknown fields are refused; text fields hold no control characters."""

    model_config = ConfigDict(extra="forbid")


class RegisterRequest(Request):
    organization_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)
    ]
    organization_type: Literal["health_system", "vendor"]
    name: Name
    email: EmailStr
    password: str = Field(max_length=MAX_LENGTH * 4)  # the policy below says the exact limit

    @field_validator("password")
    @classmethod
    def _policy(cls, value: str, info: ValidationInfo) -> str:
        problems = password_problems(value, email=info.data.get("email"))
        if problems:
            raise ValueError(" ".join(problems))
        return value


class LoginRequest(Request):
    # Any string: the answer to a malformed address is the same 401 as to a wrong password.
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    mfa_code: str | None = Field(default=None, min_length=6, max_length=10)
    backup_code: str | None = Field(default=None, min_length=10, max_length=12)


class VerifyEmailQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=16, max_length=200)


class OrganizationOut(BaseModel):
    """An organization."""

    id: str
    name: str
    type: str
    state: str | None = None
    created_at: datetime


class UserOut(BaseModel):
    """A user."""

    id: str
    organization_id: str
    name: str
    email: str
    role: str
    status: str
    email_verified: bool
    created_at: datetime


class Accepted(BaseModel):
    """Accepted; the answer is the same whether or not an account uses the address."""

    status: Literal["accepted"]
    detail: str


class VerifyEmailResponse(BaseModel):
    """The e-mail address is verified."""

    status: Literal["verified"]
    user_id: str


class TokenResponse(BaseModel):
    """An access token, and a refresh token that rotates on every use."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    refresh_token: str

    @classmethod
    def of(cls, grant: AccessGrant) -> TokenResponse:
        return cls(
            access_token=grant.access_token,
            token_type="Bearer",  # noqa: S106 - a token type, not a secret
            expires_in=grant.expires_in,
            refresh_token=grant.refresh_token,
        )


class RefreshRequest(Request):
    refresh_token: str = Field(min_length=16, max_length=200)


class MeResponse(BaseModel):
    """The signed-in user and their organization."""

    user: UserOut
    organization: OrganizationOut


class JwksResponse(BaseModel):
    """The public keys that verify Spectral access tokens (RFC 7517)."""

    keys: list[dict[str, str]]


def user_fields(user: User) -> dict[str, object]:
    """The fields every representation of a user shares."""
    return {
        "id": user.id,
        "organization_id": user.organization_id,
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "status": user.status,
        "email_verified": user.email_verified_at is not None,
        "created_at": user.created_at,
    }
