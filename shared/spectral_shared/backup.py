"""Backups of every service's schema, restores, and the check that a restore is whole.

A backup is a directory named by its UTC time (``20261126T210000Z``) holding one ``pg_dump``
custom-format file per service (its schema only, compressed) and ``manifest.json``: for each
service the file's SHA-256 and the row count of every table. The counts and the dump read one
snapshot (``pg_export_snapshot`` in a repeatable-read transaction, handed to ``pg_dump
--snapshot``), so they agree even while Spectral keeps writing.

A restore loads each dump into another database (``pg_restore``; the schema must not exist there
yet) and then checks it: every table holds the manifest's row count, and each service's own check
passes (audit recomputes every log up to its latest signed checkpoint).

Retention: the newest backup of each of the last 30 days and of each of the last 12 months is
kept, and the newest of all; older ones are deleted after each backup.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from spectral_shared.component import Component, installed_components
from spectral_shared.config import ConfigurationError, Settings
from spectral_shared.db import Database

STAMP = "%Y%m%dT%H%M%SZ"
MANIFEST = "manifest.json"
DAILY, MONTHLY = 30, 12


class BackupError(RuntimeError):
    pass


def libpq(url: str) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy PostgreSQL URL as pg_dump and pg_restore take it: the URL without its
    password, which goes in the environment (``PGPASSWORD``), never on a command line that
    ``ps`` shows."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ConfigurationError(
            f"backups need PostgreSQL; this database is {parsed.get_backend_name()} (the embedded "
            "SQLite files under VAR_DIR are backed up by copying them while Spectral is stopped)"
        )
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    dsn = parsed.set(drivername="postgresql", password=None).render_as_string()
    return dsn, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed (PostgreSQL client tools, e.g. postgresql-client)"
        )
    return found


def _run(*command: str, env: dict[str, str]) -> None:
    # An argument list (no shell) of our own tool paths and options.
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {done.stderr.strip()[:2000]}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _row_counts(connection: sa.Connection, schema: str) -> dict[str, int]:
    tables = connection.execute(
        sa.text("SELECT tablename FROM pg_tables WHERE schemaname = :schema ORDER BY tablename"),
        {"schema": schema},
    ).scalars()
    return {
        table: int(
            connection.execute(
                sa.select(sa.func.count()).select_from(sa.table(table, schema=schema))
            ).scalar_one()
        )
        for table in list(tables)
    }


def _services(settings: Settings) -> dict[str, tuple[Component, str]]:
    return {
        name: (component, settings.database_url_for(name))
        for name, component in installed_components().items()
    }


def take_backup(settings: Settings, root: Path, now: datetime | None = None) -> Path:
    """Back up every installed service's schema into ``root/<stamp>/``; prune old backups."""
    pg_dump = _tool("pg_dump")
    now = now or datetime.now(UTC)
    target = root / now.strftime(STAMP)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    manifest: dict[str, Any] = {"taken_at": now.isoformat(), "services": {}}
    for name, (_, url) in _services(settings).items():
        dump = partial / f"{name}.dump"
        engine = sa.create_engine(url, poolclass=sa.NullPool)
        try:
            with engine.connect().execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            ) as connection:
                snapshot = connection.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
                rows = _row_counts(connection, name)
                dsn, env = libpq(url)
                _run(
                    pg_dump,
                    f"--dbname={dsn}",
                    f"--schema={name}",
                    f"--snapshot={snapshot}",
                    "--format=custom",
                    "--compress=6",
                    "--no-owner",
                    "--no-privileges",
                    f"--file={dump}",
                    env=env,
                )
                connection.rollback()
        finally:
            engine.dispose()
        manifest["services"][name] = {
            "schema": name,
            "file": dump.name,
            "sha256": _sha256(dump),
            "rows": rows,
        }
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    partial.rename(target)  # a backup exists whole or not at all
    prune(root, now)
    return target


