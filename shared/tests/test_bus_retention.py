"""Pruning the bus tables after BUS_RETENTION_DAYS, on SQLite and on real PostgreSQL: what has
done its job goes, what has not (unpublished events, unsent mail) stays however old."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from spectral_shared import metrics
from spectral_shared.bus.retention import prune_bus_tables
from spectral_shared.bus.tables import bus_tables
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings
from spectral_shared.db import Database

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
TABLES = bus_tables(sa.MetaData())


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


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def add_outbox(database: Database, name: str, *, created: float, published: float | None) -> None:
    with database.session() as session:
        session.execute(
            TABLES.outbox.insert().values(
                id=name,
                event_type="auth.user.logged_in",
                body="{}",
                headers="{}",
                created_at=days_ago(created),
                available_at=days_ago(created),
                published_at=None if published is None else days_ago(published),
                attempts=0,
            )
        )


def add_mail(
    database: Database,
    name: str,
    *,
    created: float,
    sent: float | None,
    dead: float | None = None,
) -> None:
    with database.session() as session:
        session.execute(
            TABLES.deliveries.insert().values(
                id=name,
                channel="email",
                target="sealed",
                body="sealed",
                created_at=days_ago(created),
                available_at=days_ago(created),
                sent_at=None if sent is None else days_ago(sent),
                dead_at=None if dead is None else days_ago(dead),
                attempts=0,
            )
        )


def add_inbox(database: Database, name: str, *, processed: float, consumer: str = "c") -> None:
    with database.session() as session:
        session.execute(
            TABLES.inbox.insert().values(
                consumer=consumer,
                message_id=name,
                event_type="auth.user.logged_in",
                processed_at=days_ago(processed),
            )
        )


def left(database: Database, table: sa.Table, column: str) -> set[str]:
    with database.session() as session:
        return set(session.scalars(sa.select(table.c[column])))


def test_what_has_done_its_job_goes_after_the_retention_and_nothing_else(
    database: Database,
) -> None:
    add_outbox(database, "published-long-ago", created=30, published=30)
    add_outbox(database, "published-8-days-ago", created=8.5, published=8)
    add_outbox(database, "published-6-days-ago", created=6.5, published=6)
    add_outbox(database, "never-published", created=30, published=None)  # still retrying
    add_mail(database, "sent-long-ago", created=20, sent=20)
    add_mail(database, "sent-yesterday", created=1, sent=1)
    add_mail(database, "unsent", created=20, sent=None)
    add_mail(database, "dead-long-ago", created=20, sent=None, dead=19)  # waits for a replay
    add_inbox(database, "processed-long-ago", processed=10)
    add_inbox(database, "processed-long-ago", processed=10, consumer="other")
    add_inbox(database, "processed-today", processed=0.1)

    pruned = prune_bus_tables(database, TABLES, 7, now=NOW)

    assert (pruned.outbox, pruned.deliveries, pruned.inbox) == (2, 1, 2)
    assert left(database, TABLES.outbox, "id") == {"published-6-days-ago", "never-published"}
    assert left(database, TABLES.deliveries, "id") == {"sent-yesterday", "unsent", "dead-long-ago"}
    assert left(database, TABLES.inbox, "message_id") == {"processed-today"}
    # Again: nothing more to do.
    assert prune_bus_tables(database, TABLES, 7, now=NOW).total == 0


def test_pruning_goes_in_batches_until_nothing_old_is_left(database: Database) -> None:
    for n in range(7):
        add_outbox(database, f"old-{n}", created=40 - n, published=40 - n)
        add_inbox(database, f"old-{n}", processed=40 - n)
    add_outbox(database, "pending-between", created=35, published=None)

    pruned = prune_bus_tables(database, TABLES, 7, now=NOW, batch=3)

    assert (pruned.outbox, pruned.inbox) == (7, 7)
    assert left(database, TABLES.outbox, "id") == {"pending-between"}
    assert left(database, TABLES.inbox, "message_id") == set()


def test_a_longer_retention_keeps_more(database: Database) -> None:
    add_outbox(database, "published-10-days-ago", created=10, published=10)
    add_inbox(database, "processed-10-days-ago", processed=10)
    assert prune_bus_tables(database, TABLES, 30, now=NOW).total == 0
    assert prune_bus_tables(database, TABLES, 9, now=NOW).total == 2


def test_the_pruned_rows_are_counted_by_service_and_table(database: Database) -> None:
    counter = metrics.bus_rows_pruned.labels("audit", "outbox")
    before = counter._value.get()
    add_outbox(database, "old", created=9, published=9)
    prune_bus_tables(database, TABLES, 7, now=NOW)
    assert counter._value.get() == before + 1


def test_every_services_worker_prunes_its_bus_tables_on_a_schedule(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(bus_retention_days=7)
    for name, component in installed_components().items():
        runtime = Runtime(component, settings)
        runtime.migrate()
        pruning = [s for s in runtime.schedules if s.name == f"{name}.bus_retention"]
        assert len(pruning) == 1, name
        assert pruning[0].every == 3600.0
        add_outbox(runtime.database, f"{name}-old", created=8, published=8)
        add_outbox(runtime.database, f"{name}-recent", created=1, published=1)
        pruning[0].run()  # against the real clock: eight days ago is past the retention
        assert left(runtime.database, TABLES.outbox, "id") == {f"{name}-recent"}, name
        runtime.database.dispose()
