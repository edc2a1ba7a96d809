"""Billing on real PostgreSQL, with the Stripe test double (``spectral_billing.testing``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from spectral_billing.testing import Billing, billing_app
from spectral_shared.config import Settings


@pytest.fixture
def billing(
    make_settings: Callable[..., Settings], pg_url: str, redis_url: str
) -> Iterator[Billing]:
    yield from billing_app(make_settings(database_url=pg_url, redis_url=redis_url))
