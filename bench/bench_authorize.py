"""`/internal/authorize`, the gateway's question about every non-public request, under load. The
auth service runs as deployed: `spectral auth web` (gunicorn gthread; by default 2 workers, one per
core of this 2-core machine, and 4 threads each, the command's default) in its own process, against this
run's PostgreSQL database and the local Redis. The per-organization quota is applied on every
request (its limit is set too high to refuse: the Redis quota script is part of the measured
path, and its counter is checked against the requests made). The credentials are made through the
HTTP API: register an organization, verify the e-mail (queued mail delivered as the relay does, to
an .eml under VAR_DIR/mail), log in for an access token, create an API key. The load is `wrk` on
the same machine over loopback (2 threads, keep-alive, `Authorization: Bearer <credential>`), with
2 s of warm-up before each measurement. The baseline is `/livez` on the same server: a Flask view
that checks nothing, behind the same request hooks (request id, span, metrics). The runs are
interleaved (livez, access token, API key, then again), so background load falls on all alike.
Before and after the load, a sample of authorize responses must all be 200 with an
`X-Spectral-Internal-Token` that verifies, or the benchmark fails. wrk, the server, PostgreSQL
and Redis share the cores; CPU per request is read from /proc for the gunicorn workers, the
PostgreSQL backends connected to this run's database, and redis-server. Spans are created but not
exported (`OTEL_TRACES_EXPORTER=none`); `LOG_LEVEL=warning`. gunicorn leaves a keep-alive
connection with the worker that accepted it, so a run in which one worker took most of wrk's
connections works one core, not two, whatever the endpoint: each run's least-busy worker's share
of the workers' CPU is given (50% is an even split), and such runs show as the low outliers.

The last rows break one request down in-process (this Python process, one thread, the server
stopped): each step of the authorize path called on its own 2,000 times, in turns with the
others, beside `/livez` through the same Flask app's test client."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import redis
import requests
import sqlalchemy as sa
from harness import (
    BenchContext,
    BenchmarkFailed,
    Result,
    deployed_env,
    format_number,
    median_result,
    percentile,
    step_results,
    time_in_turns,
)

from spectral_auth.account_state import account_version_key, version
from spectral_auth.models import User
from spectral_auth.services.api_keys import authenticate_api_key
from spectral_auth.services.authorization import Authorizer
from spectral_auth.signing_keys import issue_internal_token
from spectral_gateway.testing import free_port
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings
from spectral_shared.email import deliver_due_mail
from spectral_shared.identity import (
    INTERNAL_TOKEN_AUDIENCE,
    INTERNAL_TOKEN_HEADER,
    StaticKeySource,
    TokenVerifier,
)
from spectral_shared.logging import get_logger
from spectral_shared.ratelimit import Guard
from spectral_shared.testing import verification_token
from spectral_shared.web.problems import Problem

TITLE = "/internal/authorize under load"
COMPONENTS = ("auth",)

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
GOAL = 0.5  # issue #3: each credential path at least half the baseline's throughput
WRK_THREADS = 2
WARM_UP_SECONDS = 2
QUOTA = 1_000_000_000  # RATE_LIMIT_MAX_REQUESTS: applied on every request, never reached
SAMPLE = 50  # authorize responses checked one by one before and after the load
BREAKDOWN_ITERATIONS = 2000  # calls of each step per run, in BREAKDOWN_CHUNKS turns
BREAKDOWN_CHUNKS = 10
START_TIMEOUT = 60.0
HTTP_TIMEOUT = 30.0
request_log = get_logger("spectral.http")  # the logger of the request hooks
PASSWORD = "correct horse battery staple"  # noqa: S105 - a throwaway account's password


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    path: str
    credential: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}"} if self.credential else {}


@dataclass(frozen=True)
class Load:
    """One measurement: throughput, latency percentiles (ms) and where the CPU went."""

    requests_per_second: float
    requests: int
    p50_ms: float
    p99_ms: float
    server_cpu_us_per_request: float  # the gunicorn workers
    postgres_cpu_us_per_request: float  # the PostgreSQL backends connected to this database
    redis_cpu_us_per_request: float  # redis-server (shared with whatever else uses it)
    machine_busy: float  # fraction of all cores
    least_worker_share: float  # the least-busy gunicorn worker's part of the workers' CPU
    generator_cpu: float  # the load generator's CPU time, in cores
    socket_errors: int


@dataclass
class Credentials:
    organization_id: str
    access_token: str
    api_key: str


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    redis_prefix: str
    log_path: Path

    def worker_pids(self) -> list[int]:
        """gunicorn's workers: the children of the master process."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        with contextlib.suppress(OSError):
            return [int(pid) for pid in children.read_text().split()]
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    found.append(int(stat.parent.name))
        return found

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


