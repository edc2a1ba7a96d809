"""The AI-system inventory over HTTP, on SQLite and on real PostgreSQL: docs/domain.md#decision-5-ai-systems rules,
the plan limit, per-field problems that change nothing, tenancy, and the events auditors read."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from spectral_governance.inventory.schemas import AISystemOut
from spectral_governance.testing import SYSTEM, Governance
from spectral_shared.testing.billing import capabilities

BASE = "/api/v1/ai-systems"


def problem_fields(response: Any) -> dict[str, str]:
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    return {e["field"]: e["message"] for e in response.get_json().get("errors", [])}


def listed(gov: Governance, **params: Any) -> list[dict[str, Any]]:
    response = gov.request("GET", BASE, query_string=params)
    assert response.status_code == 200, response.get_json()
    return list(response.get_json()["data"])


# ---- creating ------------------------------------------------------------------------------------


def test_create_keeps_every_field_and_records_the_event(gov: Governance) -> None:
    owner = str(uuid.uuid4())
    gov.event(
        "auth.user.registered",
        {"user_id": owner, "email": "o@x.org", "name": "O", "role": "viewer"},
    )
    response = gov.request(
        "POST",
        BASE,
        {
            **SYSTEM,
            "description": "Predicts sepsis six hours ahead.",
            "clinical_use_case": "Early sepsis warning in the ED",
            "vendor_name": "Epic Systems",
            "model_name": "sepsis-v3",
            "model_version": "3.1.0",
            "fda_status": "cleared_510k",
            "fda_submission_number": "k201234",
            "serves_states": ["ny", "CA", "NY"],
            "owner_user_id": owner,
            "provider_type": "langsmith",
            "provider_system_id": "proj-42",
        },
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    AISystemOut.model_validate(body)  # the hand-built JSON is the documented shape
    assert response.headers["Location"] == f"{BASE}/{body['id']}"
    assert body["status"] == "testing" and body["compliance_posture"] == "ok"
    assert body["fda_submission_number"] == "K201234"
    assert body["serves_states"] == ["CA", "NY"]
    assert body["monitoring_enabled"] is False and body["requires_monitoring"] is True  # PHI
    assert body["owner_user_id"] == owner
    got = gov.request("GET", f"{BASE}/{body['id']}").get_json()
    assert got == body
    [event] = gov.outbox("governance.ai_system.created")
    assert event["organization_id"] == gov.organization
    assert event["actor"] == {"type": "user", "id": gov.user}
    assert event["data"]["ai_system_id"] == body["id"]
    assert event["data"]["source"] == "api"
    assert event["data"]["system"]["name"] == "Sepsis Watch"
    assert event["data"]["system"]["serves_states"] == ["CA", "NY"]


def test_high_and_critical_risk_turn_monitoring_on(gov: Governance) -> None:
    gov.allow(None)
    assert gov.create(name="High One", risk_level="high")["monitoring_enabled"] is True
    assert gov.create(name="Critical One", risk_level="critical")["monitoring_enabled"] is True
    low = gov.create(name="Low One", risk_level="low", uses_phi=False)
    assert low["monitoring_enabled"] is False and low["requires_monitoring"] is False
    refused = gov.request(
        "POST", BASE, {**SYSTEM, "name": "Off", "risk_level": "high", "monitoring_enabled": False}
    )
    assert refused.status_code == 422
    assert "monitoring_enabled" in problem_fields(refused)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "AI"}, "name"),
        ({"name": "   "}, "name"),
        ({"risk_level": "extreme"}, "risk_level"),
        ({"category": "astrology"}, "category"),
        ({"status": "paused"}, "status"),
        ({"serves_states": ["CA", "XX"]}, "serves_states.1"),
        ({"uses_phi": None}, "uses_phi"),
        ({"colour": "blue"}, "colour"),
        ({"fda_status": "cleared_510k"}, "fda_submission_number"),
        (
            {"fda_status": "cleared_de_novo", "fda_submission_number": "K123456"},
            "fda_submission_number",
        ),
        ({"fda_status": "unknown", "fda_submission_number": "K123456"}, "fda_submission_number"),
        ({"provider_type": "arize"}, "provider_system_id"),
        ({"provider_system_id": "p-1"}, "provider_type"),
        ({"vendor_organization_id": "not-a-uuid"}, "vendor_organization_id"),
        ({"owner_user_id": str(uuid.uuid4())}, "owner_user_id"),
    ],
)
def test_bad_fields_are_per_field_problems_and_change_nothing(
    gov: Governance, change: dict[str, Any], field: str
) -> None:
    response = gov.request("POST", BASE, {**SYSTEM, **change})
    assert response.status_code == 422
    body = response.get_json()
    assert body["status"] == 422 and body["type"].endswith("/validation-error")
    assert field in problem_fields(response), body
    assert listed(gov) == []
    assert gov.outbox("governance.ai_system.created") == []


def test_malformed_bodies(gov: Governance) -> None:
    raw = gov.client.post(
        BASE, data="{not json", headers={**gov.headers(), "Content-Type": "application/json"}
    )
    assert raw.status_code == 400 and raw.mimetype == "application/problem+json"
    text = gov.client.post(
        BASE, data="name=x", headers={**gov.headers(), "Content-Type": "text/plain"}
    )
    assert text.status_code == 415


def test_vendor_organizations_must_be_vendors_on_spectral(gov: Governance) -> None:
    vendor, hospital = str(uuid.uuid4()), str(uuid.uuid4())
    gov.event(
        "auth.organization.created",
        {"organization_id": vendor, "name": "Viz.ai", "type": "vendor"},
        organization=vendor,
    )
    gov.event(
        "auth.organization.created",
        {"organization_id": hospital, "name": "Other Hospital", "type": "health_system"},
        organization=hospital,
    )
    refused = gov.request("POST", BASE, {**SYSTEM, "vendor_organization_id": hospital})
    assert refused.status_code == 422
    assert problem_fields(refused)["vendor_organization_id"] == (
        "No vendor organization with this id on Spectral."
    )
    created = gov.create(vendor_organization_id=vendor, vendor_name="Viz.ai")
    assert created["vendor_organization_id"] == vendor
    assert [s["id"] for s in listed(gov, vendor=vendor)] == [created["id"]]
    assert [s["id"] for s in listed(gov, vendor="viz.AI")] == [created["id"]]


def test_owners_are_active_users_of_the_organization(gov: Governance) -> None:
    gov.allow(None)
    colleague, stranger = str(uuid.uuid4()), str(uuid.uuid4())
    gov.event(
        "auth.user.registered",
        {"user_id": colleague, "email": "c@x.org", "name": "C", "role": "viewer"},
    )
    gov.event(
        "auth.user.registered",
        {"user_id": stranger, "email": "s@y.org", "name": "S", "role": "viewer"},
        organization=str(uuid.uuid4()),
    )
    assert gov.create(name="Mine", owner_user_id=gov.user)["owner_user_id"] == gov.user
    assert gov.create(name="Theirs", owner_user_id=colleague)["owner_user_id"] == colleague
    other = gov.request("POST", BASE, {**SYSTEM, "name": "Stranger's", "owner_user_id": stranger})
    assert other.status_code == 422
    gov.event("auth.user.deactivated", {"user_id": colleague})
    gone = gov.request("POST", BASE, {**SYSTEM, "name": "Gone", "owner_user_id": colleague})
    assert problem_fields(gone)["owner_user_id"] == "This user is deactivated."


def test_names_are_unique_per_organization_until_deleted(gov: Governance) -> None:
    first = gov.create(name="Sepsis Watch")
    clash = gov.request("POST", BASE, {**SYSTEM, "name": "sepsis watch"})
    assert clash.status_code == 409 and clash.get_json()["type"].endswith("/duplicate-name")
    elsewhere = gov.request("POST", BASE, SYSTEM, organization=str(uuid.uuid4()))
    assert elsewhere.status_code == 201
    assert gov.request("DELETE", f"{BASE}/{first['id']}").status_code == 204
    assert gov.create(name="Sepsis Watch")["id"] != first["id"]


def test_a_provider_link_belongs_to_one_live_system(gov: Governance) -> None:
    gov.create(name="Linked", provider_type="arize", provider_system_id="space-1")
    clash = gov.request(
        "POST",
        BASE,
        {**SYSTEM, "name": "Also", "provider_type": "arize", "provider_system_id": "space-1"},
    )
    assert clash.status_code == 409


# ---- the plan limit ------------------------------------------------------------------------------


def test_the_starter_limit_until_billing_says_otherwise(gov: Governance) -> None:
    for n in range(3):
        gov.create(name=f"System {n}")
    refused = gov.request("POST", BASE, {**SYSTEM, "name": "System 3"})
    assert refused.status_code == 402
    body = refused.get_json()
    assert body["upgrade_required"] is True and body["limit"] == 3 and body["plan"] == "none"
    assert body["type"].endswith("/upgrade-required")
    assert len(listed(gov)) == 3

    gov.allow(4)
    gov.create(name="System 3")
    assert gov.request("POST", BASE, {**SYSTEM, "name": "System 4"}).status_code == 402
    # A snapshot older than the one applied changes nothing (events may arrive out of order).
    gov.event("billing.entitlements.updated", capabilities("starter", ai_system_limit=1, version=1))
    first = listed(gov, sort="created_at")[0]
    assert gov.request("DELETE", f"{BASE}/{first['id']}").status_code == 204
    gov.create(name="System 4")  # a deleted system frees its slot
    gov.allow(None)
    gov.create(name="System 5")


# ---- changing ------------------------------------------------------------------------------------


def test_lifecycle_follows_decision_5(gov: Governance) -> None:
    system = gov.create()
    path = f"{BASE}/{system['id']}"
    assert gov.request("PATCH", path, {"status": "paused"}).status_code == 409
    active = gov.request("PATCH", path, {"status": "active"})
    assert active.status_code == 200 and active.get_json()["status"] == "active"
    back = gov.request("PATCH", path, {"status": "testing"})
    assert back.status_code == 409
    problem = back.get_json()
    assert problem["type"].endswith("/invalid-transition")
    assert problem["current_status"] == "active" and problem["allowed"] == ["deprecated", "paused"]
    assert gov.request("PATCH", path, {"status": "paused"}).get_json()["status"] == "paused"
    assert gov.request("PATCH", path, {"status": "active"}).get_json()["status"] == "active"
    assert gov.request("PATCH", path, {"status": "deprecated"}).get_json()["status"] == "deprecated"
    final = gov.request("PATCH", path, {"status": "active"})
    assert final.status_code == 409 and "final" in final.get_json()["detail"]
    moves = [
        (e["data"]["from_status"], e["data"]["to_status"])
        for e in gov.outbox("governance.ai_system.status_changed")
    ]
    assert moves == [
        ("testing", "active"),
        ("active", "paused"),
        ("paused", "active"),
        ("active", "deprecated"),
    ]
    assert gov.outbox("governance.ai_system.updated") == []  # a move alone is not an update


def test_updates_record_each_field_before_and_after(gov: Governance) -> None:
    system = gov.create(description="First draft")
    path = f"{BASE}/{system['id']}"
    response = gov.request(
        "PATCH", path, {"risk_level": "critical", "description": None, "serves_states": ["TX"]}
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["monitoring_enabled"] is True  # raising the risk turned it on
    assert body["description"] is None and body["version"] == 2
    [event] = gov.outbox("governance.ai_system.updated")
    assert event["data"]["changes"] == {
        "risk_level": {"from": "medium", "to": "critical"},
        "description": {"from": "First draft", "to": None},
        "serves_states": {"from": [], "to": ["TX"]},
        "monitoring_enabled": {"from": False, "to": True},
    }
    off = gov.request("PATCH", path, {"monitoring_enabled": False})
    assert off.status_code == 422 and "monitoring_enabled" in problem_fields(off)
    cleared = gov.request("PATCH", path, {"name": None})
    assert cleared.status_code == 422
    same = gov.request("PATCH", path, {"risk_level": "critical"})
    assert same.status_code == 200 and same.get_json()["version"] == 2
    assert len(gov.outbox("governance.ai_system.updated")) == 1
    unknown = gov.request("PATCH", path, {"posture": "ok"})
    assert unknown.status_code == 422 and problem_fields(unknown) == {"posture": "Unknown field."}


def test_deleting_keeps_the_record_readable(gov: Governance) -> None:
    system = gov.create()
    path = f"{BASE}/{system['id']}"
    assert gov.request("DELETE", path, role="compliance_officer").status_code == 403
    assert gov.request("DELETE", path).status_code == 204
    assert listed(gov) == []
    assert [s["id"] for s in listed(gov, include_deleted="true")] == [system["id"]]
    record = gov.request("GET", path).get_json()
    assert record["deleted_at"] is not None and record["name"] == system["name"]
    edit = gov.request("PATCH", path, {"risk_level": "low"})
    assert edit.status_code == 409 and edit.get_json()["type"].endswith("/ai-system-deleted")
    assert gov.request("DELETE", path).status_code == 204
    [event] = gov.outbox("governance.ai_system.deleted")
    assert event["data"] == {
        "ai_system_id": system["id"],
        "name": system["name"],
        "status": "testing",
    }


# ---- who may, and whose -------------------------------------------------------------------------


def test_roles(gov: Governance) -> None:
    system = gov.create()
    for role in ("viewer", "analyst", "executive"):
        assert gov.request("GET", f"{BASE}/{system['id']}", role=role).status_code == 200
        assert gov.request("POST", BASE, {**SYSTEM, "name": "X" * 5}, role=role).status_code == 403
    assert (
        gov.request(
            "POST", BASE, {**SYSTEM, "name": "By the CO"}, role="compliance_officer"
        ).status_code
        == 201
    )
    no_token = gov.client.get(BASE)
    assert no_token.status_code == 401 and no_token.mimetype == "application/problem+json"
    read_key = gov.headers("viewer", sub_type="api_key", scopes=["ai_systems:read"])
    assert gov.client.get(BASE, headers=read_key).status_code == 200
    assert (
        gov.client.post(BASE, json={**SYSTEM, "name": "By a key"}, headers=read_key).status_code
        == 403
    )


def test_another_organizations_systems_are_invisible(gov: Governance) -> None:
    system = gov.create()
    other = str(uuid.uuid4())
    path = f"{BASE}/{system['id']}"
    for method, body in (("GET", None), ("PATCH", {"risk_level": "low"}), ("DELETE", None)):
        response = gov.request(method, path, body, organization=other)
        assert response.status_code == 404, method
        assert response.mimetype == "application/problem+json"
    assert gov.request("GET", f"{path}/controls", organization=other).status_code == 404
    assert gov.request("GET", BASE, organization=other).get_json()["data"] == []
    assert gov.request("GET", f"{BASE}/not-a-uuid").status_code == 404
    assert gov.request("GET", path).get_json()["risk_level"] == "medium"  # untouched


# ---- listing -------------------------------------------------------------------------------------


def _portfolio(gov: Governance) -> list[dict[str, Any]]:
    gov.allow(None)
    specs = [
        ("Aidoc Stroke", "Imaging", "high", True, "Aidoc"),
        ("Radiology AI", "imaging", "critical", True, None),
        ("Coding AI", "RCM", "medium", True, "Fathom"),
        ("Internal Chatbot", "IT", "low", False, None),
        ("Nuance DAX", "Clinical", "medium", True, "Nuance"),
        ("PathAI Diagnostic", "Pathology", "high", True, "PathAI"),
        ("Cleerly Heart", "Cardiology", "high", True, "Cleerly"),
        ("Epic Ambient AI", "Clinical", "medium", True, "Epic"),
        ("Bed Planner", "Operations", "low", False, None),
        ("Hiring Screener", "HR", "high", False, "Acme 50%_off"),
    ]
    made = []
    for name, department, risk, phi, vendor in specs:
        made.append(
            gov.create(
                name=name, department=department, risk_level=risk, uses_phi=phi, vendor_name=vendor
            )
        )
    gov.request("PATCH", f"{BASE}/{made[0]['id']}", {"status": "active"})
    return made


def test_filters_search_and_sort(gov: Governance) -> None:
    made = _portfolio(gov)
    names = lambda rows: [r["name"] for r in rows]  # noqa: E731
    assert names(listed(gov, status="active")) == ["Aidoc Stroke"]
    assert sorted(names(listed(gov, risk_level="high"))) == [
        "Aidoc Stroke",
        "Cleerly Heart",
        "Hiring Screener",
        "PathAI Diagnostic",
    ]
    assert sorted(names(listed(gov, department="IMAGING"))) == ["Aidoc Stroke", "Radiology AI"]
    assert names(listed(gov, vendor="fathom")) == ["Coding AI"]
    assert sorted(names(listed(gov, uses_phi="false"))) == [
        "Bed Planner",
        "Hiring Screener",
        "Internal Chatbot",
    ]
    assert sorted(names(listed(gov, q="ai"))) == [
        "Aidoc Stroke",
        "Coding AI",
        "Epic Ambient AI",
        "PathAI Diagnostic",
        "Radiology AI",
    ]
    assert names(listed(gov, q="%")) == []  # LIKE wildcards are matched literally
    assert names(listed(gov, q="50%_", vendor="Acme 50%_off")) == []
    assert names(listed(gov, sort="name", limit=3)) == [
        "Aidoc Stroke",
        "Bed Planner",
        "Cleerly Heart",
    ]
    assert names(listed(gov, sort="-name", limit=2)) == ["Radiology AI", "PathAI Diagnostic"]
    assert names(listed(gov, sort="-risk_level", limit=1)) == ["Radiology AI"]
    assert names(listed(gov, sort="created_at")) == [m["name"] for m in made]


@pytest.mark.parametrize(
    "sort", ["created_at", "-created_at", "name", "-name", "risk_level", "-updated_at"]
)
def test_pages_cover_everything_once(gov: Governance, sort: str) -> None:
    made = _portfolio(gov)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, "sort": sort}
        if cursor:
            params["cursor"] = cursor
        response = gov.request("GET", BASE, query_string=params)
        assert response.status_code == 200
        page = response.get_json()
        seen += [s["id"] for s in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(m["id"] for m in made) and len(seen) == len(made)


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "garbage!"},
        {"limit": "0"},
        {"limit": "201"},
        {"sort": "colour"},
        {"risk_level": "extreme"},
        {"uses_phi": "maybe"},
        {"colour": "blue"},
    ],
)
def test_bad_queries_are_400_problems(gov: Governance, params: dict[str, str]) -> None:
    response = gov.request("GET", BASE, query_string=params)
    assert response.status_code == 400 and response.mimetype == "application/problem+json"


def test_idempotency_key_creates_once(gov: Governance) -> None:
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    first = gov.request("POST", BASE, SYSTEM, headers=headers)
    again = gov.request("POST", BASE, SYSTEM, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json()["id"] == again.get_json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(listed(gov)) == 1


def test_a_listed_system_is_exactly_what_get_answers(gov: Governance) -> None:
    """The list has its own fast path on PostgreSQL; the item must not differ from GET's."""
    gov.allow(None)
    gov.create(name="No States", serves_states=[], description=None)
    gov.create(
        name="Everything",
        serves_states=["NY", "CA"],
        description="All the fields",
        clinical_use_case="Triage",
        vendor_name="Acme",
        model_name="m",
        model_version="1",
        fda_status="cleared_de_novo",
        fda_submission_number="DEN200012",
        provider_type="wandb",
        provider_system_id="run-1",
        owner_user_id=gov.user,
        risk_level="critical",
    )
    deleted = gov.create(name="Deleted One")
    gov.request("DELETE", f"{BASE}/{deleted['id']}")
    items = listed(gov, include_deleted="true", sort="name")
    assert [i["name"] for i in items] == ["Deleted One", "Everything", "No States"]
    for item in items:
        AISystemOut.model_validate(item)
        assert item == gov.request("GET", f"{BASE}/{item['id']}").get_json()


