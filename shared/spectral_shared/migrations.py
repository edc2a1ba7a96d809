"""Alembic per service, with its version table inside the service's own schema.

Each service keeps ``migrations/`` beside its package with an ``env.py`` of two lines that calls
:func:`run_alembic_env`. ``spectral db upgrade`` calls :func:`upgrade` for every installed service.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData

from spectral_shared.db import Database


def alembic_config(database: Database, script_location: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("path_separator", "os")
    config.attributes["database"] = database
    return config


def upgrade(database: Database, script_location: Path, revision: str = "head") -> None:
    database.create_schema()
    command.upgrade(alembic_config(database, script_location), revision)


def downgrade(database: Database, script_location: Path, revision: str) -> None:
    command.downgrade(alembic_config(database, script_location), revision)


def current_revision(database: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with database.engine.connect() as conn:
        opts = {"version_table_schema": database.schema} if database.schema else {}
        return MigrationContext.configure(conn, opts=opts).get_current_revision()


def run_alembic_env(target_metadata: MetaData) -> None:
    """The body of every service's ``migrations/env.py``."""
    database: Database = context.config.attributes["database"]
    with database.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=database.schema,
            render_as_batch=not database.is_postgres,  # SQLite alters tables by copy
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
