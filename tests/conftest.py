"""Cross-service fixtures: the platform running for real on real PostgreSQL, RabbitMQ and Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from spectral_gateway.all_in_one import Platform
from spectral_gateway.testing import SliceClient, free_port, serve_in_thread
from spectral_shared.config import Settings


@pytest.fixture
def start_live_platform(integration_settings: Settings) -> Iterator[Callable[..., SliceClient]]:
    """Every service in this process on real PostgreSQL, RabbitMQ and Redis, served on a real
    port behind the all-in-one router; settings overrides as keyword arguments."""
    stops: list[Callable[[], None]] = []

    def start(**overrides: object) -> SliceClient:
        port = free_port()
        settings = integration_settings.model_copy(
            update={"port": port, "base_url": f"http://127.0.0.1:{port}", **overrides}
        )
        platform = Platform(settings)
        served = serve_in_thread("platform", platform.router(), port, threads=8)
        platform.start_background()

        def stop() -> None:
            served.stop()
            platform.stop()

        stops.append(stop)
        return SliceClient(f"http://127.0.0.1:{port}", settings.var_dir / "mail")

    yield start
    for stop in stops:
        stop()


@pytest.fixture
def live_platform(start_live_platform: Callable[..., SliceClient]) -> SliceClient:
    return start_live_platform()


@pytest.fixture(scope="module")
def chart() -> Iterator[Any]:
    """helm/spectral, loaded by Helm's SDK (helm_release renders it)."""
    import helm_python

    from helm_release import CHART

    with helm_python.Chart.load(CHART) as loaded:
        yield loaded
