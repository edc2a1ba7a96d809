"""``spectral``: one command, two run shapes.

``spectral <service> web|worker|relay`` runs one target of one service; ``spectral all`` (from the
gateway package) runs every installed service in one process. ``spectral db upgrade`` migrates
every schema. Services and packages add their own commands through the ``spectral.commands``
entry point group.
"""

from __future__ import annotations

import os
import sys
import threading
from importlib.metadata import entry_points
from pathlib import Path

import click
from pydantic import ValidationError

from spectral_shared.bus.topology import Subscription
from spectral_shared.component import Component, Runtime, installed_components
from spectral_shared.config import ConfigurationError, load_settings
from spectral_shared.logging import configure_logging, get_logger
from spectral_shared.process import (
    boot,
    default_web_workers,
    host_option,
    metrics_port_option,
    port_option,
    refuse_unusable_keys,
    serve_probes,
    stop_on_signals,
)

log = get_logger("spectral.cli")


@click.group()
def cli() -> None:
    """Spectral: healthcare AI governance platform."""


# ---- database ---------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Database schemas and migrations."""


@db.command("upgrade")
@click.option(
    "--service", "only", multiple=True, help="Migrate only these services (default: all)."
)
def db_upgrade(only: tuple[str, ...]) -> None:
    """Create each service's schema and apply its migrations (the guide's db:push)."""
    settings = load_settings()
    configure_logging(settings.log_level)
    for name, component in installed_components().items():
        if only and name not in only:
            continue
        runtime = Runtime(component, settings)
        runtime.migrate()
        click.echo(
            f"{name}: migrated ({runtime.database.engine.url.render_as_string(hide_password=True)})"
        )
        runtime.database.dispose()


@db.command("backup")
@click.option(
    "--to",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where backups are kept (default: VAR_DIR/backups).",
)
def db_backup(root: Path | None) -> None:
    """Back up every service's schema (pg_dump, compressed, with row counts); keep 30 daily and
    12 monthly backups."""
    from spectral_shared.backup import take_backup

    settings = load_settings()
    configure_logging(settings.log_level)
    target = take_backup(settings, root or settings.var_dir / "backups")
    click.echo(f"backup: {target}")


@db.command("restore")
@click.option(
    "--from",
    "backup",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="A backup directory (VAR_DIR/backups/<stamp>).",
)
@click.option("--into", required=True, help="An empty PostgreSQL database's URL.")
def db_restore(backup: Path, into: str) -> None:
    """Restore a backup into another database, then check it: row counts, audit logs."""
    from spectral_shared.backup import check_restore, restore
    from spectral_shared.config import sqlalchemy_url

    url = sqlalchemy_url(into)
    restore(backup, url)
    report = check_restore(backup, url)
    for problem in report.problems:
        click.echo(f"problem: {problem}", err=True)
    if not report.ok:
        sys.exit(1)
    click.echo(f"restored and checked: {', '.join(report.services)}")


# ---- bus ----------------------------------------------------------------------------------------


@cli.group()
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
            click.echo(
                f"{name}: {', '.join(topology.queue_name(s) for s in subscriptions) or 'no queues'}"
            )


@bus.command("definitions")
@click.option("--vhost", default="/", show_default=True)
@click.option("--user", default="spectral", show_default=True)
@click.option(
    "--password-env",
    metavar="NAME",
    help="Give the user the password held in this environment variable (hashed; never on the "
    "command line). Without it the user has none: set one with rabbitmqctl change_password.",
)
def bus_definitions(vhost: str, user: str, password_env: str | None) -> None:
    """RabbitMQ definitions (JSON) of the exchange and every installed consumer's queues, for
    rabbitmqctl import_definitions (deploy/rabbitmq/definitions.json is this output)."""
    import json

    from spectral_shared.bus.definitions import definitions
    from spectral_shared.bus.topology import Topology

    settings = load_settings()
    subscriptions = [
        subscription
        for component in installed_components().values()
        for subscription in Runtime(component, settings).subscriptions
    ]
    password = None
    if password_env is not None:
        password = os.environ.get(password_env)
        if not password:
            raise click.BadParameter(
                f"{password_env} is not set or empty", param_hint="--password-env"
            )
    document = definitions(
        Topology(settings), subscriptions, vhost=vhost, user=user, password=password
    )
    click.echo(json.dumps(document, indent=2))


def _subscriptions_by_name() -> dict[str, tuple[Runtime, Subscription]]:
    settings = load_settings()
    found: dict[str, tuple[Runtime, Subscription]] = {}
    for component in installed_components().values():
        runtime = Runtime(component, settings)
        for subscription in runtime.subscriptions:
            found[subscription.name] = (runtime, subscription)
    return found


@bus.command("dead-letters")
def bus_dead_letters() -> None:
    """How many messages each consumer's dead-letter queue holds."""
    from spectral_shared.bus.dead_letters import dead_letter_counts

    for runtime, subscription in _subscriptions_by_name().values():
        for queue, count in dead_letter_counts(runtime.topology, [subscription]).items():
            click.echo(
                f"{queue}: {'not declared (run: spectral bus declare)' if count is None else count}"
            )


