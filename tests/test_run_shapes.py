"""The slice through both run shapes as real processes: ``spectral all`` on embedded defaults,
and the split topology (one process per target) on real PostgreSQL, RabbitMQ and Redis."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from spectral_gateway.testing import Processes, SliceClient, clean_env, free_port, wait_for_http
from spectral_shared.testing import wait_until
from spectral_shared.testing.plugin import TEST_ENCRYPTION_KEY, BusNamespace

pytestmark = pytest.mark.e2e


def walk_the_slice(client: SliceClient) -> None:
    created, token = client.onboard("ada@mercy.example")
    me = client.get("/api/v1/auth/me", token)
    assert (
        me.status_code == 200 and me.json()["organization"]["id"] == created["organization"]["id"]
    )

    def auth_steps() -> list[str] | None:
        # Auth's four steps; billing's first capabilities may sit among them where billing's
        # worker runs (not in every shape this walks).
        entries = client.get("/api/v1/audit/events", token).json()["data"]
        steps = [e["action"] for e in entries if e["action"].startswith("auth.")]
        return steps if len(steps) >= 4 else None

    assert wait_until(auth_steps, what="auth's four audit entries") == [
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

    # A browser session through the gateway: reads pass, a write needs the CSRF token.
    browser = requests.Session()
    tls = client.ca_bundle
    signed_in = browser.post(
        client.base_url + "/api/v1/auth/session",
        json={"email": "ana@regional.example", "password": "member passphrase here"},
        timeout=30,
        verify=tls,
    )
    assert signed_in.status_code == 201, signed_in.text
    me = browser.get(client.base_url + "/api/v1/auth/me", timeout=30, verify=tls)
    assert me.status_code == 200, me.text
    unsafe = browser.post(
        client.base_url + "/api/v1/auth/api-keys", json={}, timeout=30, verify=tls
    )
    assert unsafe.status_code == 403 and unsafe.json()["type"].endswith("/csrf")


def walk_the_inventory(client: SliceClient) -> tuple[str, list[dict[str, Any]]]:
    """An organization builds its inventory over HTTP: three systems fit the starter plan and a
    fourth asks for an upgrade; the organization's state (set in auth, learnt over the bus) brings
    California's rules; a lifecycle move and an assessment; each change in the audit log."""
    _, token = client.onboard("cio@valley.example", org="Valley Health")
    bearer = {"Authorization": f"Bearer {token}"}

    def send(method: str, path: str, body: object) -> requests.Response:
        return requests.request(
            method,
            client.base_url + path,
            json=body,
            headers=bearer,
            timeout=30,
            verify=client.ca_bundle,
        )

    systems = []
    for name, department, risk in (
        ("Aidoc Stroke", "Imaging", "high"),
        ("Nuance DAX", "Clinical", "medium"),
        ("Coding AI", "RCM", "low"),
    ):
        body = {
            "name": name,
            "department": department,
            "category": "other",
            "uses_phi": True,
            "risk_level": risk,
        }
        response = send("POST", "/api/v1/ai-systems", body)
        assert response.status_code == 201, response.text
        systems.append(response.json())
    fourth = send(
        "POST",
        "/api/v1/ai-systems",
        {
            "name": "Fourth",
            "department": "IT",
            "category": "other",
            "uses_phi": False,
            "risk_level": "low",
        },
    )
    assert fourth.status_code == 402 and fourth.json()["upgrade_required"] is True
    listed = client.get("/api/v1/ai-systems", token, params={"sort": "name"}).json()["data"]
    assert [s["name"] for s in listed] == ["Aidoc Stroke", "Coding AI", "Nuance DAX"]
    aidoc = systems[0]
    moved = send("PATCH", f"/api/v1/ai-systems/{aidoc['id']}", {"status": "active"})
    assert moved.status_code == 200 and moved.json()["status"] == "active"
    assert send("PATCH", "/api/v1/auth/organization", {"state": "CA"}).status_code == 200

    def california() -> dict[str, object] | None:
        page = client.get(f"/api/v1/ai-systems/{aidoc['id']}/controls", token).json()
        verdict = next(f for f in page["frameworks"] if f["framework_id"] == "CA_SB1047")
        return verdict if verdict["applies"] else None

    verdict = wait_until(california, what="the organization's state to reach governance")
    assert verdict["reason"] == (
        "the organization is in California and the system is high risk; not law (vetoed "
        "2024-09-29), so a recommended practice only"
    )
    assessed = send(
        "PUT", f"/api/v1/ai-systems/{aidoc['id']}/controls/164.312(b)", {"status": "compliant"}
    )
    assert assessed.status_code == 200, assessed.text
    frameworks = client.get("/api/v1/frameworks", token).json()["data"]
    assert {f["id"]: f["control_count"] for f in frameworks}["NIST_AI_RMF"] == 72
    for action, count in (
        ("governance.ai_system.created", 3),
        ("governance.ai_system.status_changed", 1),
        ("governance.control_status.changed", 1),
    ):
        assert len(client.audit_actions(token, at_least=count, action=action)) == count
    return token, systems


