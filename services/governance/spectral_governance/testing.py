"""Test support for governance on its own: its Flask app with tokens signed by a test key (as
auth's would be), and the auth and billing events it learns organizations from."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from spectral_governance.catalog.applicability import SystemFacts
from spectral_shared.bus import Actor, Envelope
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings
from spectral_shared.identity import StaticKeySource, TokenVerifier
from spectral_shared.testing import fire
from spectral_shared.testing.billing import capabilities
from spectral_shared.testing.tokens import TokenSigner

# The applicability facts of an ordinary clinical system (Emergency, PHI, medium risk, Texas).
CLINICAL_FACTS = SystemFacts(
    name="Sepsis Watch",
    department="Emergency",
    category="clinical_decision_support",
    uses_phi=True,
    fda_status="unknown",
    fda_submission_number=None,
    risk_level="medium",
    serves_states=(),
    has_vendor=True,
    organization_state="TX",
)

SYSTEM = {
    "name": "Sepsis Watch",
    "department": "Emergency",
    "category": "clinical_decision_support",
    "uses_phi": True,
    "risk_level": "medium",
}


@dataclass
class Governance:
    """The governance app, a way to act as anyone, and the directory events it consumes."""

    runtime: Runtime
    client: FlaskClient
    signer: TokenSigner
    organization: str = field(default_factory=lambda: str(uuid.uuid4()))
    user: str = field(default_factory=lambda: str(uuid.uuid4()))

    def headers(
        self,
        role: str = "admin",
        *,
        organization: str | None = None,
        user: str | None = None,
        **claims: Any,
    ) -> dict[str, str]:
        token = self.signer.token(
            sub=user or self.user, org=organization or self.organization, role=role, **claims
        )
        return {"Authorization": f"Bearer {token}"}

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        role: str = "admin",
        organization: str | None = None,
        user: str | None = None,
        **kwargs: Any,
    ) -> Any:
        headers = {
            **self.headers(role, organization=organization, user=user),
            **kwargs.pop("headers", {}),
        }
        if body is not None:
            kwargs["json"] = body
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def create(self, **fields: Any) -> dict[str, Any]:
        response = self.request("POST", "/api/v1/ai-systems", {**SYSTEM, **fields})
        assert response.status_code == 201, response.get_json()
        return dict(response.get_json())

    def event(
        self, event_type: str, data: dict[str, Any], organization: str | None = None, **kw: Any
    ) -> str:
        envelope = Envelope(
            type=event_type,
            organization_id=uuid.UUID(organization or self.organization),
            actor=Actor.system("test"),
            data=data,
            **kw,
        )
        return fire(self.runtime, "governance.directory", envelope)

    def allow(self, limit: int | None, organization: str | None = None) -> None:
        """Billing's entitlement: ``limit`` AI systems (None: unlimited)."""
        self.event(
            "billing.entitlements.updated",
            capabilities("enterprise", ai_system_limit=limit),
            organization,
        )

    def subscribe(self, plan: str, organization: str | None = None) -> None:
        """Billing's capabilities for a plan (unlimited systems)."""
        self.event(
            "billing.entitlements.updated",
            capabilities(plan, ai_system_limit=None),
            organization,
        )

    def member(
        self,
        email: str,
        *,
        role: str = "admin",
        personas: tuple[str, ...] = (),
        organization: str | None = None,
    ) -> str:
        """A user auth registered (and, with personas, tagged), as governance learns of them."""
        user_id = str(uuid.uuid4())
        self.event(
            "auth.user.registered",
            {"user_id": user_id, "email": email, "name": email, "role": role},
            organization,
        )
        if personas:
            self.event(
                "auth.user.role_changed",
                {
                    "user_id": user_id,
                    "before": {"role": role, "personas": []},
                    "after": {"role": role, "personas": list(personas)},
                },
                organization,
            )
        return user_id

    def report(self, *events: dict[str, Any], **kw: Any) -> Any:
        """POST a telemetry batch; returns the response."""
        return self.request("POST", "/api/v1/telemetry/events", {"events": list(events)}, **kw)

    def translate(self) -> int:
        """Hand every ``governance.telemetry.received`` in the outbox to the translation consumer,
        as the worker would (the inbox makes a repeat a no-op); returns how many were new."""
        handled = 0
        for body in self.outbox("governance.telemetry.received"):
            outcome = fire(self.runtime, "governance.translation", Envelope.model_validate(body))
            handled += outcome == "handled"
        return handled

    def outbox(self, event_type: str) -> list[dict[str, Any]]:
        table = self.runtime.component.tables.outbox
        with self.runtime.database.session() as session:
            bodies = session.scalars(
                select(table.c.body)
                .where(table.c.event_type == event_type)
                .order_by(table.c.created_at)
            ).all()
        return [json.loads(b) for b in bodies]


def governance_app(settings: Settings) -> Iterator[Governance]:
    """Governance migrated on ``settings``' database, served by a test client."""
    runtime = Runtime(installed_components()["governance"], settings)
    runtime.migrate()
    signer = TokenSigner("test-key", settings.base_url, jti=None)
    runtime.__dict__["verifier"] = TokenVerifier(
        StaticKeySource(signer.jwks()), issuer=settings.base_url
    )
    app = runtime.app()
    yield Governance(runtime, app.test_client(), signer)
    runtime.database.dispose()
