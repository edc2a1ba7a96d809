"""Billing end to end in the split topology (issue 19): every target its own process on real
PostgreSQL, RabbitMQ and Redis, nginx in front over TLS, the Stripe test double in this process.
A new health system walks it through the gateway with real tokens: a checkout completes and within
seconds governance accepts a fourth AI system and auth's quota rises; a downgrade below the
inventory is refused; a failed payment gives grace, then read-only (telemetry still flows), and
paying makes the organization writable again; each billing change lands in the audit log."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from amqp.exceptions import ChannelError
from kombu import Connection

from spectral_billing.settings import DOUBLE_WEBHOOK_SECRET
from spectral_billing.stripe_double import StripeDouble, serve
from spectral_billing.testing import WEBHOOK, form_action
from spectral_gateway.testing import Processes, SliceClient, clean_env, free_port, wait_for_http
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings
from spectral_shared.testing import wait_until
from spectral_shared.testing.plugin import TEST_ENCRYPTION_KEY, BusNamespace

# The walk takes seconds; starting fifteen interpreters is most of the run, and on a loaded
# machine can take longer than the suite's default timeout alone.
pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(300)]

SERVICES = ("auth", "governance", "audit", "billing", "reports")
CONSUMERS = ("auth", "governance", "audit", "billing")  # each with its worker and relay
DAY = 86_400
# What the deployment allows an organization billing has not given a quota of its own (before
# the checkout); Professional's is 10 000 an hour.
DEFAULT_QUOTA = 5000


@contextmanager
def stripe_double() -> Iterator[tuple[StripeDouble, str]]:
    """The Stripe test double on a real port of this process, delivering its webhooks itself."""
    double = StripeDouble(auto_deliver=True)
    server, thread, url = serve(double, "127.0.0.1", free_port())
    try:
        yield double, url
    finally:
        server.shutdown()
        server.server_close()
        double.close()
        thread.join(timeout=5)


@contextmanager
def split_topology(
    tmp_path: Path, env: dict[str, str], ports: dict[str, int]
) -> Iterator[SliceClient]:
    """Migrated, every service's web, worker and relay (reports: web only, the route table expects
    it), the dev router and nginx rendered by `spectral gateway render`, serving TLS; returned
    once every web target answers and every worker has bound its queues."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        pytest.fail("nginx is not installed: `apt-get install nginx-light` (.ci/run does)")
    router, https, http = free_port(), free_port(), free_port()
    cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    env = {**env, "BASE_URL": f"https://127.0.0.1:{https}"}
    with Processes(tmp_path / "logs", env) as processes:

        def gateway_config() -> Path:
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
            return Path(rendered.stdout.decode().strip())

        try:
            with ThreadPoolExecutor(2) as pool:  # each command starts an interpreter: overlap them
                migrating, rendering = (
                    pool.submit(processes.run, "db", "upgrade"),
                    pool.submit(gateway_config),
                )
                migrated = migrating.result()
                assert migrated.returncode == 0, migrated.stderr.decode()
                conf = rendering.result()

            for name in CONSUMERS:
                processes.start(f"{name}-worker", name, "worker")
                processes.start(f"{name}-relay", name, "relay")
            web = {
                f"http://127.0.0.1:{ports[name]}/health": processes.start(
                    f"{name}-web", name, "web", "--port", str(ports[name]), "--workers", "1"
                )
                for name in SERVICES
            }
            web[f"http://127.0.0.1:{router}/health"] = processes.start(
                "router", "gateway", "dev-router", "--host", "127.0.0.1", "--port", str(router)
            )
            # Generous: a loaded machine takes a while to start fifteen interpreters at once.
            for url, process in web.items():
                wait_for_http(url, timeout=120, process=process)
            queues = _queue_names(env)
            wait_until(
                lambda: _declared(env["BROKER_URL"], queues),
                timeout=60,
                interval=0.5,
                what="every worker to bind its queues",
            )
            gateway = processes.start_program(
                "nginx", nginx, "-p", str(conf.parent / "run"), "-c", str(conf), "-g", "daemon off;"
            )
            client = SliceClient(
                f"https://127.0.0.1:{https}", Path(env["VAR_DIR"]) / "mail", str(cert)
            )
            wait_until(lambda: gateway.poll() is None and _answers(client, "/livez"), what="nginx")
            yield client
        except BaseException:
            print(processes.logs())
            raise


