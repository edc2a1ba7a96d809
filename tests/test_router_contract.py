"""The all-in-one router keeps the gateway's contract, so a client meets the same behaviour with
and without nginx (the nginx side: gateway/tests/test_nginx_gateway.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from spectral_gateway.contract import IDENTITY_HEADERS, SECURITY_HEADERS
from spectral_gateway.testing import SliceClient, assert_gateway_problem

pytestmark = pytest.mark.integration


def test_gateway_problems_headers_and_request_ids(live_platform: SliceClient) -> None:
    assert_gateway_problem(live_platform.get("/no/such/place"), "not_found")
    assert_gateway_problem(live_platform.get("/internal/authorize"), "not_found")  # never routed
    refused = live_platform.get("/api/v1/audit/events")
    assert_gateway_problem(refused, "unauthenticated")
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="spectral"'
    kept = live_platform.get("/api/v1/auth/openapi.json", headers={"X-Request-ID": "abc-12345"})
    assert kept.headers["X-Request-ID"] == "abc-12345"
    for name, value in SECURITY_HEADERS:
        assert kept.headers[name] == value
    made = live_platform.get("/api/v1/auth/openapi.json", headers={"X-Request-ID": "no good"})
    assert made.headers["X-Request-ID"] != "no good" and len(made.headers["X-Request-ID"]) == 32


def test_the_credential_is_exchanged_and_forged_identity_headers_do_nothing(
    live_platform: SliceClient,
) -> None:
    created, token = live_platform.onboard("router@mercy.example")
    forged = {name: "forged" for name in IDENTITY_HEADERS}
    me = live_platform.get("/api/v1/auth/me", token, headers=forged)
    assert me.status_code == 200, me.text
    assert int(me.headers["X-RateLimit-Limit"]) > 0
    key = requests.post(
        live_platform.base_url + "/api/v1/auth/api-keys",
        json={"name": "reader", "scopes": ["audit_log:read"]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert key.status_code == 201, key.text
    # Services cannot read an API key: only the internal token the router put in its place
    # lets the audit service answer, for the key's organization.
    events = live_platform.get("/api/v1/audit/events", key.json()["secret"], headers=forged)
    assert events.status_code == 200, events.text
    assert {e["organization_id"] for e in events.json()["data"]} <= {created["organization"]["id"]}
    # A forged internal token as the credential is refused (the gateway takes access tokens).
    assert_gateway_problem(live_platform.get("/api/v1/auth/me", "forged"), "unauthenticated")


def test_quota_per_ip_limit_and_body_limit(
    start_live_platform: Callable[..., SliceClient],
) -> None:
    client = start_live_platform(rate_limit_max_requests=3, gateway_abuse_rate_per_minute=6)
    _, token = client.onboard("limits@mercy.example")
    answers = [client.get("/api/v1/audit/events", token) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert_gateway_problem(answers[-1], "quota")
    assert int(answers[-1].headers["Retry-After"]) >= 1
    login = {"email": "nobody@mercy.example", "password": "wrong password here"}
    # onboarding used register, verify-email and login (3 of the address's 6 a minute)
    statuses = [client.post("/api/v1/auth/login", login).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429], statuses
    limited = client.post("/api/v1/auth/login", login)
    assert_gateway_problem(limited, "rate_limited")
    assert limited.headers["Retry-After"] == "10"
    big = requests.post(
        client.base_url + "/api/v1/governance/anything",
        data=b"x" * (2 * 1024 * 1024),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert_gateway_problem(big, "too_large")
