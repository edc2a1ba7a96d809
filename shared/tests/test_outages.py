"""Nothing accepted is lost when RabbitMQ or PostgreSQL restarts: events recorded before, during
and after an outage all arrive, once each, and none is parked as a dead letter for a human to
replay. The servers are the real ones, reached through a proxy that takes them away
(``spectral_shared.testing.outage``), as a restart looks to their clients."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from spectral_auth import event_types as ev
from spectral_auth.models import bus as auth_bus
from spectral_shared.bus import Actor, Envelope, record_event
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings
from spectral_shared.testing import running_relay, running_worker, wait_until
from spectral_shared.testing.outage import Outage

pytestmark = pytest.mark.integration

OUTAGE = 3.0  # seconds: far past the retry delays the tests run with (0.1 s, 0.2 s)


def runtime(name: str, settings: Settings) -> Runtime:
    return Runtime(installed_components()[name], settings)


@pytest.fixture
def runtimes() -> Iterator[list[Runtime]]:
    made: list[Runtime] = []
    yield made
    for each in made:
        each.database.dispose()


def emit(auth: Runtime, count: int, label: str) -> list[Envelope]:
    with auth.database.session() as session:
        return [
            record_event(
                session,
                auth_bus,
                ev.USER_EMAIL_VERIFIED,
                ev.UserEmailVerified(user_id=f"{label}-{n}"),
                organization_id=None,
                actor=Actor.system("test"),
            )
            for n in range(count)
        ]


def audited_ids(audit: Runtime) -> list[str]:
    from spectral_audit.models import Entry

    with audit.database.session() as session:
        return [str(i) for i in session.scalars(select(Entry.message_id))]


def unpublished(auth: Runtime) -> int:
    outbox = auth.component.tables.outbox
    with auth.database.session() as session:
        return (
            session.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            )
            or 0
        )


def most_attempts(auth: Runtime) -> int:
    outbox = auth.component.tables.outbox
    with auth.database.session() as session:
        return session.scalar(select(func.max(outbox.c.attempts))) or 0


def every_event_audited_once(audit: Runtime, events: list[Envelope]) -> None:
    expected = sorted(str(e.id) for e in events)
    wait_until(
        lambda: sorted(audited_ids(audit)) == expected or None,
        timeout=60,
        what=f"{len(expected)} events in the audit log",
    )
    assert sorted(audited_ids(audit)) == expected  # and nothing twice


def test_a_broker_restart_loses_and_doubles_nothing(
    integration_settings: Settings, runtimes: list[Runtime]
) -> None:
    broker, via_proxy = Outage.of_url(integration_settings.broker_url)
    settings = integration_settings.model_copy(update={"broker_url": via_proxy})
    auth, audit = runtime("auth", settings), runtime("audit", settings)
    runtimes += [auth, audit]
    try:
        with running_worker(audit) as (_, deliveries), running_relay(auth):
            before = emit(auth, 20, "before")
            wait_until(lambda: len(audited_ids(audit)) == 20, what="the first events")
            with broker.during():
                during = emit(auth, 20, "during")
                time.sleep(OUTAGE)
                assert unpublished(auth) == 20  # kept in the outbox
            back = time.monotonic()
            wait_until(lambda: unpublished(auth) == 0, what="the outbox to drain")
            assert time.monotonic() - back < 10  # the relay tries every 5 s at most
            # An unreachable broker is no event's fault: none spent an attempt or was pushed
            # back by the per-event backoff.
            assert most_attempts(auth) == 0
            after = emit(auth, 20, "after")
            every_event_audited_once(audit, before + during + after)
            assert not [d for d in deliveries.deliveries if d.outcome == "dead_lettered"]
    finally:
        broker.close()


def test_a_relay_round_without_a_broker_tries_once_and_leaves_every_event_as_it_was(
    integration_settings: Settings, runtimes: list[Runtime]
) -> None:
    broker, via_proxy = Outage.of_url(integration_settings.broker_url)
    settings = integration_settings.model_copy(update={"broker_url": via_proxy})
    auth, audit = runtime("auth", settings), runtime("audit", settings)
    runtimes += [auth, audit]
    relay = auth.relay()
    try:
        with running_worker(audit) as (_, deliveries):  # declares audit.log: events are routable
            events = emit(auth, 50, "queued")
            broker.down()
            started = time.monotonic()
            assert relay.publish_due() == 0
            # One connection attempt for the round, not one per event: a relay must keep
            # beating its liveness heartbeat through an outage of any length.
            assert time.monotonic() - started < 5
            assert relay.broker_down_since is not None
            assert unpublished(auth) == 50 and most_attempts(auth) == 0
            broker.up()
            assert relay.publish_due() == 50
            assert relay.broker_down_since is None
            deliveries.wait_for(lambda d: d.outcome == "handled", count=50, timeout=30)
        assert sorted(audited_ids(audit)) == sorted(str(e.id) for e in events)
    finally:
        relay.publisher.close()
        broker.close()


def test_a_database_restart_under_the_worker_loses_nothing_and_parks_nothing(
    integration_settings: Settings, runtimes: list[Runtime]
) -> None:
    database, via_proxy = Outage.of_url(integration_settings.database_url or "")
    auth = runtime("auth", integration_settings)  # records and publishes throughout
    audit = runtime("audit", integration_settings.model_copy(update={"database_url": via_proxy}))
    runtimes += [auth, audit]
    try:
        with running_worker(audit) as (_, deliveries), running_relay(auth):
            before = emit(auth, 20, "before")
            wait_until(lambda: len(audited_ids(audit)) == 20, what="the first events")
            with database.during():
                during = emit(auth, 20, "during")
                wait_until(lambda: unpublished(auth) == 0, what="the events to reach the broker")
                time.sleep(OUTAGE)  # the worker has them and no database to write them to
            after = emit(auth, 20, "after")
            every_event_audited_once(audit, before + during + after)
            outcomes = {d.outcome for d in deliveries.deliveries}
            assert "dead_lettered" not in outcomes
            assert "retried" not in outcomes  # an outage spends none of a message's attempts
    finally:
        database.close()


@pytest.mark.parametrize(
    ("setting", "store"),
    [("database_url", "database"), ("redis_url", "session store")],  # sign-in reads both
)
def test_a_request_while_a_store_is_down_is_a_503_problem_to_retry(
    setting: str, store: str, integration_settings: Settings, runtimes: list[Runtime]
) -> None:
    server, via_proxy = Outage.of_url(getattr(integration_settings, setting) or "")
    auth = runtime("auth", integration_settings.model_copy(update={setting: via_proxy}))
    runtimes.append(auth)
    client = auth.app().test_client()
    sign_in = {"email": "nobody@example.org", "password": "not-a-password-1"}
    try:
        with server.during():
            response = client.post("/api/v1/auth/login", json=sign_in)
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "5"
            assert response.content_type == "application/problem+json"
            assert response.json is not None
            assert response.json["title"] == "Service unavailable"
            assert f"could not reach its {store}" in response.json["detail"]
            assert "Idempotency-Key" in response.json["detail"]
        # It is back: the same request gets its real answer.
        assert client.post("/api/v1/auth/login", json=sign_in).status_code == 401
    finally:
        server.close()