def test_a_checkout_a_refused_downgrade_and_a_failed_payment_through_the_split_topology(
    tmp_path: Path, empty_pg_url: str, broker_url: str, redis_url: str, bus_namespace: BusNamespace
) -> None:
    started = time.monotonic()
    ports = {name: free_port() for name in SERVICES}
    with stripe_double() as (double, double_url):
        double.add_webhook_endpoint(
            f"http://127.0.0.1:{ports['billing']}{WEBHOOK}", DOUBLE_WEBHOOK_SECRET
        )
        env = clean_env(
            DATABASE_URL=empty_pg_url,
            BROKER_URL=broker_url,
            REDIS_URL=redis_url,
            BUS_EXCHANGE=bus_namespace.exchange,
            BUS_QUEUE_PREFIX=bus_namespace.queue_prefix,
            ENCRYPTION_KEY=TEST_ENCRYPTION_KEY,
            SESSION_SECRET="billing-end-to-end-test-session-secret",
            VAR_DIR=str(tmp_path / "var"),
            AUTH_INTERNAL_URL=f"http://127.0.0.1:{ports['auth']}",
            OUTBOX_POLL_INTERVAL="0.1",
            STRIPE_API_BASE=double_url,
            BILLING_SYNC_INTERVAL_SECONDS="0.2",
            RATE_LIMIT_MAX_REQUESTS=str(DEFAULT_QUOTA),
            **{f"{n.upper()}_UPSTREAM": f"http://127.0.0.1:{p}" for n, p in ports.items()},
        )
        with split_topology(tmp_path, env, ports) as client:
            booted = time.monotonic() - started
            walk = Walk(client, double_url, f"http://127.0.0.1:{ports['auth']}")
            walk.before_paying()
            latency = walk.checkout()
            walk.refused_downgrade()
            walk.failed_payment_then_paid()
            walk.audited()
    print(
        f"\nbilling end to end: checkout -> fourth AI system accepted in "
        f"{latency['governance']:.2f}s, quota risen in {latency['quota']:.2f}s; "
        f"started in {booted:.1f}s, {time.monotonic() - started:.1f}s in all"
    )


