"""Single sign-on with WorkOS, through HTTP, against a local fake of the WorkOS API.

The fake speaks the endpoints the WorkOS SDK uses: ``GET /user_management/authorize`` (where the
browser goes; it "signs in" whoever the test queued and redirects back with a code),
``POST /user_management/authenticate`` (the code exchange, checking the API key, client id and
PKCE verifier) and ``GET /organizations/{id}`` (checked when an admin maps an organization).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import secrets
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import jwt
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from spectral_auth.models import SsoConnection, User
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings
from spectral_shared.testing.fakes import FakeApiHandler, serve_http

pytestmark = pytest.mark.integration

CALLBACK = "http://localhost:5000/api/v1/auth/sso/callback"  # BASE_URL of the test settings
TIMESTAMP = "2026-01-01T00:00:00.000Z"


# ---- the fake WorkOS ---------------------------------------------------------------------------


def _s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def _workos_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(13).upper()}"


class FakeWorkOS:
    api_key = "sk_test_fake_workos_api_key"
    client_id = "client_01FAKEWORKOSCLIENT"

    def __init__(self) -> None:
        self.url = ""
        self.organizations: dict[str, str] = {}  # WorkOS organization id -> name
        self.codes: dict[str, dict[str, Any]] = {}  # code -> who it signs in
        self.queue: list[dict[str, Any]] = []  # who signs in at the identity provider next
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def organization(self, name: str = "Mercy IdP") -> str:
        org_id = _workos_id("org")
        self.organizations[org_id] = name
        return org_id

    def identity(
        self,
        email: str,
        *,
        organization_id: str | None = None,
        user_id: str | None = None,
        email_verified: bool = True,
        claims: dict[str, Any] | None = None,
        metadata: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A person as WorkOS knows them; ``claims`` land in WorkOS's own access token."""
        return {
            "user": {
                "object": "user",
                "id": user_id or _workos_id("user"),
                "first_name": "Grace",
                "last_name": "Hopper",
                "profile_picture_url": None,
                "email": email,
                "email_verified": email_verified,
                "external_id": None,
                "last_sign_in_at": None,
                "created_at": TIMESTAMP,
                "updated_at": TIMESTAMP,
                "metadata": metadata or {},
                "locale": None,
            },
            "organization_id": organization_id,
            "claims": claims or {},
            "extra": extra or {},
        }

    def issue_code(self, identity: dict[str, Any], code_challenge: str | None = None) -> str:
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {**identity, "code_challenge": code_challenge}
        return code

    def exchanges(self) -> int:
        return self.calls.count(("POST", "/user_management/authenticate"))

    def handler(self) -> type[FakeApiHandler]:
        fake = self

        class WorkOSHandler(FakeApiHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                fake.calls.append(("GET", url.path))
                if url.path == "/user_management/authorize":
                    self._authorize(dict(parse_qsl(url.query)))
                elif url.path.startswith("/organizations/") and self._api_key_ok():
                    org_id = url.path.removeprefix("/organizations/")
                    if org_id not in fake.organizations:
                        self.answer(
                            404,
                            {
                                "message": f"Organization not found: '{org_id}'.",
                                "code": "entity_not_found",
                            },
                        )
                        return
                    self.answer(
                        200,
                        {
                            "object": "organization",
                            "id": org_id,
                            "name": fake.organizations[org_id],
                            "domains": [],
                            "metadata": {},
                            "external_id": None,
                            "created_at": TIMESTAMP,
                            "updated_at": TIMESTAMP,
                        },
                    )
                elif not url.path.startswith("/organizations/"):
                    self.answer(404, {"message": "Not found"})

            def do_POST(self) -> None:
                fake.calls.append(("POST", self.path))
                if self.path != "/user_management/authenticate":
                    self.answer(404, {"message": "Not found"})
                    return
                if not self._api_key_ok():
                    return
                body = self.read_json()
                if (
                    body.get("client_id") != fake.client_id
                    or body.get("client_secret") != fake.api_key
                ):
                    self.answer(
                        401,
                        {
                            "error": "invalid_client",
                            "error_description": "Invalid client ID or secret.",
                        },
                    )
                    return
                if body.get("grant_type") != "authorization_code":
                    self.answer(400, {"error": "unsupported_grant_type"})
                    return
                with fake.lock:
                    grant = fake.codes.pop(str(body.get("code")), None)  # single use
                challenge = grant and grant["code_challenge"]
                if grant is None or (
                    challenge and _s256(str(body.get("code_verifier", ""))) != challenge
                ):
                    self.answer(
                        400,
                        {
                            "error": "invalid_grant",
                            "error_description": "The code has expired or is invalid.",
                        },
                    )
                    return
                access_token = jwt.encode(
                    {
                        "sub": grant["user"]["id"],
                        "org_id": grant["organization_id"],
                        **grant["claims"],
                    },
                    "not-a-real-workos-signing-key-just-a-fake-one",
                    algorithm="HS256",
                )
                self.answer(
                    200,
                    {
                        "user": grant["user"],
                        "organization_id": grant["organization_id"],
                        "access_token": access_token,
                        "refresh_token": secrets.token_urlsafe(16),
                        "authentication_method": "SSO",
                        **grant["extra"],
                    },
                )

            def _api_key_ok(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self.answer(401, {"message": "Unauthorized"})
                    return False
                return True

            def _authorize(self, query: dict[str, str]) -> None:
                if (
                    query.get("client_id") != fake.client_id
                    or query.get("response_type") != "code"
                    or not query.get("redirect_uri")
                ):
                    self.answer(400, {"error": "invalid_request"})
                    return
                with fake.lock:
                    person = fake.queue.pop(0) if fake.queue else None
                if person is None:
                    self.answer(400, {"error": "nobody is signing in"})
                    return
                if person["organization_id"] is None:  # signs in to the organization asked for
                    person = {**person, "organization_id": query.get("organization_id")}
                code = fake.issue_code(person, query.get("code_challenge"))
                self.send_response(302)
                self.send_header(
                    "Location",
                    f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}",
                )
                self.send_header("Content-Length", "0")
                self.end_headers()

        return WorkOSHandler


def _follow(url: str) -> str:
    """What the browser does at WorkOS: returns where WorkOS redirects it (the callback)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}")
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 302, response.status
    return response.getheader("Location") or ""


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


# ---- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def workos() -> Iterator[FakeWorkOS]:
    fake = FakeWorkOS()
    with serve_http(fake.handler()) as url:
        fake.url = url
        yield fake


def _configured(settings: Settings, workos: FakeWorkOS) -> Settings:
    return settings.model_copy(
        update={
            "workos_api_key": SecretStr(workos.api_key),
            "workos_client_id": workos.client_id,
            "workos_cookie_password": SecretStr("a-cookie-password-of-32-characters-or-more"),
            "workos_base_url": workos.url,
        }
    )


@pytest.fixture
def auth_runtime(integration_settings: Settings, workos: FakeWorkOS) -> Iterator[Runtime]:
    """Overrides conftest's: the same real PostgreSQL and Redis, with WorkOS pointed at the fake."""
    runtime = Runtime(installed_components()["auth"], _configured(integration_settings, workos))
    yield runtime
    runtime.database.dispose()


class Sso:
    def __init__(self, api: Any, workos: FakeWorkOS) -> None:
        self.api = api
        self.workos = workos
        self.client: Any = api.client  # FlaskClient; Any keeps response.json indexable

    def connect(self, admin: str, workos_org: str | None = None) -> str:
        workos_org = workos_org or self.workos.organization()
        response = self.client.put(
            "/api/v1/auth/sso/connection",
            json={"workos_organization_id": workos_org},
            headers=self.api.bearer(admin),
        )
        assert response.status_code == 200, response.json
        return workos_org

    def onboard(self) -> tuple[str, str, str]:
        """A new organization with its admin and a mapped WorkOS organization."""
        created, admin = self.api.onboard()
        return created["organization"]["id"], admin, self.connect(admin)

    def sign_in(
        self,
        spectral_org: str | None = None,
        *,
        via_email: str | None = None,
        workos_org: str | None = None,
        **person: Any,
    ) -> Any:  # a TestResponse
        """The whole browser round trip: authorize, WorkOS, callback. The person signs in to
        ``workos_org`` at WorkOS, by default the one the authorize request asked for."""
        email = person.pop("email", None) or f"grace-{secrets.token_hex(4)}@mercy.example"
        self.workos.queue.append(self.workos.identity(email, organization_id=workos_org, **person))
        query = {"organization_id": spectral_org} if spectral_org else {"email": via_email}
        started = self.client.get("/api/v1/auth/sso/authorize", query_string=query)
        assert started.status_code == 302, started.json
        return self.client.get(_path(_follow(started.headers["Location"])))

    def users(self) -> int:
        with self.api.runtime.database.session() as session:
            return int(session.scalar(select(func.count(User.id))) or 0)

    def user(self, email: str) -> User:
        with self.api.runtime.database.session() as session:
            user = session.scalars(select(User).where(User.email == email)).one()
            session.expunge(user)
            return user


@pytest.fixture
def sso(api: Any, workos: FakeWorkOS) -> Sso:
    return Sso(api, workos)


# ---- the flow ------------------------------------------------------------------------------------


def test_authorize_redirects_to_workos_with_client_id_redirect_uri_state_and_pkce(
    sso: Sso, workos: FakeWorkOS
) -> None:
    organization_id, admin, workos_org = sso.onboard()
    response = sso.client.get(
        "/api/v1/auth/sso/authorize", query_string={"organization_id": organization_id}
    )
    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "no-store"
    location = response.headers["Location"]
    assert location.startswith(f"{workos.url}/user_management/authorize?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert params["client_id"] == workos.client_id
    assert params["redirect_uri"] == CALLBACK
    assert params["response_type"] == "code"
    assert params["organization_id"] == workos_org
    assert params["provider"] == "authkit"
    assert len(params["state"]) >= 32
    assert params["code_challenge_method"] == "S256" and params["code_challenge"]
    again = sso.client.get(
        "/api/v1/auth/sso/authorize", query_string={"organization_id": organization_id}
    )
    assert parse_qs(urlsplit(again.headers["Location"]).query)["state"][0] != params["state"]

    # By e-mail: a member's address finds their organization's WorkOS organization.
    member, _ = sso.api.member(admin, "analyst")
    by_email = sso.client.get(
        "/api/v1/auth/sso/authorize", query_string={"email": member["email"].upper()}
    )
    assert parse_qs(urlsplit(by_email.headers["Location"]).query)["organization_id"] == [workos_org]


def test_authorize_by_email_never_tells_whether_the_address_has_an_account(sso: Sso) -> None:
    created, _ = sso.api.onboard()  # an account, but its organization has no SSO
    for email in (created["user"]["email"], "nobody@nowhere.example"):
        response = sso.client.get("/api/v1/auth/sso/authorize", query_string={"email": email})
        assert response.status_code == 302
        params = parse_qs(urlsplit(response.headers["Location"]).query)
        assert "organization_id" not in params
        assert params["login_hint"] == [email]  # AuthKit routes by the address's domain


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({}, 400),
        ({"organization_id": str(uuid.uuid4()), "email": "a@b.example"}, 400),
        ({"organization_id": "not-a-uuid"}, 400),
        ({"email": "not an address"}, 400),
        ({"organization_id": str(uuid.uuid4())}, 404),
    ],
)
def test_bad_or_unmapped_authorize_requests_are_problems(
    sso: Sso, query: dict[str, str], status: int
) -> None:
    response = sso.client.get("/api/v1/auth/sso/authorize", query_string=query)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"


