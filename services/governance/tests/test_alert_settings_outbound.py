"""The Slack webhook an organization sets goes through the outbound policy (ADR 0036): refused
at the API unless on hooks.slack.com (a local fake only with the operator's
OUTBOUND_ALLOW_PRIVATE), clearing or changing it stops what still waits for the old one, and a
slow Slack holds no database lock: /health and other writes go on while the relay waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from spectral_governance.testing import Governance, governance_app
from spectral_shared.config import Settings
from spectral_shared.testing.fakes import FakeApiHandler, serve_http

SETTINGS = "/api/v1/alerts/settings"


@pytest.fixture
def local_gov(make_settings: Callable[..., Settings]) -> Iterator[Governance]:
    """Governance embedded (SQLite) with OUTBOUND_ALLOW_PRIVATE=127.0.0.1, as a developer's."""
    yield from governance_app(make_settings(outbound_allow_private="127.0.0.1"))


@pytest.fixture
def strict_gov(make_settings: Callable[..., Settings]) -> Iterator[Governance]:
    """Governance with the default (and production's) policy."""
    yield from governance_app(make_settings())


class Slack:
    """A fake incoming webhook on 127.0.0.1 that counts the requests reaching it."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.received: list[tuple[str, Any]] = []
        self.arrived = threading.Event()

    def handler(self) -> type[FakeApiHandler]:
        state = self

        class Handler(FakeApiHandler):
            def do_POST(self) -> None:
                state.received.append((self.path, self.read_json()))
                state.arrived.set()
                time.sleep(state.delay)
                self.answer(200, {"ok": True})

        return Handler


def drift(system_id: str) -> dict[str, Any]:
    return {
        "ai_system_id": system_id,
        "event_type": "model_drift",
        "payload": {"accuracy_drop": 0.12},
    }


def raise_high_alert(gov: Governance, name: str = "Sepsis Watch") -> None:
    system = gov.create(name=name, risk_level="high")
    assert gov.report(drift(system["id"])).status_code == 202
    gov.translate()


def pending_slack(gov: Governance) -> int:
    deliveries = gov.runtime.component.tables.deliveries
    with gov.runtime.database.session() as session:
        return len(
            session.execute(
                select(deliveries.c.seq).where(
                    deliveries.c.channel == "slack", deliveries.c.sent_at.is_(None)
                )
            ).all()
        )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/services/T/B/x", "private, loopback or link-local"),
        ("https://169.254.169.254/latest/meta-data", "private, loopback or link-local"),
        ("https://[::1]/services/T/B/x", "private, loopback or link-local"),
        ("http://hooks.slack.com/services/T/B/x", "must be an https:// URL"),
        (
            "https://hooks.slack.com.evil.example/services/T/B/x",
            "must be on https://hooks.slack.com/",
        ),
        ("https://siem.hospital.example/hook", "must be on https://hooks.slack.com/"),
        ("https://u:p@hooks.slack.com/services/T/B/x", "credentials"),
        ("http://127.0.0.1:8080/services/T/B/x", "must be an https:// URL"),
    ],
)
def test_a_slack_webhook_off_hooks_slack_com_is_a_422_pointing_at_the_field(
    strict_gov: Governance, url: str, reason: str
) -> None:
    gov = strict_gov
    answer = gov.request("PUT", SETTINGS, {"slack_webhook_url": url})
    assert answer.status_code == 422, answer.get_json()
    problem = answer.get_json()
    assert answer.content_type == "application/problem+json"
    [error] = problem["errors"]
    assert error["field"] == "slack_webhook_url" and error["pointer"] == "/slack_webhook_url"
    assert reason in error["message"]
    assert url not in answer.get_data(as_text=True)
    assert gov.request("GET", SETTINGS).get_json()["slack_webhook_set"] is False


def test_slack_on_its_host_is_accepted_and_a_loopback_fake_only_with_the_operator_setting(
    strict_gov: Governance, local_gov: Governance
) -> None:
    real = {"slack_webhook_url": "https://hooks.slack.com/services/T0/B0/abc"}
    assert strict_gov.request("PUT", SETTINGS, real).status_code == 200
    fake = {"slack_webhook_url": "http://127.0.0.1:8080/services/T/B/x"}
    assert strict_gov.request("PUT", SETTINGS, fake).status_code == 422
    assert local_gov.request("PUT", SETTINGS, fake).status_code == 200


def test_clearing_or_changing_the_webhook_stops_what_waits_for_the_old_one(
    local_gov: Governance,
) -> None:
    gov = local_gov
    gov.allow(None)
    old, new = Slack(), Slack()
    with serve_http(old.handler()) as old_url, serve_http(new.handler()) as new_url:
        old_hook = {"slack_webhook_url": f"{old_url}/services/T/B/old"}
        assert gov.request("PUT", SETTINGS, old_hook).status_code == 200
        raise_high_alert(gov, "Sepsis Watch")
        assert pending_slack(gov) == 1

        # Cleared: the queued message is cancelled in the same transaction; the relay sends none.
        assert gov.request("PUT", SETTINGS, {"slack_webhook_url": None}).status_code == 200
        assert pending_slack(gov) == 0
        gov.runtime.deliver_due()
        assert old.received == []

        # Changed: what waited for the old webhook is dropped; the new one gets what follows.
        assert gov.request("PUT", SETTINGS, old_hook).status_code == 200
        raise_high_alert(gov, "Stroke Triage")
        new_hook = {"slack_webhook_url": f"{new_url}/services/T/B/new"}
        assert gov.request("PUT", SETTINGS, new_hook).status_code == 200
        raise_high_alert(gov, "Fall Risk")
        gov.runtime.deliver_due()
        assert old.received == []
        [(path, message)] = new.received
        assert path == "/services/T/B/new" and "Fall Risk" in message["text"]

        # Setting the same webhook again cancels nothing.
        raise_high_alert(gov, "Readmission")
        assert gov.request("PUT", SETTINGS, new_hook).status_code == 200
        assert pending_slack(gov) == 1


def test_a_slow_slack_holds_no_lock_health_and_writes_go_on(local_gov: Governance) -> None:
    """Embedded shape (SQLite) with the relay running: while its Slack send hangs on a slow
    endpoint, /health reports the database up and another write commits, both promptly. (Any
    send made with a transaction open would also fail here: tests run the guard strictly.)"""
    gov = local_gov
    slow = Slack(delay=6.0)
    with serve_http(slow.handler()) as url:
        hook = {"slack_webhook_url": f"{url}/services/T/B/x"}
        assert gov.request("PUT", SETTINGS, hook).status_code == 200
        raise_high_alert(gov)
        stop = threading.Event()
        relay = threading.Thread(target=gov.runtime.run_relay, args=(stop,), daemon=True)
        relay.start()
        try:
            assert slow.arrived.wait(10), "the relay never sent the Slack message"
            time.sleep(0.2)  # well inside the send, which takes 6 s

            started = time.monotonic()
            health = gov.client.get("/health")
            assert health.status_code == 200, health.get_json()
            assert health.get_json()["checks"]["database"] == "up"
            assert time.monotonic() - started < 1.5

            started = time.monotonic()
            gov.create(name="Written meanwhile", risk_level="low")
            assert (
                gov.request("PUT", SETTINGS, {"sla_minutes": {"critical": 10}}).status_code == 200
            )
            assert time.monotonic() - started < 2
            assert relay.is_alive() and len(slow.received) == 1
        finally:
            stop.set()
            relay.join(15)
    assert pending_slack(gov) == 0  # the slow send completed and was recorded
