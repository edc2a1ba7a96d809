"""Issue 18's findings 4 and 8 over HTTP, through the all-in-one router on real PostgreSQL,
RabbitMQ and Redis: a malformed id is a 404 problem, never a 500; what the document promises is
what the API answers (parameter names, strict types, Allow headers); and the combined document
lists every answer of each operation's kind. ``tests/test_api_fuzzing.py`` fuzzes the rest."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from spectral_gateway.testing import SliceClient
from spectral_shared.web.openapi import SEGMENT_PATTERN

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
def admin(live_platform: SliceClient) -> tuple[SliceClient, dict[str, str]]:
    _, token = live_platform.onboard("ada@contract.example")
    return live_platform, {"Authorization": f"Bearer {token}"}


def _problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/auth/users/abc"),
        ("POST", "/api/v1/auth/users/abc/deactivate"),
        ("POST", "/api/v1/auth/users/abc/reactivate"),
        ("POST", "/api/v1/auth/users/abc/mfa/reset"),
        ("PATCH", "/api/v1/auth/users/abc/role"),
        ("DELETE", "/api/v1/auth/invitations/not-a-uuid"),
        ("GET", "/api/v1/audit/entries/99999999999999999999999"),
        ("GET", "/api/v1/audit/entries/9223372036854775808"),  # one past SQL's BIGINT
        ("GET", "/api/v1/audit/entries/-1"),
        ("GET", "/api/v1/ai-systems/not-a-uuid"),
        ("GET", "/api/v1/violations/1"),
    ],
)
def test_a_malformed_id_is_a_404_problem(
    admin: tuple[SliceClient, dict[str, str]], method: str, path: str
) -> None:
    client, headers = admin
    response = requests.request(
        method, client.base_url + path, headers=headers, json={"role": "viewer"}, timeout=30
    )
    _problem(response, 404)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/controls/%00", "/api/v1/frameworks/HIPAA%1b/controls", "/api/v1/controls/a%0Ab"],
)
def test_a_control_character_in_a_path_is_a_404_on_postgresql(
    admin: tuple[SliceClient, dict[str, str]], path: str
) -> None:
    client, headers = admin
    _problem(requests.get(client.base_url + path, headers=headers, timeout=30), 404)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/ai-systems?q=%00", "q"),
        ("/api/v1/ai-systems?department=a%00b", "department"),
        ("/api/v1/ai-systems/export?q=%1b%5B2J", "q"),
        ("/api/v1/violations?control_id=%00", "control_id"),
        ("/api/v1/audit/events?action=%00", "action"),
        ("/api/v1/telemetry/events?event_type=a%0Db", "event_type"),
    ],
)
def test_a_control_character_in_a_query_is_a_400_on_postgresql(
    admin: tuple[SliceClient, dict[str, str]], path: str, name: str
) -> None:
    client, headers = admin
    problem = _problem(requests.get(client.base_url + path, headers=headers, timeout=30), 400)
    assert [error["field"] for error in problem["errors"]] == [name]


def test_the_largest_entry_index_is_a_404_too(admin: tuple[SliceClient, dict[str, str]]) -> None:
    client, headers = admin
    response = client.get("/api/v1/audit/entries/9223372036854775807", headers["Authorization"][7:])
    _problem(response, 404)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/ai-systems", {"uses_phi": 0}, "uses_phi"),
        ("/api/v1/ai-systems", {"uses_phi": "false"}, "uses_phi"),
        ("/api/v1/alerts/settings", {"sla_minutes": {"critical": "15"}}, "sla_minutes.critical"),
    ],
)
def test_a_body_is_read_strictly(
    admin: tuple[SliceClient, dict[str, str]], path: str, body: dict[str, Any], field: str
) -> None:
    client, headers = admin
    method = requests.put if path.endswith("settings") else requests.post
    base = {
        "name": "Sepsis Watch",
        "department": "Critical care",
        "category": "clinical_decision_support",
        "risk_level": "high",
    }
    payload = {**base, **body} if path == "/api/v1/ai-systems" else body
    problem = _problem(
        method(client.base_url + path, json=payload, headers=headers, timeout=30), 422
    )
    assert field in {error["field"] for error in problem["errors"]}, problem


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/audit/events?from=0",
        "/api/v1/ai-systems?include_deleted=0",
        "/api/v1/violations?deadline_before=2026-01-01",
        "/api/v1/audit/export?to=-12020613032709573443957025962721280",
        "/api/v1/audit/export?from=9223372036854775808",
        "/api/v1/audit/export?to=-1",  # no index, and no time in 1969 either
        "/api/v1/audit/proof/inclusion?index=0&tree_size=99999999999999999999",
        "/api/v1/violations?limit=9223372036854775808",
    ],
)
def test_a_query_is_read_as_documented(
    admin: tuple[SliceClient, dict[str, str]], path: str
) -> None:
    client, headers = admin
    problem = _problem(requests.get(client.base_url + path, headers=headers, timeout=30), 400)
    assert problem["type"].endswith("/invalid-query")


def test_a_csv_import_takes_dry_run_as_true_or_false_only(
    admin: tuple[SliceClient, dict[str, str]],
) -> None:
    client, headers = admin
    csv_headers = {**headers, "Content-Type": "text/csv"}
    url = client.base_url + "/api/v1/ai-systems/import"
    _problem(requests.post(url + "?dry_run=1", data="name\n", headers=csv_headers, timeout=30), 400)
    answer = requests.post(
        url + "?dry_run=true",
        data="name,department,category,uses_phi,risk_level\n"
        "Sepsis Watch,Critical care,clinical_decision_support,true,high\n",
        headers=csv_headers,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"imported": 1, "ids": [], "dry_run": True}


def test_the_consistency_proof_answers_the_names_its_document_gives(
    admin: tuple[SliceClient, dict[str, str]],
) -> None:
    client, headers = admin
    client.audit_actions(headers["Authorization"][7:], at_least=3)
    answer = requests.get(
        client.base_url + "/api/v1/audit/proof/consistency?from=1&to=2", headers=headers, timeout=30
    )
    assert answer.status_code == 200, answer.text
    document = requests.get(client.base_url + "/api/docs/openapi.json", timeout=30).json()
    ok = document["paths"]["/api/v1/audit/proof/consistency"]["get"]["responses"]["200"]
    name = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    documented = document["components"]["schemas"][name]
    assert set(answer.json()) == set(documented["properties"]) == {"from", "to", "hashes"}
    params = document["paths"]["/api/v1/audit/proof/consistency"]["get"]["parameters"]
    assert {p["name"] for p in params} == {"from", "to"}


@pytest.mark.parametrize("path", ["/api/v1/ai-systems/export", "/api/v1/ai-systems/import"])
def test_allow_names_only_the_methods_of_the_route_itself(
    admin: tuple[SliceClient, dict[str, str]], path: str
) -> None:
    client, headers = admin
    refused = requests.delete(client.base_url + path, headers=headers, timeout=30)
    _problem(refused, 405)
    allowed = {m.strip() for m in refused.headers["Allow"].split(",")}
    assert "DELETE" not in allowed and "PATCH" not in allowed
    assert allowed - {"HEAD", "OPTIONS"} == ({"GET"} if path.endswith("export") else {"POST"})


def test_the_combined_document_lists_every_answer_of_each_kind(live_platform: SliceClient) -> None:
    document = requests.get(live_platform.base_url + "/api/docs/openapi.json", timeout=30).json()
    operations = [
        (f"{method.upper()} {path}", op)
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    ]
    assert len(operations) > 80
    for name, op in operations:
        statuses = set(op["responses"])
        if op.get("security"):
            assert {"401", "429"} <= statuses, name
        if "{" in name:
            assert "404" in statuses, name
        if "application/json" in op.get("requestBody", {}).get("content", {}):
            assert {"400", "415", "422"} <= statuses, name
        if any(p["in"] == "query" for p in op.get("parameters", ())):
            assert "400" in statuses, name
        for param in op.get("parameters", ()):
            if param["in"] == "path" and param["name"].endswith("_id"):
                assert param["schema"] in (
                    {"type": "string", "format": "uuid"},
                    {"type": "string", "minLength": 1, "pattern": SEGMENT_PATTERN},
                ), name
    entry = document["paths"]["/api/v1/audit/entries/{index}"]["get"]["parameters"][0]
    assert entry["schema"] == {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}


def test_a_deleted_systems_webhook_secret_is_a_documented_409(
    admin: tuple[SliceClient, dict[str, str]],
) -> None:
    client, headers = admin
    created = requests.post(
        client.base_url + "/api/v1/ai-systems",
        json={
            "name": "Retired Triage",
            "department": "Emergency",
            "category": "clinical_decision_support",
            "uses_phi": False,
            "risk_level": "low",
        },
        headers=headers,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    system = client.base_url + f"/api/v1/ai-systems/{created.json()['id']}"
    assert requests.delete(system, headers=headers, timeout=30).status_code == 204
    refused = requests.post(system + "/webhook-secret", headers=headers, timeout=30)
    assert _problem(refused, 409)["type"].endswith("/ai-system-deleted")
    document = requests.get(client.base_url + "/api/docs/openapi.json", timeout=30).json()
    operation = document["paths"]["/api/v1/ai-systems/{system_id}/webhook-secret"]["post"]
    assert "409" in operation["responses"]
