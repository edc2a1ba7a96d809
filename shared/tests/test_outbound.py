"""The outbound request policy (ADR 0036): where a URL a tenant sets may lead, checked when it is
set and again at connect time after DNS resolution; the operator's OUTBOUND_ALLOW_PRIVATE as the
only way to reach a private address; and no network call with a database transaction open."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from spectral_shared import outbound
from spectral_shared.config import Settings
from spectral_shared.db import Database
from spectral_shared.delivery import SlackSender, WebhookSender
from spectral_shared.outbound import (
    NetworkCallInTransaction,
    OutboundPolicy,
    OutboundRefused,
    is_public,
    no_transaction_open,
)
from spectral_shared.testing.fakes import FakeApiHandler, serve_http

STRICT = OutboundPolicy()  # OUTBOUND_ALLOW_PRIVATE empty: the default and production's


class Counter:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []  # (path, Host header)


@pytest.fixture
def server() -> Iterator[tuple[Counter, str]]:
    """A local HTTP endpoint that counts what reaches it."""
    counter = Counter()

    class Handler(FakeApiHandler):
        def do_POST(self) -> None:
            self.read_json()
            counter.requests.append((self.path, self.headers.get("Host", "")))
            self.answer(200, {"ok": True})

    with serve_http(Handler) as url:
        yield counter, url


# ---- when a URL is set ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "url", "reason"),
    [
        ("slack", "http://hooks.slack.com/services/T/B/x", "https://"),
        ("slack", "https://hooks.slack.com.evil.example/services/T/B/x", "hooks.slack.com"),
        ("slack", "https://evil.example/services/T/B/x", "hooks.slack.com"),
        ("slack", "https://hooks.slack.com:8443/services/T/B/x", "hooks.slack.com"),
        ("slack", "https://user:pw@hooks.slack.com/services/T/B/x", "credentials"),
        ("slack", "https://127.0.0.1/services/T/B/x", "private"),
        ("webhook", "http://siem.example/hook", "https://"),
        ("webhook", "ftp://siem.example/hook", "https://"),
        ("webhook", "not a url", "https://"),
        ("webhook", "https://siem.example:99999/hook", "valid URL"),
        ("webhook", "https://@siem.example/hook", "credentials"),
        ("webhook", "https://localhost/hook", "private"),
        ("webhook", "https://app.localhost/hook", "private"),
        ("webhook", "https://127.0.0.1/hook", "private"),
        ("webhook", "https://127.1/hook", "private"),
        ("webhook", "https://2130706433/hook", "private"),
        ("webhook", "https://0x7f.0.0.1/hook", "private"),
        ("webhook", "https://017700000001/hook", "private"),
        ("webhook", "https://[::1]/hook", "private"),
        ("webhook", "https://[::ffff:127.0.0.1]/hook", "private"),
        ("webhook", "https://[::ffff:a9fe:a9fe]/hook", "private"),
        ("webhook", "https://169.254.169.254/latest/meta-data", "private"),
        ("webhook", "https://10.0.0.7/hook", "private"),
        ("webhook", "https://172.16.0.1/hook", "private"),
        ("webhook", "https://192.168.1.1/hook", "private"),
        ("webhook", "https://100.64.0.1/hook", "private"),
        ("webhook", "https://0.0.0.0/hook", "private"),
        ("webhook", "https://224.0.0.1/hook", "private"),
        ("webhook", "https://[fd00::1]/hook", "private"),
        ("webhook", "https://[fe80::1]/hook", "private"),
        ("webhook", "https://[ff02::1]/hook", "private"),
    ],
)
def test_a_url_that_may_not_be_set_is_refused_without_repeating_it(
    purpose: str, url: str, reason: str
) -> None:
    with pytest.raises(OutboundRefused, match=reason) as refused:
        STRICT.check_url(url, purpose)
    assert url not in str(refused.value)


@pytest.mark.parametrize(
    ("purpose", "url"),
    [
        ("slack", "https://hooks.slack.com/services/T0/B0/abc"),
        ("slack", "https://HOOKS.slack.com./services/T0/B0/abc"),
        ("slack", "https://hooks.slack.com:443/services/T0/B0/abc"),
        ("webhook", "https://siem.hospital.example/spectral"),
        ("webhook", "https://siem.hospital.example:8443/spectral"),
        ("webhook", "https://93.184.216.34/hook"),
        ("webhook", "https://[2606:4700::1111]/hook"),
    ],
)
def test_public_https_urls_and_slack_on_its_host_may_be_set(purpose: str, url: str) -> None:
    STRICT.check_url(url, purpose)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("0.1.2.3", False),
        ("224.0.0.251", False),
        ("239.255.255.250", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("198.18.0.1", False),
        ("::", False),
        ("::1", False),
        ("fd00::1", False),
        ("fc00::1", False),
        ("fe80::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


# ---- the operator's exception ------------------------------------------------------------------


def test_loopback_is_refused_by_default_and_allowed_only_by_the_operator_setting(
    server: tuple[Counter, str],
) -> None:
    counter, url = server  # http://127.0.0.1:<port>
    with pytest.raises(OutboundRefused, match="https://"):
        STRICT.check_url(f"{url}/hook", "webhook")
    with pytest.raises(OutboundRefused, match="https://"):
        WebhookSender(STRICT).send(f"{url}/hook", {"a": 1})
    assert counter.requests == []

    for setting in ("127.0.0.1", "127.0.0.0/8", "10.0.0.0/8, 127.0.0.1/32"):
        local = OutboundPolicy.parse(setting)
        local.check_url(f"{url}/services/T/B/x", "slack")  # the operator's fake Slack
        SlackSender(local).send(f"{url}/services/T/B/x", {"text": "hi"})
    assert len(counter.requests) == 3

    # Allowing one network allows nothing else.
    other = OutboundPolicy.parse("10.0.0.0/8")
    with pytest.raises(OutboundRefused):
        other.check_url(f"{url}/hook", "webhook")
    with pytest.raises(OutboundRefused):
        other.check_url("https://169.254.169.254/latest/meta-data", "webhook")


def test_the_operator_setting_is_parsed_strictly_and_refused_in_production(
    make_settings: Callable[..., Settings],
) -> None:
    policy = OutboundPolicy.parse(" 127.0.0.1, fd00::/8 ,slack-fake ,")
    assert [str(n) for n in policy.allow_private] == ["127.0.0.1/32", "fd00::/8"]
    assert policy.allow_private_hosts == {"slack-fake"}
    assert OutboundPolicy.parse("") == OutboundPolicy()
    with pytest.raises(ValueError, match="not a network"):
        make_settings(outbound_allow_private="127.0.0.1, http://x/")

    assert make_settings().outbound_allow_private == ""
    production = make_settings(spectral_env="production", outbound_allow_private="127.0.0.1")
    problems = production.production_problems(["governance"], [])
    assert any(p.startswith("OUTBOUND_ALLOW_PRIVATE must be empty") for p in problems)
    quiet = make_settings(spectral_env="production")
    assert not any("OUTBOUND" in p for p in quiet.production_problems(["governance"], []))


# ---- at connect time ------------------------------------------------------------------------------


def _resolving(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Make ``answers``' names resolve to their addresses; returns the names looked up."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            asked.append(host)
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, int(port)),
                )
                for a in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_a_public_name_that_resolves_to_a_private_address_is_refused_before_connecting(
    server: tuple[Counter, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS says hooks.slack.com is 127.0.0.1 (where the counting server listens): refused at
    connect time, with no connection made."""
    counter, url = server
    port = url.rsplit(":", 1)[1]
    _resolving(
        monkeypatch,
        {"hooks.slack.com": ["127.0.0.1"], "mixed.example": ["93.184.216.34", "10.0.0.1"]},
    )
    with pytest.raises(OutboundRefused, match="resolves to a private"):
        SlackSender(STRICT).send("https://hooks.slack.com/services/T/B/x", {"text": "x"})
    # One private answer among public ones is enough.
    with pytest.raises(OutboundRefused, match="resolves to a private"):
        STRICT.session().post(f"http://mixed.example:{port}/hook", json={}, timeout=2)
    assert counter.requests == []


