from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings


@pytest.fixture
def auth_runtime(integration_settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime(installed_components()["auth"], integration_settings)
    yield runtime
    runtime.database.dispose()


@pytest.fixture
def client(auth_runtime: Runtime) -> FlaskClient:
    return auth_runtime.app().test_client()


@pytest.fixture
def registration() -> Callable[..., dict[str, str]]:
    counter = iter(range(1_000_000))

    def make(**overrides: str) -> dict[str, str]:
        n = next(counter)
        body = {
            "organization_name": f"Mercy General {n}",
            "organization_type": "health_system",
            "name": "Ada Admin",
            "email": f"ada{n}@mercy.example",
            "password": "correct horse battery staple",
        }
        body.update(overrides)
        return body

    return make


class AuthApi:
    """Drives auth through HTTP the way a person would: register, read the e-mail, sign in, invite."""

    def __init__(self, client: FlaskClient, runtime: Runtime) -> None:
        self.client = client
        self.runtime = runtime
        self.mail_dir = runtime.settings.var_dir / "mail"
        self._n = 0

    def send_mail(self) -> None:
        from spectral_shared.email import deliver_due_mail

        deliver_due_mail(
            self.runtime.database,
            self.runtime.component.tables,
            self.runtime.cipher,
            self.runtime.mailer,
        )

    def token_sent_to(self, email: str) -> str:
        from spectral_shared.testing import read_emails

        self.send_mail()
        messages = [m for m in read_emails(self.mail_dir) if m["To"] == email]
        assert messages, f"no e-mail to {email}"
        body = messages[-1].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        import re

        return re.search(r"token=([A-Za-z0-9_\-]+)", body).group(1)  # type: ignore[union-attr]

    def login(self, email: str, password: str = "correct horse battery staple") -> str:
        response = self.client.post(
            "/api/v1/auth/login", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.json
        return response.json["access_token"]  # type: ignore[no-any-return]

    def onboard(
        self, org: str = "Mercy General", state: str | None = None
    ) -> tuple[dict[str, Any], str]:
        """A new organization with a verified admin; returns who they are (``/me``: the user and
        the organization) and the admin's token."""
        self._n += 1
        email = f"admin{self._n}-{id(self)}@{org.lower().replace(' ', '')}.example"
        created = self.client.post(
            "/api/v1/auth/register",
            json={
                "organization_name": org,
                "organization_type": "health_system",
                "name": "Ada Admin",
                "email": email,
                "password": "correct horse battery staple",
            },
        )
        assert created.status_code == 202, created.json
        token = self.token_sent_to(email)
        assert self.client.get(f"/api/v1/auth/verify-email?token={token}").status_code == 200
        access_token = self.login(email)
        me = self.client.get("/api/v1/auth/me", headers=self.bearer(access_token))
        assert me.status_code == 200, me.json
        return me.json, access_token  # type: ignore[return-value]

    def member(
        self, admin_token: str, role: str, personas: list[str] | None = None
    ) -> tuple[dict[str, Any], str]:
        """Invite someone with ``role`` and accept; returns the member and their token."""
        self._n += 1
        email = f"{role}{self._n}-{id(self)}@members.example"
        invited = self.client.post(
            "/api/v1/auth/invitations",
            json={"email": email, "role": role, "personas": personas or []},
            headers=self.bearer(admin_token),
        )
        assert invited.status_code == 201, invited.json
        accepted = self.client.post(
            "/api/v1/auth/invitations/accept",
            json={
                "token": self.token_sent_to(email),
                "name": f"Member {self._n}",
                "password": "member passphrase here",
            },
        )
        assert accepted.status_code == 201, accepted.json
        return accepted.json, self.login(email, "member passphrase here")  # type: ignore[return-value]

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def events(self, event_type: str) -> list[dict[str, Any]]:
        import json

        from sqlalchemy import select

        outbox = self.runtime.component.tables.outbox
        with self.runtime.database.session() as session:
            bodies = session.scalars(
                select(outbox.c.body)
                .where(outbox.c.event_type == event_type)
                .order_by(outbox.c.seq)
            )
            return [json.loads(b) for b in bodies]


@pytest.fixture
def api(client: FlaskClient, auth_runtime: Runtime) -> AuthApi:
    return AuthApi(client, auth_runtime)
