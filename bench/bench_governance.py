"""`GET /api/v1/ai-systems?limit=50`, the first page of an organization's AI-system inventory (the
busiest read of governance: dashboards page through it), under load, straight to the service
(no gateway). Governance runs as deployed: `spectral governance web` (gunicorn gthread; by default
2 workers, one per core of this 2-core machine, and 4 threads each, the command's default) in its
own process, against this run's PostgreSQL database; it verifies the access token offline with the
public keys it fetched from auth's JWKS. Auth runs beside it the same way, only to hand out the
token: register an organization over HTTP, verify the e-mail (queued mail delivered as the relay
does, to an .eml under VAR_DIR/mail), log in. The data is made in this process through
governance's own use cases: the organization gets an unlimited plan (a
`billing.entitlements.updated` event through `apply_directory_event`), then `create_system` adds
1,000 AI systems with varied departments, categories, risk levels, PHI use, vendors, FDA statuses
and states; a second organization gets 1,000 more, so the query must filter by tenant. The load is
`wrk` on the same machine over loopback (2 threads, keep-alive, `Authorization: Bearer <token>`)
after 2 s of warm-up; the rows at one connection show a request's latency when nothing queues.
Before and after the load, the page (200, 50 systems, a next_cursor) must list exactly the ids the
query below returns, and its cursor must lead to the 51st, or the benchmark fails.

The baseline is the query for the page's rows run directly in this process: the statement the
view's own builder makes (`listed` with the default `AISystemQuery`, limit 51: 26
columns, this organization, not deleted, by created_at and id), executed with SQLAlchemy Core on
governance's `Database` engine, a pooled connection per query in autocommit (the pool's pre-ping,
then the SELECT), all rows fetched; on one thread for latency, on two for throughput, and on one
held connection (the SELECT's one round trip) for reference. On PostgreSQL the view itself runs
its own prepared SELECT of the same rows through `Database.read_rows` (autocommit, no pre-ping)
and encodes them with orjson ([ADR 0024](adr/0024-inventory-and-control-registry.md)); the
baseline is the data the page is made of, fetched as plainly as SQLAlchemy allows. `/livez` on
the same server under the same load is the cost of the request hooks alone (request id, span,
metrics). The runs are interleaved (livez, the list, one connection, the direct query, then
again), so background load falls on all alike. wrk, the server and PostgreSQL share the cores; CPU per request is read from /proc for the
gunicorn workers and the PostgreSQL backends connected to this run's database, and for the direct
query from this process's own rusage. Spans are created but not exported
(`OTEL_TRACES_EXPORTER=none`); `LOG_LEVEL=warning`. A keep-alive connection stays with the worker
that accepted it (the workers listen with `SO_REUSEPORT`, so the kernel spreads wrk's connections
over them): each run's least-busy worker's share of the workers' CPU is given (50% is an even
split).

The last rows break one request down in-process (this Python process, one thread, the server
stopped): each step of the list view called on its own 2,000 times, in turns with the others,
beside `/livez` through the same Flask app's test client."""

from __future__ import annotations

import contextlib
import os
import random
import resource
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import jwt
import requests
import sqlalchemy as sa
from bench_authorize import (
    Credentials,
    Load,
    Server,
    Target,
    cpu_ticks,
    delete_redis_keys,
    expect,
    generator,
    make_credentials,
    measure,
    postgres_backends,
    service_web,
    wrk,
)
from harness import (
    BenchContext,
    BenchmarkFailed,
    Result,
    format_number,
    median_result,
    percentile,
    step_results,
    time_in_turns,
)

from spectral_governance.directory.use_cases import apply_directory_event
from spectral_governance.inventory import rules as inventory
from spectral_governance.inventory.schemas import AISystemCreate, AISystemQuery, create_values
from spectral_governance.inventory.use_cases import create_system
from spectral_governance.inventory.views import keyset, listed, system_out
from spectral_governance.web import orjson_response
from spectral_shared.bus import Actor, Envelope
from spectral_shared.component import Runtime, installed_components
from spectral_shared.db import Database
from spectral_shared.identity import Identity
from spectral_shared.logging import get_logger
from spectral_shared.testing.billing import capabilities

