"""The delivery outbox (ADR 0032): where messages may go, one retry/backoff/dead state for every
channel, replaying dead ones, and no transaction held while a sender talks to the network."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from spectral_shared import metrics
from spectral_shared.bus.tables import bus_tables
from spectral_shared.crypto import FieldCipher
from spectral_shared.db import Database, utcnow
from spectral_shared.delivery import (
    DeliveryPolicy,
    DeliveryRefused,
    SlackSender,
    WebhookSender,
    dead_deliveries,
    deliver_due,
    queue_delivery,
    replay_dead_deliveries,
)
from spectral_shared.testing.fakes import FakeApiHandler, serve_http

TABLES = bus_tables(sa.MetaData())
CIPHER = FieldCipher.from_config(base64.b64encode(secrets.token_bytes(32)).decode())
DEV = DeliveryPolicy()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The audit service's database (its bus tables are every service's) on each backend."""
    if request.param == "sqlite":
        database = Database("audit", f"sqlite:///{tmp_path / 'bus.db'}")
        TABLES.outbox.metadata.create_all(database.engine)
    else:
        database = Database("audit", request.getfixturevalue("pg_url"))  # migrated
    yield database
    database.dispose()


class Hook:
    """A fake incoming webhook: records bodies, answers ``status``."""

    def __init__(self) -> None:
        self.status = 200
        self.received: list[Any] = []


@pytest.fixture
def hook() -> Iterator[tuple[Hook, str]]:
    state = Hook()

    class Handler(FakeApiHandler):
        def do_POST(self) -> None:
            state.received.append(self.read_json())
            if state.status in (301, 302, 307):
                self.send_response(state.status)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.answer(state.status, {"ok": state.status < 300})

    with serve_http(Handler) as url:
        yield state, url


def rows(database: Database) -> list[Any]:
    with database.session() as session:
        return list(session.execute(sa.select(TABLES.deliveries).order_by(TABLES.deliveries.c.seq)))


def make_due(database: Database) -> None:
    with database.session() as session:
        session.execute(TABLES.deliveries.update().values(available_at=utcnow()))


def queue(database: Database, channel: Any, target: str, body: Mapping[str, Any]) -> str:
    with database.session() as session:
        return queue_delivery(session, TABLES, CIPHER, channel, target, body)


SENDERS = {"slack": SlackSender(timeout=5), "webhook": WebhookSender(timeout=5)}


@pytest.mark.parametrize(
    ("channel", "target", "reason"),
    [
        ("slack", "http://hooks.slack.com/services/T/B/x", "https://"),
        ("slack", "https://hooks.slack.com.evil.example/services/T/B/x", "hooks.slack.com"),
        ("slack", "https://evil.example/services/T/B/x", "hooks.slack.com"),
        ("slack", "https://hooks.slack.com:8443/services/T/B/x", "hooks.slack.com"),
        ("slack", "https://user:pw@hooks.slack.com/services/T/B/x", "credentials"),
        ("webhook", "http://example.org/hook", "https://"),
        ("webhook", "http://10.0.0.7/hook", "https://"),
        ("webhook", "ftp://example.org/hook", "https://"),
        ("webhook", "not a url", "https://"),
        ("email", "ada@mercy.example\r\nBcc: all@example.org", "plain address"),
        ("email", "nobody", "plain address"),
        ("sms", "+15555550100", "channel"),
    ],
)
def test_a_target_that_may_not_be_sent_to_is_refused_at_queue_time(
    database: Database, channel: str, target: str, reason: str
) -> None:
    with pytest.raises(DeliveryRefused, match=reason) as refused:
        queue(database, channel, target, {"text": "x"})
    assert target not in str(refused.value)
    assert rows(database) == []


def test_allowed_targets_are_queued_sealed_to_their_row(database: Database) -> None:
    for channel, target in (
        ("slack", "https://hooks.slack.com/services/T/B/x"),
        ("webhook", "https://siem.hospital.example/spectral"),
        ("webhook", "http://127.0.0.1:8080/hook"),  # loopback: tests and development
        ("email", "ada@mercy.example"),
    ):
        queue(database, channel, target, {"text": "secret words"})
    stored = rows(database)
    assert [r.channel for r in stored] == ["slack", "webhook", "webhook", "email"]
    for row in stored:
        assert "hooks.slack" not in row.target and "hospital" not in row.target
        assert "secret words" not in row.body
        assert row.target.startswith("v1.") and row.body.startswith("v1.")
    # Bound to its row: another row's ciphertext does not open here.
    first, second = stored[0], stored[1]
    with database.session() as session:
        session.execute(
            TABLES.deliveries.update()
            .where(TABLES.deliveries.c.seq == second.seq)
            .values(target=first.target)
        )
    assert deliver_due(database, TABLES, CIPHER, SENDERS, policy=DEV) == 0
    assert rows(database)[1].last_error == "DecryptionError"


