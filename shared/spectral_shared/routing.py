"""A route of the public API: which path prefix goes to which service, and how the gateway treats
it. Each service declares its own on its ``Component`` (``routes=``); the gateway builds its route
table from the installed components (``spectral_gateway.routes``), and the all-in-one router, the
dev router and the rendered nginx config all read that table."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Route", "openapi_route", "route_for"]


@dataclass(frozen=True)
class Route:
    prefix: str
    service: str
    public: bool = False  # reachable without credentials
    abuse_prone: bool = False  # gets a per-IP rate limit at the edge
    internal: bool = False  # service-to-service only: the gateway never routes it from outside
    max_body: str = "1m"
    timeout_seconds: int = 30

    @property
    def exact(self) -> bool:
        """A file-like prefix (``jwks.json``) matches only itself."""
        return "." in self.prefix.rsplit("/", 1)[-1]

    def matches(self, path: str) -> bool:
        """The prefix itself, or anything below it at a path-segment boundary."""
        return path == self.prefix or (not self.exact and path.startswith(self.prefix + "/"))


def openapi_route(service: str) -> Route:
    """Every service publishes its OpenAPI document (``create_service_app`` serves it), publicly."""
    return Route(f"/api/v1/{service}/openapi.json", service, public=True)


def route_for(path: str, routes: Iterable[Route]) -> Route | None:
    """The longest matching prefix wins, so specific public paths override their service's prefix."""
    best: Route | None = None
    for route in routes:
        if route.matches(path) and (best is None or len(route.prefix) > len(best.prefix)):
            best = route
    return best
