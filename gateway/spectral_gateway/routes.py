"""The route table: which public path goes to which service, built from the installed components.

Each service declares its routes on its ``Component`` (``routes=`` in its ``component.py``); the
table is those routes in the components' order, each service's OpenAPI document's route after its
own. The all-in-one router, the dev router and the rendered nginx config all read this table; a
test fails when a service serves a path the table does not send to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from spectral_shared import routing
from spectral_shared.component import Component, installed_components
from spectral_shared.routing import Route, openapi_route

__all__ = ["PLATFORM_PAGES", "Route", "build_table", "route_for", "route_table", "service_names"]

# The platform's pages the gateway serves to the public: health of every service, and the API
# docs combining every service's OpenAPI document. (/metrics is scraped per process, never public.)
PLATFORM_PAGES = ("/health", "/api/docs", "/api/docs/openapi.json")


def build_table(components: Iterable[Component]) -> tuple[Route, ...]:
    """Every component's routes and its OpenAPI document's; a route names its own component, and
    no prefix is claimed twice (nginx refuses two identical locations; route_for would pick one)."""
    table: list[Route] = []
    owner: dict[str, str] = {}
    for component in components:
        for route in (*component.routes, openapi_route(component.name)):
            if route.service != component.name:
                raise ValueError(
                    f"{component.name} declares {route.prefix} for {route.service}: a component "
                    "declares only its own routes"
                )
            if route.prefix in owner:
                raise ValueError(
                    f"{route.prefix} is declared by {owner[route.prefix]} and {component.name}"
                )
            owner[route.prefix] = component.name
            table.append(route)
    return tuple(table)


@cache
def route_table() -> tuple[Route, ...]:
    """The installed components' routes (read once per process)."""
    return build_table(installed_components().values())


def service_names() -> tuple[str, ...]:
    """The installed services, in their start order (``ORDER``)."""
    return tuple(installed_components())


def route_for(path: str, routes: Iterable[Route] | None = None) -> Route | None:
    """The longest matching prefix of ``routes`` (the route table by default) wins, so specific
    public paths override their service's prefix."""
    return routing.route_for(path, route_table() if routes is None else routes)