def test_an_organization_without_mapping_cannot_start_sso(sso: Sso) -> None:
    created, _ = sso.api.onboard()
    response = sso.client.get(
        "/api/v1/auth/sso/authorize",
        query_string={"organization_id": created["organization"]["id"]},
    )
    assert response.status_code == 404
    assert response.json["type"].endswith("/sso-not-mapped")


def test_first_sign_in_provisions_a_viewer_whose_token_works(sso: Sso, workos: FakeWorkOS) -> None:
    organization_id, _, workos_org = sso.onboard()
    workos_user_id = _workos_id("user")
    response = sso.sign_in(organization_id, email="Grace@Mercy.example", user_id=workos_user_id)
    assert response.status_code == 200, response.json
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0

    me = sso.client.get("/api/v1/auth/me", headers=sso.api.bearer(body["access_token"]))
    assert me.status_code == 200, me.json
    user = me.json["user"]
    assert user["organization_id"] == organization_id
    assert (user["email"], user["name"], user["role"]) == (
        "grace@mercy.example",
        "Grace Hopper",
        "viewer",
    )
    assert (user["status"], user["email_verified"]) == ("active", True)

    stored = sso.user("grace@mercy.example")
    assert (stored.sso_provider, stored.sso_external_id) == ("workos", workos_user_id)
    assert stored.last_login_at is not None
    # Nobody knows the password: signing in with one fails like any wrong password.
    refused = sso.client.post(
        "/api/v1/auth/login",
        json={"email": "grace@mercy.example", "password": "correct horse battery staple"},
    )
    assert refused.status_code == 401

    [provisioned] = sso.api.events("auth.user.sso_provisioned")
    assert provisioned["organization_id"] == organization_id
    assert provisioned["data"] == {"user_id": user["id"], "email": user["email"], "role": "viewer"}
    assert provisioned["actor"] == {"type": "user", "id": user["id"]}
    [logged_in] = sso.api.events("auth.user.sso_logged_in")
    assert logged_in["data"] == {"user_id": user["id"], "provider": "workos"}
    assert logged_in["organization_id"] == organization_id
    assert workos.exchanges() == 1
    assert workos_org in workos.organizations


