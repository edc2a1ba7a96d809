"""Organizations on a running platform, for the cross-tenant guards: one platform per test module
(real PostgreSQL, RabbitMQ and Redis behind the all-in-one router), organizations onboarded and
filled only through the public API, and members of every role.

Organizations come from ``SliceClient.onboard`` alone and their ids from ``/api/v1/auth/me``, so
nothing here depends on what registration answers.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from spectral_gateway.all_in_one import Platform
from spectral_gateway.testing import SliceClient, free_port, serve_in_thread
from spectral_shared.config import Settings
from spectral_shared.testing import read_emails, wait_until
from spectral_shared.testing.plugin import TEST_ENCRYPTION_KEY

PASSWORD = "correct horse battery staple"  # what SliceClient.onboard registers admins with
MEMBER_PASSWORD = "member passphrase here"

# Every role an organization's member can hold; super_admin lives only in the platform org.
MEMBER_ROLES = ("admin", "compliance_officer", "analyst", "viewer", "executive")

# A PHI exposure: HIPAA's breach controls become violations with required actions, and a
# critical alert (docs/rules.md).
PHI_EXPOSURE = {"event_type": "phi_exposure", "severity": "critical"}


@dataclass
class LivePlatform:
    client: SliceClient
    platform: Platform
    settings: Settings


@contextmanager
def module_settings(
    var_dir: Path,
    pg_template: tuple[sa.Engine, str],
    broker_url: str,
    redis_url: str,
    **overrides: Any,
) -> Iterator[Settings]:
    """What ``integration_settings`` gives one test, for a whole module: a fresh migrated
    database, a private bus namespace (its queues deleted afterwards) and Redis prefix."""
    from spectral_shared.testing.plugin import _fresh_database, private_bus_namespace

    admin, template = pg_template
    with (
        private_bus_namespace(broker_url) as namespace,
        _fresh_database(admin, "spectral_test", template) as url,
    ):
        values: dict[str, Any] = {
            "spectral_env": "test",
            "var_dir": var_dir,
            "encryption_key": TEST_ENCRYPTION_KEY,
            "session_secret": secrets.token_urlsafe(16),
            "bus_retry_delays": "0.1,0.2",
            "outbox_poll_interval": 0.05,
            "base_url": "http://localhost:5000",
            "redis_key_prefix": f"test-{uuid.uuid4().hex[:12]}",
            "database_url": url,
            "broker_url": broker_url,
            "redis_url": redis_url,
            # One client address signs in dozens of people here: not an attack.
            "gateway_abuse_rate_per_minute": 100_000,
            "gateway_abuse_burst": 10_000,
            "rate_limit_max_requests": 100_000,
            **namespace.overrides,
        }
        values.update(overrides)
        yield Settings(**values)


@contextmanager
def serve_platform(settings: Settings) -> Iterator[LivePlatform]:
    """Every service in this process, served on a real port behind the all-in-one router."""
    port = free_port()
    settings = settings.model_copy(update={"port": port, "base_url": f"http://127.0.0.1:{port}"})
    platform = Platform(settings)
    served = serve_in_thread("platform", platform.router(), port, threads=8)
    platform.start_background()
    try:
        yield LivePlatform(
            SliceClient(f"http://127.0.0.1:{port}", settings.var_dir / "mail"), platform, settings
        )
    finally:
        served.stop()
        platform.stop()


def call(
    client: SliceClient,
    method: str,
    path: str,
    token: str | None = None,
    body: Any = None,
    **kwargs: Any,
) -> requests.Response:
    """Any request, as a bearer of ``token`` (a JSON body when ``body`` is not None)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kwargs.pop("headers", {}))
    if body is not None:
        kwargs["json"] = body
    return requests.request(
        method,
        client.base_url + path,
        headers=headers,
        timeout=30,
        verify=client.ca_bundle,
        **kwargs,
    )


def ok(response: requests.Response, *statuses: int) -> Any:
    """The JSON of a response that succeeded (any 2xx, or one of ``statuses``)."""
    expected = statuses or tuple(range(200, 300))
    assert response.status_code in expected, (
        f"{response.request.method} {response.request.path_url}: "
        f"{response.status_code} {response.text[:500]}"
    )
    return response.json() if response.content else None


@dataclass
class Member:
    email: str
    password: str
    role: str
    user_id: str
    token: str


