"""Every service's migrations, on real PostgreSQL: they build exactly the schema its models
declare (a model changed without a migration fails here), and the newest one rolls back."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from spectral_shared import migrations
from spectral_shared.component import Component, installed_components
from spectral_shared.db import Database

pytestmark = pytest.mark.integration

COMPONENTS = installed_components()


def not_alembics_own(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    return not (type_ == "table" and name == "alembic_version")


def differences(database: Database, component: Component) -> list[Any]:
    with database.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "version_table_schema": database.schema,
                "include_object": not_alembics_own,
            },
        )
        return list(compare_metadata(context, component.metadata))


@pytest.mark.parametrize("name", list(COMPONENTS))
def test_the_migrations_build_the_schema_the_models_declare(name: str, pg_url: str) -> None:
    database = Database(name, pg_url)  # migrated to head, as `spectral db upgrade` does
    try:
        assert differences(database, COMPONENTS[name]) == []
    finally:
        database.dispose()


@pytest.mark.parametrize("name", list(COMPONENTS))
def test_the_newest_migration_rolls_back_and_forward(name: str, empty_pg_url: str) -> None:
    """What rolling back a release needs ("Upgrades" in docs/operations.md). Older steps may be
    irreversible on purpose (audit 0002: signed history is not un-made; restore a backup)."""
    component = COMPONENTS[name]
    database = Database(name, empty_pg_url)
    try:
        migrations.upgrade(database, component.migrations)
        head = migrations.current_revision(database)
        migrations.downgrade(database, component.migrations, "-1")
        assert migrations.current_revision(database) != head
        migrations.upgrade(database, component.migrations)
        assert migrations.current_revision(database) == head
        assert differences(database, component) == []
    finally:
        database.dispose()