def test_a_second_sign_in_reuses_the_user(sso: Sso) -> None:
    organization_id, _, _ = sso.onboard()
    workos_user_id = _workos_id("user")
    first = sso.sign_in(organization_id, email="ada@mercy.example", user_id=workos_user_id)
    users = sso.users()
    # Same WorkOS user, even if the identity provider now reports a new address.
    second = sso.sign_in(organization_id, email="ada.l@mercy.example", user_id=workos_user_id)
    assert first.status_code == second.status_code == 200, second.json
    assert sso.users() == users

    def subject(token: str) -> str:
        return str(jwt.decode(token, options={"verify_signature": False})["sub"])

    assert subject(first.json["access_token"]) == subject(second.json["access_token"])
    assert len(sso.api.events("auth.user.sso_provisioned")) == 1
    assert len(sso.api.events("auth.user.sso_logged_in")) == 2


def test_an_existing_member_signs_in_by_email_and_keeps_their_role(sso: Sso) -> None:
    _, admin, _ = sso.onboard()
    member, _ = sso.api.member(admin, "compliance_officer")
    users = sso.users()
    response = sso.sign_in(
        via_email=member["email"], email=member["email"], claims={"role": "admin"}
    )
    assert response.status_code == 200, response.json
    me = sso.client.get("/api/v1/auth/me", headers=sso.api.bearer(response.json["access_token"]))
    assert (me.json["user"]["id"], me.json["user"]["role"]) == (member["id"], "compliance_officer")
    assert sso.users() == users
    assert sso.user(member["email"]).sso_provider == "workos"
    assert sso.api.events("auth.user.sso_provisioned") == []


