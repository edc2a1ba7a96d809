"""``spectral``: one command, two run shapes.

``spectral <service> web|worker|relay`` runs one target of one service; ``spectral all`` (from the
gateway package) runs every installed service in one process. ``spectral db upgrade`` migrates
every schema. Services and packages add their own commands through the ``spectral.commands``
entry point group.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from importlib.metadata import entry_points
from typing import Any

import click

from spectral_shared.component import Component, Runtime, installed_components
from spectral_shared.config import ConfigurationError, Settings, load_settings
from spectral_shared.logging import configure_logging, get_logger
from spectral_shared.tracing import configure_tracing

log = get_logger("spectral.cli")


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


@click.group()
def main() -> None:
    """Spectral: healthcare AI governance platform."""


# ---- database ---------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schemas and migrations."""


@db.command("upgrade")
@click.option("--service", "only", multiple=True, help="Migrate only these services (default: all).")
def db_upgrade(only: tuple[str, ...]) -> None:
    """Create each service's schema and apply its migrations (the guide's db:push)."""
    settings = load_settings()
    configure_logging(settings.log_level)
    for name, component in installed_components().items():
        if only and name not in only:
            continue
        runtime = Runtime(component, settings)
        runtime.migrate()
        click.echo(f"{name}: migrated ({runtime.database.engine.url.render_as_string(hide_password=True)})")
        runtime.database.dispose()


# ---- bus ----------------------------------------------------------------------------------------


@main.group()
def bus() -> None:
    """The message bus."""


@bus.command("declare")
def bus_declare() -> None:
    """Declare the exchange and every installed consumer's queues (idempotent)."""
    settings = load_settings()
    from spectral_shared.bus.publisher import broker_connection
    from spectral_shared.bus.topology import Topology

    topology = Topology(settings)
    with broker_connection(settings.broker_url) as connection, connection.channel() as channel:
        for name, component in installed_components().items():
            subscriptions = Runtime(component, settings).subscriptions
            topology.declare(channel, subscriptions)
            click.echo(f"{name}: {', '.join(topology.queue_name(s) for s in subscriptions) or 'no queues'}")


@main.group()
def events() -> None:
    """The events catalog."""


@events.command("catalog")
def events_catalog() -> None:
    """Print every event type and consumer binding as the tables docs/events.md holds."""
    from spectral_shared.events_doc import render_catalog

    click.echo(render_catalog(installed_components(), load_settings()), nl=False)


# ---- one service, one target ----------------------------------------------------------------------


def _service_group(component: Component) -> click.Group:
    group = click.Group(component.name, help=f"{component.title}.")

    @group.command("web")
    @click.option("--host", default=lambda: os.environ.get("HOST", "127.0.0.1"), show_default="HOST or 127.0.0.1")
    @click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", "5000")), show_default="PORT or 5000")
    @click.option("--workers", type=int, default=lambda: int(os.environ.get("WEB_CONCURRENCY", "2")), show_default="WEB_CONCURRENCY or 2")
    @click.option("--threads", type=int, default=4, show_default=True)
    def web(host: str, port: int, workers: int, threads: int) -> None:
        """Serve the HTTP API with gunicorn."""
        settings = boot(component.name, [component.name])
        from spectral_shared.serve import serve_gunicorn

        serve_gunicorn(
            lambda: Runtime(component, settings).app(),
            bind=f"{host}:{port}",
            workers=workers,
            threads=threads,
            log_level=settings.log_level,
        )

    @group.command("worker")
    def worker() -> None:
        """Consume this service's queues."""
        settings = boot(component.name, [component.name])
        runtime = Runtime(component, settings)
        stop = stop_on_signals()
        if not runtime.subscriptions:
            log.info("worker.idle", service=component.name, reason="this service consumes no events yet")
            stop.wait()
            return
        consumer = runtime.worker()
        threading.Thread(target=lambda: (stop.wait(), consumer.stop()), daemon=True).start()
        consumer.run()

    @group.command("relay")
    def relay() -> None:
        """Publish this service's outbox and send its queued e-mail."""
        settings = boot(component.name, [component.name])
        runtime = Runtime(component, settings)
        runtime.run_relay(stop_on_signals())

    @group.command("migrate")
    def migrate() -> None:
        """Apply this service's migrations."""
        settings = load_settings()
        Runtime(component, settings).migrate()
        click.echo(f"{component.name}: migrated")

    if component.commands is not None:
        for name, command in component.commands.commands.items():
            group.add_command(command, name)
    return group


for _component in installed_components().values():
    main.add_command(_service_group(_component))

for _ep in entry_points(group="spectral.commands"):
    main.add_command(_ep.load(), _ep.name)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
