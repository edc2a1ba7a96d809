"""Auth as a Spectral component (the module registry entry)."""

from __future__ import annotations

from pathlib import Path

from spectral_auth.commands import commands
from spectral_auth.event_types import catalog
from spectral_auth.models import Base, bus
from spectral_shared.component import Component, Runtime
from spectral_shared.identity import KeySource, StaticKeySource


def own_keys(runtime: Runtime) -> KeySource:
    """Auth verifies its own tokens from its own key table; everyone else fetches the JWKS."""
    from spectral_auth.signing_keys import published_jwks

    def load() -> dict[str, object]:
        with runtime.database.session() as session:  # the primary: a new key must verify at once
            return published_jwks(session)

    return StaticKeySource(load)


component = Component(
    name="auth",
    title="Identity, access control and tenant quotas",
    metadata=Base.metadata,
    tables=bus,
    migrations=Path(__file__).parent / "migrations",
    events=catalog,
    routes_module="spectral_auth.api.routes",
    key_source=own_keys,
    commands=commands,
)
