"""deploy/postgres/init.sql on real PostgreSQL: one role and one schema per service; each
service migrates as its own role, owns its tables, and cannot read another service's."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from spectral_shared.backup import libpq
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings

INIT = Path(__file__).resolve().parents[1] / "deploy" / "postgres" / "init.sql"


def as_role(url: str, role: str) -> str:
    return sa.make_url(url).set(username=role, password=f"pw-{role}").render_as_string(False)


@pytest.mark.integration
def test_each_service_owns_its_schema_and_nothing_else(
    empty_pg_url: str,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = list(installed_components())
    prefix = f"spectral_t{uuid.uuid4().hex[:8]}_"
    roles = {service: prefix + service for service in services}
    dsn, env = libpq(empty_pg_url)
    variables = [
        arg
        for service, role in roles.items()
        for arg in ("-v", f"{service}_role={role}", "-v", f"{service}_password=pw-{role}")
    ]
    admin = sa.create_engine(empty_pg_url, poolclass=sa.NullPool)
    try:
        done = subprocess.run(
            ["psql", "-q", "-X", "-d", dsn, "-f", str(INIT), *variables],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        for service, role in roles.items():
            monkeypatch.setenv(f"{service.upper()}_DATABASE_URL", as_role(empty_pg_url, role))
        settings = make_settings()
        for service in services:
            runtime = Runtime(installed_components()[service], settings)
            runtime.migrate()
            runtime.database.dispose()
        with admin.connect() as connection:
            for service, role in roles.items():
                owners = set(
                    connection.execute(
                        sa.text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = :s"),
                        {"s": service},
                    ).scalars()
                )
                assert owners == {role}, service
        governance = sa.create_engine(as_role(empty_pg_url, roles["governance"]))
        with (
            governance.connect() as connection,
            pytest.raises(sa.exc.ProgrammingError, match="permission denied"),
        ):
            connection.execute(sa.text("SELECT count(*) FROM auth.users"))
        governance.dispose()
    finally:
        with admin.begin() as connection:
            for role in roles.values():
                exists = connection.execute(
                    sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
                ).scalar()
                if exists:
                    connection.execute(sa.text(f'DROP OWNED BY "{role}" CASCADE'))
                    connection.execute(sa.text(f'DROP ROLE "{role}"'))
        admin.dispose()