def backups(root: Path) -> dict[datetime, Path]:
    found: dict[datetime, Path] = {}
    if not root.is_dir():
        return found
    for path in root.iterdir():
        try:
            stamp = datetime.strptime(path.name, STAMP).replace(tzinfo=UTC)
        except ValueError:
            continue
        if (path / MANIFEST).is_file():
            found[stamp] = path
    return found


def retained(
    stamps: Iterable[datetime], now: datetime, daily: int = DAILY, monthly: int = MONTHLY
) -> set[datetime]:
    """The backups to keep: the newest of each of the last ``daily`` days and of each of the
    last ``monthly`` months (calendar days and months in UTC, counted back from ``now``), and
    the newest of all."""
    ordered = sorted(stamps, reverse=True)
    keep: set[datetime] = set(ordered[:1])
    first_day = (now - timedelta(days=daily - 1)).date()
    year, month = now.year, now.month - (monthly - 1)
    while month < 1:
        year, month = year - 1, month + 12
    seen_days: set[Any] = set()
    seen_months: set[tuple[int, int]] = set()
    for stamp in ordered:  # newest first: the first seen of a day or month is its newest
        day = stamp.date()
        if day >= first_day and day not in seen_days:
            seen_days.add(day)
            keep.add(stamp)
        key = (stamp.year, stamp.month)
        if key >= (year, month) and key not in seen_months:
            seen_months.add(key)
            keep.add(stamp)
    return keep


def prune(root: Path, now: datetime) -> list[Path]:
    """Delete the backups retention no longer keeps; returns them."""
    found = backups(root)
    keep = retained(found, now)
    dropped = [path for stamp, path in sorted(found.items()) if stamp not in keep]
    for path in dropped:
        shutil.rmtree(path)
    return dropped


@dataclass(frozen=True)
class RestoreReport:
    services: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def restore(backup: Path, into: str) -> None:
    """Load every service's dump of ``backup`` into the database at ``into``."""
    pg_restore = _tool("pg_restore")
    manifest = json.loads((backup / MANIFEST).read_text())
    target, env = libpq(into)
    engine = sa.create_engine(into, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            existing = set(
                connection.execute(sa.text("SELECT nspname FROM pg_namespace")).scalars()
            )
    finally:
        engine.dispose()
    clashing = sorted(set(manifest["services"]) & existing)
    if clashing:
        raise BackupError(
            f"the target database already has the schemas {', '.join(clashing)}: restore into an "
            "empty database (or drop them first)"
        )
    for _, entry in sorted(manifest["services"].items()):
        dump = backup / entry["file"]
        if _sha256(dump) != entry["sha256"]:
            raise BackupError(f"{dump} does not match the SHA-256 in its manifest")
        _run(
            pg_restore,
            f"--dbname={target}",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            str(dump),
            env=env,
        )


def check_restore(backup: Path, into: str) -> RestoreReport:
    """Compare the restored tables' row counts with the manifest and run each service's own
    check (audit: every log recomputed up to its latest checkpoint)."""
    manifest = json.loads((backup / MANIFEST).read_text())
    components = installed_components()
    problems: list[str] = []
    engine = sa.create_engine(into, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            for name, entry in sorted(manifest["services"].items()):
                restored = _row_counts(connection, entry["schema"])
                for table, count in sorted(entry["rows"].items()):
                    if restored.get(table) != count:
                        problems.append(
                            f"{name}.{table}: {restored.get(table)} rows restored, {count} backed up"
                        )
    finally:
        engine.dispose()
    for name in sorted(manifest["services"]):
        component = components.get(name)
        if component is None or component.restore_check is None:
            continue
        database = Database(name, into)
        try:
            problems += [f"{name}: {problem}" for problem in component.restore_check(database)]
        finally:
            database.dispose()
    return RestoreReport(tuple(sorted(manifest["services"])), tuple(problems))
