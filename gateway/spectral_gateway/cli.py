"""``spectral all`` and ``spectral gateway ...`` (registered through ``spectral.commands``)."""

from __future__ import annotations

import os
import signal
from typing import Any

import click
from waitress import create_server

from spectral_gateway.routes import ROUTES, SERVICES
from spectral_shared.component import installed_components
from spectral_shared.logging import get_logger
from spectral_shared.process import boot, host_option, port_option

log = get_logger(__name__)


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _serve_until_stopped(app: Any, host: str, port: int, threads: int, ident: str) -> None:
    """Serve with waitress until SIGINT or SIGTERM."""
    server = create_server(app, host=host, port=port, threads=threads, ident=ident)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


@click.command("all")
@host_option
@port_option
@click.option("--threads", type=int, default=8, show_default=True)
def all_in_one(host: str, port: int, threads: int) -> None:
    """Run the whole platform in one process (what `make run` starts)."""
    from spectral_gateway.all_in_one import Platform

    # The services of this process reach each other (e.g. JWKS) on the port it actually serves.
    settings = boot("all", list(installed_components()))
    update: dict[str, object] = {"port": port}
    if not os.environ.get("BASE_URL"):
        update["base_url"] = f"http://localhost:{port}"
    settings = settings.model_copy(update=update)
    platform = Platform(settings)
    platform.migrate()
    app = platform.router()
    platform.start_background()
    base = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}"  # noqa: S104
    click.echo(
        f"\nSpectral is running on {base}  (services: {', '.join(platform.runtimes)})\n"
        f"  health:    {base}/health\n"
        f"  register:  curl -X POST {base}/api/v1/auth/register -H 'Content-Type: application/json' \\\n"
        '               -d \'{"organization_name": "Mercy General", "organization_type": "health_system",\n'
        '                    "name": "Ada Admin", "email": "ada@mercy.example", "password": "correct horse battery"}\'\n'
        f"  e-mails:   {settings.var_dir.resolve() / 'mail'} (the verification link is in the newest .eml)\n"
        "  stop:      Ctrl-C\n",
        err=True,
    )
    try:
        _serve_until_stopped(app, host, port, threads, "spectral")
    finally:
        platform.stop()
        log.info("platform.stopped")


@click.group("gateway")
def gateway() -> None:
    """The route table and routers."""


@gateway.command("routes")
def routes() -> None:
    """Print the route table."""
    for route in ROUTES:
        flags = ", ".join(
            f for f, on in (("public", route.public), ("abuse-prone", route.abuse_prone)) if on
        )
        click.echo(f"{route.prefix:40} -> {route.service:11} {flags}")


@gateway.command("dev-router")
@host_option
@port_option
def dev_router(host: str, port: int) -> None:
    """Route by the table to each service's upstream (<SERVICE>_UPSTREAM, e.g. http://127.0.0.1:5101)."""
    from spectral_gateway.router import ProxyRouter

    upstreams = {
        s: os.environ[f"{s.upper()}_UPSTREAM"]
        for s in SERVICES
        if os.environ.get(f"{s.upper()}_UPSTREAM")
    }
    if not upstreams:
        raise click.ClickException(
            "set at least one <SERVICE>_UPSTREAM, e.g. AUTH_UPSTREAM=http://127.0.0.1:5101"
        )
    boot("gateway", [])
    _serve_until_stopped(ProxyRouter(upstreams), host, port, 16, "spectral-router")