TITLE = "GET /api/v1/ai-systems: a page of the AI-system inventory under load"
COMPONENTS = ("auth", "governance")

PATH = "/api/v1/ai-systems?limit=50"
PAGE = 50
GOAL_RATE = 1500.0  # issue #6: at least 1,500 requests/s ...
GOAL_P99_MS = 50.0  # ... and p99 under 50 ms, through the service, on this 2-core machine
ONE_CONNECTION_SECONDS = 5
HTTP_TIMEOUT = 30.0
BREAKDOWN_ITERATIONS = 2000  # calls of each step per run, in BREAKDOWN_CHUNKS turns
BREAKDOWN_CHUNKS = 10
request_log = get_logger("spectral.http")  # the logger of the request hooks

DEPARTMENTS = (
    "Emergency",
    "Radiology",
    "Cardiology",
    "Oncology",
    "Pathology",
    "Primary Care",
    "Revenue Cycle",
    "Nursing",
    "Pharmacy",
    "Population Health",
    "Patient Access",
    "Research",
)
CATEGORIES = tuple(c for c in inventory.CATEGORIES if c != "other")
VENDORS = (
    None,
    "Epic Systems",
    "Oracle Health",
    "Nuance",
    "Aidoc",
    "Viz.ai",
    "Paige",
    "Abridge",
    "Qventus",
    "Olive",
)
MODELS = (
    "Sepsis Watch",
    "Deterioration Index",
    "Chest CT Triage",
    "Stroke Alert",
    "Ambient Notes",
    "Readmission Risk",
    "Prior Auth Assistant",
    "Denial Predictor",
    "No-show Forecast",
    "Slide Triage",
    "Discharge Summary Draft",
    "Staffing Forecast",
)
RISKS = ("low", "medium", "medium", "high", "critical")
STATES = ("CA", "NY", "TX", "FL", "WA", "IL", "MA", "CO", "GA", "PA")


@dataclass(frozen=True)
class Direct:
    """The query run straight through SQLAlchemy Core: a loop on one or more threads."""

    queries_per_second: float
    p50_ms: float
    p99_ms: float
    process_cpu_us_per_query: float  # this Python process (SQLAlchemy, psycopg)
    postgres_cpu_us_per_query: float  # the PostgreSQL backends of this database


@dataclass(frozen=True)
class Tenant:
    organization_id: str
    identity: Identity


def parameters() -> dict[str, int]:
    """The knobs this benchmark reads from the environment, with the values in effect."""
    return {
        "BENCH_GOVERNANCE_SYSTEMS": int(os.environ.get("BENCH_GOVERNANCE_SYSTEMS", "1000")),
        "BENCH_GOVERNANCE_QUERIES": int(os.environ.get("BENCH_GOVERNANCE_QUERIES", "3000")),
        # 2 workers for this 2-core machine; 4 threads each is the `spectral <service> web` default.
        "BENCH_GOVERNANCE_WORKERS": int(os.environ.get("BENCH_GOVERNANCE_WORKERS", "2")),
        "BENCH_GOVERNANCE_THREADS": int(os.environ.get("BENCH_GOVERNANCE_THREADS", "4")),
        "BENCH_GOVERNANCE_CONNECTIONS": int(os.environ.get("BENCH_GOVERNANCE_CONNECTIONS", "32")),
        "BENCH_GOVERNANCE_SECONDS": int(os.environ.get("BENCH_GOVERNANCE_SECONDS", "10")),
    }


# ---- the data, through governance's use cases ----------------------------------------------------


