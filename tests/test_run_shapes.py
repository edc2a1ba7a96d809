"""The slice through both run shapes as real processes: ``spectral all`` on embedded defaults,
and the split topology (one process per target) on real PostgreSQL, RabbitMQ and Redis."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from spectral_gateway.testing import Processes, SliceClient, free_port, wait_for_http
from spectral_shared.testing import wait_until
from spectral_shared.testing.plugin import TEST_ENCRYPTION_KEY, BusNamespace

pytestmark = pytest.mark.e2e

# Variables a developer's shell may carry that would move a subprocess off the shape under test.
_BACKEND_VARS = (
    "DATABASE_URL",
    "BROKER_URL",
    "REDIS_URL",
    "UPSTASH_REDIS_URL",
    "SENDGRID_API_KEY",
    "AWS_S3_BUCKET",
    "SPECTRAL_ENV",
    "PORT",
)


def clean_env(**values: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _BACKEND_VARS and not k.endswith("_DATABASE_URL")
    }
    env.update({"LOG_LEVEL": "warning", **values})
    return env


def walk_the_slice(client: SliceClient) -> None:
    created, token = client.onboard("ada@mercy.example")
    me = client.get("/api/v1/auth/me", token)
    assert (
        me.status_code == 200 and me.json()["organization"]["id"] == created["organization"]["id"]
    )
    actions = [e["action"] for e in client.audit_actions(token, at_least=4)]
    assert actions == [
        "auth.user.logged_in",
        "auth.user.email_verified",
        "auth.user.registered",
        "auth.organization.created",
    ]
    _, other = client.onboard("bo@county.example", org="County Health")
    assert {e["organization_id"] for e in client.audit_actions(other, at_least=4)} != {
        created["organization"]["id"]
    }


def walk_the_auth_flows(client: SliceClient, internal_url: str | None) -> None:
    """Invitations, API keys, browser sessions and /internal/authorize. Clients never reach the
    internal route through a router; the gateway calls auth at ``internal_url`` itself."""
    _, admin = client.onboard("ops@regional.example", org="Regional Health")
    bearer = {"Authorization": f"Bearer {admin}"}
    invited = client.post(
        "/api/v1/auth/invitations",
        {"email": "ana@regional.example", "role": "analyst"},
        headers=bearer,
    )
    assert invited.status_code == 201, invited.text
    token = wait_until(lambda: _invitation_token(client.mail_dir), what="the invitation e-mail")
    accepted = client.post(
        "/api/v1/auth/invitations/accept",
        {"token": token, "name": "Ana", "password": "member passphrase here"},
    )
    assert accepted.status_code == 201 and accepted.json()["role"] == "analyst"

    key = client.post(
        "/api/v1/auth/api-keys", {"name": "pusher", "scopes": ["telemetry:write"]}, headers=bearer
    )
    assert key.status_code == 201, key.text
    assert client.get("/internal/authorize", admin).status_code == 404  # not through the router
    if internal_url is None:
        return
    for credential in (admin, key.json()["secret"]):
        authorized = requests.get(
            internal_url + "/internal/authorize",
            headers={"Authorization": f"Bearer {credential}"},
            timeout=30,
        )
        assert authorized.status_code == 200 and authorized.headers["X-Spectral-Internal-Token"]

    browser = requests.Session()
    signed_in = browser.post(
        client.base_url + "/api/v1/auth/session",
        json={"email": "ana@regional.example", "password": "member passphrase here"},
        timeout=30,
    )
    assert signed_in.status_code == 201, signed_in.text
    assert browser.get(internal_url + "/internal/authorize", timeout=30).status_code == 200
    unsafe = browser.get(
        internal_url + "/internal/authorize", headers={"X-Original-Method": "POST"}, timeout=30
    )
    assert unsafe.status_code == 403


def _invitation_token(mail_dir: Path) -> str | None:
    from spectral_shared.testing import read_emails

    for message in reversed(read_emails(mail_dir)):
        if message["To"] == "ana@regional.example":
            body = message.get_body(preferencelist=("plain",))
            found = re.search(r"token=([A-Za-z0-9_\-]+)", body.get_content()) if body else None
            return found.group(1) if found else None
    return None


def test_spectral_all_serves_the_slice_on_embedded_defaults_within_a_minute(tmp_path: Path) -> None:
    port = free_port()
    var = tmp_path / "var"
    with Processes(
        tmp_path / "logs", clean_env(VAR_DIR=str(var), BASE_URL=f"http://localhost:{port}")
    ) as processes:
        process = processes.start("all", "all", "--port", str(port))
        try:
            seconds = wait_for_http(f"http://127.0.0.1:{port}/health", timeout=60, process=process)
            assert seconds < 60
            client = SliceClient(f"http://127.0.0.1:{port}", var / "mail")
            walk_the_slice(client)
            walk_the_auth_flows(client, internal_url=None)
        except BaseException:
            print(processes.logs())
            raise
    assert process.returncode == 0, "spectral all did not stop cleanly on SIGTERM"
    assert sorted(p.name for p in var.glob("*.db")) == [
        "audit.db",
        "auth.db",
        "billing.db",
        "governance.db",
        "reports.db",
    ]


@pytest.mark.integration
def test_the_split_topology_serves_the_slice_on_real_services(
    tmp_path: Path, empty_pg_url: str, broker_url: str, redis_url: str, bus_namespace: BusNamespace
) -> None:
    router, auth, audit, worker_metrics = free_port(), free_port(), free_port(), free_port()
    var = tmp_path / "var"
    env = clean_env(
        DATABASE_URL=empty_pg_url,
        BROKER_URL=broker_url,
        REDIS_URL=redis_url,
        BUS_EXCHANGE=bus_namespace.exchange,
        BUS_QUEUE_PREFIX=bus_namespace.queue_prefix,
        ENCRYPTION_KEY=TEST_ENCRYPTION_KEY,
        SESSION_SECRET="split-topology-test-session-secret",
        VAR_DIR=str(var),
        BASE_URL=f"http://127.0.0.1:{router}",
        AUTH_INTERNAL_URL=f"http://127.0.0.1:{auth}",
        OUTBOX_POLL_INTERVAL="0.1",
    )
    with Processes(tmp_path / "logs", env) as processes:
        try:
            migrated = processes.run("db", "upgrade")
            assert migrated.returncode == 0, migrated.stderr.decode()
            engine = sa.create_engine(
                empty_pg_url.replace("postgresql://", "postgresql+psycopg://", 1)
            )
            with engine.connect() as conn:
                schemas = set(
                    conn.scalars(sa.text("SELECT schema_name FROM information_schema.schemata"))
                )
                versions = conn.scalar(sa.text("SELECT version_num FROM audit.alembic_version"))
            engine.dispose()
            assert {
                "auth",
                "governance",
                "audit",
                "billing",
                "reports",
            } <= schemas and versions == "0001"

            processes.start(
                "audit-worker", "audit", "worker", "--metrics-port", str(worker_metrics)
            )
            processes.start("auth-relay", "auth", "relay")
            web = [
                processes.start("auth-web", "auth", "web", "--port", str(auth), "--workers", "1"),
                processes.start(
                    "audit-web", "audit", "web", "--port", str(audit), "--workers", "1"
                ),
                processes.start(
                    "router",
                    "gateway",
                    "dev-router",
                    "--port",
                    str(router),
                    env={
                        "AUTH_UPSTREAM": f"http://127.0.0.1:{auth}",
                        "AUDIT_UPSTREAM": f"http://127.0.0.1:{audit}",
                    },
                ),
            ]
            for port, process in zip((auth, audit, router), web, strict=True):
                wait_for_http(f"http://127.0.0.1:{port}/health", timeout=60, process=process)
            client = SliceClient(f"http://127.0.0.1:{router}", var / "mail")
            walk_the_slice(client)
            walk_the_auth_flows(client, internal_url=f"http://127.0.0.1:{auth}")
            scraped = requests.get(f"http://127.0.0.1:{worker_metrics}/metrics", timeout=5).text
            handled = re.search(
                r'spectral_messages_consumed_total\{consumer="audit.log",outcome="handled"\} (\d+)',
                scraped,
            )
            assert (
                handled and int(handled.group(1)) >= 8
            )  # the two onboardings alone are eight events
            service_health = client.get("/health").json()
            assert service_health["status"] == "healthy" and set(service_health["checks"]) == {
                "auth",
                "audit",
            }
        except BaseException:
            print(processes.logs())
            raise
