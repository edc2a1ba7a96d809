from __future__ import annotations

from collections.abc import Callable, Iterator

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
