"""Auth as a Spectral component (the module registry entry)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from spectral_auth.commands import commands
from spectral_auth.consumers import schedules, subscriptions
from spectral_auth.event_types import catalog
from spectral_auth.models import Base, SigningKey, User, bus
from spectral_shared.component import Component, Runtime
from spectral_shared.identity import Identity, KeySource, StaticKeySource
from spectral_shared.routing import Route
from spectral_shared.sealed import Sealed

ROTATE_KEYS = "run `spectral auth rotate-keys` to replace the signing keys"


def own_keys(runtime: Runtime) -> KeySource:
    """Auth verifies its own tokens from its own key table; everyone else fetches the JWKS."""
    from spectral_auth.signing_keys import published_jwks

    def load() -> dict[str, object]:
        with runtime.database.session() as session:  # the primary: a new key must verify at once
            return published_jwks(session)

    return StaticKeySource(load)


def current_identity(runtime: Runtime, identity: Identity) -> Identity | None:
    """On auth's own routes a token is checked against the account, not only its signature:
    deactivation and revocation hold at once, and a changed role applies at once."""
    from spectral_auth.models import ApiKey, User
    from spectral_shared.db import utcnow

    with runtime.database.session() as session:
        if identity.subject_type == "api_key":
            key = session.get(ApiKey, identity.subject_id)
            alive = (
                key is not None
                and key.revoked_at is None
                and (key.expires_at is None or key.expires_at > utcnow())
            )
            return identity if alive else None
        user = session.get(User, identity.subject_id)
        if user is None or user.organization_id != identity.organization_id:
            return None
        if user.deactivated_at is not None or user.status != "active":
            return None
        revoked = user.sessions_revoked_at
        if revoked is not None and (identity.issued_at or 0) < revoked.timestamp():
            return None
        return replace(identity, role=user.role)


def signing_keys_open(runtime: Runtime) -> list[str]:
    """Every signing key sign-in may use decrypts (the start-up check, ADR 0039)."""
    from spectral_auth.signing_keys import unusable_signing_keys

    with runtime.database.session() as session:
        return [
            f"signing key {kid}: {error}; {ROTATE_KEYS}"
            for kid, error in unusable_signing_keys(session, runtime.cipher)
        ]


component = Component(
    name="auth",
    title="Identity, access control and tenant quotas",
    metadata=Base.metadata,
    tables=bus,
    migrations=Path(__file__).parent / "migrations",
    events=catalog,
    routes_module="spectral_auth.api.routes",
    routes=(
        Route("/api/v1/auth/register", "auth", public=True, abuse_prone=True),
        Route("/api/v1/auth/verify-email", "auth", public=True, abuse_prone=True),
        Route("/api/v1/auth/login", "auth", public=True, abuse_prone=True),
        Route("/api/v1/auth/invitations/accept", "auth", public=True, abuse_prone=True),
        Route("/api/v1/auth/password/forgot", "auth", public=True, abuse_prone=True),
        Route("/api/v1/auth/password/reset", "auth", public=True, abuse_prone=True),
        Route("/api/v1/auth/token/refresh", "auth", public=True, abuse_prone=True),
        Route("/api/v1/auth/logout", "auth", public=True),
        Route("/api/v1/auth/session", "auth", public=True, abuse_prone=True),  # cookie, not bearer
        # Enrolment accepts the enrolment-only token sign-in hands out, which the gateway's
        # /internal/authorize (access tokens only) would refuse; the routes check it themselves.
        Route("/api/v1/auth/mfa/enroll", "auth", public=True),
        Route("/api/v1/auth/mfa/confirm", "auth", public=True),
        Route("/api/v1/auth/sso/authorize", "auth", public=True, abuse_prone=True),
        Route("/api/v1/auth/sso/callback", "auth", public=True, abuse_prone=True),
        Route("/.well-known/jwks.json", "auth", public=True),
        Route("/internal/authorize", "auth", internal=True),
        Route("/api/v1/auth", "auth"),
    ),
    key_source=own_keys,
    subscriptions=subscriptions,
    schedules=schedules,
    commands=commands,
    current_identity=current_identity,
    # API keys and MFA backup codes are checked under keys derived from it (ADR 0017, 0018).
    production_requires=("SESSION_SECRET",),
    sealed=(
        # A retired signing key is never decrypted again; the current one at every sign-in.
        Sealed(
            SigningKey.__table__.c.private_key,
            where=lambda: SigningKey.retired_at.is_(None),
            remedy=ROTATE_KEYS,
        ),
        Sealed(User.__table__.c.mfa_secret),
        Sealed(User.__table__.c.mfa_pending_secret),
    ),
    key_check=signing_keys_open,
)
