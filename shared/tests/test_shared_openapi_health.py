"""The OpenAPI document built from routes, and /health's report under timeouts."""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from pydantic import BaseModel, ConfigDict, Field

from spectral_shared.identity import requires
from spectral_shared.web import health
from spectral_shared.web.converters import register_converters
from spectral_shared.web.health import CachedCheck, broker_check, health_report
from spectral_shared.web.openapi import ApiDoc

# ---- OpenAPI --------------------------------------------------------------------------------


class Contact(BaseModel):
    email: str


class NewSystem(BaseModel):
    name: str = Field(min_length=1)
    owner: Contact


class SystemOut(BaseModel):
    """An AI system in the inventory."""

    id: str
    name: str


class Status(enum.Enum):
    ACTIVE = "active"
    RETIRED = "retired"


class ListQuery(BaseModel):
    limit: int = 50
    status: Status | None = None


class Proof(BaseModel):
    """A proof between two sizes."""

    model_config = ConfigDict(populate_by_name=True)
    first: int = Field(serialization_alias="from")
    second: int = Field(serialization_alias="to")


def make_app() -> Flask:
    app = Flask("openapi-test")
    register_converters(app)

    @app.post("/api/v1/ai-systems")
    @ApiDoc.operation(
        "Register an AI system",
        request=NewSystem,
        responses={201: SystemOut, 422: "Invalid body"},
        tags=("inventory",),
        description="Adds a system to the inventory.",
    )
    def create_system() -> Any:
        return {}

    @app.get("/api/v1/ai-systems/<uuid:system_id>")
    @ApiDoc.operation("Read an AI system", responses={200: SystemOut, 404: "Not found"})
    def get_system(system_id: str) -> Any:
        return {}

    @app.delete("/api/v1/ai-systems/<system_id>")
    @ApiDoc.operation("Retire an AI system", responses={204: None})
    def delete_system(system_id: str) -> Any:
        return "", 204

    @app.get("/api/v1/status")
    @ApiDoc.operation("Public status", public=True, responses={200: "OK"})
    def status() -> Any:
        return {}

    @app.get("/api/v1/ai-systems")
    @ApiDoc.operation("List AI systems", query=ListQuery, responses={200: "A page"})
    def list_systems() -> Any:
        return {}

    @app.get("/api/v1/entries/<int(max=9223372036854775807):index>")
    @ApiDoc.operation("One entry", responses={200: Proof})
    @requires("audit_log:read")
    def get_entry(index: int) -> Any:
        return {}

    @app.post("/api/v1/auth/login")
    @ApiDoc.operation("Sign in", request=Contact, responses={200: "Tokens"}, public=True)
    def login() -> Any:
        return {}

    @app.get("/internal/undocumented")
    def undocumented() -> Any:
        return {}

    return app


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return ApiDoc("governance", "Spectral governance API", version="1.2.3").build(
        make_app(), ["/api/v1/auth/login"]
    )


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_document_header(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "Spectral governance API"
    assert document["info"]["version"] == "1.2.3"
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_only_decorated_routes_appear(document: dict[str, Any]) -> None:
    assert set(document["paths"]) == {
        "/api/v1/ai-systems",
        "/api/v1/ai-systems/{system_id}",
        "/api/v1/status",
        "/api/v1/entries/{index}",
        "/api/v1/auth/login",
    }
    assert set(document["paths"]["/api/v1/ai-systems"]) == {"get", "post"}
    assert set(document["paths"]["/api/v1/ai-systems/{system_id}"]) == {"get", "delete"}


def test_request_body_references_a_component(document: dict[str, Any]) -> None:
    post = document["paths"]["/api/v1/ai-systems"]["post"]
    assert post["operationId"] == "governance.create_system.post"
    assert post["summary"] == "Register an AI system"
    assert post["description"] == "Adds a system to the inventory."
    assert post["tags"] == ["inventory"]
    assert post["security"] == [{"bearerAuth": []}]
    assert post["requestBody"] == {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewSystem"}}},
    }
    schemas = document["components"]["schemas"]
    assert schemas["NewSystem"]["properties"]["owner"] == {"$ref": "#/components/schemas/Contact"}
    assert "email" in schemas["Contact"]["properties"]
    assert "$defs" not in schemas["NewSystem"]

    created = post["responses"]["201"]
    assert created["description"] == "An AI system in the inventory."
    assert created["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SystemOut"
    }
    problem = post["responses"]["422"]
    assert problem["description"] == "Invalid body"
    assert problem["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }


def test_path_parameters_and_other_responses(document: dict[str, Any]) -> None:
    get = document["paths"]["/api/v1/ai-systems/{system_id}"]["get"]
    assert get["parameters"] == [
        {
            "name": "system_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"},
        }
    ]
    assert get["tags"] == ["governance"]
    entry = document["paths"]["/api/v1/entries/{index}"]["get"]
    assert entry["parameters"][0]["schema"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 2**63 - 1,
    }
    delete = document["paths"]["/api/v1/ai-systems/{system_id}"]["delete"]
    assert delete["parameters"][0]["schema"] == {
        "type": "string",
        "minLength": 1,
        "pattern": "^[^/\\u0000-\\u001f\\u007f-\\u009f]+$",
    }
    assert delete["responses"]["204"] == {"description": "No content"}
    public = document["paths"]["/api/v1/status"]["get"]
    assert "security" not in public


def _statuses(document: dict[str, Any], path: str, method: str) -> set[str]:
    return set(document["paths"][path][method]["responses"])


def test_what_every_operation_of_a_kind_answers_is_documented(document: dict[str, Any]) -> None:
    # Secured, with an id in the path: credentials refused, quota, no such id.
    assert _statuses(document, "/api/v1/ai-systems/{system_id}", "get") == {
        "200",
        "401",
        "404",
        "429",
    }
    # Guarded by @requires: the role or scope refused too.
    assert _statuses(document, "/api/v1/entries/{index}", "get") == {
        "200",
        "401",
        "403",
        "404",
        "429",
    }
    # A JSON body: malformed, wrong media type, invalid; the view's own 422 text wins.
    post = document["paths"]["/api/v1/ai-systems"]["post"]["responses"]
    assert {"400", "415", "422", "401", "429"} <= set(post)
    assert post["422"]["description"] == "Invalid body"
    assert "malformed-json" in post["400"]["description"]
    # A query model: a bad parameter or cursor.
    assert (
        "invalid-cursor"
        in (document["paths"]["/api/v1/ai-systems"]["get"]["responses"]["400"]["description"])
    )
    # Public: no credentials asked, no quota; unless the edge limits it per address.
    assert _statuses(document, "/api/v1/status", "get") == {"200"}
    assert _statuses(document, "/api/v1/auth/login", "post") == {
        "200",
        "400",
        "415",
        "422",
        "429",
    }


def test_responses_are_described_as_serialized(document: dict[str, Any]) -> None:
    schema_ref = document["paths"]["/api/v1/entries/{index}"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    proof = document["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert set(proof["properties"]) == {"from", "to"}


def test_query_parameters(document: dict[str, Any]) -> None:
    params = {p["name"]: p for p in document["paths"]["/api/v1/ai-systems"]["get"]["parameters"]}
    assert set(params) == {"limit", "status"}
    assert params["limit"]["in"] == "query"
    assert params["limit"]["required"] is False
    assert params["limit"]["schema"]["type"] == "integer"


def test_every_reference_in_the_document_resolves_for_bodies(document: dict[str, Any]) -> None:
    body_refs = set(_refs(document["components"])) | set(
        _refs(
            {
                path: {m: op.get("requestBody") for m, op in ops.items()}
                for path, ops in document["paths"].items()
            }
        )
    )
    for ref in body_refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in document["components"]["schemas"]


def test_every_reference_in_the_document_resolves(document: dict[str, Any]) -> None:
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in document["components"]["schemas"]


# ---- health ---------------------------------------------------------------------------------


@pytest.fixture
def fast_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(health, "CHECK_TIMEOUT", 0.2)
    return 0.2


def _boom() -> bool:
    raise ConnectionError("db down")


def test_all_checks_up_is_healthy() -> None:
    body, status = health_report({"database": lambda: True, "broker": lambda: True})
    assert status == 200
    assert body["status"] == "healthy"
    assert body["database"] == "connected"
    assert body["checks"] == {"database": "up", "broker": "up"}
    assert body["timestamp"].endswith("Z")
    assert isinstance(body["uptime"], int)
    assert body["uptime"] >= 0


@pytest.mark.parametrize("failing", [lambda: False, _boom])
def test_one_failing_check_is_unhealthy(failing: Any) -> None:
    body, status = health_report({"database": lambda: True, "redis": failing})
    assert status == 503
    assert body["status"] == "unhealthy"
    assert body["checks"] == {"database": "up", "redis": "down"}
    assert body["database"] == "connected"


def test_a_down_service_database_reports_disconnected() -> None:
    body, status = health_report({"auth.database": lambda: True, "billing.database": lambda: False})
    assert status == 503
    assert body["database"] == "disconnected"


def test_a_hanging_check_counts_as_down(fast_timeout: float) -> None:
    release = threading.Event()
    try:
        started = time.monotonic()
        body, status = health_report({"database": lambda: True, "broker": release.wait})
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert status == 503
    assert body["checks"] == {"database": "up", "broker": "down"}
    assert fast_timeout <= elapsed < fast_timeout + 1.0


def test_many_healthy_checks_are_healthy(fast_timeout: float) -> None:
    checks = {f"service{i}.database": (lambda: time.sleep(0.01) or True) for i in range(12)}
    for _ in range(5):  # the first report from a cold pool can get lucky; later ones cannot
        body, status = health_report(checks)
        assert status == 200, body["checks"]


def test_hung_checks_do_not_block_later_reports(fast_timeout: float) -> None:
    release = threading.Event()
    outcome: list[tuple[dict[str, Any], int]] = []
    try:
        for _ in range(8):
            health_report({"broker": release.wait})
        probe = threading.Thread(
            target=lambda: outcome.append(health_report({"database": lambda: True}))
        )
        probe.start()
        probe.join(fast_timeout + 0.8)
        assert outcome, "health_report did not return"
        assert outcome[0][1] == 200
    finally:
        release.set()
        probe.join(5)


def test_cached_check_reuses_its_answer_within_ttl() -> None:
    calls: list[float] = []

    def check() -> bool:
        calls.append(time.monotonic())
        return len(calls) == 1

    cached = CachedCheck(check, ttl=60)
    assert cached() is True
    assert cached() is True
    assert len(calls) == 1
    expiring = CachedCheck(check, ttl=0)
    assert expiring() is False
    assert expiring() is False
    assert len(calls) == 3


def test_memory_broker_check_is_always_up() -> None:
    assert broker_check("memory://")() is True


def test_unreachable_broker_check_is_down(fast_timeout: float) -> None:
    body, status = health_report({"broker": broker_check("amqp://guest:guest@127.0.0.1:1//")})
    assert status == 503
    assert body["checks"]["broker"] == "down"


def test_trimmed_text_documents_what_it_needs_between_its_spaces() -> None:
    import re
    from typing import Annotated

    from pydantic import StringConstraints

    from spectral_shared.web.openapi import SpectralJsonSchema

    class Named(BaseModel):
        name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3)]
        note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
        raw: str = Field(min_length=1)

    properties = Named.model_json_schema(schema_generator=SpectralJsonSchema)["properties"]
    for text, ok in (("abc", True), ("  a b ", True), ("a  ", False), ("\u00a0ab\u00a0", False)):
        assert bool(re.search(properties["name"]["pattern"], text)) is ok, text
        if ok:
            Named.model_validate({"name": text, "note": "x", "raw": "y"})
    assert not re.search(properties["note"]["pattern"], " \u00a0 ")
    assert "pattern" not in properties["raw"]
