"""Register, verify, sign in, /me and JWKS over HTTP against real PostgreSQL and Redis."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text, update
from werkzeug.test import TestResponse

from spectral_auth.api.routes import REGISTRATION_ACCEPTED
from spectral_auth.models import EmailVerificationToken, Organization, User
from spectral_auth.services import registration as registration_service
from spectral_shared.component import Runtime
from spectral_shared.db import utcnow
from spectral_shared.email import deliver_due_mail
from spectral_shared.testing import read_emails, verification_token

pytestmark = pytest.mark.integration

Registration = Callable[..., dict[str, str]]


def counts(runtime: Runtime) -> dict[str, int]:
    with runtime.database.session() as session:
        return {
            table: session.scalar(text(f"SELECT count(*) FROM {table}"))
            for table in (
                "organizations",
                "users",
                "email_verification_tokens",
                "outbox",
                "deliveries",
            )
        }


def events(runtime: Runtime) -> list[dict[str, object]]:
    outbox = runtime.component.tables.outbox
    with runtime.database.session() as session:
        return [
            json.loads(body)
            for body in session.scalars(select(outbox.c.body).order_by(outbox.c.seq))
        ]


def send_mail(runtime: Runtime) -> None:
    deliver_due_mail(runtime.database, runtime.component.tables, runtime.cipher, runtime.mailer)


def register_and_verify(client: FlaskClient, runtime: Runtime, body: dict[str, str]) -> None:
    created = client.post("/api/v1/auth/register", json=body)
    assert created.status_code == 202, created.json
    send_mail(runtime)
    token = verification_token(runtime.settings.var_dir / "mail", body["email"])
    assert client.get(f"/api/v1/auth/verify-email?token={token}").status_code == 200


def login(client: FlaskClient, email: str, password: str) -> str:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.json
    return response.json["access_token"]  # type: ignore[no-any-return]


def test_register_creates_organization_and_pending_admin_and_emails_a_link(
    client: FlaskClient, auth_runtime: Runtime, registration: Registration
) -> None:
    body = registration(email="Ada@Mercy.Example")
    response = client.post("/api/v1/auth/register", json=body)

    # The answer names nothing: it is the same for an address that has an account (ADR 0038).
    assert response.status_code == 202
    assert response.json == {"status": "accepted", "detail": REGISTRATION_ACCEPTED}
    with auth_runtime.database.session() as session:
        user = session.scalars(select(User)).one()
        org = session.scalars(select(Organization)).one()
        assert user.email == "ada@mercy.example"
        assert (user.role, user.status, user.email_verified_at) == (
            "admin",
            "pending_verification",
            None,
        )
        assert (org.name, org.type) == (body["organization_name"], "health_system")
        assert user.organization_id == org.id
    assert [e["type"] for e in events(auth_runtime)] == [
        "auth.organization.created",
        "auth.user.registered",
    ]
    assert all(e["organization_id"] == org.id for e in events(auth_runtime))

    # The mail is queued encrypted in the same transaction, then delivered by the relay's job.
    with auth_runtime.database.session() as session:
        stored = session.scalar(text("SELECT target || ' ' || body FROM deliveries"))
    assert "mercy.example" not in stored and "token" not in stored
    send_mail(auth_runtime)
    token = verification_token(auth_runtime.settings.var_dir / "mail", "ada@mercy.example")
    with auth_runtime.database.session() as session:
        hashes = list(session.scalars(select(EmailVerificationToken.token_hash)))
    assert token not in hashes and len(hashes[0]) == 64  # stored hashed, never as is


def test_verification_link_works_once_and_expires(
    client: FlaskClient, auth_runtime: Runtime, registration: Registration
) -> None:
    body = registration()
    client.post("/api/v1/auth/register", json=body)
    send_mail(auth_runtime)
    token = verification_token(auth_runtime.settings.var_dir / "mail", body["email"])

    first = client.get(f"/api/v1/auth/verify-email?token={token}")
    assert first.status_code == 200 and first.json["status"] == "verified"
    again = client.get(f"/api/v1/auth/verify-email?token={token}")
    assert again.status_code == 400
    assert again.json["type"].endswith("/invalid-token")
    assert again.headers["Content-Type"] == "application/problem+json"

    other = registration()
    client.post("/api/v1/auth/register", json=other)
    send_mail(auth_runtime)
    stale = verification_token(auth_runtime.settings.var_dir / "mail", other["email"])
    with auth_runtime.database.session() as session:
        session.execute(
            update(EmailVerificationToken).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert client.get(f"/api/v1/auth/verify-email?token={stale}").status_code == 400
    assert client.get("/api/v1/auth/verify-email?token=" + "x" * 43).status_code == 400
    missing = client.get("/api/v1/auth/verify-email")
    assert missing.status_code == 400 and missing.json["errors"][0]["field"] == "token"
    assert [e["type"] for e in events(auth_runtime)].count("auth.user.email_verified") == 1


def test_login_needs_a_verified_account_and_never_says_whether_it_exists(
    client: FlaskClient, auth_runtime: Runtime, registration: Registration
) -> None:
    body = registration()
    client.post("/api/v1/auth/register", json=body)
    unverified = client.post(
        "/api/v1/auth/login", json={"email": body["email"], "password": body["password"]}
    )
    wrong = client.post(
        "/api/v1/auth/login", json={"email": body["email"], "password": "not the password at all"}
    )
    unknown = client.post(
        "/api/v1/auth/login", json={"email": "nobody@nowhere.example", "password": "whatever it is"}
    )

    for refused in (unverified, wrong, unknown):
        assert refused.status_code == 401
        assert refused.headers["Content-Type"] == "application/problem+json"
    assert unverified.json == wrong.json == unknown.json

    failures = [e for e in events(auth_runtime) if e["type"] == "auth.login.failed"]
    reasons = [f["data"]["reason"] for f in failures]  # type: ignore[index]
    assert reasons == ["email_not_verified", "bad_password", "unknown_account"]
    assert failures[0]["organization_id"] is not None and failures[2]["organization_id"] is None
    assert "password" not in json.dumps(failures).replace('"reason": "bad_password"', "")
    assert failures[2]["data"]["email_sha256"] and "nobody" not in json.dumps(failures)  # type: ignore[index]


def test_login_issues_an_eddsa_token_that_me_and_jwks_accept(
    client: FlaskClient, auth_runtime: Runtime, registration: Registration
) -> None:
    body = registration()
    register_and_verify(client, auth_runtime, body)
    response = client.post(
        "/api/v1/auth/login", json={"email": body["email"].upper(), "password": body["password"]}
    )
    assert response.status_code == 200
    grant = response.json
    assert grant["token_type"] == "Bearer" and grant["expires_in"] == 3600

    header = jwt.get_unverified_header(grant["access_token"])
    jwks = client.get("/.well-known/jwks.json").json
    assert header["alg"] == "EdDSA" and header["kid"] in {k["kid"] for k in jwks["keys"]}
    assert all("d" not in key for key in jwks["keys"])  # never the private half

    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {grant['access_token']}"})
    assert me.status_code == 200
    assert me.json["user"]["email"] == body["email"] and me.json["user"]["role"] == "admin"
    assert me.json["user"]["status"] == "active" and me.json["user"]["email_verified"] is True
    assert me.json["organization"]["name"] == body["organization_name"]
    assert me.json["organization"]["id"] == me.json["user"]["organization_id"]
    assert [e["type"] for e in events(auth_runtime)][-1] == "auth.user.logged_in"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Basic abc", "Bearer not-a-jwt", "Bearer {token}x", "Bearer {none_token}"],
)
def test_me_refuses_missing_malformed_tampered_and_unsigned_tokens(
    authorization: str | None,
    client: FlaskClient,
    auth_runtime: Runtime,
    registration: Registration,
) -> None:
    body = registration()
    register_and_verify(client, auth_runtime, body)
    token = login(client, body["email"], body["password"])
    claims = jwt.decode(token, options={"verify_signature": False})
    none_token = jwt.encode(
        claims, key=None, algorithm="none", headers={"kid": jwt.get_unverified_header(token)["kid"]}
    )
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization.format(token=token, none_token=none_token)
    response = client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"


BAD_BODIES = [
    pytest.param(b"{not json", "application/json", 400, None, id="malformed-json"),
    pytest.param(b"[1, 2]", "application/json", 400, None, id="not-an-object"),
    pytest.param(
        b"organization_name=x", "application/x-www-form-urlencoded", 415, None, id="not-json"
    ),
    pytest.param({"organization_name": 123}, None, 422, "organization_name", id="wrong-type"),
    pytest.param(
        {"organization_type": "hospital"}, None, 422, "organization_type", id="wrong-enum"
    ),
    pytest.param({"role": "super_admin"}, None, 422, "role", id="unknown-field"),
    pytest.param({"email": "not-an-address"}, None, 422, "email", id="bad-email"),
    pytest.param({"password": "short"}, None, 422, "password", id="short-password"),
    pytest.param({"password": "password1234"}, None, 422, "password", id="common-password"),
    pytest.param({"password": "x" * 129}, None, 422, "password", id="long-password"),
]


@pytest.mark.parametrize(("change", "content_type", "status", "field"), BAD_BODIES)
def test_bad_registrations_get_problems_with_field_errors_and_write_nothing(
    change: object,
    content_type: str | None,
    status: int,
    field: str | None,
    client: FlaskClient,
    auth_runtime: Runtime,
    registration: Registration,
) -> None:
    before = counts(auth_runtime)
    if isinstance(change, dict):
        response = client.post("/api/v1/auth/register", json=registration(**change))
    else:
        response = client.post("/api/v1/auth/register", data=change, content_type=content_type)

    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json
    assert problem["status"] == status and problem["title"] and problem["type"]
    if field is not None:
        assert field in {e["field"] for e in problem["errors"]}
        assert all({"field", "pointer", "code", "message"} <= set(e) for e in problem["errors"])
        assert "password1234" not in response.get_data(as_text=True)  # input is never echoed
    assert counts(auth_runtime) == before


# Headers that differ between any two requests, whatever they ask.
PER_REQUEST_HEADERS = {"x-request-id", "traceparent", "date"}


def answer(response: TestResponse) -> tuple[int, object, dict[str, str]]:
    """Everything a caller sees of an answer, but what differs per request anyway."""
    headers = {k.lower(): v for k, v in response.headers.items()}
    return (
        response.status_code,
        response.get_data(as_text=True),
        {k: v for k, v in headers.items() if k not in PER_REQUEST_HEADERS},
    )


def mail_to(runtime: Runtime, email: str) -> list[EmailMessage]:
    send_mail(runtime)
    return [m for m in read_emails(runtime.settings.var_dir / "mail") if m["To"] == email]


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


def test_registering_a_known_address_answers_as_for_a_new_one_and_tells_its_owner(
    client: FlaskClient, auth_runtime: Runtime, registration: Registration
) -> None:
    """Issue 18: a 409 told a stranger the address had an account, in any organization. Now the
    answer is byte for byte the new address's, nothing is created, and the owner is told."""
    first = registration(email="grace@mercy.example")
    register_and_verify(client, auth_runtime, first)
    before = counts(auth_runtime)
    new = client.post("/api/v1/auth/register", json=registration(email="new@county.example"))
    known = client.post(
        "/api/v1/auth/register",
        json=registration(email="GRACE@mercy.example", password="another fine passphrase"),
    )

    assert answer(known) == answer(new)
    assert new.status_code == 202
    after = counts(auth_runtime)
    assert after["organizations"] == before["organizations"] + 1  # the new address's only
    assert after["users"] == before["users"] + 1
    assert after["email_verification_tokens"] == before["email_verification_tokens"] + 1
    [notice] = [m for m in mail_to(auth_runtime, "grace@mercy.example") if "tried" in m["Subject"]]
    text = text_of(notice)
    assert "forgot" in text and "token" not in text and "http" in text
    # The account is unchanged: its password still signs in, the other does not.
    assert login(client, "grace@mercy.example", first["password"])
    refused = client.post(
        "/api/v1/auth/login",
        json={"email": "grace@mercy.example", "password": "another fine passphrase"},
    )
    assert refused.status_code == 401


