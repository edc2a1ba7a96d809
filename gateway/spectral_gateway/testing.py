"""Cross-service test helpers: a client that walks the slice over HTTP, free ports, waiting for
processes to serve. The gateway package composes every service, so these live here."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import requests
from waitress.server import create_server

from spectral_gateway.contract import SECURITY_HEADERS
from spectral_gateway.problems import GATEWAY_PROBLEMS
from spectral_shared.testing import verification_token, wait_until


def _ephemeral_ports() -> range:
    """The kernel's range for the source ports of outgoing connections (Linux; else IANA's)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(49152, 65536)


def free_port() -> int:
    """A port nothing listens on, picked outside the ephemeral range.

    A port from binding port 0 is an ephemeral one: a connection opened before the server binds
    it (a database pool warming up, a broker connection) can take it as its source port, and the
    server then fails with "address already in use". Ports outside that range are never handed
    out that way, so a port checked free here stays free until the test binds it.

    A port is handed out once per process: a test asking for several ports before binding any
    of them (a gateway and its upstreams) would otherwise, now and then, get the same one twice.
    """
    ephemeral = _ephemeral_ports()
    candidates = [
        port for port in range(20000, 65536) if port not in ephemeral and port % 1000 != 0
    ]  # round numbers are where developers run things by hand
    with _handed_out_lock:
        for port in random.sample(candidates, 200):
            if port in _handed_out:
                continue
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port outside the ephemeral range")


_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


@dataclass
class SliceClient:
    """Walks the first vertical slice over real HTTP."""

    base_url: str
    mail_dir: Path
    ca_bundle: str | bool = True  # the gateway's certificate, for a self-signed one

    def post(self, path: str, body: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("verify", self.ca_bundle)
        return requests.post(self.base_url + path, json=body, timeout=30, **kwargs)

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        kwargs.setdefault("verify", self.ca_bundle)
        return requests.get(self.base_url + path, headers=headers, timeout=30, **kwargs)

    def register(
        self, email: str, password: str = "correct horse battery staple", org: str = "Mercy General"
    ) -> dict[str, Any]:
        response = self.post(
            "/api/v1/auth/register",
            {
                "organization_name": org,
                "organization_type": "health_system",
                "name": "Ada Admin",
                "email": email,
                "password": password,
            },
        )
        assert response.status_code == 202, response.text
        return response.json()

    def verify(self, email: str) -> None:
        token = wait_until(
            lambda: _token_or_none(self.mail_dir, email), what=f"the verification e-mail to {email}"
        )
        response = self.get(f"/api/v1/auth/verify-email?token={token}")
        assert response.status_code == 200, response.text

    def login(self, email: str, password: str = "correct horse battery staple") -> str:
        response = self.post("/api/v1/auth/login", {"email": email, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def onboard(self, email: str, org: str = "Mercy General") -> tuple[dict[str, Any], str]:
        """Register, verify and sign in; returns the new user's and organization's ids (read from
        the access token, so onboarding spends none of the organization's quota) and the token."""
        self.register(email, org=org)
        self.verify(email)
        token = self.login(email)
        claims = jwt.decode(token, options={"verify_signature": False})
        created = {"organization": {"id": claims["org"]}, "user": {"id": claims["sub"]}}
        return created, token

    def audit_actions(self, token: str, at_least: int, **params: Any) -> list[dict[str, Any]]:
        def page() -> list[dict[str, Any]] | None:
            response = self.get("/api/v1/audit/events", token, params=params)
            assert response.status_code == 200, response.text
            data = response.json()["data"]
            return data if len(data) >= at_least else None

        return wait_until(page, what=f"{at_least} audit entries")


def _token_or_none(mail_dir: Path, email: str) -> str | None:
    try:
        return verification_token(mail_dir, email)
    except AssertionError:
        return None


def wait_for_http(url: str, timeout: float = 60.0, process: Any = None) -> float:
    """Seconds until ``url`` answers 200; fails early if ``process`` died."""
    started = time.monotonic()

    def up() -> bool:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode} before {url} answered")
        try:
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(up, timeout=timeout, interval=0.2, what=url)
    return time.monotonic() - started


class Processes:
    """Real ``spectral`` processes for a test, each logging to its own file, all stopped at exit."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.env = env
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        log_dir.mkdir(parents=True, exist_ok=True)

    def run(
        self, *args: str, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*SPECTRAL, *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            timeout=timeout,
            check=False,
        )

    def start(
        self, name: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        return self.start_program(name, *SPECTRAL, *args, env=env)

    def start_program(
        self, name: str, *argv: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Any program (nginx, say), logged and stopped like the spectral ones."""
        log = (self.log_dir / f"{name}.log").open("wb")
        process = subprocess.Popen(
            list(argv),
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.running[name] = process
        return process

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.log_dir.glob("*.log"))
        )

    def stop(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Variables a developer's shell may carry that would move a subprocess off the shape under test.
_BACKEND_VARS = (
    "DATABASE_URL",
    "BROKER_URL",
    "REDIS_URL",
    "UPSTASH_REDIS_URL",
    "SENDGRID_API_KEY",
    "AWS_S3_BUCKET",
    "SPECTRAL_ENV",
    "PORT",
)


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without what would move a ``spectral`` subprocess off the
    shape a test means (embedded defaults unless the test sets them), plus ``values``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _BACKEND_VARS and not k.endswith("_DATABASE_URL")
    }
    env.update({"LOG_LEVEL": "warning", **values})
    return env


# The console script of the running interpreter's environment (the same as `.venv/bin/spectral`).
SPECTRAL = [sys.executable, "-m", "spectral_shared.cli"]


@dataclass
class ServedApp:
    """A WSGI app served by waitress on a thread of the test process."""

    name: str
    port: int
    server: Any
    thread: threading.Thread | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        """As a process that exits: the listening socket and every open connection close."""
        if not self.stopping.is_set():
            self.stopping.set()
            self.server.close()
            for channel in list(getattr(self.server, "_map", {}).values()):
                with contextlib.suppress(OSError):
                    channel.close()
            if self.thread is not None:
                self.thread.join(5)


def serve_in_thread(name: str, app: Any, port: int, threads: int = 4) -> ServedApp:
    served = ServedApp(name, port, create_server(app, host="127.0.0.1", port=port, threads=threads))

    def run() -> None:
        try:
            served.server.run()
        except OSError:
            # Closing the listening socket from another thread can wake the server's loop on a
            # dead descriptor; that is the end we asked for, anything else is not.
            if not served.stopping.is_set():
                raise

    served.thread = threading.Thread(target=run, daemon=True, name=f"serve-{name}")
    served.thread.start()
    return served


def assert_gateway_problem(response: requests.Response, key: str) -> dict[str, Any]:
    """``response`` is the gateway's problem document ``key``, with its security headers."""
    expected = GATEWAY_PROBLEMS[key]
    assert response.status_code == expected.status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body == expected.body(response.headers["X-Request-ID"])
    for name, value in SECURITY_HEADERS:
        assert response.headers[name] == value, name
    return body