def test_slack_and_webhooks_are_posted_retried_with_backoff_then_dead(
    database: Database, hook: tuple[Hook, str]
) -> None:
    state, url = hook
    queue(database, "slack", f"{url}/services/T/B/x", {"text": "Sepsis Watch HIGH"})
    queue(database, "webhook", f"{url}/spectral", {"event": "alert", "severity": "high"})

    assert deliver_due(database, TABLES, CIPHER, SENDERS, policy=DEV) == 2
    assert state.received == [
        {"text": "Sepsis Watch HIGH"},
        {"event": "alert", "severity": "high"},
    ]
    assert all(r.sent_at is not None for r in rows(database))

    state.status = 503
    queue(database, "slack", f"{url}/services/T/B/x", {"text": "again"})
    dead_before = metrics.deliveries_dead.labels("audit", "slack")._value.get()
    before = utcnow()
    assert deliver_due(database, TABLES, CIPHER, SENDERS, policy=DEV, max_attempts=3) == 0
    failed = rows(database)[2]
    assert (failed.attempts, failed.sent_at, failed.dead_at) == (1, None, None)
    assert failed.available_at > before  # backoff
    assert failed.last_error == "SendFailed: answered 503"
    # Not due yet: a second pass does not hammer the failing webhook.
    assert deliver_due(database, TABLES, CIPHER, SENDERS, policy=DEV, max_attempts=3) == 0
    assert len(state.received) == 3

    for _ in range(2):
        make_due(database)
        deliver_due(database, TABLES, CIPHER, SENDERS, policy=DEV, max_attempts=3)
    dead = rows(database)[2]
    assert dead.attempts == 3 and dead.dead_at is not None and dead.sent_at is None
    assert metrics.deliveries_dead.labels("audit", "slack")._value.get() == dead_before + 1
    make_due(database)
    assert deliver_due(database, TABLES, CIPHER, SENDERS, policy=DEV, max_attempts=3) == 0
    assert len(state.received) == 5  # a dead row is not sent again

    [listed] = dead_deliveries(database, TABLES)
    assert listed["id"] == dead.id and listed["channel"] == "slack"
    assert "127.0.0.1" not in str(listed) and "again" not in str(listed)

    state.status = 200
    assert replay_dead_deliveries(database, TABLES, channel="slack") == 1
    assert deliver_due(database, TABLES, CIPHER, SENDERS, policy=DEV, max_attempts=3) == 1
    assert state.received[-1] == {"text": "again"}
    assert dead_deliveries(database, TABLES) == []


def test_a_redirect_is_not_followed(database: Database, hook: tuple[Hook, str]) -> None:
    state, url = hook
    state.status = 302
    queue(database, "webhook", f"{url}/spectral", {"event": "alert"})
    assert deliver_due(database, TABLES, CIPHER, SENDERS, policy=DEV) == 0
    assert len(state.received) == 1
    assert rows(database)[0].last_error == "SendFailed: answered 302"


def test_a_production_relay_refuses_loopback_targets_and_kills_them_at_once(
    database: Database, hook: tuple[Hook, str]
) -> None:
    state, url = hook
    queue(database, "webhook", f"{url}/spectral", {"event": "alert"})
    production = DeliveryPolicy.for_environment(production=True)
    assert deliver_due(database, TABLES, CIPHER, SENDERS, policy=production) == 0
    [row] = rows(database)
    assert state.received == []
    assert row.dead_at is not None and row.attempts == 1
    assert row.last_error == "DeliveryRefused: a webhook target must be an https:// URL"


@pytest.mark.integration
def test_nothing_is_locked_while_a_sender_talks_to_the_network(pg_url: str) -> None:
    """The row is claimed (leased) and the claim committed before sending: while the sender runs,
    another connection can lock the very row, and a second relay does not claim it again."""
    database = Database("audit", pg_url)
    seen: list[object] = []

    class Probe:
        def send(self, target: str, body: Mapping[str, Any]) -> None:
            with database.engine.connect() as other:
                other.execute(sa.text("SET lock_timeout = '1s'"))
                seen.append(
                    other.execute(
                        sa.text("SELECT id FROM deliveries FOR UPDATE NOWAIT")
                    ).scalar_one()
                )
                other.rollback()
            seen.append(deliver_due(database, TABLES, CIPHER, {"webhook": Probe()}, policy=DEV))

    try:
        delivery_id = queue(database, "webhook", "https://siem.hospital.example/x", {"a": 1})
        assert deliver_due(database, TABLES, CIPHER, {"webhook": Probe()}, policy=DEV) == 1
        assert seen == [delivery_id, 0]
    finally:
        database.dispose()
