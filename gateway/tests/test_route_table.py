"""The route table is built from the routes the installed components declare (ADR 0021)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from spectral_gateway.routes import build_table, route_for, route_table, service_names
from spectral_shared.component import installed_components
from spectral_shared.routing import Route


def test_each_component_brings_its_routes_and_its_openapi_document_in_start_order() -> None:
    table = route_table()
    assert service_names() == tuple(installed_components())
    # Grouped per service, in the components' order, each group closed by its OpenAPI document.
    assert tuple(dict.fromkeys(route.service for route in table)) == service_names()
    for name in service_names():
        own = [route for route in table if route.service == name]
        assert own[-1] == Route(f"/api/v1/{name}/openapi.json", name, public=True)
        assert route_for(f"/api/v1/{name}/openapi.json") == own[-1]


def test_a_component_declares_only_its_own_routes() -> None:
    billing = installed_components()["billing"]
    stray = replace(billing, routes=(Route("/api/v1/invoices", "reports"),))
    with pytest.raises(ValueError, match="billing declares /api/v1/invoices for reports"):
        build_table([stray])


def test_two_components_cannot_claim_one_prefix() -> None:
    components = installed_components()
    reports = replace(
        components["reports"],
        routes=(*components["reports"].routes, Route("/api/v1/billing", "reports")),
    )
    with pytest.raises(ValueError, match="/api/v1/billing is declared by billing and reports"):
        build_table([components["billing"], reports])


def test_a_new_component_is_routed_without_touching_the_gateway() -> None:
    """What adding a service amounts to, for the gateway: a component with its routes."""
    base = installed_components()["reports"]
    invoices = replace(
        base,
        name="invoices",
        routes=(
            Route("/api/v1/invoices/webhooks", "invoices", public=True, abuse_prone=True),
            Route("/api/v1/invoices", "invoices"),
        ),
    )
    table = build_table([*installed_components().values(), invoices])
    assert route_for("/api/v1/invoices/42", table) == Route("/api/v1/invoices", "invoices")
    assert route_for("/api/v1/invoices/webhooks", table).abuse_prone  # type: ignore[union-attr]
    assert route_for("/api/v1/invoices/openapi.json", table).public  # type: ignore[union-attr]
