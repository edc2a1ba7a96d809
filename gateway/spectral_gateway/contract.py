"""What the gateway and auth agree on, kept in one place so nginx and the all-in-one router
enforce the same contract: which headers carry the answer of ``/internal/authorize``, which
headers a client may never set on the way to a service, and what a request id may look like."""

from __future__ import annotations

from spectral_shared.identity import AUTH_REQUEST_HEADER, DENIAL_HEADER, INTERNAL_TOKEN_HEADER
from spectral_shared.web.app import REQUEST_ID_PATTERN

__all__ = [
    "AUTHORIZE_PATH",
    "AUTH_REQUEST_HEADER",
    "DENIAL_HEADER",
    "IDENTITY_HEADERS",
    "INTERNAL_TOKEN_HEADER",
    "QUOTA_HEADERS",
    "REQUEST_ID_PATTERN",
    "SECURITY_HEADERS",
    "content_security_policy",
]

AUTHORIZE_PATH = "/internal/authorize"

# Auth's answer that the client sees on every authorized response (and on a quota refusal).
QUOTA_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After")

# Headers that claim an identity or speak for the gateway. Services trust only the signed internal
# token, but nothing a client sends under these names ever reaches them: the gateway drops them
# and sets its own. (Authorization is replaced, not dropped, on authorized routes.)
IDENTITY_HEADERS = (
    INTERNAL_TOKEN_HEADER,
    DENIAL_HEADER,
    AUTH_REQUEST_HEADER,
    "X-Spectral-User-Id",
    "X-Spectral-Organization-Id",
    "X-Spectral-Role",
    "X-User-Id",
    "X-Organization-Id",
    "X-Tenant-Id",
    "X-Forwarded-User",
    "X-Forwarded-Email",
    "X-Remote-User",
    "X-Auth-Request-User",
    "X-Auth-Request-Email",
    "X-Original-Method",
    "X-Original-URI",
)

# On every answer, errors included. The Content-Security-Policy depends on the path (below).
SECURITY_HEADERS = (
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-XSS-Protection", "1; mode=block"),  # legacy browsers; harmless where ignored
    ("Referrer-Policy", "no-referrer"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)
DOCS_PREFIX = "/api/docs"
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The API docs page is self-contained: its styles are inline, nothing is fetched from anywhere.
DOCS_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def content_security_policy(path: str) -> str:
    return DOCS_CSP if path.startswith(DOCS_PREFIX) else API_CSP