class Walk:
    """One health system's admin through the gateway, and Stripe's side through the double."""

    def __init__(self, client: SliceClient, double_url: str, auth_url: str) -> None:
        self.client = client
        self.double_url = double_url
        self.auth_url = auth_url
        created, self.token = client.onboard("cfo@harbor.example", org="Harbor Health")
        self.organization = created["organization"]["id"]
        self.systems: list[dict[str, Any]] = []

    # ---- through the gateway ------------------------------------------------------------------

    def send(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return requests.request(
            method,
            self.client.base_url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
            verify=self.client.ca_bundle,
            **kwargs,
        )

    def subscription(self) -> dict[str, Any]:
        answer = self.send("GET", "/api/v1/billing/subscription")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def add_system(self, name: str) -> requests.Response:
        answer = self.send("POST", "/api/v1/ai-systems", _system(name))
        if answer.status_code == 201:
            self.systems.append(answer.json())
        return answer

    def refusal_of_a_new_system(self) -> requests.Response:
        """What a new AI system would get, without ever adding one: the name is taken, so a
        writable organization answers 409 and a full or read-only one 402 (checked first)."""
        return self.send("POST", "/api/v1/ai-systems", _system(self.systems[0]["name"]))

    def quota(self) -> int:
        """The request quota auth grants the organization (the gateway asks /internal/authorize;
        clients never reach it through a router)."""
        answer = requests.get(
            self.auth_url + "/internal/authorize",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return int(answer.headers["X-RateLimit-Limit"])

    # ---- Stripe's side --------------------------------------------------------------------------

    def control(self, path: str, **data: str) -> Any:
        answer = requests.post(f"{self.double_url}/_control/{path}", data=data, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def customer(self) -> str:
        listed = requests.get(
            f"{self.double_url}/v1/customers",
            headers={"Authorization": "Bearer sk_test_x"},
            timeout=30,
        ).json()["data"]
        [customer] = [c for c in listed if c["metadata"]["organization_id"] == self.organization]
        return str(customer["id"])

    # ---- the walk -------------------------------------------------------------------------------

    def before_paying(self) -> None:
        """Starter's allowance before any subscription: three AI systems, the default quota."""
        standing = wait_until(
            lambda: (s := self.subscription())["capabilities"] and s,
            what="billing to learn of the organization",
        )
        assert standing["status"] == "none" and standing["trial_available"] is True
        for name in ("Aidoc Stroke", "Nuance DAX", "Coding AI"):
            added = self.add_system(name)
            assert added.status_code == 201, added.text
        fourth = self.add_system("Sepsis Watch")
        assert fourth.status_code == 402, fourth.text
        problem = fourth.json()
        assert problem["type"].endswith("/upgrade-required") and problem["limit"] == 3
        assert self.quota() == DEFAULT_QUOTA

    def checkout(self) -> dict[str, float]:
        """Checkout on Stripe's hosted page; then, within ten seconds, governance accepts a fourth
        AI system and auth grants Professional's quota. Returns how long each took."""
        opened = self.send("POST", "/api/v1/billing/checkout", {"plan": "professional"})
        assert opened.status_code == 201, opened.text
        assert opened.json()["test_mode"] is True and opened.json()["trial_days"] == 30
        page = requests.get(opened.json()["url"], timeout=30)
        assert page.status_code == 200 and "test" in page.text.lower()
        action = form_action(page.text, "card", "good")
        paid = requests.post(
            self.double_url + action, data={"card": "good"}, allow_redirects=False, timeout=30
        )
        assert paid.status_code == 303, paid.text
        completed = time.monotonic()

        wait_until(
            lambda: self.add_system("Sepsis Watch").status_code == 201,
            timeout=10,
            interval=0.1,
            what="governance to accept a fourth AI system after the checkout",
        )
        governance = time.monotonic() - completed
        wait_until(
            lambda: self.quota() == 10_000,
            timeout=max(10 - governance, 0.1),
            interval=0.1,
            what="auth to grant Professional's quota after the checkout",
        )
        quota = time.monotonic() - completed
        answer = self.send("GET", "/api/v1/billing/subscription")
        assert answer.headers["X-RateLimit-Limit"] == "10000"  # what the gateway tells clients
        standing = answer.json()
        assert standing["status"] == "trialing" and standing["plan"] == "professional"
        assert standing["trial_available"] is False
        return {"governance": governance, "quota": quota}

    def refused_downgrade(self) -> None:
        """Five AI systems kept: Starter's three do not fit, and nothing changes."""
        added = self.add_system("Coding Assist")
        assert added.status_code == 201, added.text
        wait_until(
            lambda: self._kept() == 5, what="billing to count the five AI systems governance keeps"
        )
        refused = self.send("POST", "/api/v1/billing/subscription/plan", {"plan": "starter"})
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert problem["type"].endswith("/downgrade-refused")
        assert (problem["limit"], problem["ai_systems"], problem["remove"]) == (3, 5, 2)
        assert self.subscription()["plan"] == "professional"

    def failed_payment_then_paid(self) -> None:
        """The trial ends on a declining card: past due, still writable; 30 days of grace later
        read-only (reads and telemetry still served); paid, writable again."""
        customer = self.customer()
        self.control(f"customers/{customer}/card", kind="declining")
        self.control("advance", seconds=str(31 * DAY))
        standing = wait_until(
            lambda: (s := self.subscription())["status"] == "past_due" and s,
            what="billing to see the failed charge",
        )
        assert standing["writable"] is True and standing["grace_ends_at"] and standing["pay_url"]
        sixth = self.add_system("Readmission Risk")
        assert sixth.status_code == 201, sixth.text  # Professional allows ten

        self.control("advance", seconds=str(31 * DAY))  # Stripe retries; the grace runs out
        wait_until(
            lambda: self.refusal_of_a_new_system().status_code == 402,
            interval=0.1,
            what="governance to make the organization read-only",
        )
        refused = self.add_system("Sepsis Watch 2")
        assert refused.status_code == 402, refused.text
        problem = refused.json()
        assert problem["type"].endswith("/read-only") and problem["read_only"] is True
        assert problem["pay_url"] and "grace period ended" in problem["reason"]
        standing = self.subscription()
        assert standing["writable"] is False and standing["read_only_since"]
        listed = self.send("GET", "/api/v1/ai-systems")
        assert listed.status_code == 200 and len(listed.json()["data"]) == 6
        exposure = self.send(
            "POST",
            "/api/v1/telemetry/events",
            {"events": [{"ai_system_id": self.systems[1]["id"], "event_type": "phi_exposure"}]},
        )
        assert exposure.status_code == 202 and exposure.json()["accepted"] == 1, exposure.text

        self.control(f"customers/{customer}/card", kind="good", retry="true")
        wait_until(
            lambda: self.add_system("Sepsis Watch 2").status_code == 201,
            interval=0.1,
            what="the organization to be writable again once paid",
        )
        standing = self.subscription()
        assert standing["status"] == "active" and standing["writable"] is True
        assert standing["pay_url"] is None

    def audited(self) -> None:
        """Every billing change of the organization is in its audit log."""
        for action in (
            "billing.checkout.started",
            "billing.subscription.updated",
            "billing.invoice.updated",
            "billing.entitlements.updated",
        ):
            entries = self.client.audit_actions(self.token, at_least=1, action=action)
            assert {e["organization_id"] for e in entries} == {self.organization}, action
        # None, trialing, past due, read-only, active: a snapshot for each.
        self.client.audit_actions(self.token, at_least=5, action="billing.entitlements.updated")

    def _kept(self) -> int:
        usage = self.send("GET", "/api/v1/billing/usage", params={"days": 1})
        assert usage.status_code == 200, usage.text
        return next(m["used"] for m in usage.json()["metrics"] if m["metric"] == "ai_systems")


def _system(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "department": "Emergency",
        "category": "clinical_decision_support",
        "uses_phi": True,
        "risk_level": "medium",
    }


def _queue_names(env: dict[str, str]) -> list[str]:
    """The queues the workers of CONSUMERS declare when they start consuming."""
    settings = Settings(
        broker_url=env["BROKER_URL"],
        bus_exchange=env["BUS_EXCHANGE"],
        bus_queue_prefix=env["BUS_QUEUE_PREFIX"],
    )
    names = []
    for name in CONSUMERS:
        runtime = Runtime(installed_components()[name], settings)
        for subscription in runtime.subscriptions:
            names += [q.name for q in runtime.topology.queues_for(subscription)]
    return names


def _declared(broker_url: str, queues: list[str]) -> bool:
    with Connection(broker_url) as connection:
        for queue in queues:
            # A passive declare of a missing queue closes the channel: one channel per queue.
            with connection.channel() as channel:
                try:
                    channel.queue_declare(queue, passive=True)
                except ChannelError:
                    return False
    return True


def _answers(client: SliceClient, path: str) -> bool:
    try:
        return client.get(path).status_code == 200
    except requests.RequestException:
        return False
