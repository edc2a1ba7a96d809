"""Process bootstrapping shared by every command that runs a target."""

from __future__ import annotations

import math
import os
import signal
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from spectral_shared import sealed
from spectral_shared.component import Runtime, installed_components
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
    own = [p for s in services for p in components[s].settings.of(settings).production_problems()]
    try:
        settings.ensure_runnable(services, extra, own)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    return settings


def refuse_unusable_keys(runtimes: Iterable[Runtime]) -> None:
    """Before a target serves: stop, with one line naming the key ids, the columns and what to
    do, when a service's database holds values encrypted under a key this process lacks
    (otherwise every sign-in would fail on it, ADR 0039)."""
    for runtime in runtimes:
        try:
            refusal = sealed.check(runtime)
        except ConfigurationError as exc:
            raise click.ClickException(f"configuration: {exc}") from exc
        if refusal is not None:
            raise click.ClickException(refusal)


def stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        log.info("process.stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


# The listening address of every serving command: HOST and PORT, PORT as docs/operations.md#configuration-and-secrets names it.
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
    help="Serve /livez, /health and /metrics on this port (workers and relays have no other HTTP).",
)


def serve_probes(
    port: int | None,
    *,
    service: str,
    alive: Callable[[], bool],
    checks: dict[str, Callable[[], bool]],
) -> None:
    """Expose this process's liveness, health and Prometheus metrics (outbox lag, dead letters,
    queue depth) on HOST:port, in the background."""
    if port is None:
        return
    from spectral_shared.web.probes import ProbeServer

    host = os.environ.get("HOST", "127.0.0.1")
    ProbeServer((host, port), service=service, alive=alive, checks=checks).serve_in_background()
    log.info("probes.serving", host=host, port=port)


def usable_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota (a
    container's `--cpus` or a Kubernetes CPU limit), at least one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        quota, period = (cgroup_root / "cpu.max").read_text().split()
        if quota != "max":
            cores = min(cores or 1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota to honour
    return max(1, cores or 1)


def default_web_workers() -> int:
    """``WEB_CONCURRENCY``, else one gthread worker per usable core and at least two, so one worker
    can be recycled while the other serves."""
    configured = os.environ.get("WEB_CONCURRENCY")
    return int(configured) if configured else max(2, usable_cores())
