"""Bulk row helpers, on SQLite and on real PostgreSQL: what a batch of hundreds of rows costs one
statement for."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from spectral_shared.bus.tables import bus_tables
from spectral_shared.db import Database, insert_new_rows, insert_rows

MOMENT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
_INBOX = bus_tables(sa.MetaData()).inbox


def row(message_id: str, consumer: str = "audit.log") -> dict[str, object]:
    return {
        "consumer": consumer,
        "message_id": message_id,
        "event_type": "auth.user.logged_in",
        "processed_at": MOMENT,
    }


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The audit service's database (which has an inbox like every service's) on each backend."""
    if request.param == "sqlite":
        database = Database("audit", f"sqlite:///{tmp_path / 'rows.db'}")
        _INBOX.metadata.create_all(database.engine)
    else:
        database = Database("audit", request.getfixturevalue("pg_url"))  # migrated
    yield database
    database.dispose()


def stored(database: Database) -> list[tuple[str, str, datetime]]:
    with database.session() as session:
        return [
            (consumer, message_id, moment)
            for consumer, message_id, moment in session.execute(
                sa.select(_INBOX.c.consumer, _INBOX.c.message_id, _INBOX.c.processed_at).order_by(
                    _INBOX.c.consumer, _INBOX.c.message_id
                )
            )
        ]


def test_insert_new_rows_inserts_only_unseen_keys_and_says_which(database: Database) -> None:
    with database.session() as session:
        first = insert_new_rows(session, _INBOX, [row("a"), row("b")], _INBOX.c.message_id)
    with database.session() as session:
        again = insert_new_rows(
            session,
            _INBOX,
            # seen before, new, new for another consumer, new twice in one call
            [row("a"), row("c"), row("a", "billing.log"), row("d"), row("d")],
            _INBOX.c.message_id,
        )
    assert first == {"a", "b"}
    assert again == {"c", "a", "d"}  # "a" for billing.log
    assert [(c, m) for c, m, _ in stored(database)] == [
        ("audit.log", "a"),
        ("audit.log", "b"),
        ("audit.log", "c"),
        ("audit.log", "d"),
        ("billing.log", "a"),
    ]
    assert {moment.astimezone(UTC) for _, _, moment in stored(database)} == {MOMENT}


def test_insert_new_rows_of_nothing_is_no_statement(database: Database) -> None:
    with database.session() as session:
        assert insert_new_rows(session, _INBOX, [], _INBOX.c.message_id) == set()
    assert stored(database) == []


def test_insert_new_rows_rolls_back_with_its_transaction(database: Database) -> None:
    inserted: list[set[object]] = []

    def handle_then_fail() -> None:
        with database.session() as session:
            inserted.append(insert_new_rows(session, _INBOX, [row("x")], _INBOX.c.message_id))
            raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError):
        handle_then_fail()
    assert inserted == [{"x"}]
    assert stored(database) == []


def test_insert_rows_writes_every_row_as_given(database: Database) -> None:
    rows = [row(f"m-{i:03}") for i in range(300)]
    with database.session() as session:
        insert_rows(session, _INBOX, rows)
    assert [m for _, m, _ in stored(database)] == [f"m-{i:03}" for i in range(300)]


# ---- read_rows: one prepared statement, no pre-ping, once more on a dropped connection ----------


@pytest.mark.integration
def test_read_rows_reads_in_one_round_trip_and_survives_a_dropped_connection(pg_url: str) -> None:
    database = Database("audit", pg_url)
    try:
        insert_rows_pg = [row(f"m-{n}") for n in range(3)]
        with database.session() as session:
            insert_rows(session, _INBOX, insert_rows_pg)
        sql = "SELECT message_id, pg_backend_pid() FROM inbox WHERE consumer = %(c)s ORDER BY 1"
        first = database.read_rows(sql, {"c": "audit.log"})
        assert [r[0] for r in first] == ["m-0", "m-1", "m-2"]
        pid = first[0][1]
        # The server drops the pooled connection (as a restart or failover would).
        with database.engine.connect() as other:
            assert other.scalar(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        again = database.read_rows(sql, {"c": "audit.log"})
        assert [r[0] for r in again] == ["m-0", "m-1", "m-2"]
        assert again[0][1] != pid  # a new connection answered
        with pytest.raises(Exception, match="syntax"):
            database.read_rows("SELEC nonsense", {})  # a real error is not retried away
    finally:
        database.dispose()


def test_read_rows_is_for_postgresql(tmp_path: Path) -> None:
    database = Database("audit", f"sqlite:///{tmp_path / 'r.db'}")
    with pytest.raises(RuntimeError, match="PostgreSQL"):
        database.read_rows("SELECT 1", {})


def test_update_rows_sets_each_rows_columns_by_key(database: Database) -> None:
    from spectral_shared.db import update_rows

    with database.session() as session:
        insert_rows(session, _INBOX, [row("a"), row("b"), row("c")])
    later = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)
    with database.session() as session:
        update_rows(
            session,
            _INBOX,
            [
                {"message_id": "a", "event_type": "x.y.a", "processed_at": later},
                {"message_id": "c", "event_type": "x.y.c", "processed_at": MOMENT},
            ],
            _INBOX.c.message_id,
        )
    with database.session() as session:
        found = {
            r.message_id: (r.event_type, r.processed_at) for r in session.execute(sa.select(_INBOX))
        }
    assert found == {
        "a": ("x.y.a", later),
        "b": ("auth.user.logged_in", MOMENT),
        "c": ("x.y.c", MOMENT),
    }
