"""Before `make stack` starts its processes: create the database if it is missing, migrate every
schema, declare the bus topology, generate the development secrets once into the database itself
(table public.spectral_dev_secrets, so every clone and every `make clean` finds the secrets its
data was encrypted with), and render the nginx gateway (with a self-signed certificate made on the
first run) from the route table into var/stack/. With --reset (`make stack-reset`) it drops the
database instead: its data and its generated secrets."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from spectral_gateway.nginx import GatewayConfig, default_upstreams, nginx_version, write
from spectral_gateway.tls import self_signed
from spectral_shared.config import Settings, load_settings, sqlalchemy_url

STACK_DIR = Path("var/stack")
HTTPS_PORT, HTTP_PORT = 8443, 8080


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


def drop_database(url: str) -> None:
    target = sa.make_url(sqlalchemy_url(url))
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()
    print(f"dropped database {target.database} (its data and development secrets)")


def stack_env(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of the stack's env file (what honcho gives the processes)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines())
    return {
        k.strip(): v.strip() for k, v in (p for p in pairs if len(p) == 2) if not k.startswith("#")
    }


def render_gateway(env: dict[str, str], settings: Settings) -> None:
    version = nginx_version()
    if version is None:
        sys.exit("make stack needs nginx: apt-get install nginx-light (or nginx)")
    cert, key = STACK_DIR / "tls" / "cert.pem", STACK_DIR / "tls" / "key.pem"
    if not (cert.exists() and key.exists()):
        self_signed(cert, key, ("localhost", "127.0.0.1"))
        print(f"made a self-signed certificate for localhost: {cert.resolve()}")
    written = write(
        GatewayConfig(
            out_dir=(STACK_DIR / "nginx").resolve(),
            runtime_dir=(STACK_DIR / "nginx" / "run").resolve(),
            tls_cert=cert.resolve(),
            tls_key=key.resolve(),
            upstreams=default_upstreams(env),
            platform_upstream=env["PLATFORM_UPSTREAM"].removeprefix("http://"),
            https_port=HTTPS_PORT,
            http_port=HTTP_PORT,
            listen_address="127.0.0.1",
            worker_processes="1",
            user="root" if os.geteuid() == 0 else None,  # workers must read the checkout's var/
            abuse_rate_per_minute=settings.gateway_abuse_rate_per_minute,
            abuse_burst=settings.gateway_abuse_burst,
            nginx_version=version,
        )
    )
    print(f"rendered the gateway: {written} (https://localhost:{HTTPS_PORT})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--env-file", type=Path, default=Path("deploy/stack/stack.env"))
    parser.add_argument("--reset", action="store_true", help="drop the database and stop")
    args = parser.parse_args()
    if args.reset:
        drop_database(args.database_url)
        return
    settings = load_settings(database_url=args.database_url)
    render_gateway(stack_env(args.env_file), settings)  # first: no nginx, no stack
    ensure_database(args.database_url)
    settings.secret("ENCRYPTION_KEY")  # kept in the database: see the module's docstring
    env_cmd = [sys.executable, "-m", "spectral_shared.cli"]
    env = {**os.environ, "DATABASE_URL": args.database_url}
    subprocess.run([*env_cmd, "db", "upgrade"], check=True, env=env)
    subprocess.run([*env_cmd, "bus", "declare"], check=True, env=env)


if __name__ == "__main__":
    main()
