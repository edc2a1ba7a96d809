"""An authenticated GET through the nginx gateway against the same request straight to the
service. The request is `GET /api/v1/audit/events?limit=1` with a bearer access token. Straight to
the service, audit (`spectral audit web`, gunicorn gthread, 2 workers x 4 threads) verifies the
token itself, offline, over plain HTTP. Through the gateway, nginx (rendered by the project's
renderer from the route table, one worker per core) terminates TLS, asks auth's
`/internal/authorize` with `auth_request` (auth as deployed, 2 workers x 4 threads, with the
organization's quota applied in Redis on every request), and forwards the request with auth's
internal token, which audit verifies. Everything runs on this machine: wrk, nginx, auth, audit,
PostgreSQL and Redis share its cores. The load is `wrk` over loopback with keep-alive (HTTPS for
the gateway), at 32 connections, runs interleaved (direct, gateway, and again) after 2 s of
warm-up each; a sample of responses is checked before and after (200, and through the gateway the
quota headers auth added). CPU per request is read from /proc per process group. The rows at one
connection show what the gateway adds to a request on an idle machine, where nothing queues."""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from bench_authorize import (
    Credentials,
    Server,
    cpu_ticks,
    delete_redis_keys,
    free_port,
    machine_ticks,
    make_credentials,
    parse_wrk,
    postgres_backends,
    redis_servers,
    service_web,
    wrk,
)
from harness import BenchContext, BenchmarkFailed, Result, median_result

from spectral_gateway.nginx import GatewayConfig, foreground_command, nginx_version, write
from spectral_gateway.routes import route_table
from spectral_gateway.tls import self_signed

TITLE = "The gateway: an authenticated request through nginx against straight to the service"
COMPONENTS = ("auth", "audit")
# The programs it runs, each with the Debian package that installs it (run.py checks them first).
PROGRAMS = {"wrk": "wrk", "nginx": "nginx-light"}

PATH = "/api/v1/audit/events?limit=1"
GOAL_ADDED_MS = 2.0  # issue #4: the gateway adds at most 2 ms at the median
GOAL_THROUGHPUT = 0.7  # ... and keeps at least 70% of the direct throughput
QUOTA = 1_000_000_000
WARM_UP_SECONDS = 2
SAMPLE = 20


@dataclass(frozen=True)
class Run:
    requests_per_second: float
    requests: int
    p50_ms: float
    p99_ms: float
    cpu_us: dict[str, float]  # per process group, per request
    machine_busy: float


def parameters() -> dict[str, int]:
    return {
        "BENCH_GATEWAY_CONNECTIONS": int(os.environ.get("BENCH_GATEWAY_CONNECTIONS", "32")),
        "BENCH_GATEWAY_SECONDS": int(os.environ.get("BENCH_GATEWAY_SECONDS", "10")),
        "BENCH_GATEWAY_WORKERS": int(os.environ.get("BENCH_GATEWAY_WORKERS", "2")),
        "BENCH_GATEWAY_THREADS": int(os.environ.get("BENCH_GATEWAY_THREADS", "4")),
    }


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


