"""One database per service: a PostgreSQL schema, or a SQLite file in the embedded default.

A service's tables are declared unqualified; on PostgreSQL the connection's ``search_path`` is
the service's schema, so the same models and migrations serve both backends and no service can
name another's tables by accident. ``DATABASE_REPLICA_URL`` serves read-only sessions.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    TypeDecorator,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Spectral stores UTC-aware datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UUIDString(TypeDecorator[str]):
    """UUIDs kept as canonical 36-character text, portable across backends."""

    impl = String(36)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(uuid.UUID(str(value)))


def make_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once the session's transaction has committed (never if it rolls back):
    for side effects others must not see before the data, like invalidating a cache."""
    actions: list[Callable[[], None]] = session.info.setdefault("after_commit", [])
    if not actions:

        def run(s: Session) -> None:
            for pending in s.info.pop("after_commit", []):
                pending()

        def drop(s: Session, _previous: object) -> None:
            s.info.pop("after_commit", None)

        event.listen(session, "after_commit", run, once=True)
        event.listen(session, "after_soft_rollback", drop, once=True)
    actions.append(action)


class Database:
    """Engines and sessions for one service."""

    def __init__(
        self,
        service: str,
        url: str,
        *,
        replica_url: str | None = None,
        pool_size: int = 5,
        echo: bool = False,
    ) -> None:
        if not _SCHEMA_NAME.match(service):
            raise ValueError(f"bad service name {service!r}")
        self.service = service
        self.url = url
        self.replica_url = replica_url
        self._pool_size = pool_size
        self.engine = self._make_engine(url, pool_size=pool_size, echo=echo)
        self.replica_engine = (
            self._make_engine(replica_url, pool_size=pool_size, echo=echo) if replica_url else None
        )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.replica_engine or self.engine, expire_on_commit=False
        )

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @property
    def schema(self) -> str | None:
        return self.service if self.is_postgres else None

    def _make_engine(
        self, url: str, *, pool_size: int, echo: bool, pre_ping: bool = True
    ) -> Engine:
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                url,
                echo=echo,
                hide_parameters=True,  # errors never carry the row's values into logs
                connect_args={"check_same_thread": False, "timeout": 30},
                poolclass=NullPool if path == ":memory:" else None,
            )
            event.listen(engine, "connect", _sqlite_pragmas)
            # pysqlite's own transaction handling defers BEGIN; take the write lock up front so
            # concurrent writers queue instead of failing with "database is locked" mid-flight.
            event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
            return engine
        return create_engine(
            url,
            echo=echo,
            # A statement's parameters are the row's values (e-mail addresses, names, PHI): an
            # error that is logged must not carry them.
            hide_parameters=True,
            pool_pre_ping=pre_ping,
            pool_size=pool_size,
            max_overflow=pool_size,
            connect_args={
                # UTC sessions: raw timestamptz values (outside the ORM) come back in UTC too.
                "options": f"-csearch_path={self.service} -ctimezone=UTC",
                "connect_timeout": 5,
                "application_name": f"spectral-{self.service}",
            },
        )

    def create_schema(self) -> None:
        """Create the service's schema on PostgreSQL (no-op on SQLite)."""
        if not self.is_postgres:
            return
        with self.engine.begin() as conn:
            # Ask first: a service's own role may own its schema without CREATE on the database,
            # and PostgreSQL checks that privilege even for CREATE SCHEMA IF NOT EXISTS.
            exists = conn.scalar(
                text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
                {"s": self.service},
            )
            if not exists:
                conn.execute(text(f'CREATE SCHEMA "{self.service}"'))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """Read-only work that may be slightly stale (lists, dashboards): the replica if configured."""
        with self._read_sessions() as session:
            yield session

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """One read-only statement on the replica if configured, without a transaction around
        it (autocommit): two round trips fewer than a session's BEGIN and ROLLBACK, and no ORM.
        For the busiest list reads; a read of several statements that must agree uses a session."""
        with (self.replica_engine or self.engine).connect() as connection:
            if self.is_postgres:
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection

    @cached_property
    def _quick_reads(self) -> Engine:
        """The pool ``read_rows`` uses: no pre-ping round trip (a dead connection shows itself
        on the read, which then runs again once), connections kept in autocommit."""
        return self._make_engine(
            self.replica_url or self.url, pool_size=self._pool_size, echo=False, pre_ping=False
        )

    def read_rows(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """One read-only statement, PostgreSQL only, through psycopg itself: prepared, in
        autocommit, one round trip, on the replica if configured. For the busiest list reads,
        where composing a statement and wrapping its result cost more CPU than the query. A
        connection the server dropped (a restart, a failover) fails the first try and the read
        runs once more on a new one."""
        if not self.is_postgres:
            raise RuntimeError("read_rows is for PostgreSQL; use read_connection")
        import psycopg

        engine = self._quick_reads
        for attempt in (1, 2):
            connection = engine.raw_connection()
            driver = connection.driver_connection
            try:
                assert driver is not None
                driver.autocommit = True
                with driver.cursor() as cursor:
                    cursor.execute(sql, params, prepare=True)
                    return cursor.fetchall()
            except psycopg.Error as exc:
                if attempt == 2 or not engine.dialect.is_disconnect(exc, driver, None):  # type: ignore[arg-type]
                    raise
                connection.invalidate(exc)
            finally:
                connection.close()
        raise AssertionError("unreachable")

    def ping(self, timeout_seconds: float = 2.0) -> bool:
        if not self.is_postgres:
            return self._ping_sqlite()
        try:
            with self.engine.connect() as conn:
                if self.is_postgres:
                    conn.execute(
                        text(f"SET LOCAL statement_timeout = {int(timeout_seconds * 1000)}")
                    )
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def _ping_sqlite(self) -> bool:
        """A read outside any transaction. Through a SQLAlchemy connection it would begin with
        ``BEGIN IMMEDIATE`` (every SQLite transaction here does) and wait for the one write lock,
        so a long write anywhere would read as a database that is down; in WAL mode a plain read
        goes on beside a writer."""
        try:
            connection = self.engine.raw_connection()
            try:
                cursor = connection.cursor()
                cursor.execute("SELECT count(*) FROM sqlite_master")
                cursor.fetchall()
                cursor.close()
            finally:
                connection.close()
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()
        if "_quick_reads" in self.__dict__:
            self._quick_reads.dispose()
        if self.replica_engine is not None:
            self.replica_engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" listener issue BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _psycopg(session: Session) -> Any:
    """The psycopg connection under the session, inside the session's transaction."""
    driver = session.connection().connection.driver_connection
    assert driver is not None
    return driver


def _into(table: Table, columns: list[str]) -> Any:
    """``table (column, ..)`` as psycopg SQL, for a statement written for PostgreSQL."""
    from psycopg import sql

    return sql.SQL("{} ({})").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in the session's transaction. On PostgreSQL through ``COPY``: a batch
    of hundreds of rows costs the server one statement instead of one execution per row (about
    a third of the time of a pipelined executemany); elsewhere an ordinary executemany. Values
    go in as given (aware datetimes, bytes), without SQLAlchemy's bind processing."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(table.insert(), rows)
        return
    from psycopg import sql

    columns = list(rows[0])
    as_json = _json_columns(table, columns)
    statement = sql.SQL("COPY {} FROM STDIN").format(_into(table, columns))
    with _psycopg(session).cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([_pg_value(row[c], c in as_json) for c in columns])


def _json_columns(table: Table, columns: list[str]) -> set[str]:
    return {name for name in columns if isinstance(table.c[name].type, JSON)}


def _pg_value(value: Any, as_json: bool) -> Any:
    """A value as COPY takes it: JSON columns as their text (psycopg adapts no dict there)."""
    return json.dumps(value) if as_json and value is not None else value


def _record_type(table: Table, columns: list[str]) -> Any:
    """``column type, ..`` for ``json_to_recordset(..) AS r(..)``: the rows of a bulk statement
    travel as one JSON document (orjson encodes a thousand in about a millisecond, where psycopg's
    array dumpers take tens) that PostgreSQL unpacks into typed columns."""
    from psycopg import sql

    dialect = postgresql.dialect()
    return sql.SQL(", ").join(
        sql.SQL("{} {}").format(
            sql.Identifier(c), sql.SQL(table.c[c].type.compile(dialect=dialect))
        )
        for c in columns
    )


def update_rows(
    session: Session, table: Table, rows: list[dict[str, Any]], key: Column[Any]
) -> None:
    """Set columns of many rows, each found by ``key`` (every row gives the same columns). On
    PostgreSQL one ``UPDATE .. FROM json_to_recordset(..)``; elsewhere an executemany."""
    if not rows:
        return
    columns = list(rows[0])
    changed = [c for c in columns if c != key.name]
    if session.get_bind().dialect.name != "postgresql":
        from sqlalchemy import bindparam

        by_key = (
            table.update()
            .where(key == bindparam("_key"))
            .values({c: bindparam(f"_{c}") for c in changed})
        )
        session.execute(
            by_key, [{f"_{c}" if c != key.name else "_key": r[c] for c in columns} for r in rows]
        )
        return
    from psycopg import sql

    statement = sql.SQL(
        "UPDATE {} AS t SET {} FROM json_to_recordset(%s::json) AS v({}) WHERE t.{} = v.{}"
    ).format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(
            sql.SQL("{} = v.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in changed
        ),
        _record_type(table, columns),
        sql.Identifier(key.name),
        sql.Identifier(key.name),
    )
    with _psycopg(session).cursor() as cursor:
        cursor.execute(statement, [orjson.dumps(rows).decode()])


def insert_new_rows(
    session: Session, table: Table, rows: list[dict[str, Any]], key: Column[Any]
) -> set[Any]:
    """Insert the rows whose primary key is not in ``table`` yet; the ``key`` values of those
    inserted. One ``INSERT .. ON CONFLICT DO NOTHING .. RETURNING``: the unique index answers for
    each row, where a ``SELECT .. IN`` of hundreds of keys leaves the plan to statistics a fresh
    table does not have yet (a filter over every row of it). A row another transaction is
    inserting waits for that one to end, and counts as present if it commits. On PostgreSQL the
    rows travel as one JSON document, so the statement is short and the same for any count."""
    if not rows:
        return set()
    if session.get_bind().dialect.name != "postgresql":
        ignoring = sqlite.insert(table).on_conflict_do_nothing().returning(key)
        return set(session.scalars(ignoring, rows))
    from psycopg import sql

    columns = list(rows[0])
    statement = sql.SQL(
        "INSERT INTO {} SELECT {} FROM json_to_recordset(%s::json) AS r({}) "
        "ON CONFLICT DO NOTHING RETURNING {}"
    ).format(
        _into(table, columns),
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        _record_type(table, columns),
        sql.Identifier(key.name),
    )
    with _psycopg(session).cursor() as cursor:
        cursor.execute(statement, [orjson.dumps(rows).decode()])
        return {found for (found,) in cursor.fetchall()}
