"""Forgot, reset and change a password; resend the verification e-mail."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, Field, ValidationInfo, field_validator

from spectral_auth import services
from spectral_auth.api.schemas import Accepted, Request, TokenResponse
from spectral_auth.passwords import MAX_LENGTH, password_problems
from spectral_shared.identity import current_identity, requires
from spectral_shared.web.openapi import ApiDoc
from spectral_shared.web.responses import current_runtime
from spectral_shared.web.validation import parse_json_body

api = ApiDoc("auth", "Spectral auth")
bp = Blueprint("passwords", __name__)

GENERIC_SENT = "If an account uses this address, an e-mail is on its way."


def _policy(value: str) -> str:
    problems = password_problems(value)
    if problems:
        raise ValueError(" ".join(problems))
    return value


class EmailRequest(Request):
    # Any string: a malformed address gets the same answer as an unknown one.
    email: str = Field(min_length=1, max_length=320)


class ResetRequest(Request):
    token: str = Field(min_length=16, max_length=200)
    password: str = Field(max_length=MAX_LENGTH * 4)

    @field_validator("password")
    @classmethod
    def _new_password(cls, value: str) -> str:
        return _policy(value)


class ChangeRequest(Request):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(max_length=MAX_LENGTH * 4)

    @field_validator("new_password")
    @classmethod
    def _new_password(cls, value: str, info: ValidationInfo) -> str:
        if value == info.data.get("current_password"):
            raise ValueError("Choose a password different from the current one.")
        return _policy(value)


class Done(BaseModel):
    """Done."""

    status: Literal["reset", "changed"]


def _accepted() -> tuple[Response, int]:
    return jsonify(Accepted(status="accepted", detail=GENERIC_SENT).model_dump()), 202


@bp.post("/api/v1/auth/password/forgot")
@api.operation(
    "E-mail a one-hour password reset link",
    request=EmailRequest,
    responses={202: Accepted, 422: "Invalid fields"},
    public=True,
)
def forgot_password() -> tuple[Response, int]:
    services.request_password_reset(current_runtime(), parse_json_body(EmailRequest).email)
    return _accepted()


@bp.post("/api/v1/auth/password/reset")
@api.operation(
    "Set a new password with the e-mailed token",
    request=ResetRequest,
    responses={200: Done, 400: "Invalid, used or expired token", 422: "Password not acceptable"},
    public=True,
)
def reset_password() -> tuple[Response, int]:
    body = parse_json_body(ResetRequest)
    services.reset_password(current_runtime(), token=body.token, password=body.password)
    return jsonify(Done(status="reset").model_dump()), 200


@bp.post("/api/v1/auth/password/change")
@api.operation(
    "Change your password (needs the current one)",
    request=ChangeRequest,
    responses={
        200: TokenResponse,
        401: "Not signed in",
        403: "Current password is wrong",
        422: "New password not acceptable",
    },
)
@requires("profile:read")
def change_password() -> tuple[Response, int]:
    body = parse_json_body(ChangeRequest)
    grant = services.change_password(
        current_runtime(),
        current_identity(),
        current_password=body.current_password,
        new_password=body.new_password,
    )
    # Every other session ended; these tokens keep the caller signed in.
    return jsonify(TokenResponse.of(grant).model_dump()), 200


@bp.post("/api/v1/auth/verify-email/resend")
@api.operation(
    "Send a new e-mail verification link",
    request=EmailRequest,
    responses={202: Accepted, 422: "Invalid fields"},
    public=True,
)
def resend_verification() -> tuple[Response, int]:
    services.resend_verification(current_runtime(), parse_json_body(EmailRequest).email)
    return _accepted()
