"""Administering an organization over HTTP: profile, invitations, roles, deactivation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from spectral_auth.models import Invitation
from spectral_shared.db import utcnow
from spectral_shared.testing import read_emails

pytestmark = pytest.mark.integration


def test_admins_edit_the_profile_and_settings_members_read_them(api: Any) -> None:
    _, admin = api.onboard()
    changed = api.client.patch(
        "/api/v1/auth/organization",
        json={
            "name": "Mercy Health",
            "state": "ca",
            "settings": {"default_sso_role": "analyst", "idle_timeout_minutes": 10},
        },
        headers=api.bearer(admin),
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["name"] == "Mercy Health" and changed.json["state"] == "CA"
    assert changed.json["settings"]["default_sso_role"] == "analyst"
    assert changed.json["settings"]["absolute_timeout_hours"] == 12  # untouched defaults stay

    _, viewer = api.member(admin, "viewer")
    assert (
        api.client.get("/api/v1/auth/organization", headers=api.bearer(viewer)).json["name"]
        == "Mercy Health"
    )
    refused = api.client.patch(
        "/api/v1/auth/organization", json={"name": "Mine now"}, headers=api.bearer(viewer)
    )
    assert refused.status_code == 403

    [event] = api.events("auth.organization.updated")
    assert event["data"]["changes"]["state"] == {"from": None, "to": "CA"}
    assert event["data"]["changes"]["settings"]["to"]["idle_timeout_minutes"] == 10


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"state": "ZZ"}, "state"),
        ({"settings": {"idle_timeout_minutes": 1}}, "settings"),
        ({"settings": {"unknown": True}}, "settings"),
        ({"name": "x"}, "name"),
        ({"owner": "me"}, "owner"),
    ],
)
def test_bad_organization_changes_are_problems_and_change_nothing(
    api: Any, body: dict[str, Any], field: str
) -> None:
    _, admin = api.onboard()
    before = api.client.get("/api/v1/auth/organization", headers=api.bearer(admin)).json
    response = api.client.patch("/api/v1/auth/organization", json=body, headers=api.bearer(admin))
    assert response.status_code == 422
    assert field in {e["field"].split(".")[0] for e in response.json["errors"]}
    assert api.client.get("/api/v1/auth/organization", headers=api.bearer(admin)).json == before
    assert api.events("auth.organization.updated") == []


def test_an_invitation_is_accepted_once_and_makes_an_active_member(api: Any) -> None:
    created, admin = api.onboard()
    member, member_token = api.member(admin, "analyst", personas=["clinical_owner"])
    assert member["organization_id"] == created["organization"]["id"]
    assert (member["role"], member["status"], member["email_verified"]) == (
        "analyst",
        "active",
        True,
    )
    assert member["personas"] == ["clinical_owner"]
    me = api.client.get("/api/v1/auth/me", headers=api.bearer(member_token)).json
    assert me["user"]["id"] == member["id"]

    types = [
        e["type"]
        for e in api.events("auth.invitation.created") + api.events("auth.invitation.accepted")
    ]
    assert types == ["auth.invitation.created", "auth.invitation.accepted"]
    assert api.client.get("/api/v1/auth/invitations", headers=api.bearer(admin)).json["data"] == []


def test_invitation_tokens_are_single_use_expire_and_can_be_withdrawn(api: Any) -> None:
    _, admin = api.onboard()
    accept = {"name": "Late Comer", "password": "member passphrase here"}

    api.client.post(
        "/api/v1/auth/invitations",
        json={"email": "once@members.example", "role": "viewer"},
        headers=api.bearer(admin),
    )
    token = api.token_sent_to("once@members.example")
    assert (
        api.client.post(
            "/api/v1/auth/invitations/accept", json={**accept, "token": token}
        ).status_code
        == 201
    )
    again = api.client.post("/api/v1/auth/invitations/accept", json={**accept, "token": token})
    assert again.status_code == 400 and again.json["type"].endswith("/invalid-token")

    api.client.post(
        "/api/v1/auth/invitations",
        json={"email": "late@members.example", "role": "viewer"},
        headers=api.bearer(admin),
    )
    late = api.token_sent_to("late@members.example")
    with api.runtime.database.session() as session:
        session.execute(
            update(Invitation)
            .where(Invitation.email == "late@members.example")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (
        api.client.post(
            "/api/v1/auth/invitations/accept", json={**accept, "token": late}
        ).status_code
        == 400
    )

    invited = api.client.post(
        "/api/v1/auth/invitations",
        json={"email": "gone@members.example", "role": "viewer"},
        headers=api.bearer(admin),
    )
    withdrawn = api.token_sent_to("gone@members.example")
    assert (
        api.client.delete(
            f"/api/v1/auth/invitations/{invited.json['id']}", headers=api.bearer(admin)
        ).status_code
        == 204
    )
    assert (
        api.client.post(
            "/api/v1/auth/invitations/accept", json={**accept, "token": withdrawn}
        ).status_code
        == 400
    )
    assert (
        api.client.delete(
            f"/api/v1/auth/invitations/{invited.json['id']}", headers=api.bearer(admin)
        ).status_code
        == 404
    )


def test_invitations_are_refused_for_members_duplicates_and_roles_above_the_inviter(
    api: Any,
) -> None:
    created, admin = api.onboard()
    admin_email = created["user"]["email"]
    existing = api.client.post(
        "/api/v1/auth/invitations",
        json={"email": admin_email, "role": "viewer"},
        headers=api.bearer(admin),
    )
    assert existing.status_code == 409  # our own member: the admin sees them anyway
    assert existing.json["type"].endswith("/already-member")
    first = api.client.post(
        "/api/v1/auth/invitations",
        json={"email": "dup@members.example", "role": "viewer"},
        headers=api.bearer(admin),
    )
    assert first.status_code == 201
    second = api.client.post(
        "/api/v1/auth/invitations",
        json={"email": "DUP@members.example", "role": "analyst"},
        headers=api.bearer(admin),
    )
    assert second.status_code == 409
    above = api.client.post(
        "/api/v1/auth/invitations",
        json={"email": "boss@members.example", "role": "super_admin"},
        headers=api.bearer(admin),
    )
    assert above.status_code == 403
    _, analyst = api.member(admin, "analyst")
    assert (
        api.client.post(
            "/api/v1/auth/invitations",
            json={"email": "x@members.example", "role": "viewer"},
            headers=api.bearer(analyst),
        ).status_code
        == 403
    )
    assert len(api.events("auth.invitation.created")) == 2  # dup@ and the analyst's own invitation


# What differs between any two answers anyway: the request id, and the length of a body that
# holds a different address.
PER_REQUEST_HEADERS = {"x-request-id", "content-length"}
PER_INVITATION_FIELDS = {"id", "email", "created_at", "expires_at"}


def answer(response: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {k.lower(): v for k, v in response.headers.items()}
    return (
        response.status_code,
        {k: v for k, v in response.json.items() if k not in PER_INVITATION_FIELDS},
        {k: v for k, v in headers.items() if k not in PER_REQUEST_HEADERS},
    )


def invite(api: Any, admin: str, email: str, role: str = "viewer") -> Any:
    return api.client.post(
        "/api/v1/auth/invitations", json={"email": email, "role": role}, headers=api.bearer(admin)
    )


def test_inviting_an_account_of_another_organization_answers_as_for_a_fresh_address(
    api: Any,
) -> None:
    """Issue 18: a 409 told any admin that an address had an account somewhere on Spectral. Now
    only their own members and invitations are a conflict; the owner of an account elsewhere is
    told by e-mail that it cannot join with this address (a user belongs to one organization)."""
    _, admin = api.onboard()
    elsewhere, _ = api.onboard("County Health")
    taken = elsewhere["user"]["email"]

    known = invite(api, admin, taken)
    fresh = invite(api, admin, "fresh@members.example")

    assert answer(known) == answer(fresh)
    assert known.status_code == 201 and set(known.json) == set(fresh.json)
    assert known.json["email"] == taken
    listed = api.client.get("/api/v1/auth/invitations", headers=api.bearer(admin)).json["data"]
    assert {i["email"] for i in listed} == {taken, "fresh@members.example"}
    assert len(api.events("auth.invitation.created")) == 2

    api.send_mail()
    [told] = [
        m for m in read_emails(api.mail_dir) if m["To"] == taken and "invited" in m["Subject"]
    ]
    text = told.get_body(preferencelist=("plain",)).get_content()
    assert "cannot be accepted" in text and "token" not in text
    assert api.token_sent_to("fresh@members.example")  # a fresh address gets its link
    # The account stays where it was.
    me = api.client.get("/api/v1/auth/me", headers=api.bearer(api.login(taken))).json
    assert me["organization"]["id"] == elsewhere["organization"]["id"]


def test_an_invitation_for_an_address_that_has_an_account_is_refused_to_its_holder(
    api: Any,
) -> None:
    """The address registered after it was invited: the token's holder (who controls the address)
    learns why it cannot be accepted; the invitation stays unused."""
    _, admin = api.onboard()
    assert invite(api, admin, "late@members.example").status_code == 201
    token = api.token_sent_to("late@members.example")
    registered = api.client.post(
        "/api/v1/auth/register",
        json={
            "organization_name": "Late Health",
            "organization_type": "vendor",
            "name": "Lee Late",
            "email": "late@members.example",
            "password": "correct horse battery staple",
        },
    )
    assert registered.status_code == 202
    accepted = api.client.post(
        "/api/v1/auth/invitations/accept",
        json={"token": token, "name": "Lee", "password": "member passphrase here"},
    )
    assert accepted.status_code == 409
    assert accepted.json["type"].endswith("/address-has-account")
    assert "another address" in accepted.json["detail"]
    assert api.events("auth.invitation.accepted") == []


def test_admins_change_roles_within_their_own_rank_but_never_their_own(api: Any) -> None:
    created, admin = api.onboard()
    member, _ = api.member(admin, "analyst")
    promoted = api.client.patch(
        f"/api/v1/auth/users/{member['id']}/role",
        json={"role": "compliance_officer", "personas": ["privacy_officer"]},
        headers=api.bearer(admin),
    )
    assert promoted.status_code == 200
    assert (promoted.json["role"], promoted.json["personas"]) == (
        "compliance_officer",
        ["privacy_officer"],
    )
    [event] = api.events("auth.user.role_changed")
    assert (
        event["data"]["before"]["role"] == "analyst"
        and event["data"]["after"]["role"] == "compliance_officer"
    )

    staff = api.client.patch(
        f"/api/v1/auth/users/{member['id']}/role",
        json={"role": "super_admin"},
        headers=api.bearer(admin),
    )
    assert staff.status_code == 403
    own = api.client.patch(
        f"/api/v1/auth/users/{created['user']['id']}/role",
        json={"role": "viewer"},
        headers=api.bearer(admin),
    )
    assert own.status_code == 403
    bogus = api.client.patch(
        f"/api/v1/auth/users/{member['id']}/role", json={"role": "owner"}, headers=api.bearer(admin)
    )
    assert bogus.status_code == 422


def test_deactivation_ends_sign_in_at_once_and_reactivation_restores_it(api: Any) -> None:
    created, admin = api.onboard()
    member, member_token = api.member(admin, "viewer")
    deactivated = api.client.post(
        f"/api/v1/auth/users/{member['id']}/deactivate", headers=api.bearer(admin)
    )
    assert deactivated.status_code == 200 and deactivated.json["status"] == "inactive"
    assert api.client.get("/api/v1/auth/me", headers=api.bearer(member_token)).status_code == 401
    refused = api.client.post(
        "/api/v1/auth/login", json={"email": member["email"], "password": "member passphrase here"}
    )
    assert refused.status_code == 401

    assert (
        api.client.post(
            f"/api/v1/auth/users/{member['id']}/deactivate", headers=api.bearer(admin)
        ).status_code
        == 200
    )
    assert len(api.events("auth.user.deactivated")) == 1  # idempotent: no second event

    assert (
        api.client.post(
            f"/api/v1/auth/users/{member['id']}/reactivate", headers=api.bearer(admin)
        ).json["status"]
        == "active"
    )
    assert api.login(member["email"], "member passphrase here")
    assert (
        api.client.post(
            f"/api/v1/auth/users/{created['user']['id']}/deactivate", headers=api.bearer(admin)
        ).status_code
        == 403
    )


def test_another_organizations_users_and_invitations_answer_404(api: Any) -> None:
    _, mercy = api.onboard("Mercy General")
    _, county = api.onboard("County Health")
    stranger, _ = api.member(county, "viewer")
    invited = api.client.post(
        "/api/v1/auth/invitations",
        json={"email": "c@members.example", "role": "viewer"},
        headers=api.bearer(county),
    )
    for method, path, body in [
        ("get", f"/api/v1/auth/users/{stranger['id']}", None),
        ("patch", f"/api/v1/auth/users/{stranger['id']}/role", {"role": "viewer"}),
        ("post", f"/api/v1/auth/users/{stranger['id']}/deactivate", None),
        ("post", f"/api/v1/auth/users/{stranger['id']}/reactivate", None),
        ("delete", f"/api/v1/auth/invitations/{invited.json['id']}", None),
    ]:
        response = getattr(api.client, method)(path, json=body, headers=api.bearer(mercy))
        assert response.status_code == 404, (method, path, response.json)
    listed = api.client.get("/api/v1/auth/users", headers=api.bearer(mercy)).json["data"]
    assert stranger["id"] not in {u["id"] for u in listed}


def test_users_list_pages_and_filters_for_oversight_roles_only(api: Any) -> None:
    _, admin = api.onboard()
    members = [api.member(admin, "viewer")[0] for _ in range(3)]
    _, officer = api.member(admin, "compliance_officer")
    _, analyst = api.member(admin, "analyst")

    first = api.client.get("/api/v1/auth/users?limit=2", headers=api.bearer(officer)).json
    rest = api.client.get(
        f"/api/v1/auth/users?limit=50&cursor={first['next_cursor']}", headers=api.bearer(officer)
    ).json
    everyone = [u["id"] for u in first["data"] + rest["data"]]
    assert len(everyone) == len(set(everyone)) == 6 and rest["next_cursor"] is None
    viewers = api.client.get("/api/v1/auth/users?role=viewer", headers=api.bearer(admin)).json[
        "data"
    ]
    assert {u["id"] for u in viewers} == {m["id"] for m in members}
    assert api.client.get("/api/v1/auth/users", headers=api.bearer(analyst)).status_code == 403
    assert (
        api.client.get("/api/v1/auth/users?role=owner", headers=api.bearer(admin)).status_code
        == 400
    )


def test_the_platform_admin_is_created_once_by_an_operator_command(
    pg_url: str, tmp_path: Any
) -> None:
    import os
    import subprocess
    import sys

    from spectral_shared.testing.plugin import TEST_ENCRYPTION_KEY

    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "ENCRYPTION_KEY": TEST_ENCRYPTION_KEY,
        "VAR_DIR": str(tmp_path),
        "SPECTRAL_ADMIN_PASSWORD": "platform admin passphrase",
        "LOG_LEVEL": "warning",
        "SPECTRAL_ENV": "test",
    }
    command = [
        sys.executable,
        "-m",
        "spectral_shared.cli",
        "auth",
        "create-platform-admin",
        "--name",
        "Root",
    ]
    first = subprocess.run(
        [*command, "--email", "root@spectral.example"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert first.returncode == 0, first.stderr
    assert "created super_admin root@spectral.example" in first.stdout
    second = subprocess.run(
        [*command, "--email", "other@spectral.example"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0 and "already exists" in second.stderr
    weak = subprocess.run(
        [*command, "--email", "x@spectral.example"],
        env={**env, "SPECTRAL_ADMIN_PASSWORD": "short"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert weak.returncode != 0 and "at least 12 characters" in weak.stderr