@dataclass
class Org:
    name: str
    organization_id: str
    admin: Member
    members: dict[str, Member] = field(default_factory=dict)

    def by_role(self) -> dict[str, Member]:
        """Every member, by role (the registering admin is the admin)."""
        return {"admin": self.admin, **self.members}


def whoami(client: SliceClient, token: str) -> dict[str, Any]:
    me: dict[str, Any] = ok(client.get("/api/v1/auth/me", token))
    return me


def onboard(client: SliceClient, email: str, name: str) -> Org:
    """A new organization with a verified admin, signed in."""
    _, token = client.onboard(email, org=name)
    me = whoami(client, token)
    admin = Member(email, PASSWORD, "admin", me["user"]["id"], token)
    return Org(name, me["organization"]["id"], admin)


def token_in_mail(mail_dir: Path, email: str) -> str | None:
    for message in reversed(read_emails(mail_dir)):
        if message["To"] == email:
            body = message.get_body(preferencelist=("plain",))
            found = re.search(r"token=([A-Za-z0-9_\-]+)", body.get_content()) if body else None
            if found:
                return found.group(1)
    return None


def invite(client: SliceClient, org: Org, email: str, role: str) -> dict[str, Any]:
    created: dict[str, Any] = ok(
        call(
            client,
            "POST",
            "/api/v1/auth/invitations",
            org.admin.token,
            {"email": email, "role": role},
        )
    )
    return created


def join(client: SliceClient, org: Org, email: str, role: str) -> Member:
    """Someone invited with ``role`` by the organization's admin, accepted and signed in."""
    invite(client, org, email, role)
    token = wait_until(
        lambda: token_in_mail(client.mail_dir, email),
        timeout=20,
        what=f"the invitation to {email}",
    )
    ok(
        client.post(
            "/api/v1/auth/invitations/accept",
            {"token": token, "name": f"{role.title()} Member", "password": MEMBER_PASSWORD},
        )
    )
    access = client.login(email, MEMBER_PASSWORD)
    member = Member(email, MEMBER_PASSWORD, role, whoami(client, access)["user"]["id"], access)
    org.members[role] = member
    return member


def ai_system(client: SliceClient, token: str, name: str) -> dict[str, Any]:
    created: dict[str, Any] = ok(
        call(
            client,
            "POST",
            "/api/v1/ai-systems",
            token,
            {
                "name": name,
                "department": "Emergency",
                "category": "clinical_decision_support",
                "uses_phi": True,
                "risk_level": "high",
            },
        ),
        201,
    )
    return created


def first_row(client: SliceClient, token: str, path: str, **params: Any) -> dict[str, Any] | None:
    response = call(client, "GET", path, token, params=params)
    if response.status_code != 200:
        return None
    rows = response.json()["data"]
    return rows[0] if rows else None


def audit_size(client: SliceClient, token: str) -> int:
    """How many entries the organization's audit log holds (its newest entry's index + 1)."""
    newest = ok(client.get("/api/v1/audit/events", token, params={"limit": 1}))["data"]
    return int(newest[0]["index"]) + 1 if newest else 0


def settled_audit_size(client: SliceClient, token: str, quiet: float = 1.0) -> int:
    """The audit log's size once it has stopped growing for ``quiet`` seconds (events reach it
    through the outbox, the relay and the bus)."""
    import time

    size, since = audit_size(client, token), time.monotonic()
    while time.monotonic() - since < quiet:
        time.sleep(0.2)
        now = audit_size(client, token)
        if now != size:
            size, since = now, time.monotonic()
    return size


def subscribe(live: LivePlatform, org: Org, plan: str = "professional") -> None:
    """Billing's capabilities for ``plan``, published through billing's outbox as billing
    publishes them (a shortcut past Stripe for tests about other services)."""
    from spectral_billing import event_types as billing_events
    from spectral_billing.db import bus as billing_bus
    from spectral_shared.bus import Actor, record_event
    from spectral_shared.contracts.billing import Capabilities
    from spectral_shared.testing.billing import capabilities

    runtime = live.platform.runtimes["billing"]
    with runtime.database.session() as session:
        record_event(
            session,
            billing_bus,
            billing_events.ENTITLEMENTS_UPDATED,
            Capabilities(**capabilities(plan, ai_system_limit=None)),
            organization_id=org.organization_id,
            actor=Actor.system("test"),
        )
