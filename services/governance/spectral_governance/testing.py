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

from spectral_governance.applicability import SystemFacts
from spectral_shared.bus import Actor, Envelope
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings
from spectral_shared.identity import StaticKeySource, TokenVerifier
from spectral_shared.testing import fire
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
            {"plan": "enterprise", "ai_system_limit": limit},
            organization,
        )

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
