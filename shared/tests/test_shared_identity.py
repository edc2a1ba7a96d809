"""Access tokens verified offline from JWKS, the role matrix, and the permission decorator."""

from __future__ import annotations

import base64
import json
import time
import types
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from flask import Flask, Response, request
from flask.testing import FlaskClient

from spectral_shared.identity import (
    ACCESS_TOKEN_AUDIENCE,
    PERMISSIONS,
    Identity,
    JwksKeySource,
    Role,
    StaticKeySource,
    TokenVerifier,
    current_identity,
    requires,
    role_allows,
)
from spectral_shared.logging import clear_context
from spectral_shared.testing.fakes import FakeApiHandler, serve_http
from spectral_shared.testing.tokens import TokenSigner
from spectral_shared.web.problems import PROBLEM_CONTENT_TYPE, Problem

ISSUER = "https://spectral.example.org/auth"
ORG = str(uuid.uuid4())
USER = str(uuid.uuid4())


class Signer(TokenSigner):
    def __init__(self, kid: str) -> None:
        super().__init__(kid, ISSUER, sub=USER, org=ORG, role="analyst", jti="tok-1")


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer("key-2024-01")


@pytest.fixture(scope="module")
def jwks(signer: Signer) -> dict[str, Any]:
    return {"keys": [signer.jwk(), Signer("key-other").jwk()]}


@pytest.fixture
def verifier(jwks: dict[str, Any]) -> TokenVerifier:
    return TokenVerifier(StaticKeySource(jwks), issuer=ISSUER)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _rejected(verifier: TokenVerifier, token: str) -> Problem:
    with pytest.raises(Problem) as info:
        verifier.verify(token)
    assert info.value.status == 401
    assert info.value.title == "Invalid credentials"
    return info.value


# ---- verification ---------------------------------------------------------------------------


def test_valid_token_gives_the_identity(signer: Signer, verifier: TokenVerifier) -> None:
    token = signer.token(role="compliance_officer", scopes=["reports:run"])
    identity = verifier.verify(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert identity == Identity(
        subject_type="user",
        subject_id=USER,
        organization_id=ORG,
        role="compliance_officer",
        scopes=("reports:run",),
        token_id="tok-1",
        expires_at=claims["exp"],
        issued_at=claims.get("iat"),
    )


def test_service_and_api_key_subjects(signer: Signer, verifier: TokenVerifier) -> None:
    identity = verifier.verify(signer.token(sub_type="api_key", sub="key-7", jti=None))
    assert (identity.subject_type, identity.subject_id, identity.token_id, identity.scopes) == (
        "api_key",
        "key-7",
        None,
        (),
    )


def test_verifier_accepts_any_configured_audience(signer: Signer, jwks: dict[str, Any]) -> None:
    verifier = TokenVerifier(
        StaticKeySource(jwks), issuer=ISSUER, audiences=("spectral-internal", "spectral-api")
    )
    assert verifier.verify(signer.token(aud="spectral-internal")).organization_id == ORG


def test_expired_token(signer: Signer, verifier: TokenVerifier) -> None:
    now = int(time.time())
    problem = _rejected(verifier, signer.token(iat=now - 3600, exp=now - 60))
    assert "expired" in (problem.detail or "")


def test_token_within_leeway_is_accepted(signer: Signer, verifier: TokenVerifier) -> None:
    now = int(time.time())
    assert verifier.verify(signer.token(iat=now - 600, exp=now - 1)).subject_id == USER


def test_wrong_audience(signer: Signer, verifier: TokenVerifier) -> None:
    _rejected(verifier, signer.token(aud="some-other-api"))


def test_wrong_issuer(signer: Signer, verifier: TokenVerifier) -> None:
    _rejected(verifier, signer.token(iss="https://evil.example.org"))


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "org", "role", "aud", "iss"])
def test_required_claims(signer: Signer, verifier: TokenVerifier, missing: str) -> None:
    _rejected(verifier, signer.token(**{missing: None}))


