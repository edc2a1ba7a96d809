"""Browser sessions: an HttpOnly cookie kept server-side in Redis, idle and absolute timeouts,
CSRF on unsafe methods, sign-out, and revocation with everything else."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from spectral_auth.services.sessions import SESSION_COOKIE
from spectral_shared.crypto import hash_token
from spectral_shared.db import utcnow

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"
AUTHORIZE = "/internal/authorize"


def browser_sign_in(
    api: Any, email: str, password: str = PASSWORD
) -> tuple[str, dict[str, Any], str]:
    response = api.client.post("/api/v1/auth/session", json={"email": email, "password": password})
    assert response.status_code == 201, response.json
    cookie = response.headers["Set-Cookie"]
    return api.client.get_cookie(SESSION_COOKIE).value, response.json, cookie


def test_a_browser_gets_an_httponly_strict_cookie_and_a_csrf_token(api: Any) -> None:
    created, _ = api.onboard()
    session_id, body, cookie = browser_sign_in(api, created["user"]["email"])
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert (
        "Secure" not in cookie
    )  # BASE_URL is http:// in tests; COOKIE_SECURE decides in production
    assert body["user_id"] == created["user"]["id"] and body["csrf_token"]
    assert body["idle_timeout_seconds"] == 15 * 60
    assert session_id not in json.dumps(body)
    assert api.client.get("/api/v1/auth/session").json["csrf_token"] == body["csrf_token"]
    # The store keeps the session under the id's hash, never the cookie value itself.
    assert api.runtime.kv.get(f"session:{hash_token(session_id)}") is not None
    assert api.runtime.kv.get(f"session:{session_id}") is None
    assert api.events("auth.refresh_token.reused") == [] and api.events("auth.user.logged_in")


def test_the_session_cookie_authorizes_reads_and_needs_csrf_for_writes(api: Any) -> None:
    created, _ = api.onboard()
    _, body, _ = browser_sign_in(api, created["user"]["email"])
    read = api.client.get(AUTHORIZE, headers={"X-Original-Method": "GET"})
    assert read.status_code == 200 and read.headers["X-Spectral-Internal-Token"]
    write = api.client.get(AUTHORIZE, headers={"X-Original-Method": "POST"})
    assert write.status_code == 403 and write.json["type"].endswith("/csrf")
    assert write.headers["X-Spectral-Denied"] == "csrf"
    forged = api.client.get(
        AUTHORIZE, headers={"X-Original-Method": "DELETE", "X-CSRF-Token": "guess"}
    )
    assert forged.status_code == 403
    good = api.client.get(
        AUTHORIZE, headers={"X-Original-Method": "PATCH", "X-CSRF-Token": body["csrf_token"]}
    )
    assert good.status_code == 200


def test_sign_out_ends_the_session_and_clears_the_cookie(api: Any) -> None:
    created, _ = api.onboard()
    session_id, body, _ = browser_sign_in(api, created["user"]["email"])
    assert api.client.delete("/api/v1/auth/session").status_code == 403  # CSRF first
    done = api.client.delete("/api/v1/auth/session", headers={"X-CSRF-Token": body["csrf_token"]})
    assert done.status_code == 204 and f"{SESSION_COOKIE}=;" in done.headers["Set-Cookie"]
    api.client.set_cookie(SESSION_COOKIE, session_id)  # a copied cookie is dead too
    assert api.client.get(AUTHORIZE).status_code == 401
    assert api.client.get("/api/v1/auth/session").status_code == 401
    assert len(api.events("auth.user.signed_out")) == 1


def test_idle_and_absolute_timeouts_end_the_session(api: Any) -> None:
    created, _ = api.onboard()
    email = created["user"]["email"]
    session_id, _, _ = browser_sign_in(api, email)
    key = f"session:{hash_token(session_id)}"
    api.runtime.kv.delete(key)  # what the idle TTL does after 15 quiet minutes
    assert api.client.get(AUTHORIZE).status_code == 401

    session_id, _, _ = browser_sign_in(api, email)
    key = f"session:{hash_token(session_id)}"
    stored = json.loads(api.runtime.kv.get(key))
    stored["expires_at"] = (utcnow() - timedelta(seconds=1)).isoformat()  # twelve hours later
    api.runtime.kv.set(key, json.dumps(stored).encode(), ttl_seconds=60)
    assert api.client.get(AUTHORIZE).status_code == 401
    assert api.runtime.kv.get(key) is None


def test_an_organizations_timeouts_shape_the_session(api: Any) -> None:
    created, admin = api.onboard()
    api.client.patch(
        "/api/v1/auth/organization",
        json={"settings": {"idle_timeout_minutes": 5, "absolute_timeout_hours": 2}},
        headers=api.bearer(admin),
    )
    _, body, cookie = browser_sign_in(api, created["user"]["email"])
    assert body["idle_timeout_seconds"] == 300 and "Max-Age=7200" in cookie


def test_sign_out_everywhere_and_deactivation_end_browser_sessions(api: Any) -> None:
    created, admin = api.onboard()
    member, _ = api.member(admin, "viewer")
    browser_sign_in(api, member["email"], "member passphrase here")
    api.client.post(f"/api/v1/auth/users/{member['id']}/deactivate", headers=api.bearer(admin))
    assert api.client.get(AUTHORIZE).status_code == 401

    browser_sign_in(api, created["user"]["email"])
    assert api.client.get(AUTHORIZE).status_code == 200
    api.client.post("/api/v1/auth/sign-out-everywhere", headers=api.bearer(admin))
    assert api.client.get(AUTHORIZE).status_code == 401


def test_browser_sign_in_applies_the_same_refusals_as_token_sign_in(api: Any) -> None:
    created, _ = api.onboard()
    email = created["user"]["email"]
    wrong = api.client.post(
        "/api/v1/auth/session", json={"email": email, "password": "not the password"}
    )
    assert wrong.status_code == 401 and "Set-Cookie" not in wrong.headers
    for i in range(4):
        api.client.post("/api/v1/auth/session", json={"email": email, "password": f"wrong {i}"})
    assert (
        api.client.post(
            "/api/v1/auth/session", json={"email": email, "password": PASSWORD}
        ).status_code
        == 423
    )
