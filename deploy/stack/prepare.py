"""Before `make stack` starts its processes: create the database if it is missing, migrate every
schema, declare the bus topology, and generate the development secrets once (so seventeen
processes do not race to create different ones)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import sqlalchemy as sa

from spectral_shared.config import load_settings, sqlalchemy_url


def ensure_database(url: str) -> None:
    target = sa.make_url(sqlalchemy_url(url))
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}
        )
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
            print(f"created database {target.database}")
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    ensure_database(args.database_url)
    settings = load_settings(database_url=args.database_url)
    settings.secret("ENCRYPTION_KEY")
    env_cmd = [sys.executable, "-m", "spectral_shared.cli"]
    env = {**os.environ, "DATABASE_URL": args.database_url}
    subprocess.run([*env_cmd, "db", "upgrade"], check=True, env=env)
    subprocess.run([*env_cmd, "bus", "declare"], check=True, env=env)


if __name__ == "__main__":
    main()