def test_the_connection_goes_to_the_address_that_was_checked(
    server: tuple[Counter, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name is resolved once per connection, by the transport, and the socket is opened to
    that checked address: a second answer (DNS rebinding) is never asked for. Host stays the
    name."""
    counter, url = server
    port = url.rsplit(":", 1)[1]
    asked = _resolving(monkeypatch, {"rebind.example": ["127.0.0.1"]})
    local = OutboundPolicy.parse("127.0.0.1")
    with local.session() as session:
        response = session.post(f"http://rebind.example:{port}/hook", json={}, timeout=2)
    assert response.status_code == 200
    assert asked == ["rebind.example"]
    assert counter.requests == [("/hook", f"rebind.example:{port}")]


def test_no_redirect_is_followed_even_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hits: list[str] = []

    class Redirecting(FakeApiHandler):
        def do_POST(self) -> None:
            hits.append(self.path)
            self.send_response(307)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

    with serve_http(Redirecting) as url:
        local = OutboundPolicy.parse("127.0.0.1")
        with local.session() as session:
            response = session.post(f"{url}/hook", json={}, timeout=2, allow_redirects=True)
    assert response.status_code == 307
    assert hits == ["/hook"]


def test_proxy_variables_are_ignored(
    server: tuple[Counter, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    counter, url = server
    monkeypatch.setenv("HTTP_PROXY", "http://192.0.2.1:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://192.0.2.1:3128")
    SlackSender(OutboundPolicy.parse("127.0.0.1"), timeout=2).send(
        f"{url}/services/T/B/x", {"text": "direct"}
    )
    assert len(counter.requests) == 1


# ---- no network call under a transaction ------------------------------------------------------


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = Database("audit", f"sqlite:///{tmp_path / 'guard.db'}")
    with database.engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE t (n INTEGER)"))
    yield database
    database.dispose()


def test_a_network_call_with_a_transaction_open_fails_under_tests(
    database: Database, server: tuple[Counter, str]
) -> None:
    counter, url = server
    sender = SlackSender(OutboundPolicy.parse("127.0.0.1"), timeout=2)
    no_transaction_open("nothing open")
    with database.session() as session:
        session.execute(sa.text("INSERT INTO t VALUES (1)"))
        with pytest.raises(NetworkCallInTransaction, match="transaction open"):
            sender.send(f"{url}/services/T/B/x", {"text": "under a transaction"})
    with database.read_session() as session:
        session.execute(sa.text("SELECT 1"))
        with pytest.raises(NetworkCallInTransaction):
            no_transaction_open("a read transaction counts too")
    assert counter.requests == []
    # Closed sessions, and other threads' transactions, do not count.
    sender.send(f"{url}/services/T/B/x", {"text": "after commit"})
    assert len(counter.requests) == 1


def test_outside_tests_a_network_call_under_a_transaction_is_logged(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbound, "STRICT", False)
    logged: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(outbound.log, "error", lambda event, **kw: logged.append((event, kw)))
    with database.session() as session:
        session.execute(sa.text("INSERT INTO t VALUES (1)"))
        no_transaction_open("WorkOS")
    assert logged == [("network.call_in_transaction", {"call": "WorkOS"})]


def test_health_reads_the_database_while_a_long_write_holds_sqlite_s_lock(
    database: Database,
) -> None:
    """A write transaction left open (a slow call once made inside one) holds SQLite's one write
    lock; /health's database check still answers at once instead of queueing behind it and
    reporting the database down."""
    holding, release = threading.Event(), threading.Event()

    def long_write() -> None:
        with database.session() as session:
            session.execute(sa.text("INSERT INTO t VALUES (1)"))
            holding.set()
            release.wait(10)

    writer = threading.Thread(target=long_write)
    writer.start()
    try:
        assert holding.wait(5)
        answer: list[bool] = []
        pinger = threading.Thread(target=lambda: answer.append(database.ping()), daemon=True)
        started = time.monotonic()
        pinger.start()
        pinger.join(2)
        assert answer == [True], "the health check waited for the writer"
        assert time.monotonic() - started < 2
    finally:
        release.set()
        writer.join()