def test_control_characters_are_refused_at_the_field_on_both_databases(gov: Governance) -> None:
    """Issue 18: NUL (which PostgreSQL refuses where SQLite stored it), ANSI escapes and line
    breaks in a one-line field are a 422 at the field; a description may hold line breaks."""
    body = {
        "name": "Sepsis Watch",
        "department": "Emergency",
        "category": "clinical_decision_support",
        "uses_phi": True,
        "risk_level": "high",
    }
    for field, value in (
        ("name", "Sepsis\x00Watch"),
        ("department", "Emer\x1b[31mgency"),
        ("name", "Sepsis\r\nWatch"),
    ):
        answer = gov.request("POST", "/api/v1/ai-systems", {**body, field: value})
        assert answer.status_code == 422, answer.get_json()
        assert answer.get_json()["errors"][0]["pointer"] == f"/{field}"
    assert gov.request("GET", "/api/v1/ai-systems").get_json()["data"] == []
    created = gov.request(
        "POST", "/api/v1/ai-systems", {**body, "description": "Line one.\nLine two."}
    )
    assert created.status_code == 201, created.get_json()
    telemetry = gov.report({"ai_system_id": created.get_json()["id"], "event_type": "drift\x00"})
    [result] = telemetry.get_json()["results"]
    assert result["status"] == "rejected"
    assert result["errors"][0]["pointer"] == "/events/0/event_type"
