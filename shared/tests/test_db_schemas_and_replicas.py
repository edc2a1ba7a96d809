"""One schema per service on PostgreSQL, its own Alembic version table, and read-only sessions
that go to the replica when one is configured."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings
from spectral_shared.db import Database


@pytest.mark.integration
def test_each_service_lives_in_its_own_schema_with_its_own_version_table(pg_url: str) -> None:
    settings = Settings(database_url=pg_url)
    engine = sa.create_engine(settings.database_url_for("auth"))
    with engine.connect() as conn:
        tables = {
            (schema, table)
            for schema, table in conn.execute(
                sa.text(
                    "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                )
            )
        }
    engine.dispose()
    for service in installed_components():
        assert {(service, "alembic_version"), (service, "outbox"), (service, "inbox")} <= tables
    assert ("auth", "users") in tables and ("audit", "entries") in tables
    assert not any(schema == "public" for schema, _ in tables)

    audit = Runtime(installed_components()["audit"], settings)
    # audit's search_path does not reach auth's tables
    with (
        audit.database.engine.connect() as conn,
        pytest.raises(sa.exc.ProgrammingError, match='relation "users" does not exist'),
    ):
        conn.execute(sa.text("SELECT count(*) FROM users"))
    audit.database.dispose()


def test_read_sessions_use_the_replica_and_writes_the_primary(tmp_path: Path) -> None:
    primary, replica = tmp_path / "primary.db", tmp_path / "replica.db"
    for path, label in ((primary, "primary"), (replica, "replica")):
        engine = sa.create_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE origin (name TEXT)"))
            conn.execute(sa.text("INSERT INTO origin VALUES (:n)"), {"n": label})
        engine.dispose()
    database = Database("audit", f"sqlite:///{primary}", replica_url=f"sqlite:///{replica}")
    with database.read_session() as session:
        assert session.scalar(sa.text("SELECT name FROM origin")) == "replica"
    with database.session() as session:
        assert session.scalar(sa.text("SELECT name FROM origin")) == "primary"
    database.dispose()

    without = Database("audit", f"sqlite:///{primary}")
    with without.read_session() as session:
        assert session.scalar(sa.text("SELECT name FROM origin")) == "primary"
    without.dispose()


def test_settings_route_replicas_per_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDIT_DATABASE_REPLICA_URL", "postgresql://replica-host/spectral")
    settings = Settings(
        var_dir=tmp_path, database_replica_url="postgresql://shared-replica/spectral"
    )
    assert settings.replica_url_for("audit") == "postgresql+psycopg://replica-host/spectral"
    assert settings.replica_url_for("auth") == "postgresql+psycopg://shared-replica/spectral"