def test_the_organization_configures_the_default_sso_role_but_never_above_compliance_officer(
    sso: Sso,
) -> None:
    organization_id, admin, _ = sso.onboard()
    for role in ("admin", "executive", "super_admin"):
        refused = sso.client.patch(
            "/api/v1/auth/organization",
            json={"settings": {"default_sso_role": role}},
            headers=sso.api.bearer(admin),
        )
        assert refused.status_code == 422
    changed = sso.client.patch(
        "/api/v1/auth/organization",
        json={"settings": {"default_sso_role": "analyst"}},
        headers=sso.api.bearer(admin),
    )
    assert changed.status_code == 200, changed.json
    response = sso.sign_in(organization_id)
    assert response.status_code == 200, response.json
    me = sso.client.get("/api/v1/auth/me", headers=sso.api.bearer(response.json["access_token"]))
    assert me.json["user"]["role"] == "analyst"
    [event] = sso.api.events("auth.user.sso_provisioned")
    assert event["data"]["role"] == "analyst"


@pytest.mark.parametrize("claimed", ["admin", "super_admin"])
def test_identity_provider_role_claims_never_grant_a_role(sso: Sso, claimed: str) -> None:
    organization_id, _, _ = sso.onboard()
    response = sso.sign_in(
        organization_id,
        claims={"role": claimed, "roles": [claimed], "permissions": ["*"]},
        metadata={"role": claimed, "spectral_role": claimed},
        extra={"role": claimed, "organization_membership": {"role": {"slug": claimed}}},
    )
    assert response.status_code == 200, response.json
    token = response.json["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["role"] == "viewer"
    me = sso.client.get("/api/v1/auth/me", headers=sso.api.bearer(token))
    assert me.json["user"]["role"] == "viewer"
    # And a viewer it is: admin-only endpoints refuse it.
    assert (
        sso.client.get("/api/v1/auth/sso/connection", headers=sso.api.bearer(token)).status_code
        == 403
    )


# ---- refusals ------------------------------------------------------------------------------------


def _nothing_created(sso: Sso, users: int) -> None:
    assert sso.users() == users
    assert sso.api.events("auth.user.sso_provisioned") == []
    assert sso.api.events("auth.user.sso_logged_in") == []


def test_a_forged_state_is_refused_before_the_code_is_exchanged(
    sso: Sso, workos: FakeWorkOS
) -> None:
    _, _, workos_org = sso.onboard()
    users = sso.users()
    code = workos.issue_code(workos.identity("mallory@mercy.example", organization_id=workos_org))
    for state in (secrets.token_urlsafe(32), "x" * 16):
        response = sso.client.get(
            "/api/v1/auth/sso/callback", query_string={"code": code, "state": state}
        )
        assert response.status_code == 400
        assert response.json["type"].endswith("/invalid-sso-state")
    assert workos.exchanges() == 0
    _nothing_created(sso, users)


def test_a_replayed_callback_is_refused(sso: Sso, workos: FakeWorkOS) -> None:
    organization_id, _, workos_org = sso.onboard()
    workos.queue.append(workos.identity("grace@mercy.example"))
    started = sso.client.get(
        "/api/v1/auth/sso/authorize", query_string={"organization_id": organization_id}
    )
    callback = _path(_follow(started.headers["Location"]))
    assert sso.client.get(callback).status_code == 200
    users = sso.users()

    replayed = sso.client.get(callback)
    assert replayed.status_code == 400
    assert replayed.json["type"].endswith("/invalid-sso-state")
    # A fresh, valid code does not revive a spent state either.
    state = parse_qs(urlsplit(callback).query)["state"][0]
    code = workos.issue_code(workos.identity("eve@mercy.example", organization_id=workos_org))
    fresh = sso.client.get("/api/v1/auth/sso/callback", query_string={"code": code, "state": state})
    assert fresh.status_code == 400
    assert sso.users() == users
    assert len(sso.api.events("auth.user.sso_logged_in")) == 1
    assert workos.exchanges() == 1


def test_an_unknown_code_or_one_from_another_flow_is_refused(sso: Sso, workos: FakeWorkOS) -> None:
    organization_id, _, workos_org = sso.onboard()
    users = sso.users()

    def state() -> str:
        started = sso.client.get(
            "/api/v1/auth/sso/authorize", query_string={"organization_id": organization_id}
        )
        return parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]

    unknown = sso.client.get(
        "/api/v1/auth/sso/callback", query_string={"code": "no-such-code", "state": state()}
    )
    assert unknown.status_code == 400
    assert unknown.json["type"].endswith("/invalid-sso-code")
    # A code issued for someone else's PKCE challenge (say, stolen from their redirect).
    stolen = workos.issue_code(
        workos.identity("victim@mercy.example", organization_id=workos_org),
        code_challenge=_s256("the victim's own verifier, never sent to us"),
    )
    response = sso.client.get(
        "/api/v1/auth/sso/callback", query_string={"code": stolen, "state": state()}
    )
    assert response.status_code == 400
    assert response.json["type"].endswith("/invalid-sso-code")
    _nothing_created(sso, users)


