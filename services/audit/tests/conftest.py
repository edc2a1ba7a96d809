"""An audit runtime on SQLite or on real PostgreSQL, and envelopes to feed it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from spectral_shared.bus import Actor, Envelope
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def audit(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings]
) -> Iterator[Runtime]:
    overrides = (
        {"database_url": request.getfixturevalue("pg_url")} if request.param == "postgresql" else {}
    )
    runtime = Runtime(installed_components()["audit"], make_settings(**overrides))
    runtime.migrate()
    yield runtime
    runtime.database.dispose()


@pytest.fixture
def pg_audit(make_settings: Callable[..., Settings], pg_url: str) -> Iterator[Runtime]:
    runtime = Runtime(installed_components()["audit"], make_settings(database_url=pg_url))
    runtime.migrate()
    yield runtime
    runtime.database.dispose()


@pytest.fixture
def login() -> Callable[..., Envelope]:
    """A sign-in event of ``user`` in ``organization`` (None: the platform log)."""

    def make(organization: uuid.UUID | None, user: str = "u-1", **data: object) -> Envelope:
        return Envelope(
            type="auth.user.logged_in",
            organization_id=organization,
            actor=Actor.user(user),
            data={"user_id": user, "method": "password", **data},
        )

    return make


Tamper = Callable[..., None]


def _tamper(runtime: Runtime, statement: str, **params: object) -> None:
    """What an attacker with the database's keys could do, behind the service's back: on
    PostgreSQL as the superuser with triggers off, on SQLite with the triggers dropped for the
    statement and put back."""
    from sqlalchemy import text

    with runtime.database.engine.begin() as conn:
        if runtime.database.is_postgres:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(statement), params)
            return
        triggers = conn.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        ).all()
        for name, _ in triggers:
            conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        conn.execute(text(statement), params)
        for _, sql in triggers:
            conn.exec_driver_sql(sql)


@pytest.fixture
def tamper() -> Tamper:
    """``tamper(runtime, statement, **params)``: the statement run as an attacker would."""
    return _tamper