def system_values(number: int, owner: str | None, rng: random.Random) -> dict[str, Any]:
    """A realistic inventory entry, checked by the API's own schema."""
    department = rng.choice(DEPARTMENTS)
    vendor = rng.choice(VENDORS)
    model = rng.choice(MODELS)
    fda = rng.choice(("unknown", "not_a_device", "not_a_device", "exempt", "cleared_510k"))
    body: dict[str, Any] = {
        "name": f"{model} {department} {number:04d}",
        "description": f"{model} for {department.lower()}, rolled out in wave {number % 7 + 1}.",
        "department": department,
        "category": rng.choice(CATEGORIES),
        "uses_phi": rng.random() < 0.7,
        "risk_level": rng.choice(RISKS),
        "status": rng.choice(("testing", "active", "active")),
        "fda_status": fda,
        "serves_states": rng.sample(STATES, rng.randint(0, 3)),
    }
    if fda == "cleared_510k":
        body["fda_submission_number"] = f"K{200000 + number:06d}"
    if vendor is not None:
        body |= {"vendor_name": vendor, "model_name": model, "model_version": f"{number % 5}.1"}
    if rng.random() < 0.5:
        body["clinical_use_case"] = f"Supports {department.lower()} staff with {model.lower()}."
    if owner is not None and rng.random() < 0.5:
        body["owner_user_id"] = owner
    if vendor == "Epic Systems":
        body |= {"provider_type": "epic", "provider_system_id": f"EPIC-{number:05d}"}
    return create_values(AISystemCreate.model_validate(body))


def seed(database: Database, tenant: Tenant, systems: int, owner: str | None, salt: int) -> None:
    """An unlimited plan, then ``systems`` AI systems created one by one, as the API creates them."""
    envelope = Envelope(
        type="billing.entitlements.updated",
        organization_id=uuid.UUID(tenant.organization_id),
        actor=Actor.system("bench"),
        data=capabilities("enterprise", ai_system_limit=None),
    )
    with database.session() as session:
        apply_directory_event(session, envelope)
    rng = random.Random(salt)
    for number in range(systems):
        create_system(
            SimpleNamespace(database=database),  # type: ignore[arg-type]
            tenant.identity,
            system_values(number, owner, rng),
        )


def tenants(credentials: Credentials) -> tuple[Tenant, Tenant]:
    """The registered organization (its admin's identity, from the token) and another one."""
    claims = jwt.decode(credentials.access_token, options={"verify_signature": False})
    if claims.get("org") != credentials.organization_id:
        raise BenchmarkFailed(f"the access token names another organization: {claims!r}")
    user = str(claims["sub"])
    mine = Tenant(
        credentials.organization_id,
        Identity(
            subject_type="user",
            subject_id=user,
            organization_id=credentials.organization_id,
            role="admin",
        ),
    )
    other_org = str(uuid.uuid4())
    other = Tenant(
        other_org,
        Identity(
            subject_type="user",
            subject_id=str(uuid.uuid4()),
            organization_id=other_org,
            role="admin",
        ),
    )
    return mine, other


# ---- the query, straight through SQLAlchemy Core -------------------------------------------------


def page_statement(organization_id: str) -> sa.Select[Any]:
    """The rows of the page for ``?limit=50``, as the list view's own builders select them (the
    statement it runs on SQLite), with its limit + 1."""
    query = AISystemQuery(limit=PAGE)
    return listed(query, organization_id)


@contextlib.contextmanager
def autocommit(database: Database) -> Iterator[sa.Connection]:
    """A pooled connection without a transaction around its statement: the pool's pre-ping,
    then the statement's one round trip (no BEGIN, no ROLLBACK, no ORM session)."""
    with database.engine.connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


