"""Who is calling: auth-signed JWTs verified offline from JWKS, roles, and the permission decorator.

Services trust only a token signed by auth's key (EdDSA, ``kid`` in the header), never a bare
header. The tenant comes from the verified token, never from the URL or body.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import wraps
from typing import Any, ParamSpec, Protocol, TypeVar

import jwt
from flask import g, request
from jwt import PyJWK, PyJWKClient

from spectral_shared.bus.envelope import Actor
from spectral_shared.logging import bind_context
from spectral_shared.web.problems import Problem

ACCESS_TOKEN_AUDIENCE = "spectral-api"  # noqa: S105 - an audience name, not a secret
# What auth's /internal/authorize hands the gateway to forward: short-lived, for services only.
INTERNAL_TOKEN_AUDIENCE = "spectral-internal"  # noqa: S105 - an audience name, not a secret

# The headers of /internal/authorize, which auth answers and the gateway (nginx and the
# all-in-one router) reads: both sides take them from here.
# The internal token on an authorized answer; the gateway forwards it to the service.
INTERNAL_TOKEN_HEADER = "X-Spectral-Internal-Token"  # noqa: S105 - a header name
# Why a request was refused (unauthenticated, csrf, quota), for a gateway that cannot read bodies.
DENIAL_HEADER = "X-Spectral-Denied"
# Sent by nginx's auth_request, which treats any answer but 2xx, 401 and 403 as its own error:
# a quota refusal then comes as 403 with the denial header, and the gateway answers the 429.
AUTH_REQUEST_HEADER = "X-Spectral-Auth-Request"


class Role(StrEnum):
    VIEWER = "viewer"
    ANALYST = "analyst"
    COMPLIANCE_OFFICER = "compliance_officer"
    ADMIN = "admin"
    EXECUTIVE = "executive"
    SUPER_ADMIN = "super_admin"


# viewer < analyst < compliance_officer < admin; executive reads everything; super_admin is staff.
ROLE_RANK = {
    Role.VIEWER: 1,
    Role.ANALYST: 2,
    Role.COMPLIANCE_OFFICER: 3,
    Role.ADMIN: 4,
    Role.EXECUTIVE: 4,
    Role.SUPER_ADMIN: 5,
}

_EVERYONE = frozenset(Role)

_ADMINS = frozenset({Role.ADMIN, Role.SUPER_ADMIN})
_OVERSIGHT = frozenset({Role.COMPLIANCE_OFFICER, Role.ADMIN, Role.EXECUTIVE, Role.SUPER_ADMIN})
_ASSESSORS = frozenset({Role.COMPLIANCE_OFFICER, Role.ADMIN, Role.SUPER_ADMIN})
_RESPONDERS = frozenset({Role.ANALYST, Role.COMPLIANCE_OFFICER, Role.ADMIN, Role.SUPER_ADMIN})

# The one permission matrix (role x permission), enforced by @requires on every endpoint.
# docs/permissions.md shows it; a test keeps the two in step.
PERMISSIONS: dict[str, frozenset[Role]] = {
    "profile:read": _EVERYONE,
    "organization:read": _EVERYONE,
    "organization:update": _ADMINS,
    "users:read": _OVERSIGHT,
    "users:invite": _ADMINS,
    "users:manage": _ADMINS,
    "audit_log:read": _OVERSIGHT,
    "audit_log:hold": _ADMINS,
    "api_keys:read": _ADMINS,
    "api_keys:manage": _ADMINS,
    "sso:manage": _ADMINS,
    "ai_systems:read": _EVERYONE,
    "ai_systems:write": _ASSESSORS,
    "ai_systems:delete": _ADMINS,
    "controls:read": _EVERYONE,
    "controls:assess": _ASSESSORS,
    "telemetry:write": _ASSESSORS,
    "telemetry:read": _EVERYONE,
    # Decrypting a stored payload is PHI access (audited): the minimum necessary set of roles.
    "telemetry:read_payload": _ASSESSORS,
    "violations:read": _EVERYONE,
    "violations:resolve": _ASSESSORS,
    "actions:read": _EVERYONE,
    "actions:update": _RESPONDERS,
    "alerts:read": _EVERYONE,
    "alerts:respond": _RESPONDERS,
    "alerts:configure": _ADMINS,
    "engine:read": _EVERYONE,
    "engine:customize": _ASSESSORS,
    # The plan, invoices and usage: admins manage them; executives see them.
    "billing:read": frozenset({Role.ADMIN, Role.EXECUTIVE, Role.SUPER_ADMIN}),
    "billing:manage": _ADMINS,
    # Every organization's plan, status and revenue: platform staff only.
    "billing:platform": frozenset({Role.SUPER_ADMIN}),
}


PERMISSIONS_BEGIN = "<!-- BEGIN GENERATED PERMISSIONS (spectral permissions) -->"
PERMISSIONS_END = "<!-- END GENERATED PERMISSIONS -->"


def render_permissions() -> str:
    """The matrix as the Markdown table docs/permissions.md holds (a test compares the two)."""
    roles = list(Role)
    lines = [PERMISSIONS_BEGIN, "", "| permission | " + " | ".join(r.value for r in roles) + " |"]
    lines.append("|---|" + "---|" * len(roles))
    for permission, allowed in sorted(PERMISSIONS.items()):
        marks = " | ".join("yes" if role in allowed else "-" for role in roles)
        lines.append(f"| `{permission}` | {marks} |")
    return "\n".join([*lines, "", PERMISSIONS_END, ""])


def role_allows(role: str, permission: str) -> bool:
    try:
        allowed = PERMISSIONS[permission]
    except KeyError as exc:
        raise LookupError(f"unknown permission {permission!r}") from exc
    return role in {r.value for r in allowed}


@dataclass(frozen=True)
class Identity:
    subject_type: str  # user | api_key | service
    subject_id: str
    organization_id: str
    role: str
    scopes: tuple[str, ...] = ()
    token_id: str | None = None
    expires_at: float | None = None  # the token's exp
    issued_at: float | None = None  # the token's iat: tokens issued before a revocation are refused

    @property
    def actor(self) -> Actor:
        """Who acts, as events record it: the user, API key or service this identity names."""
        return Actor.subject(self.subject_type, self.subject_id)

    @property
    def acting_as(self) -> str:
        """The same, as the ``created_by``/``updated_by`` text rows keep (``user:<id>``)."""
        return f"{self.subject_type}:{self.subject_id}"

    def can(self, permission: str) -> bool:
        if self.subject_type == "api_key":  # machines hold scopes, not roles
            return permission in self.scopes
        return role_allows(self.role, permission)


class KeySource(Protocol):
    def signing_key(self, kid: str) -> Any: ...


class JwksKeySource:
    """Public keys from a JWKS URL, cached, refetched (at most every few seconds) on an unknown kid."""

    def __init__(self, url: str, *, lifespan: int = 300) -> None:
        self.client = PyJWKClient(url, cache_keys=True, lifespan=lifespan, timeout=5)

    def signing_key(self, kid: str) -> Any:
        try:
            return self.client.get_signing_key(kid).key
        except jwt.PyJWKClientError as exc:
            raise jwt.InvalidTokenError(f"no signing key {kid!r}") from exc


class StaticKeySource:
    """Keys known in-process (auth verifying its own tokens, and tests)."""

    def __init__(self, jwks: dict[str, Any] | Callable[[], dict[str, Any]]) -> None:
        self._jwks = jwks
        self._lock = threading.Lock()
        self._cache: dict[str, Any] = {}
        self._loaded = 0.0

    def signing_key(self, kid: str) -> Any:
        with self._lock:
            if kid not in self._cache or time.monotonic() - self._loaded > 60:
                jwks = self._jwks() if callable(self._jwks) else self._jwks
                self._cache = {k["kid"]: PyJWK(k).key for k in jwks.get("keys", [])}
                self._loaded = time.monotonic()
            try:
                return self._cache[kid]
            except KeyError as exc:
                raise jwt.InvalidTokenError(f"no signing key {kid!r}") from exc


class TokenVerifier:
    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audiences: tuple[str, ...] = (ACCESS_TOKEN_AUDIENCE, INTERNAL_TOKEN_AUDIENCE),
        cache_size: int = 4096,
        cache_seconds: float = 60.0,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audiences = audiences
        # Verified tokens, by their exact text: a client sends the same token with every request,
        # and an EdDSA check costs more than the rest of a small request. An entry lives at most
        # ``cache_seconds`` and never past the token's own expiry, so a key withdrawn from the
        # JWKS stops verifying within about the time the key cache keeps it anyway.
        self._cache: OrderedDict[str, tuple[float, Identity]] = OrderedDict()
        self._cache_size = cache_size
        self._cache_seconds = cache_seconds
        self._cache_lock = threading.Lock()

    def verify(self, token: str) -> Identity:
        now = time.time()
        with self._cache_lock:
            cached = self._cache.get(token)
            if cached is not None:
                if cached[0] > now:
                    self._cache.move_to_end(token)
                    return cached[1]
                del self._cache[token]
        identity = self._verify(token)
        until = min(now + self._cache_seconds, identity.expires_at or now)
        if until > now and self._cache_size > 0:
            with self._cache_lock:
                self._cache[token] = (until, identity)
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return identity

    def _verify(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "EdDSA":
                raise jwt.InvalidAlgorithmError("only EdDSA tokens are accepted")
            kid = header.get("kid")
            if not isinstance(kid, str):
                raise jwt.InvalidTokenError("token has no kid")
            claims = jwt.decode(
                token,
                key=self.keys.signing_key(kid),
                algorithms=["EdDSA"],
                audience=list(self.audiences),
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "org", "role"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise invalid_token(
                "The access token expired",
                "The access token expired: get a new one with your refresh token "
                "(POST /api/v1/auth/token/refresh), or sign in again.",
                slug="token-expired",
            ) from None
        except jwt.PyJWTError as exc:
            raise invalid_token(
                "The access token is not valid",
                f"The access token is not valid: {exc}. Sign in again.",
                slug="invalid-token",
            ) from exc
        return Identity(
            subject_type=claims.get("sub_type", "user"),
            subject_id=str(claims["sub"]),
            organization_id=str(claims["org"]),
            role=str(claims["role"]),
            scopes=tuple(claims.get("scopes", ())),
            token_id=claims.get("jti"),
            issued_at=claims.get("iat"),
            expires_at=claims.get("exp"),
        )


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def bearer_challenge(
    error: str | None = None, description: str | None = None, scope: str | None = None
) -> str:
    """A ``WWW-Authenticate`` value as RFC 6750 section 3 has it: no error code when the request
    carried no credential; ``invalid_token`` (expired, revoked, malformed: refresh or sign in
    again) or ``insufficient_scope`` otherwise, with a description a developer reads."""
    parts = ['Bearer realm="spectral"']
    for name, value in (("error", error), ("error_description", description), ("scope", scope)):
        if value:
            parts.append(f'{name}="{value.replace(chr(92), "").replace(chr(34), "")}"')
    return ", ".join(parts)


def invalid_token(
    description: str, detail: str, *, slug: str, title: str = "Invalid credentials"
) -> Problem:
    """The 401 for a credential that was sent but cannot be used (RFC 6750 ``invalid_token``);
    ``slug`` tells a client whether refreshing can help (``token-expired``) or not."""
    return Problem(
        401,
        title,
        detail=detail,
        type_slug=slug,
        headers={"WWW-Authenticate": bearer_challenge("invalid_token", description)},
        error="invalid_token",
        error_description=description,
    )


def authenticate(verifier: TokenVerifier) -> Identity:
    token = _bearer_token()
    if token is None:
        raise Problem(
            401,
            "Authentication required",
            detail="Send an access token as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": 'Bearer realm="spectral"'},
        )
    identity = verifier.verify(token)
    g.identity = identity
    bind_context(organization_id=identity.organization_id, subject_id=identity.subject_id)
    return identity


P = ParamSpec("P")
R = TypeVar("R")


def forbidden(identity: Identity, permission: str) -> Problem:
    """The 403 for a permission the caller lacks, naming what decides it: a person's role, an
    API key's scopes."""
    if identity.subject_type == "api_key":
        return Problem(
            403,
            "Forbidden",
            detail=f"This API key's scopes do not include {permission}; create a key with that "
            "scope.",
            type_slug="insufficient-scope",
            headers={
                "WWW-Authenticate": bearer_challenge(
                    "insufficient_scope", "The API key lacks a scope", scope=permission
                )
            },
            error="insufficient_scope",
            required_scope=permission,
        )
    return Problem(403, "Forbidden", detail=f"Your role does not grant {permission}.")


def requires(permission: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """The one decorator that checks permissions. The verifier is taken from the app."""
    if permission not in PERMISSIONS:
        raise LookupError(f"unknown permission {permission!r}")

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            from flask import current_app

            runtime = current_app.extensions["spectral"]
            identity = authenticate(runtime.verifier)
            recheck = runtime.component.current_identity
            if recheck is not None:
                current = recheck(runtime, identity)
                if current is None:
                    raise invalid_token(
                        "The credentials were revoked or the account is not active",
                        "This account's tokens are no longer valid. Sign in again.",
                        slug="credentials-revoked",
                        title="Authentication required",
                    )
                identity = g.identity = current
            if not identity.can(permission):
                raise forbidden(identity, permission)
            return view(*args, **kwargs)

        wrapper.required_permission = permission  # type: ignore[attr-defined]
        return wrapper

    return decorate


def current_identity() -> Identity:
    identity = g.get("identity")
    if identity is None:
        raise RuntimeError("no identity: the view is missing @requires(...)")
    return identity
