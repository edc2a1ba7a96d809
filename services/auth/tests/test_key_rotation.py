"""Rotating the token-signing key: old tokens keep verifying for the grace period, new ones use
the new key, and a retired key leaves the JWKS after the grace period."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import update

from spectral_auth.models import SigningKey
from spectral_shared.component import Runtime
from spectral_shared.db import utcnow
from spectral_shared.testing.plugin import TEST_ENCRYPTION_KEY

pytestmark = pytest.mark.integration


def rotate(api: Any, pg_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "ENCRYPTION_KEY": TEST_ENCRYPTION_KEY,
        "SPECTRAL_ENV": "test",
        "LOG_LEVEL": "warning",
        "VAR_DIR": str(api.runtime.settings.var_dir),
        **env,
    }
    command = [sys.executable, "-m", "spectral_shared.cli", "auth", "rotate-keys"]
    return subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def test_rotation_keeps_old_tokens_valid_for_the_grace_period_only(api: Any, pg_url: str) -> None:
    created, old_token = api.onboard()
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    done = rotate(api, pg_url)
    assert done.returncode == 0, done.stderr
    assert f"retired {old_kid}" in done.stdout

    kids = {k["kid"] for k in api.client.get("/.well-known/jwks.json").json["keys"]}
    assert old_kid in kids and len(kids) == 2
    assert api.client.get("/api/v1/auth/me", headers=api.bearer(old_token)).status_code == 200
    new_token = api.login(created["user"]["email"])
    assert jwt.get_unverified_header(new_token)["kid"] != old_kid
    [event] = api.events("auth.signing_key.rotated")
    assert event["data"]["retired"] == [old_kid] and event["organization_id"] is None

    with api.runtime.database.session() as session:  # a day later
        session.execute(
            update(SigningKey)
            .where(SigningKey.kid == old_kid)
            .values(retired_at=utcnow() - timedelta(hours=25))
        )
    assert old_kid not in {k["kid"] for k in api.client.get("/.well-known/jwks.json").json["keys"]}
    # A process re-reads the key table at most once a minute; a fresh one sees the change at once.
    fresh = Runtime(api.runtime.component, api.runtime.settings).app().test_client()
    assert fresh.get("/api/v1/auth/me", headers=api.bearer(old_token)).status_code == 401
    assert fresh.get("/api/v1/auth/me", headers=api.bearer(new_token)).status_code == 200


def test_rotation_refuses_a_token_lifetime_longer_than_the_grace(api: Any, pg_url: str) -> None:
    api.onboard()
    refused = rotate(api, pg_url, JWT_EXPIRY="2d")
    assert refused.returncode != 0 and "must be shorter" in refused.stderr


def test_a_signing_key_under_a_key_taken_away_while_running_answers_503_not_500(api: Any) -> None:
    """The start-up check refuses this; a key removed from a running process's ring must still
    not turn sign-in into a bare 500."""
    import base64

    from pydantic import SecretStr

    from spectral_shared.crypto import decode_key, key_id

    created, _ = api.onboard()  # its signing key is encrypted under the test key
    other = base64.b64encode(b"another-32-byte-key-for-spectral").decode()
    settings = api.runtime.settings.model_copy(update={"encryption_key": SecretStr(other)})
    runtime = Runtime(api.runtime.component, settings)
    answer = (
        runtime.app()
        .test_client()
        .post(
            "/api/v1/auth/login",
            json={"email": created["user"]["email"], "password": "correct horse battery staple"},
        )
    )
    assert answer.status_code == 503, answer.json
    assert answer.json["title"] == "Encryption key not configured"
    assert answer.json["type"].endswith("/encryption-key-not-configured")
    assert (
        key_id(decode_key(TEST_ENCRYPTION_KEY)) not in answer.text
    )  # the log names it, not clients

    from spectral_shared.sealed import check

    refusal = check(runtime)
    assert refusal is not None
    assert f"key id {key_id(decode_key(TEST_ENCRYPTION_KEY))} in auth.signing_keys" in refusal
    runtime.database.dispose()
