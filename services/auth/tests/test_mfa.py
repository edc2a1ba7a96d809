"""TOTP MFA over HTTP: enrol, confirm, sign in with a code or a backup code, lockout, disable,
and the walk-through when an organization requires MFA."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"


def code_for(secret_b32: str, at: float | None = None) -> str:
    secret = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    return (
        TOTP(secret, 6, SHA1(), 30, enforce_key_length=False).generate(at or time.time()).decode()
    )


def login(api: Any, email: str, **extra: str) -> Any:
    return api.client.post(
        "/api/v1/auth/login", json={"email": email, "password": PASSWORD, **extra}
    )


def enrol(api: Any, token: str) -> dict[str, Any]:
    started = api.client.post("/api/v1/auth/mfa/enroll", headers=api.bearer(token))
    assert started.status_code == 201, started.json
    confirmed = api.client.post(
        "/api/v1/auth/mfa/confirm",
        json={"code": code_for(started.json["secret"])},
        headers=api.bearer(token),
    )
    assert confirmed.status_code == 200, confirmed.json
    return {**started.json, "tokens": confirmed.json}


def test_enrolment_gives_a_secret_uri_and_ten_backup_codes_and_needs_a_first_code(api: Any) -> None:
    created, token = api.onboard()
    started = api.client.post("/api/v1/auth/mfa/enroll", headers=api.bearer(token))
    assert started.status_code == 201 and started.headers["Cache-Control"] == "no-store"
    body = started.json
    assert (
        body["otpauth_uri"].startswith("otpauth://totp/") and body["secret"] in body["otpauth_uri"]
    )
    assert len(body["backup_codes"]) == len(set(body["backup_codes"])) == 10
    assert login(api, created["user"]["email"]).status_code == 200  # not on until confirmed

    wrong = api.client.post(
        "/api/v1/auth/mfa/confirm", json={"code": "000000"}, headers=api.bearer(token)
    )
    assert wrong.status_code == 400 and wrong.json["type"].endswith("/invalid-mfa-code")
    right = api.client.post(
        "/api/v1/auth/mfa/confirm",
        json={"code": code_for(body["secret"])},
        headers=api.bearer(token),
    )
    assert right.status_code == 200 and right.json["access_token"]
    assert (
        api.client.post(
            "/api/v1/auth/mfa/enroll", headers=api.bearer(right.json["access_token"])
        ).status_code
        == 409
    )
    assert len(api.events("auth.mfa.enabled")) == 1
    secret_seen = any(body["secret"] in str(e) for e in api.events("auth.mfa.enabled"))
    assert not secret_seen


def test_sign_in_asks_for_the_code_and_each_code_works_once(api: Any) -> None:
    created, token = api.onboard()
    email = created["user"]["email"]
    enrolled = enrol(api, token)
    asked = login(api, email)
    assert (
        asked.status_code == 401
        and asked.json["type"].endswith("/mfa-required")
        and asked.json["mfa_required"] is True
    )
    next_code = code_for(
        enrolled["secret"], time.time() + 30
    )  # the confirmation spent the current one
    assert login(api, email, mfa_code=next_code).status_code == 200
    assert login(api, email, mfa_code=next_code).status_code == 401  # replayed
    reasons = [e["data"]["reason"] for e in api.events("auth.login.failed")]
    assert reasons == ["bad_mfa_code"]  # asking for the code is not a failure; the replay is


def test_a_backup_code_signs_in_once(api: Any) -> None:
    created, token = api.onboard()
    email = created["user"]["email"]
    enrolled = enrol(api, token)
    backup = enrolled["backup_codes"][3]
    assert (
        login(api, email, backup_code=backup.lower()).status_code == 200
    )  # case and dash forgiven
    assert login(api, email, backup_code=backup).status_code == 401
    [used] = api.events("auth.mfa.backup_code_used")
    assert used["data"]["remaining"] == 9 and backup not in str(used)


def test_wrong_codes_count_toward_the_lockout(api: Any) -> None:
    created, token = api.onboard()
    email = created["user"]["email"]
    enrol(api, token)
    answers = [login(api, email, mfa_code=f"{i:06d}") for i in range(5)]
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 423]


def test_disabling_needs_the_password_and_is_refused_when_the_organization_requires_mfa(
    api: Any,
) -> None:
    created, token = api.onboard()
    email = created["user"]["email"]
    enrolled = enrol(api, token)
    access = enrolled["tokens"]["access_token"]
    assert (
        api.client.post(
            "/api/v1/auth/mfa/disable",
            json={"password": "not my password"},
            headers=api.bearer(access),
        ).status_code
        == 403
    )
    api.client.patch(
        "/api/v1/auth/organization",
        json={"settings": {"mfa_required": True}},
        headers=api.bearer(access),
    )
    assert (
        api.client.post(
            "/api/v1/auth/mfa/disable", json={"password": PASSWORD}, headers=api.bearer(access)
        ).status_code
        == 409
    )
    api.client.patch(
        "/api/v1/auth/organization",
        json={"settings": {"mfa_required": False}},
        headers=api.bearer(access),
    )
    assert (
        api.client.post(
            "/api/v1/auth/mfa/disable", json={"password": PASSWORD}, headers=api.bearer(access)
        ).status_code
        == 200
    )
    assert login(api, email).status_code == 200  # no second factor any more
    assert len(api.events("auth.mfa.disabled")) == 1


def test_a_required_mfa_walks_the_user_through_enrolment_on_first_sign_in(api: Any) -> None:
    _, admin = api.onboard()
    member, _ = api.member(admin, "viewer")
    api.client.patch(
        "/api/v1/auth/organization",
        json={"settings": {"mfa_required": True}},
        headers=api.bearer(admin),
    )
    response = api.client.post(
        "/api/v1/auth/login", json={"email": member["email"], "password": "member passphrase here"}
    )
    assert response.status_code == 403 and response.json["type"].endswith(
        "/mfa-enrollment-required"
    )
    enrollment_token = response.json["enrollment_token"]
    # The enrolment token opens enrolment and nothing else.
    assert (
        api.client.get("/api/v1/auth/me", headers=api.bearer(enrollment_token)).status_code == 401
    )
    assert (
        api.client.get("/internal/authorize", headers=api.bearer(enrollment_token)).status_code
        == 401
    )
    started = api.client.post("/api/v1/auth/mfa/enroll", headers=api.bearer(enrollment_token))
    confirmed = api.client.post(
        "/api/v1/auth/mfa/confirm",
        json={"code": code_for(started.json["secret"])},
        headers=api.bearer(enrollment_token),
    )
    assert confirmed.status_code == 200
    assert (
        api.client.get("/api/v1/auth/me", headers=api.bearer(confirmed.json["access_token"])).json[
            "user"
        ]["id"]
        == member["id"]
    )


def test_an_admin_resets_a_lost_authenticator_and_the_users_sessions_end(api: Any) -> None:
    _, admin = api.onboard()
    member, member_token = api.member(admin, "viewer")
    member_email = member["email"]
    started = api.client.post("/api/v1/auth/mfa/enroll", headers=api.bearer(member_token))
    confirmed = api.client.post(
        "/api/v1/auth/mfa/confirm",
        json={"code": code_for(started.json["secret"])},
        headers=api.bearer(member_token),
    )
    assert (
        api.client.post(
            "/api/v1/auth/login", json={"email": member_email, "password": "member passphrase here"}
        ).status_code
        == 401
    )

    reset = api.client.post(
        f"/api/v1/auth/users/{member['id']}/mfa/reset", headers=api.bearer(admin)
    )
    assert reset.status_code == 200
    assert (
        api.client.get(
            "/api/v1/auth/me", headers=api.bearer(confirmed.json["access_token"])
        ).status_code
        == 401
    )
    assert (
        api.client.post(
            "/api/v1/auth/login", json={"email": member_email, "password": "member passphrase here"}
        ).status_code
        == 200
    )
    [event] = api.events("auth.mfa.reset")
    assert event["actor"]["id"] != member["id"]
    assert (
        api.client.post(
            f"/api/v1/auth/users/{member['id']}/mfa/reset", headers=api.bearer(admin)
        ).status_code
        == 200
    )
    assert len(api.events("auth.mfa.reset")) == 1  # idempotent


def test_a_wrong_password_when_disabling_counts_toward_the_lockout(api: Any) -> None:
    created, token = api.onboard()
    enrolled = enrol(api, token)
    access = enrolled["tokens"]["access_token"]
    for _ in range(5):
        api.client.post(
            "/api/v1/auth/mfa/disable",
            json={"password": "a guessed password"},
            headers=api.bearer(access),
        )
    assert login(api, created["user"]["email"], mfa_code="123456").status_code == 423
