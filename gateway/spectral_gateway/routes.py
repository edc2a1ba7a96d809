"""The route table: the single source of which public path goes to which service.

The all-in-one router, the dev router and the rendered nginx config all read this
table; a test fails when a service serves a path the table does not send to it.
"""

from __future__ import annotations

from spectral_shared import routing
from spectral_shared.routing import Route

SERVICES = ("auth", "governance", "audit", "billing", "reports")


def _openapi(service: str) -> Route:
    return Route(f"/api/v1/{service}/openapi.json", service, public=True)


ROUTES: tuple[Route, ...] = (
    Route("/api/v1/auth/register", "auth", public=True, abuse_prone=True),
    Route("/api/v1/auth/verify-email", "auth", public=True, abuse_prone=True),
    Route("/api/v1/auth/login", "auth", public=True, abuse_prone=True),
    Route("/api/v1/auth/invitations/accept", "auth", public=True, abuse_prone=True),
    Route("/api/v1/auth/password/forgot", "auth", public=True, abuse_prone=True),
    Route("/api/v1/auth/password/reset", "auth", public=True, abuse_prone=True),
    Route("/api/v1/auth/token/refresh", "auth", public=True, abuse_prone=True),
    Route("/api/v1/auth/logout", "auth", public=True),
    Route("/api/v1/auth/session", "auth", public=True, abuse_prone=True),  # cookie, not bearer
    # Enrolment accepts the enrolment-only token sign-in hands out, which the gateway's
    # /internal/authorize (access tokens only) would refuse; the routes check it themselves.
    Route("/api/v1/auth/mfa/enroll", "auth", public=True),
    Route("/api/v1/auth/mfa/confirm", "auth", public=True),
    Route("/api/v1/auth/sso/authorize", "auth", public=True, abuse_prone=True),
    Route("/api/v1/auth/sso/callback", "auth", public=True, abuse_prone=True),
    Route("/.well-known/jwks.json", "auth", public=True),
    Route("/internal/authorize", "auth", internal=True),
    # Stripe's webhooks carry their own signature, not a Spectral credential (the billing issue
    # serves them; until then billing answers 404). Stripe retries what the per-IP limit refuses.
    Route("/api/v1/billing/webhooks", "billing", public=True, abuse_prone=True, max_body="512k"),
    Route("/api/v1/auth", "auth"),
    # The key that signs audit checkpoints: public, so anyone can check a checkpoint they hold.
    Route("/api/v1/audit/public-key", "audit", public=True),
    # Recomputing or exporting a large log takes longer than an ordinary request.
    Route("/api/v1/audit/verify", "audit", timeout_seconds=300),
    Route("/api/v1/audit/export", "audit", timeout_seconds=900),
    Route("/api/v1/audit", "audit"),
    Route("/api/v1/governance", "governance"),
    # The inventory takes CSV imports of up to 5,000 rows.
    Route("/api/v1/ai-systems", "governance", max_body="2m"),
    Route("/api/v1/frameworks", "governance"),
    Route("/api/v1/controls", "governance"),
    # Telemetry batches carry up to 1,000 events with their payloads.
    Route("/api/v1/telemetry", "governance", max_body="8m"),
    # Observability tools' webhooks are signed with the system's webhook secret, not a Spectral
    # credential; the per-IP limit keeps a flood of forgeries off the signature check.
    Route("/api/v1/webhooks", "governance", public=True, abuse_prone=True, max_body="1m"),
    Route("/api/v1/violations", "governance"),
    Route("/api/v1/actions", "governance"),
    Route("/api/v1/alerts", "governance"),
    Route("/api/v1/engine", "governance"),
    Route("/api/v1/billing", "billing"),
    Route("/api/v1/reports", "reports"),
    *(_openapi(service) for service in SERVICES),
)

# The platform's pages the gateway serves to the public: health of every service, and the API
# docs combining every service's OpenAPI document. (/metrics is scraped per process, never public.)
PLATFORM_PAGES = ("/health", "/api/docs", "/api/docs/openapi.json")


def route_for(path: str, routes: tuple[Route, ...] = ROUTES) -> Route | None:
    """The longest matching prefix wins, so specific public paths override their service's prefix."""
    return routing.route_for(path, routes)
