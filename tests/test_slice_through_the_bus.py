"""The slice end to end on real PostgreSQL, RabbitMQ and Redis: every auth step lands in the
organization's audit log through the outbox, the relay, RabbitMQ and the audit consumer."""

from __future__ import annotations

import pytest

from spectral_gateway.testing import SliceClient

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def test_each_step_is_audited_newest_first(live_platform: SliceClient) -> None:
    client = live_platform
    created, token = client.onboard("ada@mercy.example")
    assert (
        client.post(
            "/api/v1/auth/login",
            {"email": "ada@mercy.example", "password": "wrong but long enough"},
        ).status_code
        == 401
    )

    me = client.get("/api/v1/auth/me", token).json()
    assert me["user"]["email"] == "ada@mercy.example" and me["user"]["status"] == "active"

    # Auth's five steps, and billing's first capabilities for the new organization (which
    # arrive in the log whenever billing's consumer got to the organization).
    entries = client.audit_actions(token, at_least=6)
    assert [e["action"] for e in entries if e["action"].startswith("auth.")] == [
        "auth.login.failed",
        "auth.user.logged_in",
        "auth.user.email_verified",
        "auth.user.registered",
        "auth.organization.created",
    ]
    assert [e["action"] for e in entries if e["action"].startswith("billing.")] == [
        "billing.entitlements.updated"
    ]
    assert [e["index"] for e in entries] == [5, 4, 3, 2, 1, 0]  # the organization's own log
    organization_id = created["organization"]["id"]
    assert all(e["organization_id"] == organization_id for e in entries)
    registered = next(e for e in entries if e["action"] == "auth.user.registered")
    assert registered["resource"] == {"type": "user", "id": created["user"]["id"]}
    assert registered["actor"] == {"type": "user", "id": created["user"]["id"]}


def test_one_organization_never_sees_another_organizations_entries(
    live_platform: SliceClient,
) -> None:
    client = live_platform
    mercy, mercy_token = client.onboard("ann@mercy.example", org="Mercy General")
    county, county_token = client.onboard("bo@county.example", org="County Health")
    client.post(
        "/api/v1/auth/login", {"email": "nobody@nowhere.example", "password": "any password at all"}
    )

    mercy_entries = client.audit_actions(mercy_token, at_least=4)
    county_entries = client.audit_actions(county_token, at_least=4)
    assert {e["organization_id"] for e in mercy_entries} == {mercy["organization"]["id"]}
    assert {e["organization_id"] for e in county_entries} == {county["organization"]["id"]}
    assert not {e["message_id"] for e in mercy_entries} & {e["message_id"] for e in county_entries}


def test_pages_walk_the_log_without_overlap(live_platform: SliceClient) -> None:
    client = live_platform
    _, token = client.onboard("cy@mercy.example")
    everything = client.audit_actions(token, at_least=5, limit=200)  # 4 of auth's, 1 of billing's
    first = client.get("/api/v1/audit/events", token, params={"limit": 2}).json()
    assert len(first["data"]) == 2 and first["next_cursor"]
    rest = client.get(
        "/api/v1/audit/events", token, params={"limit": 200, "cursor": first["next_cursor"]}
    ).json()
    assert [e["index"] for e in first["data"] + rest["data"]] == [e["index"] for e in everything]
    assert rest["next_cursor"] is None

    bad = client.get("/api/v1/audit/events", token, params={"cursor": "garbage!"})
    assert bad.status_code == 400 and bad.headers["Content-Type"] == "application/problem+json"
    too_many = client.get("/api/v1/audit/events", token, params={"limit": 100000})
    assert too_many.status_code == 400 and too_many.json()["errors"][0]["field"] == "limit"


def test_the_audit_log_needs_a_valid_token_and_an_auditing_role(live_platform: SliceClient) -> None:
    from jwt import decode, encode

    client = live_platform
    _, token = client.onboard("di@mercy.example")
    assert client.get("/api/v1/audit/events").status_code == 401
    assert client.get("/api/v1/audit/events", token + "x").status_code == 401
    forged_role = encode(
        {**decode(token, options={"verify_signature": False}), "role": "viewer"},
        "k" * 32,
        algorithm="HS256",
    )
    assert client.get("/api/v1/audit/events", forged_role).status_code == 401


def test_platform_health_checks_every_dependency(live_platform: SliceClient) -> None:
    health = live_platform.get("/health").json()
    assert health["status"] == "healthy" and health["database"] == "connected"
    assert {"auth.database", "audit.database", "broker", "redis"} <= set(health["checks"])
    assert isinstance(health["uptime"], int) and health["timestamp"].endswith("Z")
    assert live_platform.get("/livez").status_code == 200
    # Metrics are the process's, scraped on its metrics port, never through the public router.
    scraped = live_platform.get("/metrics")
    assert scraped.status_code == 404
    assert "spectral_http_request_duration_seconds" not in scraped.text
