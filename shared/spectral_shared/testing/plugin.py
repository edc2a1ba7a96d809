"""pytest plugin: real PostgreSQL, RabbitMQ and Redis for integration tests.

``TEST_DATABASE_URL``, ``TEST_BROKER_URL`` and ``TEST_REDIS_URL`` name them (defaults: the local
services on their standard ports). Each test run gets its own database; each test its own
exchange and queue prefix. With ``CI=true`` an unreachable service fails the run; elsewhere the
tests that need it are skipped with the reason. A network call made with a database transaction
open fails the test (``spectral_shared.outbound.STRICT``).
"""

from __future__ import annotations

import base64
import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from kombu import Connection

from spectral_shared import outbound
from spectral_shared.config import Settings

TEST_ENCRYPTION_KEY = base64.b64encode(b"spectral-test-key-32-bytes-long!").decode()


def pytest_configure(config: pytest.Config) -> None:
    # A network call made with a database transaction open fails the test that makes it.
    outbound.STRICT = True


def _unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable ({type(error).__name__}: {error})"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message}; under CI=true integration tests never skip", pytrace=False)
    pytest.skip(message)


def _admin_engine() -> sa.Engine:
    admin_url = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    admin_url = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    return sa.create_engine(
        admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )


@pytest.fixture(scope="session")
def pg_template() -> Iterator[tuple[sa.Engine, str]]:
    """A database with every installed service migrated, cloned per test (CREATE DATABASE ... TEMPLATE)."""
    from spectral_shared.component import Runtime, installed_components

    name = f"spectral_tpl_{uuid.uuid4().hex[:10]}"
    try:
        admin = _admin_engine()
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    settings = Settings(database_url=url, encryption_key=TEST_ENCRYPTION_KEY)
    for component in installed_components().values():
        runtime = Runtime(component, settings)
        runtime.migrate()
        runtime.database.dispose()
    # CREATE DATABASE ... TEMPLATE fails while anyone is connected to the template, and
    # autovacuum may connect at any time; it skips databases that allow no connections.
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
    yield admin, name
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def _fresh_database(admin: sa.Engine, prefix: str, template: str | None = None) -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    clone = f' TEMPLATE "{template}"' if template else ""
    for attempt in range(5):
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"{clone}'))
            break
        except sa.exc.OperationalError as exc:  # "source database is being accessed by other users"
            if "being accessed by other users" not in str(exc) or attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_url(pg_template: tuple[sa.Engine, str]) -> Iterator[str]:
    """A fresh, fully migrated PostgreSQL database for one test."""
    admin, template = pg_template
    with _fresh_database(admin, "spectral_test", template) as url:
        yield url


@pytest.fixture
def empty_pg_url(pg_template: tuple[sa.Engine, str]) -> Iterator[str]:
    """A PostgreSQL database with nothing in it, for tests of migrations themselves."""
    with _fresh_database(pg_template[0], "spectral_empty") as url:
        yield url


@pytest.fixture(scope="session")
def broker_url() -> str:
    url = os.environ.get("TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    try:
        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:
        _unavailable("RabbitMQ", exc)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except Exception as exc:
        _unavailable("Redis", exc)
    return url


@dataclass
class BusNamespace:
    """A private exchange and queue prefix for one test; queues it declares are deleted afterwards."""

    exchange: str
    queue_prefix: str
    extra_queues: list[str] = field(default_factory=list)

    @property
    def overrides(self) -> dict[str, str]:
        return {"bus_exchange": self.exchange, "bus_queue_prefix": self.queue_prefix}

    def queue_names(self, broker_url: str) -> list[str]:
        from spectral_shared.component import Runtime, installed_components

        settings = Settings(
            broker_url=broker_url, bus_exchange=self.exchange, bus_queue_prefix=self.queue_prefix
        )
        names = list(self.extra_queues)
        for component in installed_components().values():
            runtime = Runtime(component, settings)
            for subscription in runtime.subscriptions:
                names += [q.name for q in runtime.topology.queues_for(subscription)]
        return names


@contextmanager
def private_bus_namespace(broker_url: str) -> Iterator[BusNamespace]:
    """An exchange and queue prefix of one's own; its queues and exchange deleted afterwards."""
    tag = f"t{uuid.uuid4().hex[:10]}"
    namespace = BusNamespace(exchange=f"spectral.events.{tag}", queue_prefix=f"{tag}.")
    yield namespace
    try:
        with Connection(broker_url) as conn, conn.channel() as channel:
            for queue in namespace.queue_names(broker_url):
                channel.queue_delete(queue)
            channel.exchange_delete(namespace.exchange)
    except Exception:  # noqa: S110 - cleanup is best effort
        pass


@pytest.fixture
def bus_namespace(broker_url: str) -> Iterator[BusNamespace]:
    with private_bus_namespace(broker_url) as namespace:
        yield namespace


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test: embedded defaults in tmp_path, fixed test secrets, fast retries."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "spectral_env": "test",
            "var_dir": tmp_path / "var",
            "encryption_key": TEST_ENCRYPTION_KEY,
            "session_secret": secrets.token_urlsafe(16),
            "bus_retry_delays": "0.1,0.2",
            "outbox_poll_interval": 0.05,
            "base_url": "http://localhost:5000",
            "redis_key_prefix": f"test-{uuid.uuid4().hex[:12]}",  # Redis outlives tests
        }
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture
def integration_settings(
    make_settings: Callable[..., Settings],
    pg_url: str,
    broker_url: str,
    redis_url: str,
    bus_namespace: BusNamespace,
) -> Settings:
    """Real PostgreSQL, RabbitMQ and Redis, with a private bus namespace and database."""
    return make_settings(
        database_url=pg_url, broker_url=broker_url, redis_url=redis_url, **bus_namespace.overrides
    )