# ---- the server, as deployed ---------------------------------------------------------------------


def server_env(settings: Settings, port: int, redis_prefix: str) -> dict[str, str]:
    return deployed_env(
        settings,
        PORT=str(port),
        BASE_URL=f"http://127.0.0.1:{port}",
        REDIS_URL=REDIS_URL,
        REDIS_KEY_PREFIX=redis_prefix,
        RATE_LIMIT_MAX_REQUESTS=str(QUOTA),
        BROKER_URL="memory://",  # authorize publishes nothing
    )


@contextlib.contextmanager
def service_web(
    settings: Settings,
    service: str,
    workers: int,
    threads: int,
    redis_prefix: str,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """``spectral <service> web --workers W`` on a free loopback port, stopped on exit."""
    port = free_port()
    env = {**server_env(settings, port, redis_prefix), **(extra_env or {})}
    log_path = settings.var_dir / f"{service}-web.log"
    command = [sys.executable, "-m", "spectral_shared.cli", service, "web"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers), "--threads", str(threads)]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        server = Server(process, f"http://127.0.0.1:{port}", redis_prefix, log_path)
        try:
            wait_until_serving(server)
            yield server
        finally:
            process.send_signal(signal.SIGTERM)  # gunicorn: graceful stop of every worker
            try:
                process.wait(40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
    if process.returncode not in (0, -signal.SIGTERM):
        raise BenchmarkFailed(
            f"{service} web exited with {process.returncode}: {server.log_tail()}"
        )


def wait_until_serving(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchmarkFailed(f"auth web exited at start: {server.log_tail()}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{server.base_url}/livez", timeout=2).status_code == 200:
                return
        time.sleep(0.2)  # polling a process that is starting, bounded by the deadline
    raise BenchmarkFailed(f"auth web did not answer within {START_TIMEOUT:.0f} s")


def delete_redis_keys(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def quota_count(prefix: str) -> int:
    """Requests the quota script counted for every organization, all buckets."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:auth:quota:*", count=1000))
        return sum(int(value or 0) for value in client.mget(keys)) if keys else 0
    finally:
        client.close()


# ---- credentials, through the HTTP API -----------------------------------------------------------


def expect(response: requests.Response, status: int, what: str) -> dict[str, object]:
    if response.status_code != status:
        raise BenchmarkFailed(f"{what}: HTTP {response.status_code}: {response.text[:500]}")
    body: dict[str, object] = response.json()
    return body


def make_credentials(server: Server, auth: Runtime) -> Credentials:
    """Register, verify the e-mail, log in, create an API key: the way a person would."""
    email = f"bench-{uuid.uuid4().hex[:8]}@bench.example"
    with requests.Session() as http:
        base = server.base_url
        expect(
            http.post(
                f"{base}/api/v1/auth/register",
                json={
                    "organization_name": "Benchmark Health",
                    "organization_type": "health_system",
                    "name": "Bea Bench",
                    "email": email,
                    "password": PASSWORD,
                },
                timeout=HTTP_TIMEOUT,
            ),
            202,
            "register",
        )
        # What the relay does with queued mail: here, write it as .eml under VAR_DIR/mail.
        deliver_due_mail(auth.database, auth.component.tables, auth.cipher, auth.mailer)
        token = verification_token(auth.settings.var_dir / "mail", email)
        expect(
            http.get(
                f"{base}/api/v1/auth/verify-email", params={"token": token}, timeout=HTTP_TIMEOUT
            ),
            200,
            "verify e-mail",
        )
        login = expect(
            http.post(
                f"{base}/api/v1/auth/login",
                json={"email": email, "password": PASSWORD},
                timeout=HTTP_TIMEOUT,
            ),
            200,
            "log in",
        )
        access_token = str(login["access_token"])
        # Registration's answer names no ids (ADR 0038); the access token carries them.
        organization_id = str(jwt.decode(access_token, options={"verify_signature": False})["org"])
        created = expect(
            http.post(
                f"{base}/api/v1/auth/api-keys",
                json={"name": "bench", "scopes": ["telemetry:write", "ai_systems:read"]},
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=HTTP_TIMEOUT,
            ),
            201,
            "create API key",
        )
    return Credentials(organization_id, access_token, str(created["secret"]))


def check_sample(server: Server, targets: list[Target], organization_id: str) -> None:
    """Every authorize response in a sample is 200 with an internal token that verifies."""
    with requests.Session() as http:
        jwks = expect(
            http.get(f"{server.base_url}/.well-known/jwks.json", timeout=HTTP_TIMEOUT),
            200,
            "JWKS",
        )
        verifier = TokenVerifier(
            StaticKeySource(jwks), issuer=server.base_url, audiences=(INTERNAL_TOKEN_AUDIENCE,)
        )
        for target in targets:
            for n in range(SAMPLE):
                response = http.get(
                    server.base_url + target.path, headers=target.headers(), timeout=HTTP_TIMEOUT
                )
                internal = response.headers.get(INTERNAL_TOKEN_HEADER)
                if response.status_code != 200 or not internal:
                    raise BenchmarkFailed(
                        f"{target.label}: response {n + 1} of the sample is HTTP "
                        f"{response.status_code} without a usable {INTERNAL_TOKEN_HEADER}: "
                        f"{response.text[:300]}"
                    )
                try:
                    identity = verifier.verify(internal)
                except Problem as exc:
                    raise BenchmarkFailed(f"{target.label}: {exc.detail}") from None
                if identity.organization_id != organization_id:
                    raise BenchmarkFailed(f"{target.label}: internal token for another org")
                if response.headers.get("X-RateLimit-Limit") != str(QUOTA):
                    raise BenchmarkFailed(
                        f"{target.label}: the quota was not applied "
                        f"(X-RateLimit-Limit {response.headers.get('X-RateLimit-Limit')!r})"
                    )


# ---- load ----------------------------------------------------------------------------------------


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_wrk(output: str) -> tuple[float, int, float, float, int, int]:
    """requests/s, requests, p50 ms, p99 ms, socket errors, non-2xx/3xx from ``wrk --latency``."""

    def number(pattern: str) -> re.Match[str]:
        found = re.search(pattern, output, re.MULTILINE)
        if found is None:
            raise BenchmarkFailed(f"wrk output without {pattern!r}:\n{output}")
        return found

    def latency(percent: int) -> float:
        found = number(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m|h)\s*$")
        return float(found.group(1)) * _UNITS_MS[found.group(2)]

    rate = float(number(r"^Requests/sec:\s+([\d.]+)").group(1))
    count = int(number(r"^\s*(\d+) requests in ").group(1))
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    socket_errors = sum(int(g) for g in errors.groups()) if errors else 0
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return rate, count, latency(50), latency(99), socket_errors, int(bad.group(1)) if bad else 0


def wrk(url: str, headers: dict[str, str], seconds: int, connections: int) -> str:
    threads = min(WRK_THREADS, connections)  # wrk needs a connection per thread
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if done.returncode != 0:
        raise BenchmarkFailed(f"wrk exited with {done.returncode}: {done.stderr or done.stdout}")
    return done.stdout


def python_load(url: str, headers: dict[str, str], seconds: int, connections: int) -> str:
    """Fallback when wrk is missing: threads with keep-alive sessions, summarized as wrk does."""
    latencies: list[list[float]] = [[] for _ in range(connections)]
    failures = [0] * connections
    stop_at = time.perf_counter() + seconds

    def client(index: int) -> None:
        with requests.Session() as http:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                try:
                    ok = http.get(url, headers=headers, timeout=HTTP_TIMEOUT).status_code < 400
                except requests.RequestException:
                    ok = False
                if not ok:
                    failures[index] += 1
                latencies[index].append(time.perf_counter() - started)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + HTTP_TIMEOUT + 5)
    elapsed = time.perf_counter() - started
    every = [value for values in latencies for value in values]
    if not every:
        raise BenchmarkFailed(f"python load: no request completed against {url}")
    return (
        f"Latency Distribution\n"
        f"     50%    {percentile(every, 0.5) * 1000:.3f}ms\n"
        f"     99%    {percentile(every, 0.99) * 1000:.3f}ms\n"
        f"  {len(every)} requests in {elapsed:.2f}s\n"
        f"  Non-2xx or 3xx responses: {sum(failures)}\n"
        f"Requests/sec: {len(every) / elapsed:.2f}\n"
    )


def generator() -> Callable[[str, dict[str, str], int, int], str]:
    try:
        subprocess.run(["wrk", "--version"], capture_output=True, timeout=10, check=False)
    except OSError:
        return python_load
    return wrk


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def postgres_backends(engine: sa.Engine) -> list[int]:
    """The server processes of every other connection to this benchmark's database."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        return [int(pid) for (pid,) in rows]


def redis_servers() -> list[int]:
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().strip() == "redis-server":
                found.append(int(comm.parent.name))
    return found


def measure(
    server: Server,
    target: Target,
    load: Callable[[str, dict[str, str], int, int], str],
    seconds: int,
    connections: int,
    engine: sa.Engine,
) -> Load:
    url = server.base_url + target.path
    load(url, target.headers(), WARM_UP_SECONDS, connections)
    # After the warm-up: the connection pools have opened what the load needs.
    workers = server.worker_pids()
    groups = [workers, postgres_backends(engine), redis_servers()]
    tick = os.sysconf("SC_CLK_TCK")
    before, (busy_before, total_before) = [cpu_ticks(g) for g in groups], machine_ticks()
    each_before = [cpu_ticks([pid]) for pid in workers]
    generator_before = children_cpu_seconds()
    started = time.perf_counter()
    output = load(url, target.headers(), seconds, connections)
    elapsed = time.perf_counter() - started
    generator_cpu = (children_cpu_seconds() - generator_before) / elapsed
    after, (busy_after, total_after) = [cpu_ticks(g) for g in groups], machine_ticks()
    each_spent = [cpu_ticks([pid]) - b for pid, b in zip(workers, each_before, strict=True)]
    least_share = min(each_spent) / max(sum(each_spent), 1) if len(workers) > 1 else 1.0
    rate, count, p50, p99, socket_errors, bad = parse_wrk(output)
    if bad:
        raise BenchmarkFailed(f"{target.label}: {bad} of {count} responses were not 2xx/3xx")
    if server.process.poll() is not None:
        raise BenchmarkFailed(f"auth web died under load: {server.log_tail()}")
    workers_us, postgres_us, redis_us = (
        (a - b) / tick * 1_000_000 / max(count, 1) for a, b in zip(after, before, strict=True)
    )
    busy = (busy_after - busy_before) / max(total_after - total_before, 1)
    return Load(
        rate,
        count,
        p50,
        p99,
        workers_us,
        postgres_us,
        redis_us,
        busy,
        least_share,
        generator_cpu,
        socket_errors,
    )


# ---- where one request's time goes, in-process --------------------------------------------------


def breakdown(
    context: BenchContext, server: Server, credentials: Credentials
) -> dict[str, list[float]]:
    """Microseconds per call of each step of the authorize path, median-ready lists per step."""
    settings = context.settings.model_copy(
        update={
            "redis_url": REDIS_URL,
            "redis_key_prefix": server.redis_prefix,
            "rate_limit_max_requests": QUOTA,
            "base_url": server.base_url,  # the issuer the access token names
        }
    )
    runtime = Runtime(installed_components()["auth"], settings)
    try:
        authorizer = Authorizer(runtime)
        identity = authorizer.verifier.verify(credentials.access_token)
        key = authorizer.signing_key()
        version_key = account_version_key(identity.subject_id)
        guard = Guard(version_key, version(runtime.kv, version_key))
        client = runtime.app().test_client()
        bearer = {"Authorization": f"Bearer {credentials.access_token}"}
        api_key = {"Authorization": f"Bearer {credentials.api_key}"}

        def app_get(path: str, headers: dict[str, str]) -> Callable[[], None]:
            def call() -> None:
                response = client.get(path, headers=headers)
                if response.status_code != 200:
                    raise BenchmarkFailed(f"in-process {path}: HTTP {response.status_code}")

            return call

        def user_lookup() -> None:  # the query authorize_bearer runs, in its own transaction
            with runtime.database.session() as session:
                session.scalars(
                    sa.select(User).where(
                        User.id == identity.subject_id,
                        User.organization_id == identity.organization_id,
                    )
                ).first()

        def select_one() -> None:
            with runtime.database.session() as session:
                session.execute(sa.text("SELECT 1"))

        def sign() -> None:
            issue_internal_token(
                key,
                issuer=settings.base_url,
                subject_type="user",
                subject_id=identity.subject_id,
                organization_id=identity.organization_id,
                role=identity.role,
            )

        steps: dict[str, Callable[[], object]] = {
            "livez": app_get("/livez", {}),
            "app_bearer": app_get("/internal/authorize", bearer),
            "app_api_key": app_get("/internal/authorize", api_key),
            "verify": lambda: authorizer.verifier.verify(credentials.access_token),
            "user_lookup": user_lookup,
            "api_key_lookup": lambda: authenticate_api_key(runtime, credentials.api_key),
            "quota": lambda: authorizer.limiter.hit(
                f"org:{credentials.organization_id}",
                limit=QUOTA,
                window_seconds=3600,
                guard=guard,
            ),
            "sign": sign,
            "log_line": lambda: request_log.info(
                "http.request",
                method="GET",
                route="/internal/authorize",
                status=200,
                duration_ms=1.0,
            ),
            "select_one": select_one,
            "redis_ping": lambda: runtime.kv.ping(),
        }
        return time_in_turns(
            steps,
            repeats=context.repeats,
            iterations=BREAKDOWN_ITERATIONS,
            chunks=BREAKDOWN_CHUNKS,
        )
    finally:
        runtime.database.dispose()


# ---- the benchmark -------------------------------------------------------------------------------


def parameters() -> dict[str, int]:
    """The knobs this benchmark reads from the environment, with the values in effect."""
    return {
        # 2 workers for this 2-core machine; 4 threads each is the `spectral <service> web` default.
        "BENCH_AUTHORIZE_WORKERS": int(os.environ.get("BENCH_AUTHORIZE_WORKERS", "2")),
        "BENCH_AUTHORIZE_THREADS": int(os.environ.get("BENCH_AUTHORIZE_THREADS", "4")),
        "BENCH_AUTHORIZE_CONNECTIONS": int(os.environ.get("BENCH_AUTHORIZE_CONNECTIONS", "32")),
        "BENCH_AUTHORIZE_SECONDS": int(os.environ.get("BENCH_AUTHORIZE_SECONDS", "10")),
    }


def run(context: BenchContext) -> list[Result]:
    knobs = parameters()
    load = generator()
    redis.Redis.from_url(REDIS_URL, socket_timeout=5).ping()  # fail early, and say why
    redis_prefix = f"spectral-bench-{uuid.uuid4().hex[:10]}"
    try:
        loads, server, credentials = load_the_server(context, load, knobs, redis_prefix)
        steps = breakdown(context, server, credentials)
    finally:
        delete_redis_keys(redis_prefix)
    return report(loads, steps, load, knobs)


def load_the_server(
    context: BenchContext,
    load: Callable[[str, dict[str, str], int, int], str],
    knobs: dict[str, int],
    redis_prefix: str,
) -> tuple[dict[str, list[Load]], Server, Credentials]:
    """Start the server, make the credentials, check them, and measure every target."""
    auth = context.runtime("auth")
    workers, threads = knobs["BENCH_AUTHORIZE_WORKERS"], knobs["BENCH_AUTHORIZE_THREADS"]
    connections, seconds = knobs["BENCH_AUTHORIZE_CONNECTIONS"], knobs["BENCH_AUTHORIZE_SECONDS"]
    with service_web(context.settings, "auth", workers, threads, redis_prefix) as server:
        credentials = make_credentials(server, auth)
        baseline = Target("livez", "/livez", "/livez")
        authorize = [
            Target(
                "bearer", "bearer access token", "/internal/authorize", credentials.access_token
            ),
            Target("api_key", "API key", "/internal/authorize", credentials.api_key),
        ]
        check_sample(server, authorize, credentials.organization_id)
        counted_before = quota_count(server.redis_prefix)
        loads: dict[str, list[Load]] = {t.key: [] for t in (baseline, *authorize)}
        for number in range(1, context.repeats + 1):
            for target in (baseline, *authorize):
                loads[target.key].append(
                    measure(server, target, load, seconds, connections, context.engine())
                )
            print(
                f"  round {number}/{context.repeats}: "
                + ", ".join(f"{k} {v[-1].requests_per_second:,.0f}/s" for k, v in loads.items()),
                file=sys.stderr,
                flush=True,
            )
        check_sample(server, authorize, credentials.organization_id)
        measured = sum(run.requests for key in ("bearer", "api_key") for run in loads[key])
        counted = quota_count(server.redis_prefix) - counted_before - len(authorize) * SAMPLE
        if counted < measured:
            raise BenchmarkFailed(
                f"the Redis quota counted {counted} authorize requests; wrk completed {measured}"
            )
    return loads, server, credentials


def report(
    loads: dict[str, list[Load]],
    steps: dict[str, list[float]],
    load: Callable[[str, dict[str, str], int, int], str],
    knobs: dict[str, int],
) -> list[Result]:
    workers, threads = knobs["BENCH_AUTHORIZE_WORKERS"], knobs["BENCH_AUTHORIZE_THREADS"]
    connections, seconds = knobs["BENCH_AUTHORIZE_CONNECTIONS"], knobs["BENCH_AUTHORIZE_SECONDS"]
    authorize = [("bearer", "bearer access token"), ("api_key", "API key")]

    def each(key: str, attribute: str) -> list[float]:
        return [float(getattr(run, attribute)) for run in loads[key]]

    tool = (
        f"wrk -t{WRK_THREADS} -c{connections} -d{seconds}s"
        if load is wrk
        else f"Python load generator, {connections} threads, {seconds} s (wrk was not found)"
    )
    server_shape = (
        f"{workers} gunicorn gthread workers x {threads} threads ({os.cpu_count()} cores)"
    )
    livez = "/livez on the same server"

    def cpu_note(key: str) -> str:
        busy = statistics.median(each(key, "machine_busy"))
        wrk_cpu = statistics.median(each(key, "generator_cpu"))
        errors = sum(run.socket_errors for run in loads[key])
        shares = ", ".join(f"{share:.0%}" for share in each(key, "least_worker_share"))
        note = (
            f"machine {busy:.0%} busy, load generator {wrk_cpu:.2f} cores, "
            f"least-busy worker's share of the workers' CPU {shares}"
        )
        return note + (f", {errors} socket errors" if errors else "")

    def cpu_total(key: str) -> list[float]:
        return [
            run.server_cpu_us_per_request
            + run.postgres_cpu_us_per_request
            + run.redis_cpu_us_per_request
            for run in loads[key]
        ]

    def cpu_split(key: str) -> str:
        parts = (
            ("gunicorn workers", "server_cpu_us_per_request"),
            ("PostgreSQL", "postgres_cpu_us_per_request"),
            ("Redis", "redis_cpu_us_per_request"),
        )
        return ", ".join(
            f"{name} {format_number(statistics.median(each(key, attribute)))}"
            for name, attribute in parts
        )

    results: list[Result] = []
    for key, label in authorize:
        ratio = statistics.median(each(key, "requests_per_second")) / statistics.median(
            each("livez", "requests_per_second")
        )
        verdict = "goal met" if ratio >= GOAL else "goal MISSED"
        cost = statistics.median(cpu_total(key)) / statistics.median(cpu_total("livez"))
        busy = min(statistics.median(each(k, "machine_busy")) for k in (key, "livez"))
        bound = "; CPU-bound" if busy >= 0.9 else ""
        results.append(
            median_result(
                f"Authorize, {label}: throughput",
                each(key, "requests_per_second"),
                "requests/s",
                livez,
                each("livez", "requests_per_second"),
                f"goal ≥ {GOAL}x: {verdict}; a request costs {cost:.1f}x the CPU of a /livez "
                f"(CPU rows below){bound}; {tool}; {server_shape}; {cpu_note(key)} "
                f"(livez: {cpu_note('livez')})",
            )
        )
    for key, label in authorize:
        for which, attribute in (("p50", "p50_ms"), ("p99", "p99_ms")):
            results.append(
                median_result(
                    f"Authorize, {label}: latency {which}",
                    each(key, attribute),
                    "ms",
                    f"{livez}, {which}",
                    each("livez", attribute),
                    f"{tool}; closed loop, {connections} connections",
                )
            )

    for key, label in authorize:
        results.append(
            median_result(
                f"Authorize, {label}: CPU per request (server, its PostgreSQL backends, Redis)",
                cpu_total(key),
                "µs",
                livez,
                cpu_total("livez"),
                f"user + system time during the measurement / requests; {cpu_split(key)} µs "
                f"(livez: {cpu_split('livez')} µs); Redis is shared with other work",
            )
        )

    rows = [
        (
            "app_bearer",
            "Whole request in-process: authorize with an access token",
            "wall time, waits for PostgreSQL and Redis included",
        ),
        (
            "app_api_key",
            "Whole request in-process: authorize with an API key",
            "wall time, waits for PostgreSQL and Redis included",
        ),
        ("verify", "Step: verify the access token (EdDSA JWT, PyJWT)", ""),
        (
            "user_lookup",
            "Step: look up the user (ORM select in its own transaction)",
            "four round trips: the pool's pre-ping, BEGIN, SELECT, COMMIT; paid only on a cache miss (facts are cached per process under a Redis version)",
        ),
        (
            "api_key_lookup",
            "Step: authenticate the API key (HMAC + ORM select)",
            "the same four round trips; last_used_at already fresh, so no UPDATE",
        ),
        (
            "quota",
            "Step: the Redis quota script, guarded by the account's version (EVALSHA)",
            "the one Redis round trip of a cached request: checks the version, counts the hit",
        ),
        ("sign", "Step: sign the internal token (EdDSA JWT, PyJWT)", ""),
        (
            "log_line",
            "Step: the request's log line, dropped at LOG_LEVEL=warning",
            "structlog runs its processors before the level drops it; /livez skips the line",
        ),
        (
            "select_one",
            "Reference: SELECT 1 in a session (the database round trips alone)",
            "pre-ping, BEGIN, SELECT 1, COMMIT: what the lookups cost without their query",
        ),
        ("redis_ping", "Reference: Redis PING (one round trip)", ""),
    ]
    return [*results, *step_results(rows, steps, BREAKDOWN_ITERATIONS)]
