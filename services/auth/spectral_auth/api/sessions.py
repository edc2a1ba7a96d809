"""Browser sessions: sign in to a cookie, read it back, sign out."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel

from spectral_auth import services
from spectral_auth.api.schemas import LoginRequest
from spectral_auth.services.sessions import SESSION_COOKIE, BrowserSession
from spectral_shared.web.openapi import ApiDoc
from spectral_shared.web.responses import current_runtime
from spectral_shared.web.validation import parse_json_body

api = ApiDoc("auth", "Spectral auth")
bp = Blueprint("sessions", __name__)


class SessionOut(BaseModel):
    """The browser session. Send csrf_token as X-CSRF-Token on every POST, PUT, PATCH and DELETE."""

    user_id: str
    organization_id: str
    csrf_token: str
    expires_at: datetime
    idle_timeout_seconds: int


def _out(record: BrowserSession) -> SessionOut:
    return SessionOut(
        user_id=record.user_id,
        organization_id=record.organization_id,
        csrf_token=record.csrf_token,
        expires_at=record.deadline,
        idle_timeout_seconds=record.idle_seconds,
    )


@bp.post("/api/v1/auth/session")
@api.operation(
    "Sign in a browser: a session cookie (HttpOnly) and its CSRF token",
    request=LoginRequest,
    responses={
        201: SessionOut,
        401: "Invalid credentials or second factor required",
        403: "Password expired or MFA enrolment required",
        423: "Locked",
    },
    public=True,
    description="The same checks as /login (lockout, MFA, expiry). The session ends after the "
    "organization's idle timeout (default 15 minutes) or absolute timeout (default 12 hours).",
)
def sign_in() -> tuple[Response, int]:
    body = parse_json_body(LoginRequest)
    runtime = current_runtime()
    session_id, record = services.sign_in_browser(
        runtime,
        email=body.email,
        password=body.password,
        mfa_code=body.mfa_code,
        backup_code=body.backup_code,
    )
    response = jsonify(_out(record).model_dump(mode="json"))
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int((record.deadline - record.created).total_seconds()),
        httponly=True,
        secure=runtime.settings.secure_cookies,
        samesite=runtime.settings.cookie_same_site.capitalize(),
        path="/",
    )
    return response, 201


@bp.get("/api/v1/auth/session")
@api.operation(
    "The current browser session (and its CSRF token)",
    responses={200: SessionOut, 401: "No live session"},
    public=True,
)
def current() -> tuple[Response, int]:
    record = services.load_session(current_runtime(), request.cookies.get(SESSION_COOKIE, ""))
    if record is None:
        raise services.NoSession()
    return jsonify(_out(record).model_dump(mode="json")), 200


@bp.delete("/api/v1/auth/session")
@api.operation(
    "Sign the browser out (needs X-CSRF-Token)",
    responses={204: None, 401: "No live session", 403: "Missing or wrong CSRF token"},
    public=True,
)
def sign_out() -> Response:
    runtime = current_runtime()
    services.sign_out_browser(
        runtime,
        request.cookies.get(SESSION_COOKIE, ""),
        csrf_token=request.headers.get("X-CSRF-Token"),
    )
    response = Response(status=204)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        secure=runtime.settings.secure_cookies,
        samesite=runtime.settings.cookie_same_site.capitalize(),
    )
    return response
