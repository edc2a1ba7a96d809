"""Issue 18 §9: a key a process cannot use stops it at start-up with one line that says which key
id, where, and what to do, instead of every sign-in answering 500; and the development shapes
keep their generated secrets with the database they encrypted, so two clones (or a clone after
``make clean``) against one PostgreSQL database do not collide. Real ``spectral`` processes on
real PostgreSQL."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from spectral_gateway.testing import Processes, free_port, wait_for_http
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import DEV_SECRETS_TABLE, Settings
from spectral_shared.crypto import decode_key, key_id
from spectral_shared.testing.plugin import TEST_ENCRYPTION_KEY

pytestmark = pytest.mark.integration

KEY_A = TEST_ENCRYPTION_KEY
KEY_B = base64.b64encode(b"another-32-byte-key-for-spectral").decode()
KID_A, KID_B = key_id(decode_key(KEY_A)), key_id(decode_key(KEY_B))
ADMIN = ("sam@spectral.example", "staff passphrase for tests")

# What a developer's shell may carry that would move a subprocess off the case under test.
_LEAKY = ("DATABASE_URL", "ENCRYPTION_KEY", "ENCRYPTION_KEYS_PREVIOUS", "SESSION_SECRET", "PORT")


def env_for(database_url: str, var: Path, **values: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _LEAKY and not k.endswith("_DATABASE_URL") and k != "SPECTRAL_ENV"
    }
    return {
        **env,
        "DATABASE_URL": database_url,
        "VAR_DIR": str(var),
        "LOG_LEVEL": "warning",
        "SPECTRAL_ENV": "development",
        **values,
    }


def data_under_key_a(pg_url: str, tmp_path: Path) -> None:
    """The platform admin, and the signing key sign-in uses, encrypted under KEY_A."""
    from spectral_auth import services
    from spectral_auth.signing_keys import create_signing_key

    settings = Settings(database_url=pg_url, encryption_key=KEY_A, var_dir=tmp_path / "seed")
    runtime = Runtime(installed_components()["auth"], settings)
    services.create_platform_admin(runtime, name="Sam Staff", email=ADMIN[0], password=ADMIN[1])
    with runtime.database.session() as session:
        create_signing_key(session, runtime.cipher)
    runtime.database.dispose()


def sign_in(processes: Processes, name: str, port: int) -> requests.Response:
    process = processes.start(name, "auth", "web", "--port", str(port), "--workers", "1")
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", timeout=60, process=process)
    except BaseException:
        print(processes.logs())
        raise
    return requests.post(
        f"http://127.0.0.1:{port}/api/v1/auth/login",
        json={"email": ADMIN[0], "password": ADMIN[1]},
        timeout=30,
    )


def test_every_target_refuses_to_start_with_one_line_naming_the_key_and_what_to_do(
    tmp_path: Path, pg_url: str
) -> None:
    data_under_key_a(pg_url, tmp_path)
    env = env_for(pg_url, tmp_path / "var", ENCRYPTION_KEY=KEY_B)
    with Processes(tmp_path / "logs", env) as processes:
        for target in (
            ("auth", "web", "--port", str(free_port()), "--workers", "1"),
            ("auth", "worker"),
            ("auth", "relay"),
            ("all", "--port", str(free_port())),
        ):
            done = processes.run(*target, timeout=90)
            lines = [line for line in done.stderr.decode().splitlines() if line.strip()]
            assert done.returncode == 1, (target, done.stdout.decode(), lines)
            assert len(lines) == 1, lines
            line = lines[0]
            assert line.startswith("Error: auth cannot decrypt what its database holds: ")
            assert f"key id {KID_A} in auth.signing_keys.private_key (1 rows)" in line
            assert f"ENCRYPTION_KEY has id {KID_B}; ENCRYPTION_KEYS_PREVIOUS is empty" in line
            assert "add the key with that id to ENCRYPTION_KEYS_PREVIOUS" in line
            assert "run `spectral auth rotate-keys` to replace the signing keys" in line
            assert (
                "for a development database, start afresh (its data is lost): make stack-reset"
                in line
            )


def test_with_the_old_key_in_the_ring_it_starts_and_signs_in(tmp_path: Path, pg_url: str) -> None:
    data_under_key_a(pg_url, tmp_path)
    env = env_for(pg_url, tmp_path / "var", ENCRYPTION_KEY=KEY_B, ENCRYPTION_KEYS_PREVIOUS=KEY_A)
    with Processes(tmp_path / "logs", env) as processes:
        answer = sign_in(processes, "auth-web", free_port())
        assert answer.status_code == 200, answer.text


def test_rotating_the_signing_keys_lets_it_start_without_the_old_key(
    tmp_path: Path, pg_url: str
) -> None:
    data_under_key_a(pg_url, tmp_path)
    env = env_for(pg_url, tmp_path / "var", ENCRYPTION_KEY=KEY_B)
    with Processes(tmp_path / "logs", env) as processes:
        rotated = processes.run("auth", "rotate-keys")
        assert rotated.returncode == 0, rotated.stderr.decode()
        answer = sign_in(processes, "auth-web", free_port())
        assert answer.status_code == 200, answer.text


def test_two_clones_against_one_database_share_its_development_secrets(
    tmp_path: Path, empty_pg_url: str
) -> None:
    """`make stack` from one clone, then from another (or after `make clean`, which wipes var/):
    neither sets ENCRYPTION_KEY, and the second finds the key the first encrypted with."""
    first = env_for(empty_pg_url, tmp_path / "first" / "var")
    second = env_for(empty_pg_url, tmp_path / "second" / "var")
    with Processes(tmp_path / "logs", first) as processes:
        for step in (
            ("db", "upgrade"),
            ("auth", "create-platform-admin", "--name", "Sam Staff", "--email", ADMIN[0]),
            ("auth", "rotate-keys"),  # the signing key, encrypted with the first's key
        ):
            done = processes.run(*step, env={"SPECTRAL_ADMIN_PASSWORD": ADMIN[1]})
            assert done.returncode == 0, (step, done.stderr.decode())
        processes.env = second
        answer = sign_in(processes, "second-auth-web", free_port())
        assert answer.status_code == 200, answer.text
    assert not (tmp_path / "second" / "var" / "dev-secrets.json").exists()
    engine = sa.create_engine(empty_pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        names = set(conn.scalars(sa.text(f"SELECT name FROM public.{DEV_SECRETS_TABLE}")))
    engine.dispose()
    assert names == {"SESSION_SECRET", "ENCRYPTION_KEY"}


def test_a_database_made_before_secrets_moved_into_it_keeps_the_clones_file(
    tmp_path: Path, empty_pg_url: str
) -> None:
    """The clone whose var/dev-secrets.json encrypted an existing database hands its secrets on."""
    var = tmp_path / "var"
    var.mkdir()
    (var / "dev-secrets.json").write_text(
        f'{{"SESSION_SECRET": "kept-session", "ENCRYPTION_KEY": "{KEY_A}"}}'
    )
    assert Settings(database_url=empty_pg_url, var_dir=var).secret("ENCRYPTION_KEY") == KEY_A
    other = Settings(database_url=empty_pg_url, var_dir=tmp_path / "fresh")
    assert other.secret("ENCRYPTION_KEY") == KEY_A
    assert other.secret("SESSION_SECRET") == "kept-session"
    assert not (tmp_path / "fresh").exists()
