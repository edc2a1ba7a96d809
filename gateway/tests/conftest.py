"""A real nginx, rendered from the route table, in front of every service served on its own port
(each service app in this process behind waitress, with the relays and workers of the platform
on real PostgreSQL, RabbitMQ and Redis)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from spectral_gateway.all_in_one import Platform
from spectral_gateway.nginx import GatewayConfig, foreground_command, nginx_version, write
from spectral_gateway.router import ProxyRouter
from spectral_gateway.testing import (
    ServedApp,
    SliceClient,
    free_port,
    serve_in_thread,
    wait_for_http,
)
from spectral_gateway.tls import self_signed
from spectral_shared.component import installed_components
from spectral_shared.config import Settings

pytestmark = pytest.mark.integration


@dataclass
class Seen:
    """What one service received: path and headers (as the WSGI environ names them)."""

    service: str
    path: str
    headers: dict[str, str]
    remote_port: str = ""


@dataclass
class Gateway:
    base_url: str
    http_url: str
    https_port: int
    cert: Path
    config: GatewayConfig
    client: SliceClient
    apps: dict[str, ServedApp]
    seen: list[Seen]

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("verify", str(self.cert))
        return requests.request(method, self.base_url + path, timeout=30, **kwargs)

    def last_seen(self, service: str | None = None) -> Seen:
        return [s for s in self.seen if service is None or s.service == service][-1]

    def access_log(self) -> list[str]:
        path = self.config.runtime_dir / "access.log"
        return path.read_text().splitlines() if path.exists() else []


def _recording(service: str, app: Any, seen: list[Seen]) -> Any:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        headers = {
            k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")
        }
        seen.append(
            Seen(service, environ.get("PATH_INFO", ""), headers, environ.get("REMOTE_PORT", ""))
        )
        return app(environ, start_response)

    return wsgi


@pytest.fixture(scope="session")
def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if found is None:
        pytest.fail("nginx is not installed: `apt-get install nginx-light` (.ci/run does)")
    return found


@pytest.fixture
def start_gateway(
    integration_settings: Settings, nginx_binary: str, tmp_path: Path
) -> Iterator[Callable[..., Gateway]]:
    started: list[tuple[Platform, dict[str, ServedApp], subprocess.Popen[bytes]]] = []

    def start(settings: dict[str, Any] | None = None, **render: Any) -> Gateway:
        https_port, http_port = free_port(), free_port()
        base_url = f"https://127.0.0.1:{https_port}"
        ports = {name: free_port() for name in installed_components()}
        # Services fetch auth's JWKS where auth is served, as in the split topology.
        update = {"base_url": base_url, "auth_internal_url": f"http://127.0.0.1:{ports['auth']}"}
        platform = Platform(integration_settings.model_copy(update={**update, **(settings or {})}))
        seen: list[Seen] = []
        apps = {
            name: serve_in_thread(name, _recording(name, runtime.app(), seen), ports[name])
            for name, runtime in platform.runtimes.items()
        }
        platform.start_background()
        # The platform pages (/health of every service, /api/docs), as make stack serves them.
        router = ProxyRouter({name: f"http://127.0.0.1:{app.port}" for name, app in apps.items()})
        pages = serve_in_thread("platform", router, free_port())
        cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
        self_signed(cert, key, ("localhost", "127.0.0.1"))
        config = GatewayConfig(
            out_dir=tmp_path / "nginx",
            runtime_dir=tmp_path / "nginx" / "run",
            tls_cert=cert,
            tls_key=key,
            upstreams={name: f"127.0.0.1:{app.port}" for name, app in apps.items()},
            platform_upstream=f"127.0.0.1:{pages.port}",
            https_port=https_port,
            http_port=http_port,
            listen_address="127.0.0.1",
            worker_processes="1",
            user="root" if os.geteuid() == 0 else None,  # pytest's tmp tree is root-only
            nginx_version=nginx_version(nginx_binary) or (1, 22, 1),
            **render,
        )
        write(config)
        challenge = config.runtime_dir / "acme" / ".well-known" / "acme-challenge"
        challenge.mkdir(parents=True, exist_ok=True)
        (challenge / "probe").write_text("ready")
        process = subprocess.Popen(
            foreground_command(nginx_binary, config),
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / "nginx-stderr.log", "wb"),  # noqa: SIM115 - lives with nginx
        )
        started.append((platform, {**apps, "platform": pages}, process))
        probe = f"http://127.0.0.1:{http_port}/.well-known/acme-challenge/probe"
        wait_for_http(probe, timeout=20, process=process)
        return Gateway(
            base_url,
            f"http://127.0.0.1:{http_port}",
            https_port,
            cert,
            config,
            SliceClient(base_url, platform.settings.var_dir / "mail", ca_bundle=str(cert)),
            apps,
            seen,
        )

    yield start
    for platform, apps, process in started:
        process.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        for app in apps.values():
            app.stop()
        platform.stop()


@pytest.fixture
def gateway(start_gateway: Callable[..., Gateway]) -> Gateway:
    return start_gateway()
