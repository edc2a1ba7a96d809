"""Cross-service fixtures: the platform running for real on real PostgreSQL, RabbitMQ and Redis."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from waitress.server import create_server

from spectral_gateway.all_in_one import Platform
from spectral_gateway.testing import SliceClient, free_port
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
        server = create_server(platform.router(), host="127.0.0.1", port=port, threads=8)
        platform.start_background()
        stopping = threading.Event()

        def serve() -> None:
            try:
                server.run()
            except OSError:
                # Closing the listening socket from this thread can wake the server's loop on a
                # dead descriptor; that is the end we asked for, anything else is not.
                if not stopping.is_set():
                    raise

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()

        def stop() -> None:
            stopping.set()
            server.close()
            thread.join(5)
            platform.stop()

        stops.append(stop)
        return SliceClient(f"http://127.0.0.1:{port}", settings.var_dir / "mail")

    yield start
    for stop in stops:
        stop()


@pytest.fixture
def live_platform(start_live_platform: Callable[..., SliceClient]) -> SliceClient:
    return start_live_platform()