def walk_the_telemetry(client: SliceClient, token: str, systems: list[dict[str, Any]]) -> None:
    """Telemetry through the gateway becomes violations, actions and alerts in the worker: a PHI
    exposure in California (HIPAA, California's breach rule, a critical alert), and a signed
    webhook delivered twice that is stored once."""
    bearer = {"Authorization": f"Bearer {token}"}
    dax = next(s for s in systems if s["name"] == "Nuance DAX")
    sent = requests.post(
        client.base_url + "/api/v1/telemetry/events",
        json={"events": [{"ai_system_id": dax["id"], "event_type": "phi_exposure"}]},
        headers=bearer,
        timeout=30,
        verify=client.ca_bundle,
    )
    assert sent.status_code == 202 and sent.json()["accepted"] == 1, sent.text

    def violations() -> set[str] | None:
        page = client.get("/api/v1/violations", token, params={"ai_system_id": dax["id"]}).json()
        found = {v["control_id"] for v in page["data"]}
        return found if len(found) >= 4 else None

    found = wait_until(violations, what="the worker to translate the PHI exposure")
    assert found == {"164.402", "164.308(a)(1)(ii)(D)", "CA-BREACH", "CA-HSC-1280.15"}
    alerts = client.get("/api/v1/alerts", token, params={"ai_system_id": dax["id"]}).json()
    assert [a["severity"] for a in alerts["data"]] == ["critical"]

    secret = requests.post(
        client.base_url + f"/api/v1/ai-systems/{dax['id']}/webhook-secret",
        headers=bearer,
        timeout=30,
        verify=client.ca_bundle,
    ).json()["secret"]
    body = json.dumps({"alert_type": "drift", "alert_id": "a-1", "drift_value": 0.3}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    answers = [
        requests.post(
            client.base_url + f"/api/v1/webhooks/arize/{dax['id']}",
            data=body,
            headers={"Content-Type": "application/json", "X-Arize-Signature": signature},
            timeout=30,
            verify=client.ca_bundle,
        )
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [202, 202], answers[0].text
    assert [a.json()["duplicate"] for a in answers] == [False, True]
    assert len(client.audit_actions(token, at_least=3, action="governance.violation.detected")) >= 3


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
        metrics = free_port()
        process = processes.start("all", "all", "--port", str(port), "--metrics-port", str(metrics))
        try:
            seconds = wait_for_http(f"http://127.0.0.1:{port}/health", timeout=60, process=process)
            assert seconds < 60
            client = SliceClient(f"http://127.0.0.1:{port}", var / "mail")
            walk_the_slice(client)
            walk_the_auth_flows(client, internal_url=None)
            walk_the_telemetry(client, *walk_the_inventory(client))
            # Issue 18: metrics on the metrics port only, never on the public one.
            scraped = requests.get(f"http://127.0.0.1:{metrics}/metrics", timeout=5)
            assert "spectral_http_request_duration_seconds" in scraped.text
            assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 404
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
def migration_head(service: str) -> str | None:
    from alembic.script import ScriptDirectory

    from spectral_shared.component import installed_components

    migrations = installed_components()[service].migrations
    return ScriptDirectory(str(migrations)).get_current_head()


def test_the_split_topology_serves_the_slice_on_real_services_through_nginx(
    tmp_path: Path, empty_pg_url: str, broker_url: str, redis_url: str, bus_namespace: BusNamespace
) -> None:
    """What make stack runs: every web target on its own port, nginx rendered by
    `spectral gateway render` in front over TLS, the router behind it for the platform pages."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        pytest.fail("nginx is not installed: `apt-get install nginx-light` (.ci/run does)")
    services = ("auth", "governance", "audit", "billing", "reports")
    ports = {name: free_port() for name in services}
    router, https, http = free_port(), free_port(), free_port()
    worker_metrics, relay_metrics = free_port(), free_port()
    var = tmp_path / "var"
    upstreams = {f"{name.upper()}_UPSTREAM": f"http://127.0.0.1:{ports[name]}" for name in services}
    env = clean_env(
        DATABASE_URL=empty_pg_url,
        BROKER_URL=broker_url,
        REDIS_URL=redis_url,
        BUS_EXCHANGE=bus_namespace.exchange,
        BUS_QUEUE_PREFIX=bus_namespace.queue_prefix,
        ENCRYPTION_KEY=TEST_ENCRYPTION_KEY,
        SESSION_SECRET="split-topology-test-session-secret",
        VAR_DIR=str(var),
        BASE_URL=f"https://127.0.0.1:{https}",
        AUTH_INTERNAL_URL=f"http://127.0.0.1:{ports['auth']}",
        OUTBOX_POLL_INTERVAL="0.1",
        **upstreams,
    )
    cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
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
            assert set(services) <= schemas and versions == migration_head("audit")

            made = processes.run("gateway", "dev-cert", "--cert", str(cert), "--key", str(key))
            assert made.returncode == 0, made.stderr.decode()
            rendered = processes.run(
                "gateway",
                "render",
                "--out",
                str(tmp_path / "nginx"),
                env={
                    "TLS_CERT_PATH": str(cert),
                    "TLS_KEY_PATH": str(key),
                    "GATEWAY_LISTEN_ADDRESS": "127.0.0.1",
                    "GATEWAY_HTTPS_PORT": str(https),
                    "GATEWAY_HTTP_PORT": str(http),
                    "GATEWAY_WORKERS": "1",
                    "PLATFORM_UPSTREAM": f"http://127.0.0.1:{router}",
                    **({"GATEWAY_USER": "root"} if os.geteuid() == 0 else {}),
                },
            )
            assert rendered.returncode == 0, rendered.stderr.decode()
            conf = Path(rendered.stdout.decode().strip())

            processes.start(
                "audit-worker", "audit", "worker", "--metrics-port", str(worker_metrics)
            )
            processes.start("auth-relay", "auth", "relay", "--metrics-port", str(relay_metrics))
            processes.start("governance-relay", "governance", "relay")
            processes.start("governance-worker", "governance", "worker")
            web = [
                processes.start(
                    f"{name}-web", name, "web", "--port", str(ports[name]), "--workers", "1"
                )
                for name in services
            ]
            web.append(
                processes.start(
                    "router", "gateway", "dev-router", "--host", "127.0.0.1", "--port", str(router)
                )
            )
            for port, process in zip([*ports.values(), router], web, strict=True):
                wait_for_http(f"http://127.0.0.1:{port}/health", timeout=60, process=process)
            gateway = processes.start_program(
                "nginx", nginx, "-p", str(conf.parent / "run"), "-c", str(conf), "-g", "daemon off;"
            )
            client = SliceClient(f"https://127.0.0.1:{https}", var / "mail", ca_bundle=str(cert))
            wait_until(lambda: gateway.poll() is None and _answers(client, "/livez"), what="nginx")
            redirect = requests.get(
                f"http://127.0.0.1:{http}/health", allow_redirects=False, timeout=5
            )
            assert redirect.headers["Location"] == f"https://127.0.0.1:{https}/health"
            walk_the_slice(client)
            walk_the_auth_flows(client, internal_url=f"http://127.0.0.1:{ports['auth']}")
            walk_the_telemetry(client, *walk_the_inventory(client))
            scraped = requests.get(f"http://127.0.0.1:{worker_metrics}/metrics", timeout=5).text
            handled = re.search(
                r'spectral_messages_consumed_total\{consumer="audit.log",outcome="handled"\} (\d+)',
                scraped,
            )
            assert (
                handled and int(handled.group(1)) >= 8
            )  # the two onboardings alone are eight events
            # Workers and relays answer the same probes as web targets, on their metrics port.
            for port, needs in (
                (worker_metrics, {"database", "broker", "redis"}),
                (relay_metrics, {"database", "broker"}),
            ):
                health = requests.get(f"http://127.0.0.1:{port}/health", timeout=10).json()
                assert health["status"] == "healthy" and set(health["checks"]) == needs
                assert requests.get(f"http://127.0.0.1:{port}/livez", timeout=5).json() == {
                    "status": "alive"
                }
            checked = subprocess.run(
                [sys.executable, "-m", "spectral_shared.probe", "--port", str(worker_metrics)],
                check=False,
            )
            assert checked.returncode == 0  # the images' HEALTHCHECK
            service_health = client.get("/health").json()
            assert service_health["status"] == "healthy" and set(service_health["checks"]) == set(
                services
            )
            assert "/api/v1/audit/events" in client.get("/api/docs/openapi.json").json()["paths"]
        except BaseException:
            print(processes.logs())
            raise


def _answers(client: SliceClient, path: str) -> bool:
    try:
        return client.get(path).status_code == 200
    except requests.RequestException:
        return False
