"""Test support for billing on its own: its Flask app with tokens signed by a test key (as auth's
would be), the Stripe test double served on a real port, the auth and governance events billing
learns organizations and AI systems from, and Stripe's webhooks delivered as Stripe would."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from flask.testing import FlaskClient

from spectral_billing.settings import DOUBLE_WEBHOOK_SECRET
from spectral_billing.stripe_api.gateway import StripeGateway
from spectral_billing.stripe_api.intake import pending_customers
from spectral_billing.stripe_api.processing import handle_pending
from spectral_billing.stripe_double import StripeDouble, serve
from spectral_billing.web import stripe_gateway
from spectral_shared.bus import Actor, Envelope
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings
from spectral_shared.identity import StaticKeySource, TokenVerifier
from spectral_shared.testing import fire
from spectral_shared.testing.tokens import TokenSigner

WEBHOOK = "/api/v1/billing/webhooks/stripe"


@dataclass
class Billing:
    runtime: Runtime
    client: FlaskClient
    signer: TokenSigner
    double: StripeDouble
    double_url: str
    delivered: set[str] = field(default_factory=set)
    organizations: dict[str, str] = field(default_factory=dict)  # id -> admin user id

    @property
    def gateway(self) -> StripeGateway:
        return stripe_gateway(self.runtime)

    # ---- people -------------------------------------------------------------------------------

    def headers(
        self, organization: str, role: str = "admin", user: str | None = None
    ) -> dict[str, str]:
        token = self.signer.token(
            sub=user or self.organizations.get(organization) or str(uuid.uuid4()),
            org=organization,
            role=role,
        )
        return {"Authorization": f"Bearer {token}"}

    def request(
        self,
        method: str,
        path: str,
        organization: str,
        body: Any = None,
        *,
        role: str = "admin",
        **kwargs: Any,
    ) -> Any:
        headers = {**self.headers(organization, role), **kwargs.pop("headers", {})}
        if body is not None:
            kwargs["json"] = body
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def event(self, event_type: str, organization: str, data: dict[str, Any]) -> None:
        fire(
            self.runtime,
            "billing.accounts",
            Envelope(
                type=event_type,
                organization_id=uuid.UUID(organization),
                actor=Actor.system("test"),
                data=data,
            ),
        )

    def organization(
        self, kind: str = "health_system", admin: str = "ada@mercy.example", name: str = "Mercy"
    ) -> str:
        """An organization as auth announces it, with its admin."""
        organization, user = str(uuid.uuid4()), str(uuid.uuid4())
        self.event(
            "auth.organization.created",
            organization,
            {"organization_id": organization, "name": name, "type": kind},
        )
        self.event(
            "auth.user.registered",
            organization,
            {"user_id": user, "email": admin, "name": "Ada", "role": "admin"},
        )
        self.organizations[organization] = user
        return organization

    def add_systems(self, organization: str, count: int) -> list[str]:
        """AI systems as governance announces them."""
        ids = []
        for n in range(count):
            system = str(uuid.uuid4())
            self.event(
                "governance.ai_system.created",
                organization,
                {
                    "ai_system_id": system,
                    "source": "api",
                    "system": {
                        "name": f"System {system[:8]} {n}",
                        "description": None,
                        "department": "Emergency",
                        "category": "clinical_decision_support",
                        "clinical_use_case": None,
                        "vendor_name": None,
                        "vendor_organization_id": None,
                        "model_name": None,
                        "model_version": None,
                        "uses_phi": True,
                        "fda_status": "not_a_device",
                        "fda_submission_number": None,
                        "risk_level": "medium",
                        "status": "active",
                        "monitoring_enabled": True,
                        "serves_states": [],
                        "owner_user_id": None,
                        "provider_type": None,
                        "provider_system_id": None,
                    },
                },
            )
            ids.append(system)
        return ids

    def subscription(self, organization: str) -> dict[str, Any]:
        answer = self.request("GET", "/api/v1/billing/subscription", organization)
        assert answer.status_code == 200, answer.get_json()
        return dict(answer.get_json())

    # ---- Stripe -------------------------------------------------------------------------------

    def control(self, path: str, **data: Any) -> Any:
        answer = requests.post(f"{self.double_url}/_control/{path}", data=data, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def advance(self, days: float) -> None:
        self.control("advance", seconds=str(int(days * 86_400)))

    def undelivered(self) -> list[dict[str, Any]]:
        """Stripe's events not delivered yet, oldest first, as Stripe's JSON (what a webhook
        carries)."""
        events: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100, **({"starting_after": after} if after else {})}
            page = requests.get(
                f"{self.double_url}/v1/events",
                params=params,
                headers={"Authorization": f"Bearer {self.gateway.api_key}"},
                timeout=10,
            ).json()
            events += [e for e in page["data"] if e["id"] not in self.delivered]
            if not page["has_more"] or not page["data"]:
                return list(reversed(events))
            after = page["data"][-1]["id"]

    def post_webhook(self, event: dict[str, Any], *, secret: str = DOUBLE_WEBHOOK_SECRET) -> Any:
        body = json.dumps(event)
        return self.client.post(
            WEBHOOK,
            data=body,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": self.double.sign(body, secret),
            },
        )

    def deliver(self) -> int:
        """Deliver every event Stripe recorded and has not delivered, in order."""
        events = self.undelivered()
        for event in events:
            answer = self.post_webhook(event)
            assert answer.status_code == 200, answer.get_json()
            self.delivered.add(event["id"])
        return len(events)

    def work(self) -> None:
        """What the worker does until nothing waits: handle stored events and requested syncs."""
        for _ in range(20):
            handle_pending(self.runtime, self.gateway)
            if not pending_customers(self.runtime):
                return
        raise AssertionError("Stripe events still waiting after 20 turns")

    def settle(self) -> None:
        self.deliver()
        self.work()

    def checkout(self, organization: str, plan: str, card: str = "good") -> dict[str, Any]:
        """Open Checkout through the API and pay on Stripe's hosted page."""
        opened = self.request("POST", "/api/v1/billing/checkout", organization, {"plan": plan})
        assert opened.status_code == 201, opened.get_json()
        url = opened.get_json()["url"]
        page = requests.get(url, timeout=10)
        assert page.status_code == 200
        assert "test" in page.text.lower()
        action = form_action(page.text, "card", card)
        paid = requests.post(
            f"{self.double_url}{action}", data={"card": card}, allow_redirects=False, timeout=10
        )
        assert paid.status_code == 303, paid.text
        return dict(opened.get_json())


def form_action(html: str, field: str, value: str) -> str:
    for match in re.finditer(r'<form method="post" action="([^"]+)">(.*?)</form>', html, re.S):
        if f'name="{field}" value="{value}"' in match.group(2):
            return match.group(1)
    raise AssertionError(f"no form with {field}={value}")


def billing_app(settings: Settings) -> Iterator[Billing]:
    """Billing migrated on ``settings``' database, served by a test client, talking to a Stripe
    test double on a real port whose webhooks the test delivers (``Billing.deliver``)."""
    double = StripeDouble(auto_deliver=False)
    server, thread, url = serve(double, "127.0.0.1", 0)
    runtime = Runtime(
        installed_components()["billing"],
        settings.model_copy(update={"stripe_api_base": url}),
    )
    runtime.migrate()
    signer = TokenSigner("test-key", settings.base_url, jti=None)
    runtime.__dict__["verifier"] = TokenVerifier(
        StaticKeySource(signer.jwks()), issuer=settings.base_url
    )
    app = runtime.app()
    try:
        yield Billing(runtime, app.test_client(), signer, double, url)
    finally:
        runtime.database.dispose()
        server.shutdown()
        server.server_close()
        double.close()
        thread.join(timeout=5)
