"""The problems the gateway itself answers (RFC 9457), the same in nginx and in the all-in-one
router. nginx cannot compute a body, so each is a fixed document; only the request id varies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from spectral_shared.web.problems import PROBLEM_BASE, PROBLEM_CONTENT_TYPE

__all__ = ["GATEWAY_PROBLEMS", "PROBLEM_CONTENT_TYPE", "GatewayProblem", "problem"]


@dataclass(frozen=True)
class GatewayProblem:
    key: str
    status: int
    title: str
    detail: str
    slug: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def body(self, request_id: str) -> dict[str, Any]:
        return {
            "type": PROBLEM_BASE + self.slug if self.slug else "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "request_id": request_id,
        }

    def json(self, request_id: str) -> str:
        return json.dumps(self.body(request_id))


_ALL = (
    GatewayProblem(
        "bad_request", 400, "Bad request", "The request could not be read.", "bad-request"
    ),
    GatewayProblem(
        "unauthenticated",
        401,
        "Authentication required",
        "Send an access token or API key as a Bearer credential, or a session cookie; "
        "the one sent is missing, expired or revoked.",
        "unauthenticated",
        (("WWW-Authenticate", 'Bearer realm="spectral"'),),
    ),
    GatewayProblem(
        "csrf",
        403,
        "CSRF token missing or wrong",
        "Send the session's csrf_token as X-CSRF-Token.",
        "csrf",
    ),
    GatewayProblem("forbidden", 403, "Forbidden", "This request is not allowed.", "forbidden"),
    GatewayProblem("not_found", 404, "Not Found", "No resource lives at this address."),
    GatewayProblem(
        "method_not_allowed",
        405,
        "Method not allowed",
        "This address does not accept that method.",
    ),
    GatewayProblem(
        "request_timeout", 408, "Request timeout", "The request took too long to arrive."
    ),
    GatewayProblem(
        "too_large",
        413,
        "Request body too large",
        "The body is larger than this endpoint accepts.",
        "body-too-large",
    ),
    GatewayProblem(
        "headers_too_large",
        431,
        "Request headers too large",
        "The request's headers are larger than the gateway accepts.",
        "headers-too-large",
    ),
    GatewayProblem(
        "quota",
        429,
        "Too many requests",
        "Your organization's request quota is used up for now; retry after the given seconds.",
        "quota-exceeded",
    ),
    GatewayProblem(
        "rate_limited",
        429,
        "Too many requests",
        "Too many requests from your address to this endpoint; retry after the given seconds.",
        "rate-limited",
    ),
    GatewayProblem(
        "internal",
        500,
        "Internal gateway error",
        "The gateway could not handle this request; retry shortly.",
    ),
    GatewayProblem(
        "bad_gateway",
        502,
        "Bad gateway",
        "The service behind this address is not answering; retry shortly.",
        "service-unavailable",
    ),
    GatewayProblem(
        "unavailable",
        503,
        "Service unavailable",
        "The service behind this address, or the authorization it needs, is unavailable; "
        "retry shortly.",
        "service-unavailable",
    ),
    GatewayProblem(
        "timeout",
        504,
        "Gateway timeout",
        "The service behind this address did not answer in time.",
        "service-timeout",
    ),
)
GATEWAY_PROBLEMS: dict[str, GatewayProblem] = {p.key: p for p in _ALL}


def problem(key: str) -> GatewayProblem:
    return GATEWAY_PROBLEMS[key]