def test_a_cancelled_sign_in_is_a_problem(sso: Sso) -> None:
    response = sso.client.get(
        "/api/v1/auth/sso/callback",
        query_string={
            "state": secrets.token_urlsafe(32),
            "error": "access_denied",
            "error_description": "The user cancelled.",
        },
    )
    assert response.status_code == 400
    assert "cancelled" in response.json["detail"]


def test_an_unmapped_workos_organization_is_refused(sso: Sso, workos: FakeWorkOS) -> None:
    organization_id, _, _ = sso.onboard()
    users = sso.users()
    response = sso.sign_in(organization_id, workos_org=workos.organization())
    assert response.status_code == 403
    assert response.json["type"].endswith("/sso-not-mapped")
    _nothing_created(sso, users)


def test_a_sign_in_to_another_mapped_organization_than_requested_is_refused(
    sso: Sso,
) -> None:
    organization_id, _, _ = sso.onboard()
    _, _, other_workos_org = sso.onboard()
    users = sso.users()
    response = sso.sign_in(organization_id, workos_org=other_workos_org)
    assert response.status_code == 403
    assert response.json["type"].endswith("/sso-refused")
    _nothing_created(sso, users)


def test_removing_the_mapping_stops_sign_ins(sso: Sso) -> None:
    organization_id, admin, _ = sso.onboard()
    users = sso.users()
    sso.workos.queue.append(sso.workos.identity("late@mercy.example"))
    started = sso.client.get(
        "/api/v1/auth/sso/authorize", query_string={"organization_id": organization_id}
    )
    callback = _path(_follow(started.headers["Location"]))
    removed = sso.client.delete("/api/v1/auth/sso/connection", headers=sso.api.bearer(admin))
    assert removed.status_code == 204
    response = sso.client.get(callback)
    assert response.status_code == 403
    assert response.json["type"].endswith("/sso-not-mapped")
    _nothing_created(sso, users)