def run_direct(
    database: Database,
    statement: sa.Select[Any],
    executions: int,
    threads: int,
    engine: sa.Engine,
    *,
    held: bool = False,
) -> Direct:
    """``executions`` runs of ``statement`` split over ``threads``: each on a pooled connection
    checked out for it, or all on one connection held (no pre-ping); autocommit either way."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    failures: list[BaseException] = []
    start = threading.Barrier(threads + 1)

    def loop(index: int) -> None:
        out = latencies[index]
        try:
            if held:
                with database.engine.connect() as conn:
                    conn.execution_options(isolation_level="AUTOCOMMIT")
                    start.wait()
                    for _ in range(executions // threads):
                        began = time.perf_counter()
                        rows = conn.execute(statement).all()
                        out.append(time.perf_counter() - began)
                        if len(rows) != PAGE + 1:
                            raise BenchmarkFailed(f"direct query: {len(rows)} rows")
                return
            start.wait()
            for _ in range(executions // threads):
                began = time.perf_counter()
                with autocommit(database) as conn:
                    rows = conn.execute(statement).all()
                out.append(time.perf_counter() - began)
                if len(rows) != PAGE + 1:
                    raise BenchmarkFailed(f"direct query: {len(rows)} rows")
        except BaseException as exc:
            failures.append(exc)
            start.abort()

    with contextlib.ExitStack() as stack:  # open the pool's connections for every thread
        for conn in [stack.enter_context(database.engine.connect()) for _ in range(threads)]:
            for _ in range(20):  # and warm the statement caches
                conn.execute(statement).all()
    workers = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    backends = postgres_backends(engine)
    tick = os.sysconf("SC_CLK_TCK")
    with contextlib.suppress(threading.BrokenBarrierError):  # a thread failed: reported below
        start.wait()
    postgres_before, process_before = cpu_ticks(backends), _process_cpu()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    postgres_after, process_after = cpu_ticks(backends), _process_cpu()
    if failures:
        raise BenchmarkFailed(f"direct query failed: {failures[0]!r}")
    every = [value for values in latencies for value in values]
    count = len(every)
    return Direct(
        count / elapsed,
        percentile(every, 0.5) * 1000,
        percentile(every, 0.99) * 1000,
        (process_after - process_before) * 1_000_000 / count,
        (postgres_after - postgres_before) / tick * 1_000_000 / count,
    )


def _process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---- the answer, checked -------------------------------------------------------------------------


def check_page(server: Server, token: str, database: Database, statement: sa.Select[Any]) -> None:
    """The page lists exactly the query's first 50 ids, and its cursor leads to the 51st."""
    with database.engine.connect() as conn:
        expected = [str(row.id) for row in conn.execute(statement)]
    headers = {"Authorization": f"Bearer {token}"}
    with requests.Session() as http:
        body = expect(
            http.get(server.base_url + PATH, headers=headers, timeout=HTTP_TIMEOUT),
            200,
            "the list",
        )
        data, cursor = body.get("data"), body.get("next_cursor")
        if not isinstance(data, list) or len(data) != PAGE or not isinstance(cursor, str):
            raise BenchmarkFailed(
                f"the list: expected {PAGE} systems and a next_cursor, got "
                f"{len(data) if isinstance(data, list) else data!r} and {cursor!r}"
            )
        if [system["id"] for system in data] != expected[:PAGE]:
            raise BenchmarkFailed("the list: not the query's first page (tenant or order)")
        following = expect(
            http.get(
                server.base_url + PATH,
                params={"cursor": cursor},
                headers=headers,
                timeout=HTTP_TIMEOUT,
            ),
            200,
            "the next page",
        )
        second = following.get("data")
        if not isinstance(second, list) or not second or second[0]["id"] != expected[PAGE]:
            raise BenchmarkFailed("the next page does not start with the query's 51st system")


# ---- where one request's time goes, in-process --------------------------------------------------