def test_a_deactivated_or_invited_account_is_answered_like_a_new_address(
    api: Any, registration: Registration
) -> None:
    _, admin = api.onboard()
    member, _ = api.member(admin, "analyst")  # an account of another organization than ours
    gone, _ = api.member(admin, "viewer")
    assert (
        api.client.post(
            f"/api/v1/auth/users/{gone['id']}/deactivate", headers=api.bearer(admin)
        ).status_code
        == 200
    )
    before = counts(api.runtime)
    answers = [
        answer(api.client.post("/api/v1/auth/register", json=registration(email=email)))
        for email in (member["email"], gone["email"], "fresh@county.example")
    ]
    assert answers[0] == answers[1] == answers[2]
    assert counts(api.runtime)["users"] == before["users"] + 1  # fresh@ only
    [deactivated] = [m for m in mail_to(api.runtime, gone["email"]) if "tried" in m["Subject"]]
    assert "deactivated" in text_of(deactivated)
    assert [m for m in mail_to(api.runtime, member["email"]) if "tried" in m["Subject"]]


def test_registering_an_unverified_address_again_sends_a_new_link_for_the_first_account(
    client: FlaskClient, auth_runtime: Runtime, registration: Registration
) -> None:
    """The owner most likely lost the first e-mail: the answer is the usual one, and a new link
    arrives that verifies the account registered first, with its first password."""
    first = registration(email="hal@mercy.example")
    new = client.post("/api/v1/auth/register", json=first)
    send_mail(auth_runtime)
    old_link = verification_token(auth_runtime.settings.var_dir / "mail", first["email"])
    before = counts(auth_runtime)
    again = client.post(
        "/api/v1/auth/register",
        json=registration(email=first["email"], password="another fine passphrase"),
    )
    assert answer(again) == answer(new)
    assert counts(auth_runtime)["organizations"] == before["organizations"]
    assert counts(auth_runtime)["users"] == before["users"]
    [*_, renewed] = mail_to(auth_runtime, first["email"])
    assert "registered again" in text_of(renewed)
    token = verification_token(auth_runtime.settings.var_dir / "mail", first["email"])
    assert token != old_link
    assert client.get(f"/api/v1/auth/verify-email?token={old_link}").status_code == 400
    assert client.get(f"/api/v1/auth/verify-email?token={token}").status_code == 200
    assert login(client, first["email"], first["password"])
    assert [e["type"] for e in events(auth_runtime)].count("auth.user.verification_resent") == 1