def test_unknown_kid(verifier: TokenVerifier) -> None:
    stranger = Signer("key-unknown")
    problem = _rejected(verifier, stranger.token())
    assert "no signing key" in (problem.detail or "")


def test_token_signed_by_an_impostor_under_a_published_kid(verifier: TokenVerifier) -> None:
    impostor = Signer("key-other")  # same kid as a published key, different private key
    _rejected(verifier, impostor.token())


def test_missing_kid(signer: Signer, verifier: TokenVerifier) -> None:
    token = jwt.encode({"sub": USER}, signer.private, algorithm="EdDSA")
    _rejected(verifier, token)


def test_tampered_signature(signer: Signer, verifier: TokenVerifier) -> None:
    header, payload, signature = signer.token().split(".")
    middle = len(signature) // 2
    flipped = (
        signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1 :]
    )
    _rejected(verifier, f"{header}.{payload}.{flipped}")


def test_tampered_payload(signer: Signer, verifier: TokenVerifier) -> None:
    header, payload, signature = signer.token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    _rejected(verifier, f"{header}.{_b64(claims)}.{signature}")


def test_alg_none_token(signer: Signer, verifier: TokenVerifier) -> None:
    _, payload, _ = signer.token(role="super_admin").split(".")
    header = _b64({"alg": "none", "typ": "JWT", "kid": signer.kid})
    problem = _rejected(verifier, f"{header}.{payload}.")
    assert "EdDSA" in (problem.detail or "")


def test_hs256_token_signed_with_the_public_key(signer: Signer, verifier: TokenVerifier) -> None:
    # Classic algorithm confusion: HMAC keyed with the (public) verification key.
    public_x = signer.jwk()["x"].encode()
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": ACCESS_TOKEN_AUDIENCE,
        "sub": USER,
        "org": ORG,
        "role": "admin",
        "iat": now,
        "exp": now + 300,
    }
    token = jwt.encode(
        claims, public_x + b"-padding-to-32-bytes", algorithm="HS256", headers={"kid": signer.kid}
    )
    _rejected(verifier, token)


@pytest.mark.parametrize("garbage", ["", "not-a-jwt", "a.b.c", "....."])
def test_garbage_tokens(verifier: TokenVerifier, garbage: str) -> None:
    _rejected(verifier, garbage)


def test_static_key_source_accepts_a_callable(signer: Signer) -> None:
    published: dict[str, Any] = {"keys": []}
    verifier = TokenVerifier(StaticKeySource(lambda: published), issuer=ISSUER)
    _rejected(verifier, signer.token())
    published["keys"] = [signer.jwk()]  # a rotated-in key is picked up on the unknown kid
    assert verifier.verify(signer.token()).subject_id == USER


# ---- JWKS over HTTP -------------------------------------------------------------------------


