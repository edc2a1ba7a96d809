"""Auth's HTTP API: thin views over ``services``."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from spectral_auth import services
from spectral_auth.api import accounts, api_keys, authorize, mfa, passwords, sessions, sso
from spectral_auth.api.schemas import (
    Accepted,
    JwksResponse,
    LoginRequest,
    MeResponse,
    OrganizationOut,
    RefreshRequest,
    RegisterRequest,
    TokenResponse,
    UserOut,
    VerifyEmailQuery,
    VerifyEmailResponse,
    user_fields,
)
from spectral_auth.models import Organization, User
from spectral_auth.signing_keys import published_jwks
from spectral_shared.identity import current_identity, requires
from spectral_shared.web.idempotency import idempotent
from spectral_shared.web.openapi import ApiDoc
from spectral_shared.web.problems import Problem
from spectral_shared.web.responses import current_runtime, json_response
from spectral_shared.web.validation import parse_json_body, parse_query

api = ApiDoc("auth", "Spectral auth", description="Organizations, users, sign-in and token keys.")
bp = Blueprint("auth", __name__)
bp.register_blueprint(accounts.bp)
bp.register_blueprint(passwords.bp)
bp.register_blueprint(api_keys.bp)
bp.register_blueprint(sso.bp)
bp.register_blueprint(authorize.bp)
bp.register_blueprint(mfa.bp)
bp.register_blueprint(sessions.bp)


def user_out(user: User) -> UserOut:
    return UserOut(**user_fields(user))


def organization_out(org: Organization) -> OrganizationOut:
    return OrganizationOut(
        id=org.id, name=org.name, type=org.type, state=org.state, created_at=org.created_at
    )


# One answer whether or not the address has an account (ADR 0038): what happens next is in the
# e-mail to the address, which only its owner reads.
REGISTRATION_ACCEPTED = (
    "Check the e-mail sent to this address: it holds the next step. A new account is activated "
    "by the link in it; then sign in."
)


@bp.post("/api/v1/auth/register")
@api.operation(
    "Register an organization and its first user",
    request=RegisterRequest,
    responses={202: Accepted, 400: "Malformed JSON", 422: "Invalid fields"},
    public=True,
    description="Creates the organization and an admin user pending verification, and e-mails a "
    "verification link. An address that already has an account gets the same answer and "
    "nothing is created: its owner is e-mailed instead (an unverified account gets a new "
    "verification link). The organization and user ids are in GET /api/v1/auth/me once signed "
    "in. Accepts Idempotency-Key.",
)
@idempotent("auth.register")
def register() -> tuple[Response, int]:
    body = parse_json_body(RegisterRequest)
    services.register(
        current_runtime(),
        organization_name=body.organization_name,
        organization_type=body.organization_type,
        name=body.name,
        email=str(body.email),
        password=body.password,
    )
    return json_response(Accepted(status="accepted", detail=REGISTRATION_ACCEPTED), 202)


@bp.get("/api/v1/auth/verify-email")
@api.operation(
    "Verify an e-mail address with the link's token",
    query=VerifyEmailQuery,
    responses={200: VerifyEmailResponse, 400: "Invalid, used or expired token"},
    public=True,
)
def verify_email() -> tuple[Response, int]:
    query = parse_query(VerifyEmailQuery)
    user = services.verify_email(current_runtime(), query.token)
    return json_response(VerifyEmailResponse(status="verified", user_id=user.id))


@bp.post("/api/v1/auth/login")
@api.operation(
    "Sign in with e-mail and password",
    request=LoginRequest,
    responses={
        200: TokenResponse,
        401: "Invalid credentials",
        403: "Password expired",
        422: "Invalid fields",
        423: "Locked after 5 failed sign-ins",
    },
    public=True,
)
def login() -> tuple[Response, int]:
    body = parse_json_body(LoginRequest)
    grant = services.login(
        current_runtime(),
        email=body.email,
        password=body.password,
        mfa_code=body.mfa_code,
        backup_code=body.backup_code,
    )
    return json_response(TokenResponse.of(grant))


@bp.post("/api/v1/auth/token/refresh")
@api.operation(
    "Trade a refresh token for a new access token and the next refresh token",
    request=RefreshRequest,
    responses={200: TokenResponse, 401: "Invalid, spent, revoked or expired refresh token"},
    public=True,
    description="Refresh tokens rotate: each works once. Presenting a spent one revokes every "
    "token of its sign-in, since someone else holds a copy.",
)
def refresh_token() -> tuple[Response, int]:
    body = parse_json_body(RefreshRequest)
    grant = services.refresh(current_runtime(), body.refresh_token)
    return json_response(TokenResponse.of(grant))


@bp.post("/api/v1/auth/logout")
@api.operation(
    "Sign out: end this sign-in's refresh tokens",
    request=RefreshRequest,
    responses={204: None},
    public=True,
    description="Answers 204 whether or not the token was known. Access tokens already issued "
    "expire on their own (JWT_EXPIRY); 'sign-out-everywhere' ends them at once.",
)
def logout() -> tuple[str, int]:
    services.sign_out(current_runtime(), parse_json_body(RefreshRequest).refresh_token)
    return "", 204


@bp.post("/api/v1/auth/sign-out-everywhere")
@api.operation(
    "End every session, refresh token and access token of your account",
    responses={204: None, 401: "Not signed in"},
)
@requires("profile:read")
def sign_out_everywhere() -> tuple[str, int]:
    services.sign_out_everywhere(current_runtime(), current_identity())
    return "", 204


@bp.get("/api/v1/auth/me")
@api.operation(
    "The signed-in user and organization", responses={200: MeResponse, 401: "Not signed in"}
)
@requires("profile:read")
def me() -> tuple[Response, int]:
    identity = current_identity()
    with current_runtime().database.session() as session:
        found = services.profile(
            session,
            user_id=identity.subject_id,
            organization_id=identity.organization_id,
            issued_at=identity.issued_at,
        )
    if found is None:
        raise Problem(
            401, "Invalid credentials", detail="Your account is deactivated or no longer exists."
        )
    user, organization = found
    return json_response(
        MeResponse(user=user_out(user), organization=organization_out(organization))
    )


@bp.get("/.well-known/jwks.json")
@api.operation("Public keys that verify access tokens", responses={200: JwksResponse}, public=True)
def jwks() -> Response:
    with (
        current_runtime().database.session() as session
    ):  # not the replica: a lagging one hides new keys
        document = published_jwks(session)
    response = jsonify(document)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
