"""Refresh tokens rotate, reuse revokes the family, and every revocation path ends access."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from spectral_auth.models import RefreshToken
from spectral_shared.db import utcnow

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"


def tokens_for(api: Any, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = api.client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.json
    return response.json  # type: ignore[no-any-return]


def refresh(api: Any, token: str) -> Any:
    return api.client.post("/api/v1/auth/token/refresh", json={"refresh_token": token})


def me(api: Any, access: str) -> int:
    return api.client.get("/api/v1/auth/me", headers=api.bearer(access)).status_code  # type: ignore[no-any-return]


def test_a_refresh_token_works_once_and_yields_the_next_one(api: Any) -> None:
    created, _ = api.onboard()
    first = tokens_for(api, created["user"]["email"])
    assert first["refresh_token"].startswith("rt_")
    second = refresh(api, first["refresh_token"])
    assert second.status_code == 200
    assert second.json["refresh_token"] != first["refresh_token"]
    assert me(api, second.json["access_token"]) == 200
    third = refresh(api, second.json["refresh_token"])
    assert third.status_code == 200


def test_reusing_a_spent_refresh_token_revokes_its_whole_family(api: Any) -> None:
    created, _ = api.onboard()
    email = created["user"]["email"]
    stolen = tokens_for(api, email)
    legitimate = refresh(api, stolen["refresh_token"]).json  # the owner rotates
    other_sign_in = tokens_for(api, email)  # a second device: another family

    replay = refresh(api, stolen["refresh_token"])
    assert replay.status_code == 401 and replay.json["type"].endswith("/invalid-token")
    assert refresh(api, legitimate["refresh_token"]).status_code == 401  # the family is dead
    assert refresh(api, other_sign_in["refresh_token"]).status_code == 200  # others live on
    [event] = api.events("auth.refresh_token.reused")
    assert event["data"]["user_id"] == created["user"]["id"]


def test_expired_and_garbage_refresh_tokens_are_refused(api: Any) -> None:
    created, _ = api.onboard()
    grant = tokens_for(api, created["user"]["email"])
    with api.runtime.database.session() as session:
        session.execute(update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert refresh(api, grant["refresh_token"]).status_code == 401
    assert refresh(api, "rt_" + "x" * 43).status_code == 401
    assert refresh(api, "short").status_code == 422


def test_logout_ends_one_sign_in(api: Any) -> None:
    created, _ = api.onboard()
    email = created["user"]["email"]
    laptop, phone = tokens_for(api, email), tokens_for(api, email)
    assert (
        api.client.post(
            "/api/v1/auth/logout", json={"refresh_token": laptop["refresh_token"]}
        ).status_code
        == 204
    )
    assert refresh(api, laptop["refresh_token"]).status_code == 401
    assert refresh(api, phone["refresh_token"]).status_code == 200
    assert (
        api.client.post("/api/v1/auth/logout", json={"refresh_token": "rt_" + "y" * 43}).status_code
        == 204
    )
    assert len(api.events("auth.user.signed_out")) == 1


def test_sign_out_everywhere_ends_every_token_at_once(api: Any) -> None:
    created, _ = api.onboard()
    email = created["user"]["email"]
    laptop, phone = tokens_for(api, email), tokens_for(api, email)
    assert (
        api.client.post(
            "/api/v1/auth/sign-out-everywhere", headers=api.bearer(laptop["access_token"])
        ).status_code
        == 204
    )
    for grant in (laptop, phone):
        assert me(api, grant["access_token"]) == 401  # even within the same second
        assert refresh(api, grant["refresh_token"]).status_code == 401
    fresh = tokens_for(api, email)
    assert me(api, fresh["access_token"]) == 200
    [event] = api.events("auth.user.sessions_revoked")
    assert event["data"]["reason"] == "sign_out_everywhere"


def test_deactivation_and_password_changes_end_other_sessions(api: Any) -> None:
    created, admin = api.onboard()
    member, member_token = api.member(admin, "viewer")
    member_grant = tokens_for(api, member["email"], "member passphrase here")
    api.client.post(f"/api/v1/auth/users/{member['id']}/deactivate", headers=api.bearer(admin))
    assert refresh(api, member_grant["refresh_token"]).status_code == 401
    assert me(api, member_token) == 401

    email = created["user"]["email"]
    other_device = tokens_for(api, email)
    changed = api.client.post(
        "/api/v1/auth/password/change",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=api.bearer(admin),
    )
    assert changed.status_code == 200
    assert me(api, changed.json["access_token"]) == 200  # the caller stays signed in
    assert refresh(api, changed.json["refresh_token"]).status_code == 200
    assert me(api, other_device["access_token"]) == 401 and me(api, admin) == 401
    assert refresh(api, other_device["refresh_token"]).status_code == 401
    reasons = [e["data"]["reason"] for e in api.events("auth.user.sessions_revoked")]
    assert reasons == ["deactivated", "password_changed"]


def test_a_password_reset_ends_every_session(api: Any) -> None:
    created, _ = api.onboard()
    email = created["user"]["email"]
    grant = tokens_for(api, email)
    api.client.post("/api/v1/auth/password/forgot", json={"email": email})
    api.client.post(
        "/api/v1/auth/password/reset",
        json={"token": api.token_sent_to(email), "password": "a brand new passphrase"},
    )
    assert me(api, grant["access_token"]) == 401
    assert refresh(api, grant["refresh_token"]).status_code == 401


def test_on_auths_own_routes_a_role_change_or_deactivation_applies_at_once(api: Any) -> None:
    _, admin = api.onboard()
    colleague, colleague_token = api.member(admin, "admin")
    invite = {"email": "someone@members.example", "role": "viewer"}
    api.client.patch(
        f"/api/v1/auth/users/{colleague['id']}/role",
        json={"role": "viewer"},
        headers=api.bearer(admin),
    )
    demoted = api.client.post(
        "/api/v1/auth/invitations", json=invite, headers=api.bearer(colleague_token)
    )
    assert demoted.status_code == 403  # the token still says admin; the account does not

    _, other_token = api.member(admin, "admin")
    other = api.client.get("/api/v1/auth/me", headers=api.bearer(other_token)).json["user"]
    api.client.post(f"/api/v1/auth/users/{other['id']}/deactivate", headers=api.bearer(admin))
    key = api.client.post(
        "/api/v1/auth/api-keys",
        json={"name": "x", "scopes": ["ai_systems:read"]},
        headers=api.bearer(other_token),
    )
    assert key.status_code == 401