def test_known_and_new_addresses_cost_the_same_password_hash(
    client: FlaskClient,
    auth_runtime: Runtime,
    registration: Registration,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No timing oracle: the argon2 hash, the slow part, is computed on both paths."""
    first = registration()
    assert client.post("/api/v1/auth/register", json=first).status_code == 202
    hashed: list[str] = []
    real = registration_service.hash_password

    def counting(password: str) -> str:
        hashed.append(password)
        return real(password)

    monkeypatch.setattr(registration_service, "hash_password", counting)
    client.post("/api/v1/auth/register", json=registration(password="a new one is hashed"))
    client.post(
        "/api/v1/auth/register",
        json=registration(email=first["email"], password="a known one is hashed too"),
    )
    assert hashed == ["a new one is hashed", "a known one is hashed too"]


def test_idempotency_key_replays_the_first_registration(
    client: FlaskClient, auth_runtime: Runtime, registration: Registration
) -> None:
    body = registration()
    headers = {"Idempotency-Key": str(uuid.uuid4())}  # Redis outlives test runs
    first = client.post("/api/v1/auth/register", json=body, headers=headers)
    second = client.post("/api/v1/auth/register", json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert second.json == first.json and second.headers["Idempotent-Replayed"] == "true"
    with auth_runtime.database.session() as session:
        assert session.scalar(select(func.count()).select_from(Organization)) == 1
        assert session.scalar(select(func.count()).select_from(User)) == 1
    reused = client.post("/api/v1/auth/register", json=registration(), headers=headers)
    assert reused.status_code == 422 and reused.json["type"].endswith("/idempotency-key-reused")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("organization_name", "Mercy\x00General"),
        ("name", "Ada\x1b[2J Admin"),
        ("name", "Ada\nAdmin"),
    ],
)
def test_control_characters_in_a_name_are_a_422_and_store_nothing(
    client: FlaskClient, auth_runtime: Runtime, registration: Registration, field: str, value: str
) -> None:
    """Issue 18: NUL, escape sequences and line breaks are refused at the field, on SQLite as on
    PostgreSQL (which refuses NUL itself), before anything is written."""
    before = counts(auth_runtime)
    response = client.post("/api/v1/auth/register", json={**registration(), field: value})
    assert response.status_code == 422, response.json
    [error] = response.json["errors"]
    assert error["pointer"] == f"/{field}"
    assert counts(auth_runtime) == before