@contextmanager
def nginx(
    context: BenchContext, auth: Server, audit: Server, base_port: int, http_port: int
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    version = nginx_version(binary)
    if version is None:
        raise BenchmarkFailed("nginx is not installed (apt-get install nginx-light)")
    root = context.settings.var_dir / "gateway"
    cert, key = root / "tls" / "cert.pem", root / "tls" / "key.pem"
    self_signed(cert, key, ("127.0.0.1",))
    config = GatewayConfig(
        out_dir=root / "nginx",
        runtime_dir=root / "nginx" / "run",
        tls_cert=cert,
        tls_key=key,
        upstreams={
            "auth": auth.base_url.removeprefix("http://"),
            "audit": audit.base_url.removeprefix("http://"),
        },
        # Only the two services this measures run; their routes are the table's own.
        routes=tuple(r for r in route_table() if r.service in ("auth", "audit")),
        https_port=base_port,
        http_port=http_port,
        listen_address="127.0.0.1",
        worker_processes=str(os.cpu_count() or 1),
        user="root" if os.geteuid() == 0 else None,
        nginx_version=version,
    )
    write(config)
    process = subprocess.Popen(
        foreground_command(binary, config),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BenchmarkFailed(f"nginx exited with {process.returncode}")
            try:
                requests.get(f"https://127.0.0.1:{base_port}/livez", verify=str(cert), timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.1)  # nginx is starting
        yield process, cert
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def measure(
    url: str,
    token: str,
    seconds: int,
    connections: int,
    groups: dict[str, list[int]],
) -> Run:
    headers = {"Authorization": f"Bearer {token}"}
    wrk(url, headers, WARM_UP_SECONDS, connections)
    before = {name: cpu_ticks(pids) for name, pids in groups.items()}
    busy_before, total_before = machine_ticks()
    output = wrk(url, headers, seconds, connections)
    after = {name: cpu_ticks(pids) for name, pids in groups.items()}
    busy_after, total_after = machine_ticks()
    rate, count, p50, p99, socket_errors, bad = parse_wrk(output)
    if bad or socket_errors:
        raise BenchmarkFailed(f"{url}: {bad} non-2xx answers, {socket_errors} socket errors")
    tick = os.sysconf("SC_CLK_TCK")
    cpu = {name: (after[name] - before[name]) / tick * 1_000_000 / max(count, 1) for name in groups}
    busy = (busy_after - busy_before) / max(total_after - total_before, 1)
    return Run(rate, count, p50, p99, cpu, busy)


def check_sample(direct: str, gateway: str, cert: Path, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(SAMPLE):
        straight = requests.get(direct, headers=headers, timeout=30)
        through = requests.get(gateway, headers=headers, timeout=30, verify=str(cert))
        if straight.status_code != 200 or through.status_code != 200:
            raise BenchmarkFailed(
                f"sample: direct {straight.status_code}, gateway {through.status_code}: "
                f"{through.text[:300]}"
            )
        if through.headers.get("X-RateLimit-Limit") != str(QUOTA):
            raise BenchmarkFailed("sample: the gateway's answer lacks auth's quota headers")
        if straight.json()["data"] != through.json()["data"]:
            raise BenchmarkFailed("sample: the gateway and the service disagree")


def run(context: BenchContext) -> list[Result]:
    knobs = parameters()
    workers, threads = knobs["BENCH_GATEWAY_WORKERS"], knobs["BENCH_GATEWAY_THREADS"]
    connections, seconds = knobs["BENCH_GATEWAY_CONNECTIONS"], knobs["BENCH_GATEWAY_SECONDS"]
    prefix = f"spectral-bench-{uuid.uuid4().hex[:10]}"
    https, http = free_port(), free_port()
    base_url = f"https://127.0.0.1:{https}"
    settings = context.settings
    common = {"BASE_URL": base_url, "RATE_LIMIT_MAX_REQUESTS": str(QUOTA)}
    runs: dict[str, list[Run]] = {"direct": [], "gateway": [], "direct_1": [], "gateway_1": []}
    try:
        with service_web(settings, "auth", workers, threads, prefix, common) as auth:
            credentials: Credentials = make_credentials(auth, context.runtime("auth"))
            audit_env = {**common, "AUTH_INTERNAL_URL": auth.base_url}
            with (
                service_web(settings, "audit", workers, threads, prefix, audit_env) as audit,
                nginx(context, auth, audit, https, http) as (gateway, cert),
            ):
                direct_url, gateway_url = audit.base_url + PATH, base_url + PATH
                check_sample(direct_url, gateway_url, cert, credentials.access_token)
                engine = context.engine()
                groups = {
                    "nginx": _children(gateway.pid),
                    "auth": _children(auth.process.pid),
                    "audit": _children(audit.process.pid),
                    "postgres": postgres_backends(engine),
                    "redis": redis_servers(),
                }
                token = credentials.access_token
                for _ in range(context.repeats):
                    runs["direct"].append(measure(direct_url, token, seconds, connections, groups))
                    runs["gateway"].append(
                        measure(gateway_url, token, seconds, connections, groups)
                    )
                    runs["direct_1"].append(measure(direct_url, token, 5, 1, groups))
                    runs["gateway_1"].append(measure(gateway_url, token, 5, 1, groups))
                check_sample(direct_url, gateway_url, cert, token)
    finally:
        delete_redis_keys(prefix)
    return report(runs, knobs)


def report(runs: dict[str, list[Run]], knobs: dict[str, int]) -> list[Result]:
    connections, seconds = knobs["BENCH_GATEWAY_CONNECTIONS"], knobs["BENCH_GATEWAY_SECONDS"]
    shape = (
        f"auth and audit: {knobs['BENCH_GATEWAY_WORKERS']} gunicorn workers x "
        f"{knobs['BENCH_GATEWAY_THREADS']} threads each; nginx {os.cpu_count()} workers; "
        f"{os.cpu_count()} cores shared by all"
    )

    def each(key: str, attribute: str) -> list[float]:
        return [float(getattr(r, attribute)) for r in runs[key]]

    def cpu(key: str) -> str:
        parts = {
            name: statistics.median(r.cpu_us[name] for r in runs[key])
            for name in runs[key][0].cpu_us
        }
        return ", ".join(f"{name} {value:,.0f}" for name, value in parts.items())

    def cpu_total(key: str) -> list[float]:
        return [sum(r.cpu_us.values()) for r in runs[key]]

    ratio = statistics.median(each("gateway", "requests_per_second")) / statistics.median(
        each("direct", "requests_per_second")
    )
    added = statistics.median(each("gateway", "p50_ms")) - statistics.median(
        each("direct", "p50_ms")
    )
    added_1 = statistics.median(each("gateway_1", "p50_ms")) - statistics.median(
        each("direct_1", "p50_ms")
    )
    cost = statistics.median(cpu_total("gateway")) / statistics.median(cpu_total("direct"))
    bound = (
        f"a request through the gateway costs {cost:.1f}x the CPU of a direct one (CPU row): "
        "nginx, TLS and auth's answer run on the same cores as the service, so at saturation "
        "the gateway's throughput is the direct one divided by that"
    )
    met = "goal met" if ratio >= GOAL_THROUGHPUT else f"goal MISSED: {bound}"
    met_latency = (
        "goal met"
        if added <= GOAL_ADDED_MS
        else f"goal MISSED at {connections} connections: a closed loop's median is connections / "
        f"throughput, so it grows with the lost throughput; one connection on an idle machine "
        f"adds {added_1:.2f} ms (row below)"
    )
    load = f"wrk -c{connections} -d{seconds}s, keep-alive; {shape}"
    return [
        median_result(
            "Through the gateway: throughput",
            each("gateway", "requests_per_second"),
            "requests/s",
            "straight to audit",
            each("direct", "requests_per_second"),
            f"goal ≥ {GOAL_THROUGHPUT}x: {met}; {load}; machine "
            f"{statistics.median(each('gateway', 'machine_busy')):.0%} busy",
        ),
        median_result(
            "Through the gateway: latency p50",
            each("gateway", "p50_ms"),
            "ms",
            "straight to audit, p50",
            each("direct", "p50_ms"),
            f"goal: at most {GOAL_ADDED_MS:g} ms added (here {added:+.2f} ms): {met_latency}; {load}",
        ),
        median_result(
            "Through the gateway: latency p99",
            each("gateway", "p99_ms"),
            "ms",
            "straight to audit, p99",
            each("direct", "p99_ms"),
            load,
        ),
        median_result(
            "Through the gateway, one connection: latency p50",
            each("gateway_1", "p50_ms"),
            "ms",
            "straight to audit, one connection, p50",
            each("direct_1", "p50_ms"),
            f"what the gateway adds when nothing queues: {added_1:+.2f} ms (TLS, nginx, the "
            "auth_request round trip); wrk -c1 -d5s",
        ),
        median_result(
            "Through the gateway: CPU per request",
            cpu_total("gateway"),
            "µs",
            "straight to audit",
            cpu_total("direct"),
            f"user + system time / requests, by process group: {cpu('gateway')} µs "
            f"(direct: {cpu('direct')} µs); Redis is shared with other work",
        ),
    ]