def test_an_email_of_another_organization_is_refused(sso: Sso) -> None:
    organization_id, _, _ = sso.onboard()
    elsewhere, _ = sso.api.onboard("St. Elsewhere")
    email = elsewhere["user"]["email"]
    users = sso.users()
    response = sso.sign_in(organization_id, email=email)
    assert response.status_code == 403
    assert response.json["type"].endswith("/sso-refused")
    untouched = sso.user(email)
    assert untouched.organization_id == elsewhere["organization"]["id"]
    assert (untouched.sso_provider, untouched.sso_external_id) == (None, None)
    _nothing_created(sso, users)


def test_an_address_the_identity_provider_has_not_verified_is_refused(sso: Sso) -> None:
    organization_id, admin, _ = sso.onboard()
    member, _ = sso.api.member(admin, "analyst")
    users = sso.users()
    for email in ("unverified@mercy.example", member["email"]):
        response = sso.sign_in(organization_id, email=email, email_verified=False)
        assert response.status_code == 403
        assert "verified" in response.json["detail"]
    assert sso.user(member["email"]).sso_external_id is None
    _nothing_created(sso, users)


def test_an_impersonated_workos_session_is_refused(sso: Sso) -> None:
    organization_id, _, _ = sso.onboard()
    users = sso.users()
    response = sso.sign_in(
        organization_id,
        extra={"impersonator": {"email": "support@workos.example", "reason": "debugging"}},
    )
    assert response.status_code == 403
    _nothing_created(sso, users)


