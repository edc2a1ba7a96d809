"""Forgot/reset/change password, lockout and expiry over HTTP against real PostgreSQL and Redis."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from spectral_auth.models import PasswordResetToken, User
from spectral_shared.db import utcnow
from spectral_shared.testing import read_emails

pytestmark = pytest.mark.integration

OLD = "correct horse battery staple"
NEW = "a brand new passphrase"


def sign_in(api: Any, email: str, password: str) -> Any:
    return api.client.post("/api/v1/auth/login", json={"email": email, "password": password})


def test_forgot_password_answers_the_same_for_any_address_and_mails_only_real_accounts(
    api: Any,
) -> None:
    created, _ = api.onboard()
    email = created["user"]["email"]
    known = api.client.post("/api/v1/auth/password/forgot", json={"email": email.upper()})
    unknown = api.client.post(
        "/api/v1/auth/password/forgot", json={"email": "nobody@nowhere.example"}
    )
    malformed = api.client.post("/api/v1/auth/password/forgot", json={"email": "not an address"})
    assert known.status_code == unknown.status_code == malformed.status_code == 202
    assert known.json == unknown.json == malformed.json
    api.send_mail()
    recipients = [m["To"] for m in read_emails(api.mail_dir)]
    assert (
        "nobody@nowhere.example" not in recipients and recipients.count(email) == 2
    )  # verify + reset
    assert len(api.events("auth.password.reset_requested")) == 1


def test_a_reset_token_sets_the_password_once_within_the_hour(api: Any) -> None:
    created, _ = api.onboard()
    email = created["user"]["email"]
    api.client.post("/api/v1/auth/password/forgot", json={"email": email})
    token = api.token_sent_to(email)

    weak = api.client.post(
        "/api/v1/auth/password/reset", json={"token": token, "password": "password1234"}
    )
    assert weak.status_code == 422 and weak.json["errors"][0]["field"] == "password"
    assert sign_in(api, email, OLD).status_code == 200  # nothing changed

    done = api.client.post("/api/v1/auth/password/reset", json={"token": token, "password": NEW})
    assert done.status_code == 200 and done.json == {"status": "reset"}
    assert sign_in(api, email, OLD).status_code == 401
    assert sign_in(api, email, NEW).status_code == 200
    again = api.client.post(
        "/api/v1/auth/password/reset", json={"token": token, "password": "yet another passphrase"}
    )
    assert again.status_code == 400 and again.json["type"].endswith("/invalid-token")

    api.client.post("/api/v1/auth/password/forgot", json={"email": email})
    stale = api.token_sent_to(email)
    with api.runtime.database.session() as session:
        session.execute(
            update(PasswordResetToken).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (
        api.client.post(
            "/api/v1/auth/password/reset",
            json={"token": stale, "password": "yet another passphrase"},
        ).status_code
        == 400
    )
    assert [e["type"] for e in api.events("auth.password.reset")] == ["auth.password.reset"]


def test_changing_a_password_needs_the_current_one(api: Any) -> None:
    created, token = api.onboard()
    email = created["user"]["email"]
    change = "/api/v1/auth/password/change"
    assert (
        api.client.post(change, json={"current_password": OLD, "new_password": NEW}).status_code
        == 401
    )
    wrong = api.client.post(
        change,
        json={"current_password": "not my password", "new_password": NEW},
        headers=api.bearer(token),
    )
    assert wrong.status_code == 403 and wrong.json["type"].endswith("/wrong-password")
    same = api.client.post(
        change, json={"current_password": OLD, "new_password": OLD}, headers=api.bearer(token)
    )
    assert same.status_code == 422
    done = api.client.post(
        change, json={"current_password": OLD, "new_password": NEW}, headers=api.bearer(token)
    )
    assert done.status_code == 200
    assert (
        sign_in(api, email, NEW).status_code == 200 and sign_in(api, email, OLD).status_code == 401
    )
    assert len(api.events("auth.password.changed")) == 1


def test_five_consecutive_failures_lock_the_account_for_thirty_minutes(api: Any) -> None:
    created, _ = api.onboard()
    email = created["user"]["email"]
    answers = [sign_in(api, email, f"wrong password {i}") for i in range(5)]
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 423]
    locked = answers[-1]
    assert locked.json["type"].endswith("/account-locked") and locked.json["locked_until"]
    assert 1700 < int(locked.headers["Retry-After"]) <= 1800
    assert sign_in(api, email, OLD).status_code == 423  # even the right password, while locked
    [event] = api.events("auth.user.locked")
    assert event["data"]["user_id"] == created["user"]["id"]

    with api.runtime.database.session() as session:  # thirty minutes later
        session.execute(
            update(User)
            .where(User.email == email)
            .values(locked_until=utcnow() - timedelta(seconds=1))
        )
    assert sign_in(api, email, OLD).status_code == 200


def test_a_success_resets_the_count_and_a_reset_unlocks(api: Any) -> None:
    created, _ = api.onboard()
    email = created["user"]["email"]
    for i in range(4):
        assert sign_in(api, email, f"wrong password {i}").status_code == 401
    assert sign_in(api, email, OLD).status_code == 200
    assert all(sign_in(api, email, f"wrong again {i}").status_code == 401 for i in range(4))

    assert sign_in(api, email, "the fifth wrong one").status_code == 423
    api.client.post("/api/v1/auth/password/forgot", json={"email": email})
    api.client.post(
        "/api/v1/auth/password/reset", json={"token": api.token_sent_to(email), "password": NEW}
    )
    assert sign_in(api, email, NEW).status_code == 200


def test_unknown_addresses_lock_exactly_like_real_ones(api: Any) -> None:
    ghost = f"ghost-{uuid.uuid4().hex[:8]}@nowhere.example"  # Redis outlives test runs
    answers = [sign_in(api, ghost, f"guess {i}") for i in range(6)]
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 423, 423]
    assert answers[-1].json["type"].endswith("/account-locked")
    failures = api.events("auth.login.failed")
    assert [f["data"]["reason"] for f in failures] == ["unknown_account"] * 5 + ["locked"]
    assert all(f["organization_id"] is None and ghost not in str(f) for f in failures)


def test_an_organization_can_expire_passwords(api: Any) -> None:
    created, admin = api.onboard()
    email = created["user"]["email"]
    api.client.patch(
        "/api/v1/auth/organization",
        json={"settings": {"password_expiry_days": 90}},
        headers=api.bearer(admin),
    )
    assert sign_in(api, email, OLD).status_code == 200
    with api.runtime.database.session() as session:
        session.execute(
            update(User)
            .where(User.email == email)
            .values(password_changed_at=utcnow() - timedelta(days=91))
        )
    expired = sign_in(api, email, OLD)
    assert expired.status_code == 403 and expired.json["type"].endswith("/password-expired")
    assert (
        sign_in(api, email, "a wrong password here").status_code == 401
    )  # only the right one learns it
    api.client.post("/api/v1/auth/password/forgot", json={"email": email})
    api.client.post(
        "/api/v1/auth/password/reset", json={"token": api.token_sent_to(email), "password": NEW}
    )
    assert sign_in(api, email, NEW).status_code == 200


def test_resending_verification_replaces_the_old_link(api: Any) -> None:
    body = {
        "organization_name": "Resend Health",
        "organization_type": "health_system",
        "name": "Rae",
        "email": "rae@resend.example",
        "password": OLD,
    }
    assert api.client.post("/api/v1/auth/register", json=body).status_code == 202
    first = api.token_sent_to("rae@resend.example")
    assert (
        api.client.post(
            "/api/v1/auth/verify-email/resend", json={"email": "rae@resend.example"}
        ).status_code
        == 202
    )
    assert (
        api.client.post(
            "/api/v1/auth/verify-email/resend", json={"email": "who@nowhere.example"}
        ).status_code
        == 202
    )
    second = api.token_sent_to("rae@resend.example")
    assert second != first
    assert api.client.get(f"/api/v1/auth/verify-email?token={first}").status_code == 400
    assert api.client.get(f"/api/v1/auth/verify-email?token={second}").status_code == 200
    assert (
        api.client.post(
            "/api/v1/auth/verify-email/resend", json={"email": "rae@resend.example"}
        ).status_code
        == 202
    )
    assert len(api.events("auth.user.verification_resent")) == 1  # none once verified


def test_accounts_provisioned_by_sso_get_no_reset_link(api: Any) -> None:
    created, _ = api.onboard()
    email = created["user"]["email"]
    with api.runtime.database.session() as session:
        session.execute(
            update(User)
            .where(User.email == email)
            .values(sso_provider="workos", sso_external_id="user_01")
        )
    answer = api.client.post("/api/v1/auth/password/forgot", json={"email": email})
    assert answer.status_code == 202  # the same answer as for anyone
    api.send_mail()
    subjects = [m["Subject"] for m in read_emails(api.mail_dir) if m["To"] == email]
    assert not any("Reset" in s for s in subjects)
    assert api.events("auth.password.reset_requested") == []


def test_guessing_the_current_password_counts_toward_the_lockout(api: Any) -> None:
    created, token = api.onboard()
    for i in range(5):
        wrong = api.client.post(
            "/api/v1/auth/password/change",
            json={"current_password": f"guess {i}", "new_password": NEW},
            headers=api.bearer(token),
        )
        assert wrong.status_code == 403
    assert sign_in(api, created["user"]["email"], OLD).status_code == 423
    assert len(api.events("auth.user.locked")) == 1
