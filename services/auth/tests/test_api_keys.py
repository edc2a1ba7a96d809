"""API keys for machines over HTTP, and their authentication, on real PostgreSQL and Redis."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import event, select, update

from spectral_auth.models import ApiKey
from spectral_auth.services import api_keys as api_keys_service
from spectral_auth.services.api_keys import (
    ApiKeyPrincipal,
    authenticate_api_key,
    create_api_key,
    revoke_keys_created_by,
)
from spectral_shared.bus import Actor
from spectral_shared.component import Runtime, installed_components
from spectral_shared.db import utcnow
from spectral_shared.identity import Identity

pytestmark = pytest.mark.integration

KEYS = "/api/v1/auth/api-keys"


def _future(**delta: float) -> str:
    return (utcnow() + timedelta(**delta)).isoformat()


def _create(api: Any, token: str, **body: Any) -> dict[str, Any]:
    payload = {"name": "Epic telemetry pusher", "scopes": ["telemetry:write"], **body}
    response = api.client.post(KEYS, json=payload, headers=api.bearer(token))
    assert response.status_code == 201, response.json
    return response.json


def _rows(api: Any) -> list[ApiKey]:
    with api.runtime.database.session() as session:
        return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def _set(api: Any, key_id: str, **values: Any) -> None:
    with api.runtime.database.session() as session:
        session.execute(update(ApiKey).where(ApiKey.id == key_id).values(**values))


def _expected_hmac(api: Any, secret: str) -> str:
    session_secret = api.runtime.settings.secret("SESSION_SECRET").encode()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"spectral api keys").derive(
        session_secret
    )
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


def test_an_admin_creates_lists_reads_and_revokes_a_key(api: Any) -> None:
    created, admin = api.onboard()
    expires = _future(days=90)
    response = api.client.post(
        KEYS,
        json={
            "name": "  Epic telemetry pusher ",
            "scopes": ["telemetry:write", "ai_systems:read", "telemetry:write"],
            "expires_at": expires,
        },
        headers=api.bearer(admin),
    )
    assert response.status_code == 201, response.json
    assert response.headers["Cache-Control"] == "no-store"
    assert response.mimetype == "application/json"
    key = response.json
    secret = key["secret"]
    assert secret.startswith("spk_test_") and len(secret) == len("spk_test_") + 43
    assert key["prefix"] == secret[:16]
    assert response.headers["Location"] == f"{KEYS}/{key['id']}"
    assert key["name"] == "Epic telemetry pusher"
    assert key["scopes"] == ["ai_systems:read", "telemetry:write"]
    assert key["created_by"] == created["user"]["id"]
    assert datetime.fromisoformat(key["expires_at"]) == datetime.fromisoformat(expires)
    assert (key["status"], key["last_used_at"], key["revoked_at"]) == ("active", None, None)

    listed = api.client.get(KEYS, headers=api.bearer(admin))
    one = api.client.get(f"{KEYS}/{key['id']}", headers=api.bearer(admin))
    assert listed.status_code == one.status_code == 200
    without_secret = {k: v for k, v in key.items() if k != "secret"}
    assert listed.json == {"data": [without_secret], "next_cursor": None}
    assert one.json == without_secret
    for answer in (listed, one):
        text = answer.get_data(as_text=True)
        assert secret not in text and secret[16:] not in text and "hmac" not in text

    assert api.client.delete(f"{KEYS}/{key['id']}", headers=api.bearer(admin)).status_code == 204
    revoked = api.client.get(f"{KEYS}/{key['id']}", headers=api.bearer(admin)).json
    assert revoked["status"] == "revoked" and revoked["revoked_at"] is not None
    again = api.client.delete(f"{KEYS}/{key['id']}", headers=api.bearer(admin))
    assert again.status_code == 404 and again.mimetype == "application/problem+json"
    assert api.client.get(f"{KEYS}?status=active", headers=api.bearer(admin)).json["data"] == []
    assert [
        k["id"]
        for k in api.client.get(f"{KEYS}?status=revoked", headers=api.bearer(admin)).json["data"]
    ] == [key["id"]]

    [made] = api.events("auth.api_key.created")
    assert made["organization_id"] == created["organization"]["id"]
    assert made["actor"] == {"type": "user", "id": created["user"]["id"]}
    assert made["data"] == {
        "api_key_id": key["id"],
        "name": "Epic telemetry pusher",
        "prefix": secret[:16],
        "scopes": ["ai_systems:read", "telemetry:write"],
        "expires_at": made["data"]["expires_at"],
    }
    assert datetime.fromisoformat(made["data"]["expires_at"]) == datetime.fromisoformat(expires)
    [ended] = api.events("auth.api_key.revoked")
    assert ended["data"] == {"api_key_id": key["id"], "prefix": secret[:16], "reason": "revoked"}
    outbox = json.dumps(api.events("auth.api_key.created") + api.events("auth.api_key.revoked"))
    assert secret[16:] not in outbox

    [row] = _rows(api)
    assert row.secret_hmac == _expected_hmac(api, secret)
    stored = " ".join(str(getattr(row, c.key)) for c in ApiKey.__table__.columns)
    assert secret[16:] not in stored


def test_a_retried_create_gets_the_same_key_and_the_store_never_holds_the_secret_in_clear(
    api: Any,
) -> None:
    _, admin = api.onboard()
    headers = {**api.bearer(admin), "Idempotency-Key": "create-pusher-key-1"}
    body = {"name": "Pusher", "scopes": ["telemetry:write"]}
    first = api.client.post(KEYS, json=body, headers=headers)
    retry = api.client.post(KEYS, json=body, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["Cache-Control"] == "no-store" and retry.mimetype == "application/json"
    assert retry.json == first.json
    assert len(_rows(api)) == 1 and len(api.events("auth.api_key.created")) == 1

    redis = api.runtime.kv.client
    stored = [redis.get(k) for k in redis.scan_iter(f"{api.runtime.settings.redis_key_prefix}:*")]
    assert stored, "the idempotency record should be in Redis"
    secret = first.json["secret"]
    assert all(secret[16:].encode() not in value for value in stored if value)

    other = api.client.post(KEYS, json={**body, "name": "Other"}, headers=headers)
    assert other.status_code == 422 and len(_rows(api)) == 1


def test_authentication_accepts_only_the_right_live_secret(api: Any) -> None:
    created, admin = api.onboard()
    key = _create(api, admin, scopes=["ai_systems:read", "telemetry:write"])
    secret = key["secret"]

    principal = authenticate_api_key(api.runtime, secret)
    assert principal == ApiKeyPrincipal(
        id=key["id"],
        organization_id=created["organization"]["id"],
        name="Epic telemetry pusher",
        prefix=secret[:16],
        scopes=("ai_systems:read", "telemetry:write"),
        created_by=created["user"]["id"],
        expires_at=None,
    )

    tail = secret[16:]
    wrong_tail = ("A" if tail[0] != "A" else "B") + tail[1:]
    unknown_prefix = "spk_test_" + secrets.token_urlsafe(32)
    for presented in [
        secret[:16] + wrong_tail,  # same prefix, wrong secret
        unknown_prefix,
        secret.replace("spk_test_", "spk_live_", 1),
        secret + "x",
        secret[:-1],
        secret[:16],
        "",
        f"Bearer {secret}",
        "x" * 10_000,
    ]:
        assert authenticate_api_key(api.runtime, presented) is None, presented

    _set(api, key["id"], expires_at=utcnow() - timedelta(seconds=1))
    assert authenticate_api_key(api.runtime, secret) is None
    listed = api.client.get(KEYS, headers=api.bearer(admin)).json["data"]
    assert [k["status"] for k in listed] == ["expired"]

    other = _create(api, admin, name="Vendor integration", expires_at=_future(hours=1))
    assert authenticate_api_key(api.runtime, other["secret"]) is not None
    api.client.delete(f"{KEYS}/{other['id']}", headers=api.bearer(admin))
    assert authenticate_api_key(api.runtime, other["secret"]) is None


def test_last_used_is_recorded_at_most_once_a_minute(api: Any) -> None:
    _, admin = api.onboard()
    key = _create(api, admin)

    def last_used() -> datetime | None:
        with api.runtime.database.session() as session:
            return session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key["id"]))

    assert last_used() is None
    before = utcnow()
    assert authenticate_api_key(api.runtime, key["secret"]) is not None
    first = last_used()
    assert first is not None and first >= before
    writes: list[str] = []

    def watch(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            writes.append(statement)

    event.listen(api.runtime.database.engine, "before_cursor_execute", watch)
    try:
        for _ in range(3):
            assert authenticate_api_key(api.runtime, key["secret"]) is not None
    finally:
        event.remove(api.runtime.database.engine, "before_cursor_execute", watch)
    assert writes == []  # not even a no-op UPDATE per request
    assert last_used() == first  # not rewritten within the minute

    shown = api.client.get(f"{KEYS}/{key['id']}", headers=api.bearer(admin)).json
    assert datetime.fromisoformat(shown["last_used_at"]) == first

    _set(api, key["id"], last_used_at=utcnow() - timedelta(seconds=61))
    assert authenticate_api_key(api.runtime, key["secret"]) is not None
    later = last_used()
    assert later is not None and later > first

    wrong = key["secret"][:16] + "A" * 36
    _set(api, key["id"], last_used_at=None)
    assert authenticate_api_key(api.runtime, wrong) is None
    assert last_used() is None  # a refused attempt is not a use


def test_revoke_keys_created_by_revokes_exactly_that_users_active_keys(api: Any) -> None:
    created, admin = api.onboard()
    colleague, colleague_token = api.member(admin, "admin")
    mine = _create(api, admin, name="Mine")
    theirs = [_create(api, colleague_token, name=f"Theirs {n}") for n in range(2)]
    expired = _create(api, colleague_token, name="Theirs expired")
    _set(api, expired["id"], expires_at=utcnow() - timedelta(minutes=1))
    already = _create(api, colleague_token, name="Theirs revoked")
    api.client.delete(f"{KEYS}/{already['id']}", headers=api.bearer(admin))
    _, county = api.onboard("County Health")
    elsewhere = _create(api, county, name="County's")

    actor = Actor.user(created["user"]["id"])
    with api.runtime.database.session() as session:
        revoked = revoke_keys_created_by(
            api.runtime,
            session,
            user_id=colleague["id"],
            organization_id=created["organization"]["id"],
            actor=actor,
        )
        assert sorted(k.id for k in revoked) == sorted(k["id"] for k in theirs)

    statuses = {
        k["id"]: k["status"] for k in api.client.get(KEYS, headers=api.bearer(admin)).json["data"]
    }
    assert statuses == {
        mine["id"]: "active",
        theirs[0]["id"]: "revoked",
        theirs[1]["id"]: "revoked",
        expired["id"]: "expired",
        already["id"]: "revoked",
    }
    for key in theirs:
        assert authenticate_api_key(api.runtime, key["secret"]) is None
    assert authenticate_api_key(api.runtime, mine["secret"]) is not None
    assert authenticate_api_key(api.runtime, elsewhere["secret"]) is not None

    deactivations = [
        e for e in api.events("auth.api_key.revoked") if e["data"]["reason"] == "user_deactivated"
    ]
    assert sorted(e["data"]["api_key_id"] for e in deactivations) == sorted(k["id"] for k in theirs)
    assert all(e["actor"] == {"type": "user", "id": created["user"]["id"]} for e in deactivations)


def test_only_admins_see_and_manage_keys(api: Any) -> None:
    _, admin = api.onboard()
    key = _create(api, admin)
    for role in ("viewer", "analyst", "compliance_officer", "executive"):
        _, token = api.member(admin, role)
        headers = api.bearer(token)
        assert (
            api.client.post(
                KEYS, json={"name": "Mine", "scopes": ["telemetry:write"]}, headers=headers
            ).status_code
            == 403
        ), role
        assert api.client.get(KEYS, headers=headers).status_code == 403, role
        assert api.client.get(f"{KEYS}/{key['id']}", headers=headers).status_code == 403, role
        assert api.client.delete(f"{KEYS}/{key['id']}", headers=headers).status_code == 403, role
    assert [r.id for r in _rows(api)] == [key["id"]]
    assert authenticate_api_key(api.runtime, key["secret"]) is not None
    assert api.client.get(KEYS).status_code == 401


def test_another_organizations_keys_answer_404(api: Any) -> None:
    _, mercy = api.onboard("Mercy General")
    _, county = api.onboard("County Health")
    theirs = _create(api, county, name="County's pusher")
    for method in ("get", "delete"):
        for key_id in (theirs["id"], "00000000-0000-0000-0000-000000000000", "not-a-uuid"):
            response = getattr(api.client, method)(f"{KEYS}/{key_id}", headers=api.bearer(mercy))
            assert response.status_code == 404, (method, key_id, response.json)
    assert api.client.get(KEYS, headers=api.bearer(mercy)).json["data"] == []
    assert api.client.get(f"{KEYS}/{theirs['id']}", headers=api.bearer(county)).json["status"] == (
        "active"
    )
    assert authenticate_api_key(api.runtime, theirs["secret"]) is not None
    assert api.events("auth.api_key.revoked") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Pusher", "scopes": ["telemetry:admin"]}, "scopes"),
        ({"name": "Pusher", "scopes": []}, "scopes"),
        ({"name": "Pusher", "scopes": "telemetry:write"}, "scopes"),
        ({"name": "Pusher"}, "scopes"),
        ({"name": "   ", "scopes": ["telemetry:write"]}, "name"),
        ({"name": "x" * 101, "scopes": ["telemetry:write"]}, "name"),
        ({"scopes": ["telemetry:write"]}, "name"),
        (
            {"name": "Pusher", "scopes": ["telemetry:write"], "expires_at": "2020-01-01T00:00:00Z"},
            "expires_at",
        ),
        (
            {"name": "Pusher", "scopes": ["telemetry:write"], "expires_at": "2999-01-01T00:00:00"},
            "expires_at",
        ),
        ({"name": "Pusher", "scopes": ["telemetry:write"], "expires_at": "soon"}, "expires_at"),
        ({"name": "Pusher", "scopes": ["telemetry:write"], "secret": "spk_test_mine"}, "secret"),
        (
            {"name": "Pusher", "scopes": ["telemetry:write"], "organization_id": "x"},
            "organization_id",
        ),
    ],
)
def test_bad_bodies_are_422_problems_and_create_nothing(
    api: Any, body: dict[str, Any], field: str
) -> None:
    _, admin = api.onboard()
    response = api.client.post(KEYS, json=body, headers=api.bearer(admin))
    assert response.status_code == 422, response.json
    assert response.mimetype == "application/problem+json"
    assert field in {e["field"].split(".")[0] for e in response.json["errors"]}
    assert _rows(api) == [] and api.events("auth.api_key.created") == []


def test_the_service_refuses_what_the_api_would_and_says_which_field(api: Any) -> None:
    created, _ = api.onboard()
    identity = Identity(
        subject_type="user",
        subject_id=created["user"]["id"],
        organization_id=created["organization"]["id"],
        role="admin",
    )
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "", "scopes": ["telemetry:write"], "expires_at": None}, "name"),
        ({"name": "x", "scopes": [], "expires_at": None}, "scopes"),
        ({"name": "x", "scopes": ["root"], "expires_at": None}, "scopes"),
        (
            {"name": "x", "scopes": ["telemetry:write"], "expires_at": utcnow()},
            "expires_at",
        ),
        (
            {"name": "x", "scopes": ["telemetry:write"], "expires_at": datetime(2999, 1, 1)},
            "expires_at",
        ),
    ]
    for kwargs, field in cases:
        with pytest.raises(api_keys_service.ApiKeyRefused) as refused:
            create_api_key(api.runtime, identity, **kwargs)
        assert refused.value.field == field
    assert _rows(api) == []


def test_production_keys_are_live_and_a_prefix_collision_draws_again(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    created, admin = api.onboard()
    existing = _create(api, admin)
    identity = Identity(
        subject_type="user",
        subject_id=created["user"]["id"],
        organization_id=created["organization"]["id"],
        role="admin",
    )
    production = Runtime(
        installed_components()["auth"],
        api.runtime.settings.model_copy(update={"spectral_env": "production"}),
    )
    try:
        key, secret = create_api_key(
            production,
            identity,
            name="Live",
            scopes=["ai_systems:read"],
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )
        assert secret.startswith("spk_live_") and key.prefix == secret[:16]
        principal = authenticate_api_key(production, secret)
        assert principal is not None and principal.id == key.id

        # The first draw repeats the existing key's prefix (but not its secret): drawn again.
        clash = existing["secret"][9:16] + secrets.token_urlsafe(32)[7:]
        draws = iter([clash, secrets.token_urlsafe(32)])
        calls: list[int] = []

        def token_urlsafe(nbytes: int | None = None) -> str:
            calls.append(nbytes or 0)
            return next(draws)

        monkeypatch.setattr(api_keys_service.secrets, "token_urlsafe", token_urlsafe)
        again, again_secret = create_api_key(
            api.runtime, identity, name="Second", scopes=["telemetry:write"], expires_at=None
        )
        monkeypatch.undo()
        assert calls == [32, 32]
        assert again.prefix != existing["prefix"] and again.prefix == again_secret[:16]
        assert authenticate_api_key(api.runtime, again_secret) is not None
        assert authenticate_api_key(api.runtime, existing["secret"]) is not None
    finally:
        production.database.dispose()


def test_the_openapi_document_describes_the_key_endpoints(api: Any) -> None:
    document = api.client.get("/api/v1/auth/openapi.json").json
    assert set(document["paths"][KEYS]) == {"get", "post"}
    assert set(document["paths"][f"{KEYS}/{{key_id}}"]) == {"get", "delete"}
    assert "secret" in document["components"]["schemas"]["ApiKeyWithSecret"]["properties"]
    assert "secret" not in document["components"]["schemas"]["ApiKeyOut"]["properties"]