def test_a_deactivated_user_is_refused_and_the_refusal_is_recorded(sso: Sso) -> None:
    organization_id, admin, _ = sso.onboard()
    workos_user_id = _workos_id("user")
    first = sso.sign_in(organization_id, email="gone@mercy.example", user_id=workos_user_id)
    assert first.status_code == 200
    user_id = sso.user("gone@mercy.example").id
    deactivated = sso.client.post(
        f"/api/v1/auth/users/{user_id}/deactivate", headers=sso.api.bearer(admin)
    )
    assert deactivated.status_code == 200, deactivated.json

    response = sso.sign_in(organization_id, email="gone@mercy.example", user_id=workos_user_id)
    assert response.status_code == 403
    assert "deactivated" in response.json["detail"]
    assert len(sso.api.events("auth.user.sso_logged_in")) == 1
    [failed] = [
        e for e in sso.api.events("auth.login.failed") if e["data"].get("user_id") == user_id
    ]
    assert failed["data"]["reason"] == "inactive"
    assert failed["organization_id"] == organization_id


# ---- the mapping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "analyst", "compliance_officer", "executive"])
def test_only_admins_see_and_change_the_mapping(sso: Sso, workos: FakeWorkOS, role: str) -> None:
    _, admin, workos_org = sso.onboard()
    _, token = sso.api.member(admin, role)
    headers = sso.api.bearer(token)
    other = workos.organization()
    assert sso.client.get("/api/v1/auth/sso/connection", headers=headers).status_code == 403
    put = sso.client.put(
        "/api/v1/auth/sso/connection", json={"workos_organization_id": other}, headers=headers
    )
    assert put.status_code == 403
    assert sso.client.delete("/api/v1/auth/sso/connection", headers=headers).status_code == 403
    assert sso.client.get("/api/v1/auth/sso/connection").status_code == 401
    current = sso.client.get("/api/v1/auth/sso/connection", headers=sso.api.bearer(admin))
    assert current.json["workos_organization_id"] == workos_org
    assert len(sso.api.events("auth.sso_connection.changed")) == 1


def test_an_admin_maps_remaps_and_removes_the_workos_organization(
    sso: Sso, workos: FakeWorkOS
) -> None:
    created, admin = sso.api.onboard()
    organization_id, admin_id = created["organization"]["id"], created["user"]["id"]
    headers = sso.api.bearer(admin)
    assert sso.client.get("/api/v1/auth/sso/connection", headers=headers).status_code == 404

    first, second = workos.organization(), workos.organization()
    mapped = sso.client.put(
        "/api/v1/auth/sso/connection", json={"workos_organization_id": first}, headers=headers
    )
    assert mapped.status_code == 200, mapped.json
    assert (mapped.json["workos_organization_id"], mapped.json["created_by"]) == (first, admin_id)
    same = sso.client.put(
        "/api/v1/auth/sso/connection", json={"workos_organization_id": first}, headers=headers
    )
    assert same.status_code == 200  # idempotent: no second event
    remapped = sso.client.put(
        "/api/v1/auth/sso/connection", json={"workos_organization_id": second}, headers=headers
    )
    assert remapped.json["workos_organization_id"] == second
    got = sso.client.get("/api/v1/auth/sso/connection", headers=headers)
    assert got.json["workos_organization_id"] == second

    assert sso.client.delete("/api/v1/auth/sso/connection", headers=headers).status_code == 204
    assert sso.client.delete("/api/v1/auth/sso/connection", headers=headers).status_code == 204
    assert sso.client.get("/api/v1/auth/sso/connection", headers=headers).status_code == 404

    events = sso.api.events("auth.sso_connection.changed")
    assert [e["data"]["workos_organization_id"] for e in events] == [first, second, None]
    assert {e["organization_id"] for e in events} == {organization_id}
    assert {e["actor"]["id"] for e in events} == {admin_id}


