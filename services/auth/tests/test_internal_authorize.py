"""/internal/authorize: the gateway's one question about every non-public request."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings
from spectral_shared.identity import INTERNAL_TOKEN_AUDIENCE

pytestmark = pytest.mark.integration

AUTHORIZE = "/internal/authorize"


def internal_claims(api: Any, response: Any) -> dict[str, Any]:
    token = response.headers["X-Spectral-Internal-Token"]
    jwks = api.client.get("/.well-known/jwks.json").json
    key = next(k for k in jwks["keys"] if k["kid"] == jwt.get_unverified_header(token)["kid"])
    return jwt.decode(
        token,
        jwt.PyJWK(key).key,
        algorithms=["EdDSA"],
        audience=INTERNAL_TOKEN_AUDIENCE,
        issuer=api.runtime.settings.base_url,
    )


def test_an_access_token_is_exchanged_for_a_short_internal_token(api: Any) -> None:
    created, token = api.onboard()
    response = api.client.get(AUTHORIZE, headers=api.bearer(token))
    assert response.status_code == 200
    claims = internal_claims(api, response)
    assert (claims["sub"], claims["org"], claims["role"], claims["sub_type"]) == (
        created["user"]["id"],
        created["organization"]["id"],
        "admin",
        "user",
    )
    assert claims["exp"] - claims["iat"] <= 61
    assert (
        response.headers["X-RateLimit-Limit"] == "1000"
        and int(response.headers["X-RateLimit-Remaining"]) <= 999
    )
    # Services accept it like an access token; /internal/authorize itself does not.
    internal = response.headers["X-Spectral-Internal-Token"]
    assert api.client.get("/api/v1/auth/me", headers=api.bearer(internal)).status_code == 200
    assert api.client.get(AUTHORIZE, headers=api.bearer(internal)).status_code == 401


@pytest.mark.parametrize(
    "header", [None, "Basic abc", "Bearer", "Bearer not-a-token", "Bearer eyJhbGciOiJub25lIn0.e30."]
)
def test_missing_and_malformed_credentials_are_401_problems(api: Any, header: str | None) -> None:
    response = api.client.get(AUTHORIZE, headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "X-Spectral-Internal-Token" not in response.headers
    assert response.headers["X-Spectral-Denied"] == "unauthenticated"


def test_revoked_and_deactivated_accounts_are_refused_and_roles_are_current(api: Any) -> None:
    _, admin = api.onboard()
    member, member_token = api.member(admin, "viewer")
    api.client.patch(
        f"/api/v1/auth/users/{member['id']}/role",
        json={"role": "analyst"},
        headers=api.bearer(admin),
    )
    assert (
        internal_claims(api, api.client.get(AUTHORIZE, headers=api.bearer(member_token)))["role"]
        == "analyst"
    )

    api.client.post(f"/api/v1/auth/users/{member['id']}/deactivate", headers=api.bearer(admin))
    assert api.client.get(AUTHORIZE, headers=api.bearer(member_token)).status_code == 401
    api.client.post("/api/v1/auth/sign-out-everywhere", headers=api.bearer(admin))
    assert api.client.get(AUTHORIZE, headers=api.bearer(admin)).status_code == 401


def test_the_organizations_quota_answers_429_with_retry_after(
    api: Any, integration_settings: Settings
) -> None:
    runtime = Runtime(
        installed_components()["auth"],
        integration_settings.model_copy(update={"rate_limit_max_requests": 3}),
    )
    tight = type(api)(runtime.app().test_client(), runtime)  # the same helper, on a 3-request quota
    _, mercy = tight.onboard("Mercy General")
    _, county = tight.onboard("County Health")
    answers = [tight.client.get(AUTHORIZE, headers=tight.bearer(mercy)) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.json["type"].endswith("/quota-exceeded")
    assert (
        int(refused.headers["Retry-After"]) >= 1 and refused.headers["X-RateLimit-Remaining"] == "0"
    )
    assert "X-Spectral-Internal-Token" not in refused.headers
    assert refused.headers["X-Spectral-Denied"] == "quota"
    # nginx's auth_request passes on only 2xx, 401 and 403: asked by it, the refusal is a 403
    # with the same reason and headers, which the gateway turns into the client's 429.
    for_nginx = tight.client.get(
        AUTHORIZE, headers={**tight.bearer(mercy), "X-Spectral-Auth-Request": "nginx"}
    )
    assert for_nginx.status_code == 403 and for_nginx.headers["X-Spectral-Denied"] == "quota"
    assert int(for_nginx.headers["Retry-After"]) >= 1
    assert for_nginx.data == b""  # headers only: nginx would not read a body
    granted = tight.client.get(
        AUTHORIZE, headers={**tight.bearer(county), "X-Spectral-Auth-Request": "nginx"}
    )
    assert granted.status_code == 200 and granted.data == b""
    assert granted.headers["X-Spectral-Internal-Token"] and granted.headers["X-RateLimit-Limit"]
    assert (
        tight.client.get(AUTHORIZE, headers=tight.bearer(county)).status_code == 200
    )  # per organization
    runtime.database.dispose()


def test_an_api_key_is_exchanged_for_an_internal_token_with_its_scopes(api: Any) -> None:
    created, admin = api.onboard()
    made = api.client.post(
        "/api/v1/auth/api-keys",
        json={"name": "telemetry pusher", "scopes": ["telemetry:write"]},
        headers=api.bearer(admin),
    )
    assert made.status_code == 201, made.json
    secret = made.json["secret"]
    response = api.client.get(AUTHORIZE, headers=api.bearer(secret))
    assert response.status_code == 200
    claims = internal_claims(api, response)
    assert (claims["sub_type"], claims["sub"], claims["org"]) == (
        "api_key",
        made.json["id"],
        created["organization"]["id"],
    )
    assert claims["scopes"] == ["telemetry:write"] and claims["role"] == "api_key"
    # A key reaches what its scopes name, nothing its creator's role would allow.
    internal = response.headers["X-Spectral-Internal-Token"]
    assert api.client.get("/api/v1/auth/users", headers=api.bearer(internal)).status_code == 403

    api.client.delete(f"/api/v1/auth/api-keys/{made.json['id']}", headers=api.bearer(admin))
    assert api.client.get(AUTHORIZE, headers=api.bearer(secret)).status_code == 401
    assert api.client.get(AUTHORIZE, headers=api.bearer(secret[:-1] + "x")).status_code == 401


def test_deactivating_a_user_revokes_the_api_keys_they_created(api: Any) -> None:
    _, admin = api.onboard()
    colleague, colleague_token = api.member(admin, "admin")
    theirs = api.client.post(
        "/api/v1/auth/api-keys",
        json={"name": "theirs", "scopes": ["ai_systems:read"]},
        headers=api.bearer(colleague_token),
    )
    mine = api.client.post(
        "/api/v1/auth/api-keys",
        json={"name": "mine", "scopes": ["ai_systems:read"]},
        headers=api.bearer(admin),
    )
    api.client.post(f"/api/v1/auth/users/{colleague['id']}/deactivate", headers=api.bearer(admin))
    assert api.client.get(AUTHORIZE, headers=api.bearer(theirs.json["secret"])).status_code == 401
    assert api.client.get(AUTHORIZE, headers=api.bearer(mine.json["secret"])).status_code == 200
    [revoked] = api.events("auth.api_key.revoked")
    assert (
        revoked["data"]["reason"] == "user_deactivated"
        and revoked["data"]["api_key_id"] == theirs.json["id"]
    )


def test_billings_capabilities_set_the_quota_and_api_calls_are_reported(
    api: Any, integration_settings: Settings
) -> None:
    import uuid

    from spectral_auth.usage import report_usage
    from spectral_shared.bus import Actor, Envelope
    from spectral_shared.testing import fire
    from spectral_shared.testing.billing import capabilities

    runtime = Runtime(
        installed_components()["auth"],
        integration_settings.model_copy(update={"rate_limit_max_requests": 2}),
    )
    tight = type(api)(runtime.app().test_client(), runtime)
    created, token = tight.onboard("Planned Health")
    organization = created["organization"]["id"]
    assert [
        tight.client.get(AUTHORIZE, headers=tight.bearer(token)).status_code for _ in range(3)
    ] == [200, 200, 429]

    def snapshot(**kw: Any) -> None:
        fire(
            runtime,
            "auth.entitlements",
            Envelope(
                type="billing.entitlements.updated",
                organization_id=uuid.UUID(organization),
                actor=Actor.system("billing"),
                data=capabilities("professional", **kw),
            ),
        )

    snapshot(version=1_000)
    fresh = type(api)(Runtime(runtime.component, runtime.settings).app().test_client(), runtime)
    allowed = fresh.client.get(AUTHORIZE, headers=fresh.bearer(token))
    assert allowed.status_code == 200 and allowed.headers["X-RateLimit-Limit"] == "10000"

    # A snapshot older than the one held changes nothing (billing's versions count up).
    fire(
        runtime,
        "auth.entitlements",
        Envelope(
            type="billing.entitlements.updated",
            organization_id=uuid.UUID(organization),
            actor=Actor.system("billing"),
            data=capabilities("starter", version=999),
        ),
    )
    again = type(api)(Runtime(runtime.component, runtime.settings).app().test_client(), runtime)
    assert again.client.get(AUTHORIZE, headers=again.bearer(token)).headers[
        "X-RateLimit-Limit"
    ] == ("10000")

    # Allowed calls are counted per organization and day, and reported once per change.
    assert report_usage(runtime) >= 1
    reports = [
        e for e in tight.events("auth.usage.recorded") if e["organization_id"] == organization
    ]
    assert reports[-1]["data"]["api_calls"] == 4  # two before the refusal, two after the plan
    assert report_usage(runtime) == 0  # nothing grew: nothing reported
    runtime.database.dispose()


def test_a_change_in_one_process_holds_at_once_in_anothers_cache(api: Any) -> None:
    _, admin = api.onboard()
    member, member_token = api.member(admin, "viewer")
    other_process = Runtime(api.runtime.component, api.runtime.settings).app().test_client()
    key = api.client.post(
        "/api/v1/auth/api-keys",
        json={"name": "k", "scopes": ["ai_systems:read"]},
        headers=api.bearer(admin),
    ).json
    for credential in (member_token, key["secret"]):  # both processes have the facts cached now
        assert other_process.get(AUTHORIZE, headers=api.bearer(credential)).status_code == 200
        assert other_process.get(AUTHORIZE, headers=api.bearer(credential)).status_code == 200

    api.client.patch(
        f"/api/v1/auth/users/{member['id']}/role",
        json={"role": "analyst"},
        headers=api.bearer(admin),
    )
    assert (
        internal_claims(api, other_process.get(AUTHORIZE, headers=api.bearer(member_token)))["role"]
        == "analyst"
    )
    api.client.post(f"/api/v1/auth/users/{member['id']}/deactivate", headers=api.bearer(admin))
    api.client.delete(f"/api/v1/auth/api-keys/{key['id']}", headers=api.bearer(admin))
    assert other_process.get(AUTHORIZE, headers=api.bearer(member_token)).status_code == 401
    assert other_process.get(AUTHORIZE, headers=api.bearer(key["secret"])).status_code == 401

    # A refusal cached in the other process stands only while the account's version does: once
    # reactivated, the member signs in again (deactivation ended the old token for good).
    api.client.post(f"/api/v1/auth/users/{member['id']}/reactivate", headers=api.bearer(admin))
    fresh = api.login(member["email"], "member passphrase here")
    assert other_process.get(AUTHORIZE, headers=api.bearer(fresh)).status_code == 200
    assert other_process.get(AUTHORIZE, headers=api.bearer(member_token)).status_code == 401


def test_refused_credentials_do_not_use_up_the_quota(api: Any) -> None:
    _, admin = api.onboard()
    member, member_token = api.member(admin, "viewer")
    assert api.client.get(AUTHORIZE, headers=api.bearer(member_token)).status_code == 200
    before = int(
        api.client.get(AUTHORIZE, headers=api.bearer(admin)).headers["X-RateLimit-Remaining"]
    )
    api.client.post(f"/api/v1/auth/users/{member['id']}/deactivate", headers=api.bearer(admin))
    for _ in range(3):  # the first meets a moved version, the others a cached refusal
        assert api.client.get(AUTHORIZE, headers=api.bearer(member_token)).status_code == 401
    after = int(
        api.client.get(AUTHORIZE, headers=api.bearer(admin)).headers["X-RateLimit-Remaining"]
    )
    assert after == before - 1  # only the admin's own second request


def test_a_fresh_sign_in_after_a_revocation_is_accepted_on_auths_own_routes_at_once(
    api: Any,
) -> None:
    """Internal tokens are reused for 30 s per caller; one minted before the caller's revocation
    must not be handed out after it, or auth's own routes (which check revocation) refuse the
    fresh sign-in while every other service accepts it."""
    created, token = api.onboard()
    before = api.client.get(AUTHORIZE, headers=api.bearer(token))
    assert before.status_code == 200  # an internal token is now cached for this caller
    api.client.post("/api/v1/auth/sign-out-everywhere", headers=api.bearer(token))
    fresh = api.login(created["user"]["email"])
    granted = api.client.get(AUTHORIZE, headers=api.bearer(fresh))
    assert granted.status_code == 200
    internal = granted.headers["X-Spectral-Internal-Token"]
    assert internal != before.headers["X-Spectral-Internal-Token"]
    assert api.client.get("/api/v1/auth/me", headers=api.bearer(internal)).status_code == 200


def test_a_refused_credential_says_why_in_rfc_6750_terms_even_to_the_gateway(api: Any) -> None:
    _, token = api.onboard()
    api.client.post("/api/v1/auth/sign-out-everywhere", headers=api.bearer(token))
    for headers in ({}, {"X-Spectral-Auth-Request": "1"}):
        refused = api.client.get(AUTHORIZE, headers={**api.bearer(token), **headers})
        assert refused.status_code == 401
        challenge = refused.headers["WWW-Authenticate"]
        assert 'error="invalid_token"' in challenge and "revoked" in challenge
    body = api.client.get(AUTHORIZE, headers=api.bearer(token)).json
    assert body["type"].endswith("/credentials-revoked") and body["error"] == "invalid_token"
    missing = api.client.get(AUTHORIZE)
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="spectral"'
