"""The delivery outbox (ADR 0032): where messages may go, one retry/backoff/dead state for every
channel, replaying dead ones, cancelling those whose target was cleared, and no transaction held
while a sender talks to the network. Where a URL may lead is ADR 0036's policy
(``test_outbound.py``); the fakes here listen on 127.0.0.1, which only the operator's
``OUTBOUND_ALLOW_PRIVATE`` (``LOCAL``) lets a sender reach."""

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
    cancel_deliveries,
    dead_deliveries,
    deliver_due,
    queue_delivery,
    replay_dead_deliveries,
)
from spectral_shared.outbound import OutboundPolicy
from spectral_shared.testing.fakes import FakeApiHandler, serve_http

TABLES = bus_tables(sa.MetaData())
CIPHER = FieldCipher.from_config(base64.b64encode(secrets.token_bytes(32)).decode())
LOCAL = OutboundPolicy.parse("127.0.0.1")  # OUTBOUND_ALLOW_PRIVATE=127.0.0.1
DEV = DeliveryPolicy(LOCAL)


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


SENDERS = {"slack": SlackSender(LOCAL, timeout=5), "webhook": WebhookSender(LOCAL, timeout=5)}


@pytest.mark.parametrize(
    ("channel", "target", "reason"),
    [
        ("slack", "https://user:pw@hooks.slack.com/services/T/B/x", "credentials"),
        ("webhook", "https://token@siem.example/hook", "credentials"),
        ("webhook", "ftp://example.org/hook", "https://"),
        ("webhook", "not a url", "https://"),
        ("webhook", "https://example.org:99999/hook", "valid URL"),
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
        # Queue time refuses only what no configuration could send: where a URL may lead is
        # decided when it is set and by the sending relay.
        ("webhook", "http://127.0.0.1:8080/hook"),
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


@pytest.mark.parametrize(
    ("channel", "path", "error"),
    [
        ("webhook", "/spectral", "DeliveryRefused: a webhook target must be an https:// URL"),
        (
            "slack",
            "/services/T/B/x",
            "DeliveryRefused: a Slack incoming webhook must be an https:// URL",
        ),
    ],
)
def test_a_relay_without_the_operator_setting_refuses_loopback_and_kills_the_row_at_once(
    database: Database, hook: tuple[Hook, str], channel: Any, path: str, error: str
) -> None:
    state, url = hook
    queue(database, channel, f"{url}{path}", {"text": "x"})
    strict = DeliveryPolicy()  # OUTBOUND_ALLOW_PRIVATE empty: production's, and the default
    senders = {"slack": SlackSender(), "webhook": WebhookSender()}
    assert deliver_due(database, TABLES, CIPHER, senders, policy=strict) == 0
    [row] = rows(database)
    assert state.received == []
    assert row.dead_at is not None and row.attempts == 1
    assert row.last_error == error


def test_a_slack_target_off_hooks_slack_com_is_dead_at_the_relay(database: Database) -> None:
    queue(database, "slack", "https://hooks.slack.com.evil.example/services/T/B/x", {"text": "x"})
    assert deliver_due(database, TABLES, CIPHER, SENDERS, policy=DEV) == 0
    [row] = rows(database)
    assert row.dead_at is not None
    assert row.last_error == (
        "DeliveryRefused: a Slack incoming webhook must be on https://hooks.slack.com/"
    )


def test_cancelled_deliveries_are_not_sent_even_when_already_claimed(
    database: Database, hook: tuple[Hook, str]
) -> None:
    """``cancel_deliveries`` removes the unsent rows (pending or dead) to one target, in the
    caller's transaction; a row a relay claimed before the cancel commits is not sent either."""
    state, url = hook
    old, new = f"{url}/services/T/B/old", f"{url}/services/T/B/new"
    queue(database, "slack", old, {"text": "pending"})
    queue(database, "slack", new, {"text": "kept"})
    queue(database, "webhook", old, {"text": "other channel"})
    with database.session() as session:
        assert cancel_deliveries(session, TABLES, CIPHER, "slack", old) == 1
    assert [r.channel for r in rows(database)] == ["slack", "webhook"]

    # Cancelled between the relay's claim and its send.
    queue(database, "slack", old, {"text": "claimed, then cancelled"})

    class Cancelling:
        """Cancels the old target's rows the first time any Slack message is sent."""

        def __init__(self) -> None:
            self.inner = SlackSender(LOCAL, timeout=5)
            self.done = False

        def send(self, target: str, body: Mapping[str, Any]) -> None:
            if not self.done:
                self.done = True
                with database.session() as session:
                    cancel_deliveries(session, TABLES, CIPHER, "slack", old)
            self.inner.send(target, body)

    senders = {"slack": Cancelling(), "webhook": SENDERS["webhook"]}
    assert deliver_due(database, TABLES, CIPHER, senders, policy=DEV) == 2
    assert state.received == [{"text": "kept"}, {"text": "other channel"}]
    assert rows(database)[-1].channel == "webhook"


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