@pytest.mark.parametrize(
    "body",
    [
        {"workos_organization_id": "conn_01ABC"},
        {"workos_organization_id": "org_../../users"},
        {"workos_organization_id": ""},
        {},
        {"workos_organization_id": "org_01ABC", "role": "super_admin"},
    ],
)
def test_malformed_mappings_are_problems(sso: Sso, body: dict[str, Any]) -> None:
    _, admin = sso.api.onboard()
    response = sso.client.put(
        "/api/v1/auth/sso/connection", json=body, headers=sso.api.bearer(admin)
    )
    assert response.status_code == 422
    assert response.json["errors"]
    assert sso.api.events("auth.sso_connection.changed") == []


def test_a_workos_organization_workos_does_not_know_is_refused(sso: Sso) -> None:
    _, admin = sso.api.onboard()
    response = sso.client.put(
        "/api/v1/auth/sso/connection",
        json={"workos_organization_id": _workos_id("org")},
        headers=sso.api.bearer(admin),
    )
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "workos_organization_id"
    assert sso.api.events("auth.sso_connection.changed") == []


def test_a_workos_organization_mapped_elsewhere_is_a_conflict(sso: Sso) -> None:
    _, _, workos_org = sso.onboard()
    _, other_admin = sso.api.onboard("St. Elsewhere")
    response = sso.client.put(
        "/api/v1/auth/sso/connection",
        json={"workos_organization_id": workos_org},
        headers=sso.api.bearer(other_admin),
    )
    assert response.status_code == 409
    assert response.json["type"].endswith("/sso-connection-taken")
    assert len(sso.api.events("auth.sso_connection.changed")) == 1
    with sso.api.runtime.database.session() as session:
        assert session.scalar(select(func.count(SsoConnection.id))) == 1


def test_workos_refusing_our_api_key_is_a_bad_gateway(
    sso: Sso, integration_settings: Settings, workos: FakeWorkOS
) -> None:
    _, admin = sso.api.onboard()
    settings = _configured(integration_settings, workos).model_copy(
        update={"workos_api_key": SecretStr("sk_test_revoked")}
    )
    runtime = Runtime(installed_components()["auth"], settings)
    try:
        response = (
            runtime.app()
            .test_client()
            .put(
                "/api/v1/auth/sso/connection",
                json={"workos_organization_id": workos.organization()},
                headers=sso.api.bearer(admin),
            )
        )
    finally:
        runtime.database.dispose()
    assert response.status_code == 502
    assert response.mimetype == "application/problem+json"


# ---- not configured ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "missing", ["workos_api_key", "workos_client_id", "workos_cookie_password"]
)
def test_without_all_three_workos_settings_sso_answers_503(sso: Sso, missing: str) -> None:
    organization_id, admin, _ = sso.onboard()
    settings = sso.api.runtime.settings.model_copy(update={missing: None})
    runtime = Runtime(installed_components()["auth"], settings)
    try:
        client = runtime.app().test_client()
        headers = sso.api.bearer(admin)
        responses = [
            client.get(
                "/api/v1/auth/sso/authorize", query_string={"organization_id": organization_id}
            ),
            client.get(
                "/api/v1/auth/sso/callback",
                query_string={"code": "abc", "state": secrets.token_urlsafe(32)},
            ),
            client.get("/api/v1/auth/sso/connection", headers=headers),
            client.put(
                "/api/v1/auth/sso/connection",
                json={"workos_organization_id": "org_01ABC"},
                headers=headers,
            ),
            client.delete("/api/v1/auth/sso/connection", headers=headers),
        ]
    finally:
        runtime.database.dispose()
    for response in responses:
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"
        assert response.json["title"] == "SSO is not configured"
