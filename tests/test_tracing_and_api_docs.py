"""Trace context crosses HTTP and the bus; every service publishes a valid OpenAPI 3.1 document."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spectral_gateway.testing import SliceClient
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings
from spectral_shared.testing import wait_until
from spectral_shared.tracing import configure_tracing


@pytest.mark.integration
def test_a_trace_started_by_a_client_reaches_the_audit_consumer(live_platform: SliceClient) -> None:
    exporter = InMemorySpanExporter()
    configure_tracing("tests", exporter=exporter)
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    response = live_platform.post(
        "/api/v1/auth/register",
        {
            "organization_name": "Traced Health",
            "organization_type": "health_system",
            "name": "Tia Trace",
            "email": "tia@traced.example",
            "password": "correct horse battery staple",
        },
        headers={"traceparent": f"00-{trace_id}-{parent}-01"},
    )
    assert response.status_code == 202

    def consumer_span() -> list[str] | None:
        names = [
            s.name
            for s in exporter.get_finished_spans()
            if format(s.context.trace_id, "032x") == trace_id
        ]
        return names if "consume auth.user.registered" in names else None

    names = wait_until(consumer_span, what="the audit consumer's span in the client's trace")
    assert "POST /api/v1/auth/register" in names
    assert "consume auth.organization.created" in names


@pytest.mark.parametrize("service", list(installed_components()))
def test_every_service_publishes_a_valid_openapi_3_1_document(service: str, tmp_path: Path) -> None:
    runtime = Runtime(installed_components()[service], Settings(var_dir=tmp_path))
    response = runtime.app().test_client().get(f"/api/v1/{service}/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"] == "3.1.0"
    validate(document)
    if service == "auth":
        register = document["paths"]["/api/v1/auth/register"]["post"]
        assert register["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/RegisterRequest"
        }
        # One answer for a known and a new address (ADR 0038): never a 409.
        assert "202" in register["responses"] and "409" not in register["responses"]
        assert "security" not in register
        assert document["paths"]["/api/v1/auth/me"]["get"]["security"] == [{"bearerAuth": []}]


def test_api_docs_combine_every_service_in_one_self_contained_page(tmp_path: Path) -> None:
    import re

    from werkzeug.test import Client

    from spectral_gateway.all_in_one import Platform
    from spectral_gateway.contract import DOCS_CSP

    platform = Platform(Settings(var_dir=tmp_path))
    client = Client(platform.router())
    combined = client.get("/api/docs/openapi.json").json
    assert combined is not None
    validate(combined)
    # Every service's public paths, nothing internal, schemas kept apart per service.
    assert (
        "/api/v1/auth/register" in combined["paths"] and "/api/v1/audit/events" in combined["paths"]
    )
    assert "/internal/authorize" not in combined["paths"]
    assert {t["name"] for t in combined["tags"]} == set(installed_components())
    register = combined["paths"]["/api/v1/auth/register"]["post"]
    assert register["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/auth.RegisterRequest"
    }
    assert "auth.Problem" in combined["components"]["schemas"]

    page = client.get("/api/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert page.headers["Content-Security-Policy"] == DOCS_CSP
    html = page.get_data(as_text=True)
    assert "/api/v1/auth/register" in html and "/api/v1/audit/events" in html
    # Served without any resource from the internet: no scripts, no external links or sources.
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
    assert not re.search(r"@import|url\(", html, re.I)