def breakdown(
    context: BenchContext, auth: Server, token: str, organization_id: str
) -> dict[str, list[float]]:
    """Microseconds per call of each step of the list request, median-ready lists per step."""
    settings = context.settings.model_copy(
        update={"base_url": auth.base_url, "auth_internal_url": auth.base_url}
    )
    runtime = Runtime(installed_components()["governance"], settings)
    try:
        database = runtime.database
        app = runtime.app()
        client = app.test_client()
        bearer = {"Authorization": f"Bearer {token}"}
        endpoint, _ = app.url_map.bind("localhost").match(PATH.split("?")[0], "GET")
        view = app.view_functions[endpoint]
        statement = page_statement(organization_id)
        with autocommit(database) as conn:
            rows = conn.execute(statement).all()
        query = AISystemQuery(limit=PAGE)

        def app_get(path: str, headers: dict[str, str]) -> Callable[[], None]:
            def call() -> None:
                response = client.get(path, headers=headers)
                if response.status_code != 200:
                    raise BenchmarkFailed(f"in-process {path}: HTTP {response.status_code}")

            return call

        def view_alone() -> None:  # the view function, without WSGI, request hooks or routing
            with app.test_request_context(PATH, headers=bearer):
                view()

        def rows_query() -> None:
            with autocommit(database) as conn:
                conn.execute(statement).all()

        def python_page() -> None:
            page = [system_out(row) for row in rows[:PAGE]]
            cursor = keyset(query.sort).cursor_after(page[-1])
            orjson_response({"data": page, "next_cursor": cursor})

        def select_one() -> None:
            with autocommit(database) as conn:
                conn.execute(sa.text("SELECT 1")).all()

        steps: dict[str, Callable[[], object]] = {
            "livez": app_get("/livez", {}),
            "app_list": app_get(PATH, bearer),
            "view": view_alone,
            "verify": lambda: runtime.verifier.verify(token),
            "rows_query": rows_query,
            "python_page": python_page,
            "select_one": select_one,
            "log_line": lambda: request_log.info(
                "http.request", method="GET", route=PATH, status=200, duration_ms=1.0
            ),
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


def run(context: BenchContext) -> list[Result]:
    knobs = parameters()
    load = generator()
    prefix = f"spectral-bench-{uuid.uuid4().hex[:10]}"
    workers, threads = knobs["BENCH_GOVERNANCE_WORKERS"], knobs["BENCH_GOVERNANCE_THREADS"]
    connections, seconds = knobs["BENCH_GOVERNANCE_CONNECTIONS"], knobs["BENCH_GOVERNANCE_SECONDS"]
    queries = knobs["BENCH_GOVERNANCE_QUERIES"]
    settings = context.settings
    governance = context.runtime("governance")
    database = governance.database
    engine = context.engine()
    runs: dict[str, list[Any]] = {
        key: [] for key in ("livez", "list", "list_1", "direct_1", "direct_2", "held")
    }
    try:
        with service_web(settings, "auth", workers, threads, prefix) as auth:
            credentials = make_credentials(auth, context.runtime("auth"))
            mine, other = tenants(credentials)
            started = time.monotonic()
            systems = knobs["BENCH_GOVERNANCE_SYSTEMS"]
            seed(database, mine, systems, mine.identity.subject_id, salt=1)
            seed(database, other, systems, None, salt=2)
            print(
                f"  seeded 2 x {systems} AI systems in {time.monotonic() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            statement = page_statement(mine.organization_id)
            # Governance trusts auth's tokens: the same issuer, and auth's JWKS for the keys.
            trust = {"BASE_URL": auth.base_url, "AUTH_INTERNAL_URL": auth.base_url}
            with service_web(settings, "governance", workers, threads, prefix, trust) as server:
                token = credentials.access_token
                check_page(server, token, database, statement)
                livez = Target("livez", "/livez", "/livez")
                page = Target("list", "the list", PATH, token)
                for number in range(1, context.repeats + 1):
                    runs["livez"].append(measure(server, livez, load, seconds, connections, engine))
                    runs["list"].append(measure(server, page, load, seconds, connections, engine))
                    runs["list_1"].append(
                        measure(server, page, load, ONE_CONNECTION_SECONDS, 1, engine)
                    )
                    runs["direct_1"].append(run_direct(database, statement, queries, 1, engine))
                    runs["direct_2"].append(run_direct(database, statement, queries, 2, engine))
                    runs["held"].append(
                        run_direct(database, statement, queries, 1, engine, held=True)
                    )
                    print(
                        f"  round {number}/{context.repeats}: livez "
                        f"{runs['livez'][-1].requests_per_second:,.0f}/s, list "
                        f"{runs['list'][-1].requests_per_second:,.0f}/s "
                        f"(p99 {runs['list'][-1].p99_ms:.1f} ms), direct "
                        f"{runs['direct_1'][-1].queries_per_second:,.0f}/s on 1 thread, "
                        f"{runs['direct_2'][-1].queries_per_second:,.0f}/s on 2",
                        file=sys.stderr,
                        flush=True,
                    )
                check_page(server, token, database, statement)
            # The governance server stopped: the steps run alone (auth still serves the JWKS).
            steps = breakdown(context, auth, token, mine.organization_id)
    finally:
        delete_redis_keys(prefix)
    return report(runs, steps, load, knobs)


def report(
    runs: dict[str, list[Any]],
    steps: dict[str, list[float]],
    load: Callable[[str, dict[str, str], int, int], str],
    knobs: dict[str, int],
) -> list[Result]:
    workers, threads = knobs["BENCH_GOVERNANCE_WORKERS"], knobs["BENCH_GOVERNANCE_THREADS"]
    connections, seconds = knobs["BENCH_GOVERNANCE_CONNECTIONS"], knobs["BENCH_GOVERNANCE_SECONDS"]
    queries = knobs["BENCH_GOVERNANCE_QUERIES"]

    def each(key: str, attribute: str) -> list[float]:
        return [float(getattr(run, attribute)) for run in runs[key]]

    def median(key: str, attribute: str) -> float:
        return statistics.median(each(key, attribute))

    tool = (
        f"wrk -t2 -c{connections} -d{seconds}s"
        if load is wrk
        else f"Python load generator, {connections} threads, {seconds} s (wrk was not found)"
    )
    shape = f"{workers} gunicorn gthread workers x {threads} threads ({os.cpu_count()} cores)"
    direct = "the page's rows query straight through SQLAlchemy Core"
    per_query = f"{queries} queries, a pooled connection each in autocommit (pre-ping, SELECT)"

    def loads(key: str) -> list[Load]:
        return list(runs[key])

    def machine(key: str) -> str:
        shares = ", ".join(f"{run.least_worker_share:.0%}" for run in loads(key))
        errors = sum(run.socket_errors for run in loads(key))
        note = (
            f"machine {median(key, 'machine_busy'):.0%} busy, load generator "
            f"{median(key, 'generator_cpu'):.2f} cores, least-busy worker's share of the "
            f"workers' CPU {shares}"
        )
        return note + (f", {errors} socket errors" if errors else "")

    def cpu_total(key: str) -> list[float]:
        return [
            run.server_cpu_us_per_request + run.postgres_cpu_us_per_request for run in loads(key)
        ]

    def cpu_split(key: str) -> str:
        return (
            f"gunicorn workers {format_number(median(key, 'server_cpu_us_per_request'))}, "
            f"PostgreSQL {format_number(median(key, 'postgres_cpu_us_per_request'))}"
        )

    def direct_total(key: str) -> list[float]:
        return [run.process_cpu_us_per_query + run.postgres_cpu_us_per_query for run in runs[key]]

    rate = median("list", "requests_per_second")
    p99 = median("list", "p99_ms")
    rate_goal = f"goal ≥ {GOAL_RATE:,.0f} req/s: {'met' if rate >= GOAL_RATE else 'MISSED'}"
    p99_goal = f"goal p99 < {GOAL_P99_MS:g} ms: {'met' if p99 < GOAL_P99_MS else 'MISSED'}"
    cost = statistics.median(cpu_total("list")) / statistics.median(cpu_total("livez"))
    bound = "; CPU-bound" if median("list", "machine_busy") >= 0.9 else ""
    results = [
        median_result(
            "List, a page of 50 of 1,000: throughput",
            each("list", "requests_per_second"),
            "requests/s",
            f"{direct}, 2 threads in one process",
            each("direct_2", "queries_per_second"),
            f"{rate_goal}; {p99_goal}; {tool}; {shape}{bound}; {machine('list')}; baseline: "
            f"{per_query}",
        ),
        median_result(
            "List: throughput against the request hooks alone",
            each("list", "requests_per_second"),
            "requests/s",
            "/livez on the same server",
            each("livez", "requests_per_second"),
            f"a list request costs {cost:.1f}x the CPU of a /livez (CPU row below); {tool}; "
            f"livez: {machine('livez')}",
        ),
        median_result(
            "List: latency p50",
            each("list", "p50_ms"),
            "ms",
            f"{direct}, one thread, p50",
            each("direct_1", "p50_ms"),
            f"{tool}; closed loop, {connections} connections (livez p50 "
            f"{format_number(median('livez', 'p50_ms'))} ms); baseline: {per_query}",
        ),
        median_result(
            "List: latency p99",
            each("list", "p99_ms"),
            "ms",
            f"{direct}, one thread, p99",
            each("direct_1", "p99_ms"),
            f"{p99_goal}; {tool}; closed loop, {connections} connections (livez p99 "
            f"{format_number(median('livez', 'p99_ms'))} ms); baseline: {per_query}",
        ),
        median_result(
            "List, one connection: latency p50",
            each("list_1", "p50_ms"),
            "ms",
            f"{direct}, one thread, p50",
            each("direct_1", "p50_ms"),
            f"a request when nothing queues; wrk -c1 -d{ONE_CONNECTION_SECONDS}s "
            f"({format_number(median('list_1', 'requests_per_second'))} requests/s, p99 "
            f"{format_number(median('list_1', 'p99_ms'))} ms)",
        ),
        median_result(
            "List: CPU per request (server and its PostgreSQL backends)",
            cpu_total("list"),
            "µs",
            "/livez on the same server",
            cpu_total("livez"),
            f"user + system time during the measurement / requests; {cpu_split('list')} µs "
            f"(livez: {cpu_split('livez')} µs)",
        ),
        median_result(
            "The query alone: CPU per query (this process and PostgreSQL)",
            direct_total("direct_1"),
            "µs",
            "the list through the server",
            cpu_total("list"),
            f"{per_query}, one thread; this process "
            f"{format_number(median('direct_1', 'process_cpu_us_per_query'))}, PostgreSQL "
            f"{format_number(median('direct_1', 'postgres_cpu_us_per_query'))} µs",
        ),
        median_result(
            "The query alone, one thread: throughput",
            each("direct_1", "queries_per_second"),
            "queries/s",
            "the same on one held connection in autocommit (one round trip)",
            each("held", "queries_per_second"),
            f"{per_query}; p99 {format_number(median('direct_1', 'p99_ms'))} ms vs "
            f"{format_number(median('held', 'p99_ms'))} ms; two threads: "
            f"{format_number(median('direct_2', 'queries_per_second'))} queries/s, p99 "
            f"{format_number(median('direct_2', 'p99_ms'))} ms",
        ),
    ]

    rows = [
        (
            "app_list",
            "Whole request in-process: the list, a page of 50",
            "wall time, waits for PostgreSQL included",
        ),
        (
            "view",
            "The list view alone (its function in a request context)",
            "authentication, query parameters, the database, the body; no WSGI, routing or "
            "request hooks",
        ),
        (
            "verify",
            "Step: verify the access token (TokenVerifier.verify)",
            "keys from auth's JWKS; the same token every call, as a client sends it",
        ),
        (
            "rows_query",
            "Step: the rows query of the baseline (51 rows of 26 columns, SQLAlchemy Core)",
            "a pooled connection in autocommit: pre-ping, SELECT; rows decoded to Python",
        ),
        (
            "python_page",
            "Step: 50 fetched rows to the response (system_out, the next cursor, orjson_response)",
            "the view module's own functions for the body",
        ),
        (
            "log_line",
            "Step: the request's log line, dropped at LOG_LEVEL=warning",
            "structlog runs its processors before the level drops it; /livez skips the line",
        ),
        (
            "select_one",
            "Reference: SELECT 1 on a pooled connection in autocommit (the round trips alone)",
            "pre-ping, SELECT 1",
        ),
    ]
    return [*results, *step_results(rows, steps, BREAKDOWN_ITERATIONS)]
