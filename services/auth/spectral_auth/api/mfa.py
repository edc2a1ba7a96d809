"""TOTP enrolment, confirmation and disabling."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, Field

from spectral_auth import services
from spectral_auth.api.schemas import Request, TokenResponse
from spectral_auth.signing_keys import MFA_ENROLLMENT_AUDIENCE
from spectral_shared.identity import (
    ACCESS_TOKEN_AUDIENCE,
    Identity,
    TokenVerifier,
    authenticate,
    current_identity,
    requires,
)
from spectral_shared.web.openapi import ApiDoc
from spectral_shared.web.responses import current_runtime
from spectral_shared.web.validation import parse_json_body

api = ApiDoc("auth", "Spectral auth")
bp = Blueprint("mfa", __name__)


def _enrolling_identity() -> Identity:
    """A signed-in user, or one holding the enrolment token sign-in handed out because their
    organization requires MFA. The enrolment token opens these two endpoints and nothing else."""
    runtime = current_runtime()
    verifier = TokenVerifier(
        runtime.verifier.keys,
        issuer=runtime.verifier.issuer,
        audiences=(ACCESS_TOKEN_AUDIENCE, MFA_ENROLLMENT_AUDIENCE),
    )
    return authenticate(verifier)


class EnrollmentOut(BaseModel):
    """Scan the URI (or type the secret) into an authenticator app; keep the backup codes safe.
    They are shown only now."""

    secret: str
    otpauth_uri: str
    backup_codes: list[str]


class ConfirmRequest(Request):
    code: str = Field(min_length=6, max_length=10)


class DisableRequest(Request):
    password: str = Field(min_length=1, max_length=1024)


class Disabled(BaseModel):
    """MFA is off."""

    status: Literal["disabled"]


@bp.post("/api/v1/auth/mfa/enroll")
@api.operation(
    "Start TOTP enrolment: a secret, its otpauth:// URI and ten single-use backup codes",
    responses={201: EnrollmentOut, 401: "Not signed in", 409: "MFA is already on"},
    description="Accepts an access token, or the enrolment token sign-in answers when the "
    "organization requires MFA. Starting again replaces an unconfirmed enrolment.",
)
def enroll() -> tuple[Response, int]:
    enrollment = services.start_enrollment(current_runtime(), _enrolling_identity())
    response = jsonify(EnrollmentOut(**enrollment.__dict__).model_dump())
    response.headers["Cache-Control"] = "no-store"
    return response, 201


@bp.post("/api/v1/auth/mfa/confirm")
@api.operation(
    "Confirm enrolment with a first code; MFA is on from now",
    request=ConfirmRequest,
    responses={
        200: TokenResponse,
        400: "Wrong code, or no enrolment started",
        401: "Not signed in",
    },
)
def confirm() -> tuple[Response, int]:
    identity = _enrolling_identity()
    body = parse_json_body(ConfirmRequest)
    grant = services.confirm_enrollment(current_runtime(), identity, code=body.code)
    return jsonify(TokenResponse.of(grant).model_dump()), 200


@bp.post("/api/v1/auth/mfa/disable")
@api.operation(
    "Turn MFA off (needs your password)",
    request=DisableRequest,
    responses={
        200: Disabled,
        401: "Not signed in",
        403: "Wrong password",
        409: "Your organization requires MFA",
    },
)
@requires("profile:read")
def disable() -> tuple[Response, int]:
    body = parse_json_body(DisableRequest)
    services.disable_mfa(current_runtime(), current_identity(), password=body.password)
    return jsonify(Disabled(status="disabled").model_dump()), 200