@pytest.fixture
def jwks_server(jwks: dict[str, Any]) -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    class Handler(FakeApiHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            if self.path != "/.well-known/jwks.json":
                self.answer(404)
                return
            self.answer(200, jwks)

    with serve_http(Handler) as url:
        yield f"{url}/.well-known/jwks.json", hits


def test_jwks_key_source_verifies_and_caches(
    signer: Signer, jwks_server: tuple[str, list[str]]
) -> None:
    url, hits = jwks_server
    verifier = TokenVerifier(JwksKeySource(url), issuer=ISSUER)
    assert verifier.verify(signer.token()).organization_id == ORG
    assert verifier.verify(signer.token(role="viewer")).role == "viewer"
    assert hits == ["/.well-known/jwks.json"]  # keys are cached
    problem = _rejected(verifier, Signer("key-unknown").token())
    assert "no signing key" in (problem.detail or "")


def test_jwks_key_source_unreachable(signer: Signer) -> None:
    verifier = TokenVerifier(
        JwksKeySource("http://127.0.0.1:1/.well-known/jwks.json"), issuer=ISSUER
    )
    _rejected(verifier, signer.token())


# ---- roles and the decorator ----------------------------------------------------------------

EXPECTED_MATRIX = {
    "profile:read": set(Role),
    "audit_log:read": {Role.COMPLIANCE_OFFICER, Role.ADMIN, Role.EXECUTIVE, Role.SUPER_ADMIN},
}


def test_the_matrix_covers_the_known_permissions() -> None:
    assert set(EXPECTED_MATRIX) <= set(PERMISSIONS)


@pytest.mark.parametrize("permission", sorted(EXPECTED_MATRIX))
@pytest.mark.parametrize("role", list(Role))
def test_role_allows(role: Role, permission: str) -> None:
    assert role_allows(role.value, permission) is (role in EXPECTED_MATRIX[permission])
    assert Identity("user", "u", "o", role.value).can(permission) is (
        role in EXPECTED_MATRIX[permission]
    )


def test_role_allows_rejects_unknown_roles_and_permissions() -> None:
    assert role_allows("janitor", "profile:read") is False
    assert role_allows("", "audit_log:read") is False
    with pytest.raises(LookupError, match="unknown permission"):
        role_allows("admin", "everything:write")
    with pytest.raises(LookupError, match="unknown permission"):
        requires("everything:write")


@pytest.fixture
def client(verifier: TokenVerifier) -> Iterator[FlaskClient]:
    app = Flask("identity-test")
    # What @requires reads of a Runtime: its verifier, and whether its component re-checks
    # identities against accounts (only auth does).
    app.extensions["spectral"] = types.SimpleNamespace(
        verifier=verifier, component=types.SimpleNamespace(current_identity=None)
    )

    @app.errorhandler(Problem)
    def problem(exc: Problem) -> Response:
        return exc.response(instance=request.path)

    @app.get("/audit")
    @requires("audit_log:read")
    def audit() -> dict[str, Any]:
        identity = current_identity()
        return {"org": identity.organization_id, "role": identity.role}

    @app.get("/me")
    @requires("profile:read")
    def me() -> dict[str, Any]:
        return {"sub": current_identity().subject_id}

    assert audit.required_permission == "audit_log:read"  # type: ignore[attr-defined]
    yield app.test_client()
    clear_context()


def test_requires_allows_a_permitted_role(client: FlaskClient, signer: Signer) -> None:
    response = client.get(
        "/audit", headers={"Authorization": f"Bearer {signer.token(role='compliance_officer')}"}
    )
    assert response.status_code == 200
    assert response.get_json() == {"org": ORG, "role": "compliance_officer"}


def test_requires_forbids_a_viewer(client: FlaskClient, signer: Signer) -> None:
    token = signer.token(role="viewer")
    response = client.get("/audit", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.mimetype == PROBLEM_CONTENT_TYPE
    assert response.get_json()["detail"] == "Your role does not grant audit_log:read."
    assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).get_json() == {
        "sub": USER
    }


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "Token abc"]
)
def test_requires_without_a_bearer_token_is_401(client: FlaskClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = client.get("/audit", headers=headers)
    assert response.status_code == 401
    assert response.mimetype == PROBLEM_CONTENT_TYPE
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="spectral"'


def test_requires_with_an_invalid_token_is_401(client: FlaskClient) -> None:
    response = client.get(
        "/audit", headers={"Authorization": f"Bearer {Signer('key-unknown').token(role='admin')}"}
    )
    assert response.status_code == 401
    assert response.get_json()["title"] == "Invalid credentials"


def test_current_identity_outside_requires_is_an_error() -> None:
    with Flask("x").test_request_context(), pytest.raises(RuntimeError, match="missing @requires"):
        current_identity()


# ---- the verified-token cache ------------------------------------------------------------------


class CountingKeys:
    """Counts signature checks: the verifier asks for the key once per check."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.inner = StaticKeySource(jwks)
        self.lookups = 0

    def signing_key(self, kid: str) -> Any:
        self.lookups += 1
        return self.inner.signing_key(kid)


def test_a_verified_token_is_not_checked_again(signer: Signer, jwks: dict[str, Any]) -> None:
    keys = CountingKeys(jwks)
    verifier = TokenVerifier(keys, issuer=ISSUER)
    token = signer.token()
    assert verifier.verify(token) == verifier.verify(token)
    assert keys.lookups == 1
    verifier.verify(signer.token(jti="tok-2"))
    assert keys.lookups == 2


def test_the_cache_never_outlives_the_token_or_its_own_lifetime(
    signer: Signer, jwks: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = CountingKeys(jwks)
    verifier = TokenVerifier(keys, issuer=ISSUER, cache_seconds=30)
    now = time.time()
    token = signer.token(iat=int(now), exp=int(now) + 300)
    verifier.verify(token)
    monkeypatch.setattr(time, "time", lambda: now + 31)
    verifier.verify(token)
    assert keys.lookups == 2  # past cache_seconds: checked again
    monkeypatch.undo()
    # Accepted within the 5 s leeway, but past its own expiry: never served from the cache.
    lapsing = signer.token(iat=int(now) - 60, exp=int(now) - 2)
    before = keys.lookups
    verifier.verify(lapsing)
    verifier.verify(lapsing)
    assert keys.lookups == before + 2


def test_a_refused_token_is_never_cached(signer: Signer, jwks: dict[str, Any]) -> None:
    keys = CountingKeys(jwks)
    verifier = TokenVerifier(keys, issuer=ISSUER)
    forged = signer.token()[:-4] + "AAAA"
    for _ in range(2):
        _rejected(verifier, forged)
    assert keys.lookups == 2


def test_an_api_key_without_the_scope_is_told_about_its_scopes_not_a_role(
    client: FlaskClient, signer: Signer
) -> None:
    token = signer.token(sub_type="api_key", sub="key-7", jti=None, scopes=["telemetry:write"])
    response = client.get("/audit", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    body = response.get_json()
    assert "role" not in body["detail"] and "scopes" in body["detail"]
    assert body["type"].endswith("/insufficient-scope")
    assert body["required_scope"] == "audit_log:read"


def test_an_expired_token_says_refresh_and_a_bad_one_says_sign_in_again(
    client: FlaskClient, signer: Signer
) -> None:
    """RFC 6750 section 3: a client tells "refresh" from "sign in again" by the error description
    and the problem type, and a request without a credential carries no error code."""
    now = int(time.time())
    expired = client.get(
        "/audit",
        headers={"Authorization": f"Bearer {signer.token(iat=now - 3600, exp=now - 60)}"},
    )
    forged = client.get(
        "/audit", headers={"Authorization": f"Bearer {Signer('key-unknown').token()}"}
    )
    assert (expired.status_code, forged.status_code) == (401, 401)
    assert expired.headers["WWW-Authenticate"] == (
        'Bearer realm="spectral", error="invalid_token", '
        'error_description="The access token expired"'
    )
    assert expired.get_json()["type"].endswith("/token-expired")
    assert expired.get_json()["error"] == "invalid_token"
    assert "refresh" in expired.get_json()["detail"]
    assert 'error="invalid_token"' in forged.headers["WWW-Authenticate"]
    assert forged.get_json()["type"].endswith("/invalid-token")
    assert "Sign in again" in forged.get_json()["detail"]
    missing = client.get("/audit")
    assert "error=" not in missing.headers["WWW-Authenticate"]


def test_an_api_key_without_the_scope_gets_the_insufficient_scope_challenge(
    client: FlaskClient, signer: Signer
) -> None:
    token = signer.token(sub_type="api_key", sub="key-7", jti=None, scopes=["telemetry:write"])
    response = client.get("/audit", headers={"Authorization": f"Bearer {token}"})
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="audit_log:read"' in challenge
