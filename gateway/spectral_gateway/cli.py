"""``spectral all`` and ``spectral gateway ...`` (registered through ``spectral.commands``)."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import click
from waitress import create_server

from spectral_gateway.routes import route_table, service_names
from spectral_shared.component import installed_components
from spectral_shared.logging import get_logger
from spectral_shared.process import (
    boot,
    host_option,
    metrics_port_option,
    port_option,
    refuse_unusable_keys,
    serve_probes,
)

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
@metrics_port_option
def all_in_one(host: str, port: int, threads: int, metrics_port: int | None) -> None:
    """Run the whole platform in one process (what `make run` starts). Its Prometheus metrics
    are served on --metrics-port only, never on the public port."""
    if metrics_port is not None and metrics_port == port:
        raise click.UsageError(
            f"--metrics-port (METRICS_PORT) {metrics_port} is the public port: metrics are never "
            "served where the API is; give them a port of their own (e.g. 9400)."
        )
    from spectral_gateway.all_in_one import Platform

    # The services of this process reach each other (e.g. JWKS) on the port it actually serves.
    settings = boot("all", list(installed_components()))
    update: dict[str, object] = {"port": port}
    if not os.environ.get("BASE_URL"):
        update["base_url"] = f"http://localhost:{port}"
    settings = settings.model_copy(update=update)
    # Stand-ins for third parties the deployment names none of (the Stripe test double).
    embedded = [
        started
        for component in installed_components().values()
        if component.embedded is not None and (started := component.embedded(settings)) is not None
    ]
    for started in embedded:
        settings = settings.model_copy(update=started.settings)
    platform = Platform(settings)
    platform.migrate()
    refuse_unusable_keys(platform.runtimes.values())
    app = platform.router()
    platform.start_background()
    serve_probes(
        metrics_port,
        service="all",
        alive=lambda: not platform.failed.is_set(),
        checks=app.health_checks,
    )
    base = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}"  # noqa: S104
    click.echo(
        f"\nSpectral is running on {base}  (services: {', '.join(platform.runtimes)})\n"
        f"  health:    {base}/health\n"
        f"  register:  curl -X POST {base}/api/v1/auth/register -H 'Content-Type: application/json' \\\n"
        '               -d \'{"organization_name": "Mercy General", "organization_type": "health_system",\n'
        '                    "name": "Ada Admin", "email": "ada@mercy.example", "password": "correct horse battery"}\'\n'
        f"  e-mails:   {settings.var_dir.resolve() / 'mail'} (the verification link is in the newest .eml)\n"
        "  demo data: .venv/bin/spectral governance seed-demo --organization <organization id>\n"
        "             (the id is in /api/v1/auth/me's answer; adds eight AI systems to try the inventory:\n"
        f"              GET {base}/api/v1/ai-systems with the access token from /api/v1/auth/login)\n"
        + "".join(f"  {started.banner}\n" for started in embedded)
        + "  stop:      Ctrl-C\n",
        err=True,
    )
    try:
        _serve_until_stopped(app, host, port, threads, "spectral")
    finally:
        platform.stop()
        for started in embedded:
            started.stop()
        log.info("platform.stopped")


@click.group("gateway")
def gateway() -> None:
    """The route table and routers."""


@gateway.command("routes")
def routes() -> None:
    """Print the route table."""
    for route in route_table():
        flags = ", ".join(
            f for f, on in (("public", route.public), ("abuse-prone", route.abuse_prone)) if on
        )
        click.echo(f"{route.prefix:40} -> {route.service:11} {flags}")


@gateway.command("render")
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Where to write."
)
@click.option(
    "--runtime-dir",
    type=click.Path(path_type=Path),
    help="pid file, temp files and logs  [default: OUT/run]",
)
@click.option("--tls-cert", envvar="TLS_CERT_PATH", type=click.Path(path_type=Path), required=True)
@click.option("--tls-key", envvar="TLS_KEY_PATH", type=click.Path(path_type=Path), required=True)
@click.option("--tls-chain", envvar="TLS_CHAIN_PATH", type=click.Path(path_type=Path))
@click.option("--server-name", envvar="GATEWAY_SERVER_NAME", default="_", show_default=True)
@click.option("--listen", "listen_address", envvar="GATEWAY_LISTEN_ADDRESS", default="")
@click.option("--https-port", envvar="GATEWAY_HTTPS_PORT", type=int, default=443, show_default=True)
@click.option("--http-port", envvar="GATEWAY_HTTP_PORT", type=int, default=80, show_default=True)
@click.option(
    "--public-https-port",
    envvar="GATEWAY_PUBLIC_HTTPS_PORT",
    type=int,
    default=None,
    help="The HTTPS port clients use, when it differs from --https-port (a container listening "
    "on 8443 published as 443): what redirects name.  [default: --https-port]",
)
@click.option("--platform-upstream", envvar="PLATFORM_UPSTREAM", default=None)
@click.option("--acme-root", envvar="ACME_WEBROOT", type=click.Path(path_type=Path))
@click.option(
    "--abuse-rate", envvar="GATEWAY_ABUSE_RATE_PER_MINUTE", type=int, default=30, show_default=True
)
@click.option(
    "--abuse-burst", envvar="GATEWAY_ABUSE_BURST", type=int, default=20, show_default=True
)
@click.option("--workers", envvar="GATEWAY_WORKERS", default="auto", show_default=True)
@click.option("--user", envvar="GATEWAY_USER", default=None, help="nginx workers' account")
@click.option("--access-log", envvar="GATEWAY_ACCESS_LOG", default=None)
@click.option("--error-log", envvar="GATEWAY_ERROR_LOG", default=None)
def render(
    out_dir: Path,
    runtime_dir: Path | None,
    tls_cert: Path,
    tls_key: Path,
    tls_chain: Path | None,
    server_name: str,
    listen_address: str,
    https_port: int,
    http_port: int,
    public_https_port: int | None,
    platform_upstream: str | None,
    acme_root: Path | None,
    abuse_rate: int | None,
    abuse_burst: int | None,
    workers: str,
    user: str | None,
    access_log: str | None,
    error_log: str | None,
) -> None:
    """Render the nginx gateway from the route table (upstreams from <SERVICE>_UPSTREAM)."""
    from spectral_gateway.nginx import GatewayConfig, default_upstreams, nginx_version, write
    from spectral_shared.config import load_settings

    settings = load_settings()
    upstreams = default_upstreams(dict(os.environ))
    if "auth" not in upstreams:
        raise click.ClickException("set AUTH_UPSTREAM (and every other <SERVICE>_UPSTREAM)")
    config = GatewayConfig(
        out_dir=out_dir.resolve(),
        runtime_dir=(runtime_dir or out_dir / "run").resolve(),
        tls_cert=tls_cert.resolve(),
        tls_key=tls_key.resolve(),
        tls_trusted_chain=tls_chain.resolve() if tls_chain else None,
        upstreams=upstreams,
        platform_upstream=platform_upstream.removeprefix("http://") if platform_upstream else None,
        server_name=server_name,
        listen_address=listen_address,
        https_port=https_port,
        http_port=http_port,
        public_https_port=public_https_port,
        acme_root=acme_root.resolve() if acme_root else None,
        abuse_rate_per_minute=abuse_rate or settings.gateway_abuse_rate_per_minute,
        abuse_burst=settings.gateway_abuse_burst if abuse_burst is None else abuse_burst,
        worker_processes=workers,
        user=user,
        access_log=access_log,
        error_log=error_log,
        nginx_version=nginx_version() or (1, 22, 1),
    )
    try:
        written = write(config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(written))


@gateway.command("watch")
@click.option("--config", "config_file", type=click.Path(path_type=Path), required=True)
@click.option("--prefix", type=click.Path(path_type=Path), required=True, help="nginx's -p")
@click.option("--tls-cert", envvar="TLS_CERT_PATH", type=click.Path(path_type=Path), required=True)
@click.option("--tls-key", envvar="TLS_KEY_PATH", type=click.Path(path_type=Path), required=True)
@click.option("--tls-chain", envvar="TLS_CHAIN_PATH", type=click.Path(path_type=Path))
@click.option("--platform-upstream", envvar="PLATFORM_UPSTREAM", default=None)
@click.option(
    "--interval",
    envvar="GATEWAY_WATCH_INTERVAL",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds between checks; 0 turns the watcher off.",
)
@click.option("--nginx", "nginx_binary", default="nginx", show_default=True)
@click.option(
    "--parent-pid",
    type=int,
    default=None,
    help="Stop once no longer this process's child (the entrypoint passes its own pid, which "
    "nginx takes over).  [default: the parent at start]",
)
def watch(
    config_file: Path,
    prefix: Path,
    tls_cert: Path,
    tls_key: Path,
    tls_chain: Path | None,
    platform_upstream: str | None,
    interval: float,
    nginx_binary: str,
    parent_pid: int | None,
) -> None:
    """Reload nginx when an upstream name resolves differently (containers scaled) or the
    certificate changed (renewed), while the nginx that started this runs."""
    from spectral_gateway.nginx import default_upstreams
    from spectral_gateway.watch import Watcher, child_of, host_of, nginx_reloader

    if interval == 0:
        return
    alive = child_of(parent_pid or os.getppid())
    upstreams = [*default_upstreams(dict(os.environ)).values(), platform_upstream or ""]
    watcher = Watcher(
        [host_of(u) for u in upstreams if u],
        [p for p in (tls_cert, tls_key, tls_chain) if p is not None],
        nginx_reloader(nginx_binary, prefix, config_file),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    watcher.run(stop, interval, alive=alive)


@gateway.command("dev-cert")
@click.option("--cert", type=click.Path(path_type=Path), required=True)
@click.option("--key", type=click.Path(path_type=Path), required=True)
@click.option(
    "--host", "hosts", multiple=True, default=("localhost", "127.0.0.1"), show_default=True
)
def dev_cert(cert: Path, key: Path, hosts: tuple[str, ...]) -> None:
    """Make a self-signed certificate for development, unless one is already there."""
    from spectral_gateway.tls import self_signed

    if cert.exists() and key.exists():
        click.echo(f"{cert} exists; kept")
        return
    self_signed(cert, key, hosts)
    click.echo(f"wrote {cert} and {key} (self-signed, for development only)")


@gateway.command("dev-router")
@host_option
@port_option
def dev_router(host: str, port: int) -> None:
    """Route by the table to each service's upstream (<SERVICE>_UPSTREAM, e.g. http://127.0.0.1:5101)."""
    from spectral_gateway.router import ProxyRouter

    upstreams = {
        s: os.environ[f"{s.upper()}_UPSTREAM"]
        for s in service_names()
        if os.environ.get(f"{s.upper()}_UPSTREAM")
    }
    if not upstreams:
        raise click.ClickException(
            "set at least one <SERVICE>_UPSTREAM, e.g. AUTH_UPSTREAM=http://127.0.0.1:5101"
        )
    boot("gateway", [])
    _serve_until_stopped(ProxyRouter(upstreams), host, port, 16, "spectral-router")
