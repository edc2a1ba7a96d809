"""Governance on its own, on SQLite or real PostgreSQL (``spectral_governance.testing``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from spectral_governance.testing import Governance, governance_app
from spectral_shared.config import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def gov(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings]
) -> Iterator[Governance]:
    """Governance on SQLite, then on real PostgreSQL."""
    overrides = (
        {"database_url": request.getfixturevalue("pg_url")} if request.param == "postgresql" else {}
    )
    yield from governance_app(make_settings(**overrides))


@pytest.fixture
def pg_gov(make_settings: Callable[..., Settings], pg_url: str) -> Iterator[Governance]:
    """Governance on real PostgreSQL only."""
    yield from governance_app(make_settings(database_url=pg_url))