@bus.command("replay")
@click.argument("consumer_queue")
@click.option("--limit", type=int, default=None, help="At most this many messages (default: all).")
def bus_replay(consumer_queue: str, limit: int | None) -> None:
    """Move parked messages of CONSUMER_QUEUE (e.g. audit.log) back to it, once the cause is fixed."""
    from spectral_shared.bus.dead_letters import replay_dead_letters

    found = _subscriptions_by_name()
    if consumer_queue not in found:
        raise click.BadParameter(
            f"no consumer queue {consumer_queue!r}; known: {', '.join(sorted(found)) or 'none'}"
        )
    runtime, subscription = found[consumer_queue]
    moved = replay_dead_letters(runtime.topology, subscription, limit)
    click.echo(f"{consumer_queue}: {moved} message(s) replayed")


def _runtime_named(service: str) -> Runtime:
    components = installed_components()
    if service not in components:
        raise click.BadParameter(f"no service {service!r}; known: {', '.join(components)}")
    return Runtime(components[service], load_settings())


@bus.command("dead-deliveries")
@click.option("--service", "only", multiple=True, help="Only these services (default: all).")
@click.option("--limit", type=int, default=50, show_default=True, help="Rows per service.")
def bus_dead_deliveries(only: tuple[str, ...], limit: int) -> None:
    """Outgoing messages given up on (ADR 0032), newest first: id, channel, attempts, when, and
    the error. Never the address, URL or contents."""
    from spectral_shared.delivery import dead_deliveries

    for name in only or tuple(installed_components()):
        runtime = _runtime_named(name)
        for row in dead_deliveries(runtime.database, runtime.component.tables, limit):
            click.echo(
                f"{name} {row['id']} {row['channel']} attempts={row['attempts']} "
                f"dead_at={row['dead_at']:%Y-%m-%dT%H:%M:%SZ} error={row['last_error']}"
            )


@bus.command("replay-deliveries")
@click.argument("service")
@click.option("--id", "ids", multiple=True, help="Only these deliveries (default: every dead one).")
@click.option("--channel", type=click.Choice(["email", "slack", "webhook"]), default=None)
def bus_replay_deliveries(service: str, ids: tuple[str, ...], channel: str | None) -> None:
    """Make SERVICE's dead deliveries due again, with a fresh count of attempts, once the cause
    is fixed; its relay sends them."""
    from spectral_shared.delivery import replay_dead_deliveries

    runtime = _runtime_named(service)
    replayed = replay_dead_deliveries(
        runtime.database, runtime.component.tables, ids=list(ids) or None, channel=channel
    )
    click.echo(f"{service}: {replayed} delivery(ies) replayed")


@cli.group()
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
    @host_option
    @port_option
    @click.option(
        "--workers",
        type=int,
        default=default_web_workers,
        show_default="WEB_CONCURRENCY, or one per usable core and at least 2",
    )
    @click.option(
        "--threads",
        type=int,
        default=lambda: int(os.environ.get("WEB_THREADS", "4")),
        show_default="WEB_THREADS or 4",
    )
    def web(host: str, port: int, workers: int, threads: int) -> None:
        """Serve the HTTP API with gunicorn."""
        settings = boot(component.name, [component.name])
        checked = Runtime(component, settings)
        refuse_unusable_keys([checked])
        checked.database.dispose()  # no pooled connection crosses gunicorn's fork
        from spectral_shared.serve import serve_gunicorn

        serve_gunicorn(
            lambda: Runtime(component, settings).app(),
            bind=f"{host}:{port}",
            workers=workers,
            threads=threads,
            log_level=settings.log_level,
        )

    @group.command("worker")
    @metrics_port_option
    def worker(metrics_port: int | None) -> None:
        """Consume this service's queues and run its periodic jobs."""
        settings = boot(component.name, [component.name])
        runtime = Runtime(component, settings)
        refuse_unusable_keys([runtime])
        stop = stop_on_signals()
        consumer = runtime.worker() if runtime.subscriptions else None
        serve_probes(
            metrics_port,
            service=component.name,
            alive=consumer.heartbeat.alive if consumer else lambda: True,
            checks=runtime.health_checks(broker=consumer is not None, redis=True),
        )
        if runtime.schedules:
            threading.Thread(
                target=runtime.run_schedules, args=(stop,), name="schedules", daemon=True
            ).start()
        if consumer is None:
            log.info(
                "worker.idle", service=component.name, reason="this service consumes no events yet"
            )
            stop.wait()
            return

        def stop_when_told() -> None:
            stop.wait()
            consumer.stop()

        threading.Thread(target=stop_when_told, daemon=True).start()
        consumer.run()

    @group.command("relay")
    @metrics_port_option
    def relay(metrics_port: int | None) -> None:
        """Publish this service's outbox and send its queued deliveries (e-mail, Slack, webhooks)."""
        settings = boot(component.name, [component.name])
        runtime = Runtime(component, settings)
        refuse_unusable_keys([runtime])
        relay = runtime.relay()
        serve_probes(
            metrics_port,
            service=component.name,
            alive=relay.heartbeat.alive,
            checks=runtime.health_checks(broker=True, redis=False),
        )
        runtime.run_relay(stop_on_signals(), relay=relay)

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


def main() -> None:
    """The ``spectral`` console script: built on call, so importing this module has no side effects."""
    for component in installed_components().values():
        cli.add_command(_service_group(component))
    for ep in entry_points(group="spectral.commands"):
        cli.add_command(ep.load(), ep.name)
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (ConfigurationError, ValidationError) as exc:
        # A configuration mistake is the operator's to fix: say what it is, not where it was noticed.
        click.echo(f"Error: configuration: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
