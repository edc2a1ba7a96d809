"""The gateway's watcher: nginx reloads when its upstreams' addresses or its certificate change
(containers scaled under compose, a renewed certificate), and only then."""

from __future__ import annotations

import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from spectral_gateway.testing import wait_until
from spectral_gateway.tls import self_signed
from spectral_gateway.watch import Watcher, host_of, nginx_reloader

from .conftest import Gateway


class Dns:
    """A resolver whose answers the test sets, as compose's DNS answers after a scale."""

    def __init__(self, **answers: str) -> None:
        self.answers = {host: frozenset(a.split()) for host, a in answers.items()}

    def __call__(self, host: str) -> frozenset[str]:
        return self.answers.get(host, frozenset())

    def set(self, host: str, addresses: str) -> None:
        self.answers[host] = frozenset(addresses.split())


class Reloads:
    def __init__(self, succeed: bool = True) -> None:
        self.count = 0
        self.succeed = succeed

    def __call__(self) -> bool:
        self.count += 1
        return self.succeed


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    cert = tmp_path / "fullchain.pem"
    cert.write_text("first")
    return cert


def test_nothing_changed_is_no_reload(certificate: Path) -> None:
    reloads = Reloads()
    watcher = Watcher(
        ["governance-web"], [certificate], reloads, resolver=Dns(**{"governance-web": "10.0.0.5"})
    )
    assert watcher.check() == [] and watcher.check() == []
    assert reloads.count == 0


def test_scaling_a_target_up_or_down_reloads_once_each_time(certificate: Path) -> None:
    dns, reloads = Dns(**{"governance-web": "10.0.0.5", "auth-web": "10.0.0.9"}), Reloads()
    watcher = Watcher(["governance-web", "auth-web"], [certificate], reloads, resolver=dns)

    dns.set("governance-web", "10.0.0.5 10.0.0.6 10.0.0.7")  # --scale governance-web=3
    assert watcher.check() == ["governance-web: 10.0.0.5 -> 10.0.0.5, 10.0.0.6, 10.0.0.7"]
    assert watcher.check() == []
    dns.set("governance-web", "10.0.0.7")  # back to one, not the first
    assert watcher.check() == ["governance-web: 10.0.0.5, 10.0.0.6, 10.0.0.7 -> 10.0.0.7"]
    assert reloads.count == 2


def test_a_renewed_certificate_reloads(certificate: Path) -> None:
    reloads = Reloads()
    watcher = Watcher([], [certificate], reloads, resolver=Dns())
    certificate.write_text("renewed")
    assert watcher.check() == [f"{certificate} changed"]
    assert reloads.count == 1


def test_a_refused_reload_is_tried_again_next_round(certificate: Path) -> None:
    dns, reloads = Dns(**{"reports-web": "10.0.0.5"}), Reloads(succeed=False)
    watcher = Watcher(["reports-web"], [certificate], reloads, resolver=dns)
    dns.set("reports-web", "")  # between two containers: nginx -t would fail to resolve it
    assert watcher.check() == []
    assert watcher.check() == []
    assert reloads.count == 2
    reloads.succeed = True
    dns.set("reports-web", "10.0.0.8")
    assert watcher.check() == ["reports-web: 10.0.0.5 -> 10.0.0.8"]
    assert watcher.check() == []


@pytest.mark.parametrize(
    ("upstream", "host"),
    [
        ("auth-web:8000", "auth-web"),
        ("http://platform:8000", "platform"),
        ("http://127.0.0.1:5101/", "127.0.0.1"),
        ("[::1]:8000", "::1"),
        ("auth-web", "auth-web"),
    ],
)
def test_the_host_of_an_upstream(upstream: str, host: str) -> None:
    assert host_of(upstream) == host


def served_certificate(port: int) -> str:
    return ssl.get_server_certificate(("127.0.0.1", port))


def test_the_running_nginx_serves_a_renewed_certificate_after_the_reload(
    start_gateway: Callable[..., Gateway], nginx_binary: str, tmp_path: Path
) -> None:
    gateway = start_gateway()
    config = gateway.config
    before = served_certificate(gateway.https_port)
    old_workers = workers_of(int((config.runtime_dir / "nginx.pid").read_text()))
    assert old_workers, "nginx runs no workers?"
    watcher = Watcher(
        [],
        [config.tls_cert, config.tls_key],
        nginx_reloader(nginx_binary, config.runtime_dir, config.out_dir / "nginx.conf"),
    )
    assert watcher.check() == []

    self_signed(config.tls_cert, config.tls_key, ("localhost", "127.0.0.1"))  # "renewed"
    renewed = config.tls_cert.read_text()
    assert watcher.check() == [f"{config.tls_cert} changed", f"{config.tls_key} changed"]

    def serving_the_new_one() -> bool:
        # For a moment after a reload the old workers still accept: wait until they are gone.
        if any(running(pid) for pid in old_workers):
            return False
        served = {served_certificate(gateway.https_port).strip() for _ in range(5)}
        return len(served) == 1 and served.pop() in renewed and before.strip() not in renewed

    wait_until(serving_the_new_one, timeout=10, what="nginx to serve the renewed certificate")
    assert gateway.request("GET", "/livez").status_code == 200  # and it still serves


def workers_of(master: int) -> set[int]:
    """The processes nginx's master started (its workers), from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == master:
            found.add(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_the_watch_command_stops_with_the_nginx_that_started_it(tmp_path: Path) -> None:
    """The entrypoint starts the watcher, then becomes nginx: when nginx is gone, so is it."""
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    watch = [
        *(sys.executable, "-m", "spectral_shared.cli", "gateway", "watch"),
        *("--config", str(tmp_path / "nginx.conf"), "--prefix", str(tmp_path)),
        *("--tls-cert", str(cert), "--tls-key", str(cert), "--interval", "30"),
    ]
    # Stands in for the entrypoint-become-nginx: starts the watcher, runs a while, exits.
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, subprocess, sys\n"
            "print(subprocess.Popen([*sys.argv[1:], '--parent-pid', str(os.getpid())]).pid, flush=True)\n"
            "sys.stdin.readline()\n",
            *watch,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert starter.stdout is not None and starter.stdin is not None
    watcher = int(starter.stdout.readline())
    time.sleep(2)  # the watcher is up, with its parent alive
    assert running(watcher)
    starter.stdin.write("exit\n")
    starter.stdin.flush()
    starter.wait(10)
    wait_until(lambda: not running(watcher), timeout=10, what="the watcher to stop with its parent")


def test_a_watcher_whose_nginx_is_already_gone_stops_at_once(tmp_path: Path) -> None:
    """The entrypoint's race: nginx exited before the watcher got going."""
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "spectral_shared.cli", "gateway", "watch"),
            *("--config", str(tmp_path / "nginx.conf"), "--prefix", str(tmp_path)),
            *("--tls-cert", str(cert), "--tls-key", str(cert), "--interval", "30"),
            *("--parent-pid", str(2**22 + 1)),  # above pid_max's default: nobody's pid
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
