"""What workers and relays answer on METRICS_PORT (/livez from their loop's heartbeat, /health
from their dependencies, /metrics), the container health check that reads it, and how many
gunicorn workers a web target starts with."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from spectral_gateway.testing import free_port
from spectral_shared import probe
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings
from spectral_shared.liveness import STALE_AFTER_SECONDS, Heartbeat
from spectral_shared.process import default_web_workers, usable_cores
from spectral_shared.testing import running_worker, wait_until
from spectral_shared.web.probes import ProbeServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_heartbeat_goes_stale_when_the_loop_stops_beating() -> None:
    clock = Clock()
    heartbeat = Heartbeat(clock)
    clock.now += STALE_AFTER_SECONDS - 1
    assert heartbeat.alive()
    clock.now += 2
    assert not heartbeat.alive() and heartbeat.age() == pytest.approx(STALE_AFTER_SECONDS + 1)
    heartbeat.beat()
    assert heartbeat.alive() and heartbeat.age() == 0


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    servers: list[ProbeServer] = []

    def start(alive: Callable[[], bool], checks: dict[str, Callable[[], bool]]) -> str:
        server = ProbeServer(
            ("127.0.0.1", free_port()), service="audit", alive=alive, checks=checks
        )
        server.serve_in_background()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_livez_follows_the_loop_and_health_the_dependencies(serve: Callable[..., str]) -> None:
    alive = threading.Event()
    alive.set()
    broker_up = threading.Event()
    url = serve(alive.is_set, {"database": lambda: True, "broker": broker_up.is_set})

    assert requests.get(f"{url}/livez", timeout=5).json() == {"status": "alive"}
    alive.clear()
    stale = requests.get(f"{url}/livez", timeout=5)
    assert stale.status_code == 503 and stale.json() == {"status": "stale"}

    down = requests.get(f"{url}/health", timeout=10)
    assert down.status_code == 503
    body = down.json()
    assert body["status"] == "unhealthy" and body["service"] == "audit"
    assert body["checks"] == {"database": "up", "broker": "down"}
    assert body["database"] == "connected" and isinstance(body["uptime"], int)
    broker_up.set()
    up = requests.get(f"{url}/health", timeout=10)
    assert up.status_code == 200 and up.json()["status"] == "healthy"


def test_metrics_are_prometheus_text_and_other_paths_a_problem(serve: Callable[..., str]) -> None:
    url = serve(lambda: True, {})
    metrics = requests.get(f"{url}/metrics", timeout=5)
    assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    assert "# TYPE spectral_messages_consumed_total counter" in metrics.text
    missing = requests.get(f"{url}/api/v1/anything", timeout=5)
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/problem+json"
    assert missing.json()["status"] == 404


def test_the_container_health_check_exits_by_the_answer(
    serve: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy = threading.Event()
    port = int(serve(lambda: True, {"database": healthy.is_set}).rsplit(":", 1)[1])
    assert probe.main(["--port", str(port)]) == 1  # 503
    healthy.set()
    assert probe.main(["--port", str(port)]) == 0
    monkeypatch.setenv("PORT", str(port))
    monkeypatch.delenv("METRICS_PORT", raising=False)
    assert probe.main(["--path", "/livez"]) == 0  # the port from PORT
    assert probe.main(["--port", str(free_port())]) == 1  # nothing listens


def test_the_relay_loop_beats(make_settings: Callable[..., Settings]) -> None:
    runtime = Runtime(installed_components()["auth"], make_settings())
    runtime.migrate()
    relay = runtime.relay()
    clock = Clock()
    relay.heartbeat = Heartbeat(clock)
    clock.now += STALE_AFTER_SECONDS * 2
    assert not relay.heartbeat.alive()
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop, 0.01), daemon=True)
    thread.start()
    try:
        wait_until(relay.heartbeat.alive, what="the relay's first beat")
    finally:
        stop.set()
        thread.join(5)
    runtime.database.dispose()


def test_the_worker_loop_beats(make_settings: Callable[..., Settings]) -> None:
    runtime = Runtime(installed_components()["audit"], make_settings())
    runtime.migrate()
    worker = runtime.worker()
    clock = Clock()
    worker.heartbeat = Heartbeat(clock)
    clock.now += STALE_AFTER_SECONDS * 2
    with running_worker(worker):
        wait_until(worker.heartbeat.alive, what="the worker's first beat")
        clock.now += STALE_AFTER_SECONDS * 2  # idle, with nothing to consume, it still goes round
        wait_until(worker.heartbeat.alive, what="the worker's next beat")
    runtime.database.dispose()


def test_usable_cores_honour_a_cgroup_cpu_quota(tmp_path: Path) -> None:
    affinity = usable_cores(tmp_path)  # no cpu.max: the affinity alone
    assert affinity >= 1
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert usable_cores(tmp_path) == affinity
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a core
    assert usable_cores(tmp_path) == 1
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # 1.5 cores: two workers' worth
    assert usable_cores(tmp_path) == min(2, affinity)


def test_web_workers_come_from_web_concurrency_or_the_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "7")
    assert default_web_workers() == 7
    monkeypatch.delenv("WEB_CONCURRENCY")
    assert default_web_workers() == max(2, usable_cores())
