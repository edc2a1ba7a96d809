"""``/internal/authorize``: the gateway's question about every non-public request (nginx
``auth_request``). Not routed to the public; the gateway forwards the client's credentials."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from spectral_auth.services.authorization import (
    Authorization,
    Authorizer,
    NotAuthenticated,
    QuotaExceeded,
)
from spectral_auth.services.sessions import SESSION_COOKIE
from spectral_shared.errors import DomainError
from spectral_shared.identity import AUTH_REQUEST_HEADER, INTERNAL_TOKEN_HEADER
from spectral_shared.web.openapi import ApiDoc

api = ApiDoc("auth", "Spectral auth")
bp = Blueprint("authorize", __name__)

API_KEY_PREFIX = "spk_"


def _authorizer() -> Authorizer:
    runtime = current_app.extensions["spectral"]
    authorizer: Authorizer | None = current_app.extensions.get("spectral.authorizer")
    if authorizer is None:
        authorizer = current_app.extensions["spectral.authorizer"] = Authorizer(runtime)
    return authorizer


@bp.route("/internal/authorize", methods=["GET", "POST"])
@api.operation(
    "Authorize a request for the gateway (internal)",
    responses={
        200: "Authorized: the internal token is in X-Spectral-Internal-Token",
        401: "No valid credential",
        403: "CSRF token missing or wrong; or, when asked by nginx auth_request, quota exceeded",
        429: "Quota exceeded",
    },
    public=True,
    description="Resolves 'Authorization: Bearer <access token or API key>' (or a session cookie, "
    "with X-CSRF-Token on unsafe methods), applies the organization's request quota, and answers the internal token the "
    "gateway forwards. Every refusal names its reason in X-Spectral-Denied (unauthenticated, csrf, "
    "quota). With X-Spectral-Auth-Request set (nginx auth_request passes only 2xx, 401 and 403), "
    "a quota refusal is a 403 and every answer is headers only. Never exposed by the gateway.",
)
def authorize() -> Response:
    # For a gateway the answer is its headers alone. nginx discards an auth_request body without
    # reading it, and an upstream answer it has not read to the end costs the keep-alive
    # connection: with a body, every authorized request would open a new connection to auth.
    for_gateway = bool(request.headers.get(AUTH_REQUEST_HEADER))
    try:
        granted = _grant()
    except DomainError as refused:
        if not for_gateway:
            raise
        # nginx's auth_request passes on only 2xx, 401 and 403: a spent quota goes as a 403
        # with its denial header, and the gateway answers the 429.
        status = 403 if isinstance(refused, QuotaExceeded) else refused.status
        return Response(status=status, headers=refused.headers)
    headers = {INTERNAL_TOKEN_HEADER: granted.internal_token, **granted.quota.headers()}
    if for_gateway:
        return Response(status=200, headers=headers)
    response = jsonify(
        {
            "subject_type": granted.subject_type,
            "subject_id": granted.subject_id,
            "organization_id": granted.organization_id,
            "role": granted.role,
            "scopes": list(granted.scopes),
        }
    )
    response.headers.update(headers)
    return response


def _grant() -> Authorization:
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    authorizer = _authorizer()
    if scheme.lower() == "bearer" and credential.strip():
        credential = credential.strip()
        if credential.startswith(API_KEY_PREFIX):
            return authorizer.authorize_api_key(credential)
        return authorizer.authorize_bearer(credential)
    if session_id := request.cookies.get(SESSION_COOKIE):
        # nginx's auth_request is a GET; the client's own method comes in X-Original-Method.
        method = request.headers.get("X-Original-Method", request.method)
        return authorizer.authorize_session(
            session_id, method=method, csrf_token=request.headers.get("X-CSRF-Token")
        )
    raise NotAuthenticated(
        "no credential",
        detail="Send 'Authorization: Bearer <access token or API key>' or a session cookie.",
        error=None,  # RFC 6750: no error code when the request carried no credential
    )
