"""Process bootstrapping shared by every command that runs a target."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import click

from spectral_shared.component import installed_components
from spectral_shared.config import ConfigurationError, Settings, load_settings
from spectral_shared.logging import configure_logging, get_logger
from spectral_shared.tracing import configure_tracing

log = get_logger("spectral.process")


def boot(service: str, services: list[str]) -> Settings:
    """Settings, logging and tracing for a process; refuses a production config that is unfit."""
    settings = load_settings()
    configure_logging(settings.log_level)
    configure_tracing(service)
    components = installed_components()
    extra = [name for s in services for name in components[s].production_requires]
    try:
        settings.ensure_runnable(services, extra)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    return settings


def stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        log.info("process.stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


# The listening address of every serving command: HOST and PORT, as the deployment guide's PORT.
host_option = click.option(
    "--host", default=lambda: os.environ.get("HOST", "127.0.0.1"), show_default="HOST or 127.0.0.1"
)
port_option = click.option(
    "--port",
    type=int,
    default=lambda: int(os.environ.get("PORT", "5000")),
    show_default="PORT or 5000",
)

metrics_port_option = click.option(
    "--metrics-port",
    type=int,
    default=lambda: int(os.environ["METRICS_PORT"]) if os.environ.get("METRICS_PORT") else None,
    show_default="METRICS_PORT, or none",
    help="Serve /metrics for Prometheus on this port (workers and relays have no other HTTP).",
)


def serve_metrics(port: int | None) -> None:
    """Expose this process's Prometheus metrics (outbox lag, dead letters, queue depth)."""
    if port is None:
        return
    from prometheus_client import start_http_server

    start_http_server(port, addr=os.environ.get("HOST", "127.0.0.1"))
    log.info("metrics.serving", port=port)
