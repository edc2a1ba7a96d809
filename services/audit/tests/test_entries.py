"""Turning events into audit entries (pure) and appending them exactly once (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from spectral_audit.entries import entry_from_envelope
from spectral_audit.models import AuditEntry
from spectral_shared.bus import Actor, Envelope
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings
from spectral_shared.testing import fire


def test_an_entry_names_its_action_actor_and_resource() -> None:
    org = uuid.uuid4()
    envelope = Envelope(
        type="auth.user.registered",
        organization_id=org,
        actor=Actor.user("u-1"),
        data={"user_id": "u-1", "email": "ada@mercy.example", "name": "Ada", "role": "admin"},
    )
    entry = entry_from_envelope(envelope)
    assert (entry.action, entry.resource_type, entry.resource_id) == (
        "auth.user.registered",
        "user",
        "u-1",
    )
    assert (entry.actor_type, entry.actor_id, entry.organization_id) == ("user", "u-1", str(org))
    assert entry.message_id == str(envelope.id) and entry.occurred_at == envelope.occurred_at


def test_secrets_never_reach_an_entry_at_any_depth() -> None:
    envelope = Envelope(
        type="auth.login.failed",
        actor=Actor.anonymous(),
        data={
            "reason": "bad_password",
            "password": "hunter2hunter2",
            "context": {"api_key": "sk_live_x", "ip": "10.0.0.1"},
        },
    )
    stored = json.loads(entry_from_envelope(envelope).data)
    assert stored["password"] == "[REDACTED]" and stored["context"]["api_key"] == "[REDACTED]"
    assert stored["context"]["ip"] == "10.0.0.1" and stored["reason"] == "bad_password"
    assert entry_from_envelope(envelope).organization_id is None  # the platform log


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
)
def test_redelivered_events_are_appended_once(
    backend: str, make_settings: Callable[..., Settings], request: pytest.FixtureRequest
) -> None:
    overrides = (
        {"database_url": request.getfixturevalue("pg_url")} if backend == "postgresql" else {}
    )
    runtime = Runtime(installed_components()["audit"], make_settings(**overrides))
    runtime.migrate()
    envelope = Envelope(
        type="auth.user.logged_in",
        actor=Actor.user("u-2"),
        data={"user_id": "u-2", "method": "password"},
    )
    outcomes = [fire(runtime, "audit.log", envelope) for _ in range(3)]
    assert outcomes == ["handled", "duplicate", "duplicate"]
    with runtime.database.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 1
    runtime.database.dispose()
