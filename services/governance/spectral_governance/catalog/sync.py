"""Writing the control catalog's data files into the registry tables (run by migrations only).

A catalog version is loaded once: the files' version and SHA-256 are recorded in
``catalog_releases``. Controls a newer version no longer has are kept, marked ``retired_in``, so the
assessments and violations that name them stay readable.

A framework's legal status (``STATUS_FIELDS``) is written to the columns of that name when both the
table model and the database have them: a fresh database loads the newest files in an early
migration, before the migration that adds those columns, which then calls ``write_framework_status``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, inspect, select

from spectral_governance.catalog import Catalog, content_sha256, load_catalog
from spectral_governance.catalog.models import CatalogRelease, ControlRow, FrameworkRow
from spectral_shared.db import utcnow


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


# Framework fields stored in same-named columns of ``frameworks`` once they exist.
STATUS_FIELDS = ("status", "status_date", "end_date", "status_note")


def _status_columns(connection: Connection, frameworks: Table) -> tuple[str, ...]:
    """The status fields the frameworks table has, in the model and in the database."""
    stored = {column["name"] for column in inspect(connection).get_columns(frameworks.name)}
    return tuple(f for f in STATUS_FIELDS if f in stored and f in frameworks.c)


def write_framework_status(connection: Connection, catalog: Catalog | None = None) -> int:
    """Write the catalog's framework status fields into the frameworks rows, for the migration
    that adds their columns (the catalog itself may be loaded already); the rows updated."""
    catalog = catalog or load_catalog()
    frameworks = _table(FrameworkRow)
    columns = _status_columns(connection, frameworks)
    if not columns:
        return 0
    updated = 0
    for file in catalog.frameworks:
        fw = file.framework
        result = connection.execute(
            frameworks.update()
            .where(frameworks.c.id == fw.id)
            .values({name: getattr(fw, name) for name in columns})
        )
        updated += result.rowcount
    return updated


class CatalogOutOfStep(RuntimeError):
    """The files are older than the migration that loads them, or changed without a version."""


def sync_catalog(connection: Connection, *, at_least: int, catalog: Catalog | None = None) -> int:
    """Load the catalog files into the tables unless this version is loaded; the version now in
    the database. ``at_least`` is the version of the migration calling: the files must be it or
    newer (a newer one, on a fresh database, loads here and the later migration finds it done)."""
    catalog = catalog or load_catalog()
    if catalog.version < at_least:
        raise CatalogOutOfStep(
            f"migration expects catalog version {at_least}, the files are version {catalog.version}"
        )
    release = catalog.changelog[-1]
    if release.version != catalog.version or release.sha256 != content_sha256():
        raise CatalogOutOfStep(
            "the catalog files differ from the last changelog entry: bump the catalog version "
            "(a changelog entry and a migration that loads it)"
        )
    loaded = connection.scalar(
        select(CatalogRelease.version).order_by(CatalogRelease.version.desc())
    )
    if loaded is not None and loaded >= catalog.version:
        return int(loaded)
    _write(connection, catalog)
    connection.execute(
        _table(CatalogRelease)
        .insert()
        .values(
            version=catalog.version,
            sha256=release.sha256,
            changes=release.changes,
            loaded_at=utcnow(),
        )
    )
    return catalog.version


def _write(connection: Connection, catalog: Catalog) -> None:
    frameworks = _table(FrameworkRow)
    controls = _table(ControlRow)
    existing_frameworks = set(connection.scalars(select(frameworks.c.id)))
    status_columns = _status_columns(connection, frameworks)
    existing_controls = {row.id: row for row in connection.execute(select(controls)).mappings()}
    seen: set[str] = set()
    for position, file in enumerate(catalog.frameworks):
        fw = file.framework
        values: dict[str, Any] = {
            "name": fw.name,
            "issuer": fw.issuer,
            "citation": fw.citation,
            "jurisdiction": fw.jurisdiction,
            "reference": fw.reference,
            "description": fw.description,
            "effective_date": fw.effective_date,
            "position": position,
            "catalog_version": catalog.version,
        }
        values.update({name: getattr(fw, name) for name in status_columns})
        if fw.id in existing_frameworks:
            connection.execute(frameworks.update().where(frameworks.c.id == fw.id).values(values))
        else:
            connection.execute(frameworks.insert().values(id=fw.id, **values))
        for index, control in enumerate(file.controls):
            seen.add(control.id)
            row: dict[str, Any] = {
                "framework_id": fw.id,
                "kind": control.kind,
                "parent_id": control.parent,
                "reference_id": control.reference_id,
                "title": control.title,
                "description": control.description,
                "category": control.category,
                "severity": control.severity,
                "required_evidence": list(control.required_evidence),
                "requirement": control.requirement,
                "reporting_deadline_days": control.reporting_deadline_days,
                "tags": list(control.tags),
                "position": position * 10_000 + index,
                "retired_in": None,
            }
            before = existing_controls.get(control.id)
            if before is None:
                connection.execute(
                    controls.insert().values(id=control.id, catalog_version=catalog.version, **row)
                )
            elif any(before[key] != value for key, value in row.items()):
                connection.execute(
                    controls.update()
                    .where(controls.c.id == control.id)
                    .values(catalog_version=catalog.version, **row)
                )
    for control_id, before in existing_controls.items():
        if control_id not in seen and before["retired_in"] is None:
            connection.execute(
                controls.update()
                .where(controls.c.id == control_id)
                .values(retired_in=catalog.version)
            )
