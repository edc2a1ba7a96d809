"""Telemetry from `POST /api/v1/telemetry/events` to stored violations, on the split topology as
deployed: `spectral governance web` (gunicorn gthread, 2 workers x 4 threads), `spectral governance
relay` and `spectral governance worker`, each its own process, on this run's PostgreSQL database
and RabbitMQ namespace (audit's queue, bound to every event as deployed, is declared but not
consumed, so every publish is routed). Auth runs beside them only to hand out an admin's access
token (register, verify the e-mail, log in); governance verifies it offline. The organization
(state CA, unlimited plan, its admin on file for alert e-mail) gets `BENCH_TELEMETRY_SYSTEMS` AI
systems through governance's own `create_system`: a fifth imaging (diagnostic imaging, high risk,
FDA-cleared), the others in departments that are not high-risk in California; 70% use PHI.

The load is client threads in this process posting batches of 1,000 events, encoded before the
clock starts, each event with its own `event_id`. Every batch holds 20 violating events (2%): 10
PHI exposures (critical; a note with a name, an MRN, a date of birth and a phone number, redacted
before storage) on PHI systems and 10 drift events with an accuracy drop of 0.12 (the threshold is
0.10) on any system, so violations, required actions, alerts, e-mails and their outbox events are
really made. The other 980 are benign: 60% model drift (drift score 0.01-0.25, accuracy drop under
0.045) on the systems outside California's SB 1047 gate (where the reference would have made any
drift event a state-law violation; ours no longer does), 40% latency (80-900 ms, up to 14% slower) on any system. What
each violating event must make is worked out beforehand with the engine's own `normalize` and
`translate`.

*Saturation*: `BENCH_TELEMETRY_CLIENTS` threads post batches back to back for
`BENCH_TELEMETRY_SECONDS`. Accepted is the events in 202s over the time from the first request to
the last 202; translated, the events whose `translated_at` falls in that window; end to end, all of
them over the time from the first request until PostgreSQL holds no untranslated event. *Paced*:
batches sent on a fixed schedule at `BENCH_TELEMETRY_RATE` events/s (the goal, 5,000/s) for as
long, by enough threads that none waits for a free one. *Steady*: the same at half the end-to-end
rate of that round's saturation run: the lag when nothing queues. *Lag*: from the client holding
the 202 to the event's violations being visible in PostgreSQL; a thread in this process asks every
50 ms whether the violating event it has waited for longest is translated (its violations, new
rows or one more occurrence of the system's open violation of the control, are committed with its
`translated_at`), if so which of the 200 oldest are, and every second which of all
(`translated_at` holds when the translation began, so it gives a lower bound, in the notes).
*Kill*: in one more run paced at the goal, the worker is SIGKILLed halfway and started again 2 s
later. One violation is open per (system, control): a violating event whose control is already
open adds an occurrence to it and plans no actions, so after the first runs nearly every one is a
repeat. After every run each accepted event (by the id of its 202 result) must be translated,
each violating event must have made exactly the violations foreseen (one `violation.detected` or
`violation.recurred` per control in the outbox) and no benign one any, the violations'
occurrences must have grown by as many, each violation opened must be a violating event's with
exactly the actions foreseen, and the translation's alerts' occurrences must have grown by the
number of violating events, or the benchmark fails: nothing lost, nothing done twice. Each run starts with nothing untranslated and an empty outbox, and ends once the relay has
published every outbox row it made (the violations', actions' and alerts' events too); the worker's
action executor (every 60 s, as deployed) carries out the automated actions and records what it did
whenever it comes round, in whichever run that falls.

The baseline, after each saturation run: the rows that run stored (every column as intake wrote it:
normalized, redacted, encrypted, untranslated), read back, then inserted again into a scratch copy
of `governance.telemetry_events` (`LIKE .. INCLUDING ALL`: the same columns and indexes, no foreign
key) with psycopg `executemany` of a plain `INSERT .. VALUES` (pipelined), 1,000 rows per
transaction, on two connections at once (one per core); COPY of the same rows is in the notes. CPU
is read from /proc per process (the gunicorn workers, relay, worker, the PostgreSQL backends of
this database but for this process's own polling, this process) from the first request until the
outbox is published."""

from __future__ import annotations

import contextlib
import math
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import psycopg
import requests
from bench_authorize import machine_ticks, make_credentials, postgres_backends, service_web
from bench_governance import Tenant, tenants
from harness import (
    BenchContext,
    BenchmarkFailed,
    Result,
    deployed_env,
    format_number,
    median_result,
    percentile,
)
from kombu import Connection
from sqlalchemy import select

from spectral_governance.directory.use_cases import apply_directory_event
from spectral_governance.engine.customization import disabled_controls, effective_limits
from spectral_governance.engine.normalizer import normalize
from spectral_governance.engine.translate import translate
from spectral_governance.inventory.models import AISystem
from spectral_governance.inventory.queries import facts_of
from spectral_governance.inventory.schemas import AISystemCreate, create_values
from spectral_governance.inventory.use_cases import create_system
from spectral_governance.violations.events import VIOLATION_DETECTED, VIOLATION_RECURRED
from spectral_shared.bus import Actor, Envelope
from spectral_shared.component import Runtime
from spectral_shared.config import Settings
from spectral_shared.db import Database
from spectral_shared.testing.billing import capabilities

TITLE = "Telemetry: from POST /api/v1/telemetry/events to stored violations, split topology"
COMPONENTS = ("auth", "governance")

GOAL_RATE = 5000.0  # issue 7: at least 5,000 events/s accepted and translated ...
GOAL_P99_S = 5.0  # ... with the p99 lag from 202 to violation stored under 5 s
BATCH = 1000
PHI_PER_BATCH = 10  # 1% PHI exposures ...
DRIFT_PER_BATCH = 10  # ... and 1% drift above the threshold: 2% violating
BENIGN_DRIFT_SHARE = 0.6  # of the benign events; the others are latency
STATE = "CA"
POLL_SECONDS = 0.05  # the lag poller's period: the lag's resolution
OLDEST = 200  # violating events the poller asks about each time (10 batches' worth) ...
SWEEP_EVERY = 20  # ... and every this many polls, about all that are pending
DRAIN_POLL = 0.1  # how often the end of translation and of publishing is looked for
DRAIN_TIMEOUT = 900.0
START_TIMEOUT = 60.0
HTTP_TIMEOUT = 120.0
RESTART_AFTER = 2.0  # seconds between the worker's SIGKILL and its restart
# The processes of the pipeline; "clients" (this process: the load's HTTP and the checks) and
# "lag polling" and "drain polling" (the PostgreSQL backends of its queries) are not.
PIPELINE = ("web", "worker", "relay", "postgres")
SATURATION_HEADROOM = 12_000  # events/s the saturation run's pre-encoded bodies can feed

PHI_NOTE = (
    "Discharge summary draft for Patient: Maria Lopez, MRN: 20481133, DOB: 04/12/1961, "
    "call back at (555) 201-8899 about the follow-up."
)


def parameters() -> dict[str, int]:
    """The knobs this benchmark reads from the environment, with the values in effect."""
    return {
        "BENCH_TELEMETRY_SECONDS": int(os.environ.get("BENCH_TELEMETRY_SECONDS", "20")),
        "BENCH_TELEMETRY_CLIENTS": int(os.environ.get("BENCH_TELEMETRY_CLIENTS", "4")),
        "BENCH_TELEMETRY_RATE": int(os.environ.get("BENCH_TELEMETRY_RATE", str(int(GOAL_RATE)))),
        "BENCH_TELEMETRY_SYSTEMS": int(os.environ.get("BENCH_TELEMETRY_SYSTEMS", "50")),
        # 2 workers for this 2-core machine; 4 threads each is the `spectral <service> web` default.
        "BENCH_TELEMETRY_WORKERS": int(os.environ.get("BENCH_TELEMETRY_WORKERS", "2")),
        "BENCH_TELEMETRY_THREADS": int(os.environ.get("BENCH_TELEMETRY_THREADS", "4")),
        # One `spectral governance worker`, as deployed; more to see whether translation scales.
        "BENCH_TELEMETRY_WORKER_PROCESSES": int(
            os.environ.get("BENCH_TELEMETRY_WORKER_PROCESSES", "1")
        ),
    }


# ---- the organization and its systems, through governance's use cases ---------------------------


@dataclass(frozen=True)
class System:
    id: str
    uses_phi: bool
    gated: bool  # California's SB 1047 gate holds: any drift event is a state-law violation


@dataclass(frozen=True)
class Foreseen:
    """What the engine makes of one violating event on one system: the controls it raises, each
    with the actions a new violation of it plans. One violation is open per (system, control): an
    event whose control is already open adds an occurrence to it and plans no actions."""

    controls: tuple[tuple[str, int], ...]  # (control id, actions planned when it opens)

    @property
    def violations(self) -> int:
        return len(self.controls)


DEPARTMENTS = ("Primary Care", "Revenue Cycle", "Nursing", "Pharmacy", "Population Health")
CATEGORIES = (
    "clinical_documentation",
    "revenue_cycle",
    "operations",
    "patient_engagement",
    "population_health",
)


def system_body(number: int) -> dict[str, Any]:
    if number % 5 == 0:
        return {
            "name": f"Chest CT Triage {number:03d}",
            "department": "Imaging",
            "category": "diagnostic_imaging",
            "uses_phi": True,
            "risk_level": "high",
            "status": "active",
            "fda_status": "cleared_510k",
            "fda_submission_number": f"K{240000 + number:06d}",
            "vendor_name": "Aidoc",
            "model_name": "Chest CT Triage",
            "model_version": "3.2",
        }
    return {
        "name": f"Assistant {DEPARTMENTS[number % len(DEPARTMENTS)]} {number:03d}",
        "department": DEPARTMENTS[number % len(DEPARTMENTS)],
        "category": CATEGORIES[number % len(CATEGORIES)],
        "uses_phi": number % 10 not in (1, 3, 7),
        "risk_level": ("low", "medium")[number % 2],
        "status": "active",
        "fda_status": "not_a_device",
        "serves_states": [STATE],
    }


def seed(database: Database, tenant: Tenant, count: int) -> None:
    """The directory events governance would get from auth and billing (the state, the admin's
    e-mail, an unlimited plan), then ``count`` systems created one by one, as the API does."""
    org = uuid.UUID(tenant.organization_id)
    user = tenant.identity.subject_id
    envelopes = [
        Envelope(
            type="billing.entitlements.updated",
            organization_id=org,
            actor=Actor.system("bench"),
            data=capabilities("enterprise", ai_system_limit=None),
        ),
        Envelope(
            type="auth.organization.updated",
            organization_id=org,
            actor=Actor.user(user),
            data={
                "organization_id": str(org),
                "changes": {"state": {"from": None, "to": STATE}},
            },
        ),
        Envelope(
            type="auth.user.registered",
            organization_id=org,
            actor=Actor.user(user),
            data={
                "user_id": user,
                "email": "bea.bench@bench.example",
                "name": "Bea Bench",
                "role": "admin",
            },
        ),
    ]
    for envelope in envelopes:
        with database.session() as session:
            apply_directory_event(session, envelope)
    for number in range(count):
        values = create_values(AISystemCreate.model_validate(system_body(number)))
        create_system(
            SimpleNamespace(database=database),  # type: ignore[arg-type]
            tenant.identity,
            values,
        )


# ---- the events ------------------------------------------------------------------------------------


def phi_event(system: str) -> dict[str, Any]:
    return {
        "ai_system_id": system,
        "event_type": "phi_exposure",
        "source": "langsmith",
        "severity": "critical",
        "metric": "phi_count",
        "metric_value": 4,
        "payload": {
            "output_text": PHI_NOTE,
            "phi_patterns": ["name", "mrn", "dob", "phone"],
            "phi_count": 4,
            "confidence_score": 0.97,
        },
    }


def drift_violation(system: str) -> dict[str, Any]:
    return {
        "ai_system_id": system,
        "event_type": "model_drift",
        "source": "arize",
        "metric": "accuracy",
        "metric_value": 0.79,
        "threshold": 0.85,
        "payload": {
            "accuracy_drop": 0.12,
            "baseline_accuracy": 0.91,
            "current_accuracy": 0.79,
            "sample_size": 5000,
        },
    }


def benign_drift(system: str, rng: random.Random) -> dict[str, Any]:
    score = round(rng.uniform(0.01, 0.25), 3)
    return {
        "ai_system_id": system,
        "event_type": "model_drift",
        "source": "arize",
        "metric": "psi",
        "metric_value": score,
        "threshold": 0.3,
        "payload": {
            "drift_score": score,
            "accuracy_drop": round(rng.uniform(0.0, 0.045), 4),
            "feature": rng.choice(("age_bucket", "payer", "site", "modality")),
            "window": "1h",
            "note": "scheduled drift check",
        },
    }


def benign_latency(system: str, rng: random.Random) -> dict[str, Any]:
    latency = rng.randint(80, 900)
    return {
        "ai_system_id": system,
        "event_type": "latency",
        "source": "langsmith",
        "metric": "p95_latency_ms",
        "metric_value": latency,
        "threshold": 1000,
        "payload": {
            "latency": latency,
            "latency_increase": round(rng.uniform(0.0, 0.14), 3),
            "p99_latency": latency * 2,
            "endpoint": "/v1/predict",
        },
    }


def engine_view(
    event: dict[str, Any], system: AISystem, state: str
) -> tuple[tuple[tuple[str, int], ...], bool]:
    """The controls raised, each with its planned actions, and whether an alert is raised, as
    ``translate_events`` decides."""
    normalized = normalize(
        event["event_type"],
        metric=event.get("metric"),
        metric_value=event.get("metric_value"),
        severity=event.get("severity"),
        payload=event.get("payload"),
    )
    now = datetime.now(UTC)
    translation = translate(
        normalized,
        facts_of(system, state),
        limits=effective_limits(
            [], event_type=normalized.event_type, ai_system_id=system.id, now=now
        ),
        disabled=disabled_controls([], ai_system_id=system.id),
        on=now.date(),
        discovered=now,  # as the worker: the obligations, which name the actions' deadlines
    )
    alert = bool(translation.findings) or normalized.severity in ("critical", "high")
    controls = tuple((f.violation.control_id, len(f.actions)) for f in translation.findings)
    return controls, alert


def foresee(database: Database, organization_id: str) -> tuple[list[System], dict[Any, Foreseen]]:
    """The systems, and per (kind, system) what a violating event makes; the benign events'
    extremes must make nothing (no violation, no alert), or the mix is not what it says."""
    with database.session() as session:
        rows = list(session.scalars(select_systems(organization_id)).all())
        session.expunge_all()
    systems: list[System] = []
    foreseen: dict[Any, Foreseen] = {}
    rng = random.Random(0)
    for row in rows:
        gated = bool(engine_view(benign_drift(row.id, rng), row, STATE)[0])
        systems.append(System(row.id, bool(row.uses_phi), gated))
        extremes = [
            benign_latency(row.id, rng)
            | {"metric_value": 900, "payload": {"latency": 900, "latency_increase": 0.14}},
        ]
        if not gated:
            extremes.append(
                benign_drift(row.id, rng)
                | {"metric_value": 0.25, "payload": {"drift_score": 0.25, "accuracy_drop": 0.045}}
            )
        for event in extremes:
            if engine_view(event, row, STATE) != ((), False):
                raise BenchmarkFailed(f"a benign event would violate: {event!r}")
        for kind, make in (("phi", phi_event), ("drift", drift_violation)):
            controls, alert = engine_view(make(row.id), row, STATE)
            if not controls or not alert:
                raise BenchmarkFailed(f"a {kind} event would make no violation on {row.name}")
            foreseen[kind, row.id] = Foreseen(controls)
    if not any(s.uses_phi for s in systems) or all(s.gated for s in systems):
        raise BenchmarkFailed("the systems leave no room for the mix")
    return systems, foreseen


def select_systems(organization_id: str) -> Any:
    return (
        select(AISystem)
        .where(AISystem.organization_id == organization_id)
        .order_by(AISystem.created_at, AISystem.id)
    )


@dataclass(frozen=True)
class Batch:
    number: int
    body: bytes
    violating: tuple[tuple[int, str, str], ...]  # (index, kind, system id)


def make_batches(count: int, tag: str, systems: list[System], seed_value: int) -> list[Batch]:
    rng = random.Random(seed_value)
    phi_systems = [s.id for s in systems if s.uses_phi]
    drift_systems = [s.id for s in systems if not s.gated]
    every = [s.id for s in systems]
    occurred = datetime.now(UTC).isoformat()
    batches = []
    for number in range(count):
        positions = rng.sample(range(BATCH), PHI_PER_BATCH + DRIFT_PER_BATCH)
        kinds = dict.fromkeys(positions[:PHI_PER_BATCH], "phi") | dict.fromkeys(
            positions[PHI_PER_BATCH:], "drift"
        )
        events = []
        violating = []
        for index in range(BATCH):
            kind = kinds.get(index)
            if kind == "phi":
                event = phi_event(rng.choice(phi_systems))
            elif kind == "drift":
                event = drift_violation(rng.choice(every))
            elif rng.random() < BENIGN_DRIFT_SHARE:
                event = benign_drift(rng.choice(drift_systems), rng)
            else:
                event = benign_latency(rng.choice(every), rng)
            event["event_id"] = f"{tag}-{number:05d}-{index:03d}"
            event["occurred_at"] = occurred
            if kind is not None:
                violating.append((index, kind, event["ai_system_id"]))
            events.append(event)
        batches.append(Batch(number, orjson.dumps({"events": events}), tuple(violating)))
    return batches


# ---- processes -------------------------------------------------------------------------------------


@dataclass
class Process:
    """``spectral <service> <target>`` in its own process, as deployed (governance unless told)."""

    target: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    service: str = "governance"

    def start(self) -> None:
        self.starts += 1
        command = [sys.executable, "-m", "spectral_shared.cli", self.service, self.target]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def wait_for_consumers(broker_url: str, queue: str, workers: list[Process]) -> None:
    """Until RabbitMQ counts every worker as a consumer of the queue."""
    deadline = time.monotonic() + START_TIMEOUT
    with Connection(broker_url, connect_timeout=5) as conn, conn.channel() as channel:
        while True:
            with contextlib.suppress(Exception):  # not declared yet
                if channel.queue_declare(queue, passive=True).consumer_count >= len(workers):
                    return
            dead = [w for w in workers if not w.alive()]
            if dead or time.monotonic() > deadline:
                tail = (dead or workers)[0].log_tail()
                raise BenchmarkFailed(f"the workers are not consuming {queue}: {tail}")
            time.sleep(0.05)  # a process starting, bounded by the deadline


def queue_depth(broker_url: str, queue: str) -> int:
    with Connection(broker_url, connect_timeout=5) as conn, conn.channel() as channel:
        return int(channel.queue_declare(queue, passive=True).message_count)


def ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuClock:
    """CPU seconds per process group between ``start`` and ``stop``."""

    groups: dict[str, Callable[[], list[int]]]
    before: dict[str, dict[int, int]] = field(default_factory=dict)
    own_before: float = 0.0
    busy_before: tuple[int, int] = (0, 0)

    def start(self) -> None:
        self.before = {name: {p: ticks(p) for p in pids()} for name, pids in self.groups.items()}
        self.own_before = own_cpu()
        self.busy_before = machine_ticks()

    def stop(self) -> tuple[dict[str, float], float]:
        tick = os.sysconf("SC_CLK_TCK")
        seconds: dict[str, float] = {}
        for name, pids in self.groups.items():
            before = self.before[name]
            now = {p: ticks(p) for p in {*pids(), *before}}
            seconds[name] = sum(t - before.get(p, 0) for p, t in now.items() if t) / tick
        seconds["clients"] = own_cpu() - self.own_before
        busy, total = machine_ticks()
        share = (busy - self.busy_before[0]) / max(1, total - self.busy_before[1])
        return seconds, share


# ---- PostgreSQL, plainly ----------------------------------------------------------------------------


def pg_url(context: BenchContext) -> str:
    url = context.engine().url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def untranslated(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM governance.telemetry_events WHERE translated_at IS NULL"
    ).fetchone()
    return int(row[0]) if row else 0


def any_untranslated(conn: psycopg.Connection[Any]) -> bool:
    """Whether an event waits for translation: one probe of the partial index, cheap enough to
    ask often (a count would read the whole backlog each time)."""
    return (
        conn.execute(
            "SELECT 1 FROM governance.telemetry_events WHERE translated_at IS NULL LIMIT 1"
        ).fetchone()
        is not None
    )


def any_unpublished(conn: psycopg.Connection[Any]) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM governance.outbox WHERE published_at IS NULL LIMIT 1"
        ).fetchone()
        is not None
    )


def outbox_rows(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM governance.outbox").fetchone()
    return int(row[0]) if row else 0


def alert_occurrences(conn: psycopg.Connection[Any]) -> int:
    """Of the translation's alerts (they name their event; the action executor's escalation
    digests, raised whenever its 60 s round falls, name none)."""
    row = conn.execute(
        "SELECT coalesce(sum(occurrences), 0) FROM governance.alerts "
        "WHERE telemetry_event_id IS NOT NULL"
    ).fetchone()
    return int(row[0]) if row else 0


def violation_occurrences(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(sum(occurrences), 0) FROM governance.violations").fetchone()
    return int(row[0]) if row else 0


def outbox_seq(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(max(seq), 0) FROM governance.outbox").fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Before:
    """What a run's check counts from."""

    alert_occurrences: int
    violation_occurrences: int
    outbox_seq: int


class LagPoller(threading.Thread):
    """Asks PostgreSQL every ``POLL_SECONDS`` whether the violating event it has waited for
    longest has its violations stored, and if so which of the ``OLDEST`` have (once a second,
    which of all); the lag of one is the query's start (its snapshot) minus the time the client
    held the event's 202. Batches are translated in the order they came, up to 8 (160 violating
    events) per transaction, so the oldest are the ones to ask about.

    An event's violations are new rows or, when its control is already open on the system, one
    more occurrence of the open row (which keeps its first event's id); both are committed in
    the transaction that sets the event's ``translated_at``, so that is what is asked about. What
    each event made is checked after the run (``Pipeline._check``)."""

    def __init__(self, url: str) -> None:
        super().__init__(name="lag-poller", daemon=True)
        self.url = url
        self.pending: dict[str, float] = {}
        self.lags: list[float] = []
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.ready = threading.Event()
        self.backend_pid = 0
        self.error: BaseException | None = None

    def add(self, answered: float, ids: list[str]) -> None:
        with self.lock:
            for event_id in ids:
                self.pending[event_id] = answered

    def waiting(self) -> int:
        with self.lock:
            return len(self.pending)

    def _ask(self, conn: psycopg.Connection[Any], oldest: int | None) -> bool:
        """Which of the oldest pending (all: None) have violations; whether any had."""
        with self.lock:
            ids = list(self.pending if oldest is None else islice(self.pending, oldest))
        if not ids:
            return False
        issued = time.time()
        found = conn.execute(
            "SELECT id FROM governance.telemetry_events "
            "WHERE id = ANY(%s) AND translated_at IS NOT NULL",
            (ids,),
        ).fetchall()
        with self.lock:
            for (event_id,) in found:
                answered = self.pending.pop(event_id, None)
                if answered is not None:
                    self.lags.append(issued - answered)
        return bool(found)

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                self.backend_pid = conn.info.backend_pid
                self.ready.set()
                polls = 0
                while not self.halt.is_set():
                    polls += 1
                    # Everything once a second; otherwise the oldest, and if it is done, the
                    # oldest OLDEST: the worker translates in order, a transaction at a time.
                    if polls % SWEEP_EVERY == 0:
                        self._ask(conn, None)
                    elif self._ask(conn, 1):
                        self._ask(conn, OLDEST)
                    self.halt.wait(POLL_SECONDS)
        except BaseException as exc:
            self.error = exc
            self.ready.set()


# ---- the load ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    batch: Batch
    sent: float
    answered: float
    ids: list[str]


@dataclass
class Kill:
    at: float  # seconds into the run
    in_flight: int  # accepted events not yet translated when the worker died
    requeued: int  # messages back in the translation queue a moment later
    down: float  # seconds from the SIGKILL until the new worker consumed


@dataclass
class Run:
    kind: str
    pace: float  # events/s the batches were sent at; 0: back to back
    events: int
    violating: int
    seconds: float  # first request to last 202
    accepted_rate: float
    translated_rate: float  # translated_at within the load's window
    end_to_end_rate: float  # first request until nothing is untranslated
    backlog: int  # untranslated when the last 202 came
    drain: float  # seconds from the last 202 until nothing is untranslated
    drain_rate: float  # the backlog over that time: translation with no intake beside it
    published: float  # seconds from the last 202 until the outbox is empty
    outbox_events: int  # outbox rows the run made (telemetry.received and the translation's)
    request_p50_ms: float
    request_p99_ms: float
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    begun_p99_ms: float  # translated_at (when the translation began) - 202, p99
    cpu: dict[str, float]  # CPU milliseconds per 1,000 events, per process group
    busy: float  # share of the machine's cores busy
    violations: int  # violation occurrences the violating events added (new or repeated)
    opened: int  # of them, violations opened (the others were repeats of open ones)
    actions: int  # actions the opened violations planned
    ids: list[str]
    kill: Kill | None = None


class Load:
    """Client threads posting pre-encoded batches, back to back or on a schedule."""

    def __init__(
        self,
        base_url: str,
        token: str,
        batches: list[Batch],
        threads: int,
        poller: LagPoller,
        *,
        pace: float | None,
        seconds: float,
    ) -> None:
        self.url = f"{base_url}/api/v1/telemetry/events"
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.batches = batches
        self.threads = threads
        self.poller = poller
        self.pace = pace  # events/s, or None: back to back
        self.seconds = seconds
        self.posted: list[Posted] = []
        self.failures: list[BaseException] = []
        self.lock = threading.Lock()
        self.next = 0
        self.began = 0.0
        self.started = threading.Event()

    def _take(self) -> tuple[Batch, float] | None:
        with self.lock:
            if self.failures or self.next >= len(self.batches):
                return None
            batch = self.batches[self.next]
            self.next += 1
        due = self.began + (batch.number * BATCH / self.pace if self.pace else 0.0)
        if due - self.began >= self.seconds or time.time() - self.began >= self.seconds:
            return None
        return batch, due

    def _client(self) -> None:
        with requests.Session() as http:
            while (taken := self._take()) is not None:
                batch, due = taken
                delay = due - time.time()
                if delay > 0:
                    time.sleep(delay)  # the schedule, not a poll
                sent = time.time()
                try:
                    response = http.post(
                        self.url, data=batch.body, headers=self.headers, timeout=HTTP_TIMEOUT
                    )
                    answered = time.time()
                    if response.status_code != 202:
                        raise BenchmarkFailed(
                            f"batch {batch.number}: HTTP {response.status_code}: "
                            f"{response.text[:500]}"
                        )
                    body = orjson.loads(response.content)
                    if body["accepted"] != BATCH:
                        raise BenchmarkFailed(
                            f"batch {batch.number}: {body['accepted']} accepted, "
                            f"{body['duplicates']} duplicates, {body['rejected']} rejected: "
                            f"{[r for r in body['results'] if r['status'] != 'accepted'][:3]!r}"
                        )
                    ids = [result["id"] for result in body["results"]]
                except BaseException as exc:
                    with self.lock:
                        self.failures.append(exc)
                    return
                self.poller.add(answered, [ids[index] for index, _, _ in batch.violating])
                with self.lock:
                    self.posted.append(Posted(batch, sent, answered, ids))

    def run(self) -> float:
        """Post until the time is up; returns when it began (epoch seconds)."""
        workers = [
            threading.Thread(target=self._client, name=f"client-{i}", daemon=True)
            for i in range(self.threads)
        ]
        self.began = time.time()
        self.started.set()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if self.failures:
            raise BenchmarkFailed(f"the load failed: {self.failures[0]!r}")
        if not self.posted:
            raise BenchmarkFailed("no batch was posted")
        return self.began


@dataclass
class Pipeline:
    context: BenchContext
    base_url: str
    token: str
    systems: list[System]
    foreseen: dict[Any, Foreseen]
    workers: list[Process]  # the first is the one the kill test kills
    queue: str
    cpu_groups: dict[str, Callable[[], list[int]]]
    runs: int = 0
    killed: Kill | None = None

    def go(
        self,
        kind: str,
        seconds: float,
        threads: int,
        *,
        pace: float | None,
        kill: bool = False,
    ) -> Run:
        self.runs += 1
        rate = pace or SATURATION_HEADROOM
        count = math.ceil(rate * seconds / BATCH) + threads
        tag = f"r{self.runs}-{uuid.uuid4().hex[:6]}"
        batches = make_batches(count, tag, self.systems, seed_value=self.runs)
        url = pg_url(self.context)
        poller = LagPoller(url)
        poller.start()
        load = Load(self.base_url, self.token, batches, threads, poller, pace=pace, seconds=seconds)
        killed: Kill | None = None
        with psycopg.connect(url, autocommit=True) as conn:
            # Start on a quiet pipeline: the worker's action executor (every 60 s, as deployed)
            # may still be recording what it did with the last run's automated actions.
            if any_untranslated(conn):
                raise BenchmarkFailed("untranslated events before the run")
            self._drain_outbox(conn)
            before = Before(alert_occurrences(conn), violation_occurrences(conn), outbox_seq(conn))
            outbox_before = outbox_rows(conn)
            poller.ready.wait(START_TIMEOUT)
            mine = {conn.info.backend_pid, poller.backend_pid}  # this process's queries
            everything = self.cpu_groups["postgres"]
            clock = CpuClock(
                self.cpu_groups
                | {
                    "postgres": lambda: [p for p in everything() if p not in mine],
                    "lag polling": lambda: [poller.backend_pid],
                    "drain polling": lambda: [conn.info.backend_pid],
                }
            )
            clock.start()
            killer = None
            if kill:
                killer = threading.Thread(
                    target=self._kill_halfway, args=(load, seconds, url), daemon=True
                )
                killer.start()
            began = load.run()
            last = max(p.answered for p in load.posted)
            backlog = untranslated(conn)
            if killer is not None:
                killer.join()
                killed = self.killed
            drained = self._drain(conn, poller)
            published = self._drain_outbox(conn)
            cpu_seconds, busy = clock.stop()
            outbox_after = outbox_rows(conn)
            poller.halt.set()
            poller.join()
            if poller.error is not None:
                raise BenchmarkFailed(f"the lag poller failed: {poller.error!r}")
            posted = sorted(load.posted, key=lambda p: p.batch.number)
            ids = [event_id for p in posted for event_id in p.ids]
            events = len(ids)
            translated, opened, actions = self._check(conn, posted, before)
            begun = [stamp - answered for stamp, answered in self._begun(conn, posted)]
        in_window = sum(1 for stamp in translated if began <= stamp <= last)
        requests_ms = [(p.answered - p.sent) * 1000 for p in posted]
        lags = [lag * 1000 for lag in poller.lags]
        violating = sum(len(p.batch.violating) for p in posted)
        if len(lags) != violating:
            raise BenchmarkFailed(f"lags for {len(lags)} of {violating} violating events")
        foreseen = [self.foreseen[k, s] for p in posted for _, k, s in p.batch.violating]
        return Run(
            kind=kind,
            pace=pace or 0.0,
            events=events,
            violating=violating,
            seconds=last - began,
            accepted_rate=events / (last - began),
            translated_rate=in_window / (last - began),
            end_to_end_rate=events / (drained - began),
            backlog=backlog,
            drain=drained - last,
            drain_rate=backlog / (drained - last) if backlog else float("nan"),
            published=published - last,
            outbox_events=outbox_after - outbox_before,
            request_p50_ms=percentile(requests_ms, 0.5),
            request_p99_ms=percentile(requests_ms, 0.99),
            lag_p50_ms=percentile(lags, 0.5),
            lag_p99_ms=percentile(lags, 0.99),
            lag_max_ms=max(lags),
            begun_p99_ms=percentile(begun, 0.99) * 1000,
            cpu={name: s * 1000 / (events / BATCH) for name, s in cpu_seconds.items()},
            busy=busy,
            violations=sum(f.violations for f in foreseen),
            opened=opened,
            actions=actions,
            ids=ids,
            kill=killed,
        )

    def _kill_halfway(self, load: Load, seconds: float, url: str) -> None:
        load.started.wait()
        time.sleep(max(0.0, load.began + seconds / 2 - time.time()))
        at = time.time()
        self.workers[0].kill()
        with psycopg.connect(url, autocommit=True) as conn:
            in_flight = untranslated(conn)
        time.sleep(0.5)  # the broker has noticed the lost connection
        requeued = queue_depth(self.context.broker_url, self.queue)
        time.sleep(max(0.0, at + RESTART_AFTER - time.time()))
        self.workers[0].start()
        wait_for_consumers(self.context.broker_url, self.queue, self.workers)
        self.killed = Kill(at - load.began, in_flight, requeued, time.time() - at)

    def _drain_outbox(self, conn: psycopg.Connection[Any]) -> float:
        """When the relay had published every outbox row (the violations', actions' and alerts'
        events too), so the next run starts on an empty outbox."""
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while True:
            issued = time.time()
            if not any_unpublished(conn):
                return issued
            if time.monotonic() > deadline:
                raise BenchmarkFailed(f"the outbox not published within {DRAIN_TIMEOUT:.0f} s")
            time.sleep(DRAIN_POLL)  # polling PostgreSQL, bounded by the deadline

    def _drain(self, conn: psycopg.Connection[Any], poller: LagPoller) -> float:
        """When PostgreSQL first held no untranslated event (and every lag is known)."""
        deadline = time.monotonic() + DRAIN_TIMEOUT
        drained: float | None = None
        while True:
            issued = time.time()
            if drained is None and not any_untranslated(conn):
                drained = issued
            if drained is not None and poller.waiting() == 0:
                return drained
            if time.monotonic() > deadline:
                raise BenchmarkFailed(
                    f"not translated within {DRAIN_TIMEOUT:.0f} s: {untranslated(conn)} events, "
                    f"{poller.waiting()} violating: {self.workers[0].log_tail()}"
                )
            for worker in self.workers:
                if not worker.alive():
                    raise BenchmarkFailed(f"a worker died: {worker.log_tail()}")
            time.sleep(DRAIN_POLL)  # polling PostgreSQL, bounded by the deadline

    def _check(
        self, conn: psycopg.Connection[Any], posted: list[Posted], before: Before
    ) -> tuple[list[float], int, int]:
        """Every accepted event translated; each violating one with exactly the violations the
        engine foresees, new or repeated (one ``violation.detected`` or ``violation.recurred``
        event per control, in the outbox the translation wrote), no benign one with any; the
        violations' occurrences grown by as many; each violation the run opened by one of its
        violating events, with the actions foreseen; one alert occurrence per violating event.
        Returns the translated_at of every event (epoch seconds), the violations opened and
        their actions."""
        ids = [event_id for p in posted for event_id in p.ids]
        rows = conn.execute(
            "SELECT extract(epoch FROM t.translated_at)::float8 "
            "FROM unnest(%s::text[]) AS u(id) "
            "LEFT JOIN governance.telemetry_events t ON t.id = u.id",
            (ids,),
        ).fetchall()
        missing = sum(1 for (stamp,) in rows if stamp is None)
        if missing or len(rows) != len(ids):
            raise BenchmarkFailed(f"{missing} of {len(ids)} accepted events not translated: lost")
        expected: dict[str, Foreseen] = {}
        for p in posted:
            for index, kind, system in p.batch.violating:
                expected[p.ids[index]] = self.foreseen[kind, system]
        made: dict[str, list[str]] = {}
        detected: set[tuple[str, str]] = set()
        for event_type, event_id, control_id in conn.execute(
            "SELECT event_type, b->'data'->>'telemetry_event_id', b->'data'->>'control_id' "
            "FROM (SELECT event_type, body::jsonb AS b FROM governance.outbox "
            "WHERE seq > %s AND event_type = ANY(%s)) AS o",
            (before.outbox_seq, [VIOLATION_DETECTED.name, VIOLATION_RECURRED.name]),
        ):
            made.setdefault(event_id, []).append(control_id)
            if event_type == VIOLATION_DETECTED.name:
                detected.add((event_id, control_id))
        wrong = [
            (event_id, made.get(event_id), expected.get(event_id))
            for event_id in set(made) | set(expected)
            if event_id not in expected
            or sorted(made.get(event_id, []))
            != sorted(control for control, _ in expected[event_id].controls)
        ]
        if wrong:
            raise BenchmarkFailed(
                f"{len(wrong)} events with other violations than foreseen "
                f"(event, controls found, foreseen): {wrong[:5]!r}"
            )
        occurrences = sum(f.violations for f in expected.values())
        grown = violation_occurrences(conn) - before.violation_occurrences
        if grown != occurrences:
            raise BenchmarkFailed(
                f"violations grew by {grown} occurrences for {occurrences} foreseen"
            )
        opened = {
            (event_id, control_id): int(actions)
            for event_id, control_id, actions in conn.execute(
                "SELECT v.telemetry_event_id, v.control_id, count(a.id) "
                "FROM unnest(%s::text[]) AS u(id) "
                "JOIN governance.violations v ON v.telemetry_event_id = u.id "
                "LEFT JOIN governance.required_actions a ON a.violation_id = v.id "
                "GROUP BY v.id, v.telemetry_event_id, v.control_id",
                (ids,),
            )
        }
        wrong_opened = [
            (key, actions, dict(expected[key[0]].controls).get(key[1]))
            for key, actions in opened.items()
            if key not in detected or actions != dict(expected[key[0]].controls).get(key[1])
        ]
        if wrong_opened or len(opened) != len(detected):
            raise BenchmarkFailed(
                f"{len(opened)} violations opened for {len(detected)} detected; with other "
                f"actions than foreseen ((event, control), found, foreseen): {wrong_opened[:5]!r}"
            )
        grown = alert_occurrences(conn) - before.alert_occurrences
        if grown != len(expected):
            raise BenchmarkFailed(
                f"alerts grew by {grown} occurrences for {len(expected)} violating events"
            )
        return [float(stamp) for (stamp,) in rows], len(opened), sum(opened.values())

    def _begun(
        self, conn: psycopg.Connection[Any], posted: list[Posted]
    ) -> list[tuple[float, float]]:
        pairs = [(p.ids[index], p.answered) for p in posted for index, _, _ in p.batch.violating]
        stamps = dict(
            conn.execute(
                "SELECT id, extract(epoch FROM translated_at)::float8 "
                "FROM governance.telemetry_events WHERE id = ANY(%s)",
                ([event_id for event_id, _ in pairs],),
            ).fetchall()
        )
        return [(float(stamps[event_id]), answered) for event_id, answered in pairs]


# ---- the baseline: plain INSERTs of the same rows -------------------------------------------------------


SCRATCH = "public.bench_telemetry_plain"
UNTRANSLATED = ("translated_at", "risk_score", "risk_level", "escalate", "escalation_path")


@dataclass(frozen=True)
class Plain:
    rate: float  # rows/s, executemany INSERT, 1,000 per transaction, two connections
    p50_ms: float  # one transaction of 1,000 rows
    p99_ms: float
    copy_rate: float  # rows/s, COPY, 1,000 per transaction, one connection
    cpu_ms: float  # CPU ms per 1,000 rows: this process and the two backends


def make_scratch(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        conn.execute(f"CREATE TABLE {SCRATCH} (LIKE governance.telemetry_events INCLUDING ALL)")
        rows = conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum",
            (SCRATCH,),
        ).fetchall()
    return [name for (name,) in rows]


def stored_rows(url: str, columns: list[str], ids: list[str]) -> list[tuple[Any, ...]]:
    """The rows as intake stored them: JSON as its text, the translation's columns empty."""
    with psycopg.connect(url, autocommit=True) as conn:
        types = dict(
            conn.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'governance.telemetry_events'::regclass AND attnum > 0",
            ).fetchall()
        )
        selected = ", ".join(
            "NULL"
            if name in UNTRANSLATED
            else f"t.{name}::text"
            if types[name] in ("json", "jsonb")
            else f"t.{name}"
            for name in columns
        )
        return conn.execute(
            f"SELECT {selected} FROM unnest(%s::text[]) WITH ORDINALITY AS u(id, n) "  # noqa: S608
            "JOIN governance.telemetry_events t ON t.id = u.id ORDER BY u.n",
            (ids,),
        ).fetchall()


def plain_inserts(url: str, columns: list[str], rows: list[tuple[Any, ...]]) -> Plain:
    chunks = [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]
    insert = (
        f"INSERT INTO {SCRATCH} ({', '.join(columns)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"TRUNCATE {SCRATCH}")
        admin.execute("CHECKPOINT")
    connections = [psycopg.connect(url) for _ in range(2)]
    try:
        for conn in connections:  # warm: the statement prepared, the connection's caches
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(insert, chunks[0][:10])
                cursor.execute(f"DELETE FROM {SCRATCH}")  # noqa: S608
        backends = [conn.info.backend_pid for conn in connections]
        latencies: list[list[float]] = [[], []]
        failures: list[BaseException] = []

        def loop(which: int) -> None:
            conn = connections[which]
            try:
                for chunk in chunks[which::2]:
                    started = time.perf_counter()
                    with conn.transaction(), conn.cursor() as cursor:
                        cursor.executemany(insert, chunk)
                    latencies[which].append(time.perf_counter() - started)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(2)]
        before = sum(ticks(p) for p in backends), own_cpu()
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        after = sum(ticks(p) for p in backends), own_cpu()
        if failures:
            raise BenchmarkFailed(f"plain inserts failed: {failures[0]!r}")
        tick = os.sysconf("SC_CLK_TCK")
        cpu = (after[0] - before[0]) / tick + (after[1] - before[1])
        every = [s * 1000 for values in latencies for s in values]
        conn = connections[0]
        conn.execute(f"TRUNCATE {SCRATCH}")
        conn.commit()
        started = time.perf_counter()
        for chunk in chunks:
            with (
                conn.transaction(),
                conn.cursor() as cursor,
                cursor.copy(f"COPY {SCRATCH} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in chunk:
                    copy.write_row(row)
        copy_rate = len(rows) / (time.perf_counter() - started)
    finally:
        for conn in connections:
            conn.close()
    return Plain(
        len(rows) / elapsed,
        percentile(every, 0.5),
        percentile(every, 0.99),
        copy_rate,
        cpu * 1000 / (len(rows) / BATCH),
    )


# ---- the benchmark -----------------------------------------------------------------------------------


def progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def pipeline_processes(
    context: BenchContext, env: dict[str, str], count: int
) -> Iterator[tuple[list[Process], Process, str]]:
    """The workers (consuming before anything is published), then the relay."""
    settings: Settings = context.settings
    governance: Runtime = context.runtime("governance")
    audit = context.runtime("audit")
    with Connection(context.broker_url) as conn, conn.channel() as channel:
        # audit.log, bound to '#' as deployed, so every publish is routed (mandatory); unread.
        audit.topology.declare(channel, audit.subscriptions)
    translation = next(s for s in governance.subscriptions if s.purpose == "translation")
    queue = governance.topology.queue_name(translation)
    workers = [
        Process("worker", env, settings.var_dir / f"governance-worker-{i}.log")
        for i in range(count)
    ]
    relay = Process("relay", env, settings.var_dir / "governance-relay.log")
    try:
        for worker in workers:
            worker.start()
        wait_for_consumers(context.broker_url, queue, workers)
        relay.start()
        yield workers, relay, queue
    finally:
        relay.stop()
        for worker in workers:
            worker.stop()


def run(context: BenchContext) -> list[Result]:
    knobs = parameters()
    seconds = knobs["BENCH_TELEMETRY_SECONDS"]
    clients, pace = knobs["BENCH_TELEMETRY_CLIENTS"], float(knobs["BENCH_TELEMETRY_RATE"])
    web_workers, threads = knobs["BENCH_TELEMETRY_WORKERS"], knobs["BENCH_TELEMETRY_THREADS"]
    settings = context.settings
    governance = context.runtime("governance")
    prefix = f"spectral-bench-{uuid.uuid4().hex[:10]}"
    url = pg_url(context)
    saturated: list[Run] = []
    paced: list[Run] = []
    steady: list[Run] = []
    plain: list[Plain] = []
    with service_web(settings, "auth", 1, threads, prefix) as auth:
        credentials = make_credentials(auth, context.runtime("auth"))
        mine, _ = tenants(credentials)
        seed(governance.database, mine, knobs["BENCH_TELEMETRY_SYSTEMS"])
        systems, foreseen = foresee(governance.database, mine.organization_id)
        progress(
            f"{len(systems)} systems ({sum(s.gated for s in systems)} in California's SB 1047 "
            f"gate, {sum(s.uses_phi for s in systems)} with PHI)"
        )
        trust = {
            "BASE_URL": auth.base_url,
            "AUTH_INTERNAL_URL": auth.base_url,
            "BROKER_URL": settings.broker_url,
        }
        env = deployed_env(settings, **trust)
        columns = make_scratch(url)
        with (
            pipeline_processes(context, env, knobs["BENCH_TELEMETRY_WORKER_PROCESSES"]) as (
                workers,
                relay,
                queue,
            ),
            service_web(settings, "governance", web_workers, threads, prefix, trust) as web,
        ):
            engine = context.engine()
            groups: dict[str, Callable[[], list[int]]] = {
                "web": web.worker_pids,
                "relay": lambda: [relay.pid],
                "worker": lambda: [w.pid for w in workers],
                "postgres": lambda: postgres_backends(engine),
            }
            pipeline = Pipeline(
                context,
                web.base_url,
                credentials.access_token,
                systems,
                foreseen,
                workers,
                queue,
                groups,
            )
            warm = pipeline.go("warm-up", 3, 4, pace=pace / 2)
            progress(f"warm-up: {warm.events} events, lag p99 {warm.lag_p99_ms:,.0f} ms")
            for number in range(1, context.repeats + 1):
                saturated.append(pipeline.go("saturation", seconds, clients, pace=None))
                plain.append(
                    plain_inserts(url, columns, stored_rows(url, columns, saturated[-1].ids))
                )
                paced.append(pipeline.go("paced", seconds, paced_threads(pace), pace=pace))
                # Half the rate this round's saturation got through: the lag when nothing queues.
                half = max(100.0, round(saturated[-1].end_to_end_rate / 2, -2))
                steady.append(pipeline.go("steady", seconds, paced_threads(half), pace=half))
                s, p, b, h = saturated[-1], paced[-1], plain[-1], steady[-1]
                progress(
                    f"round {number}/{context.repeats}: saturation accepted "
                    f"{s.accepted_rate:,.0f}/s, translated {s.translated_rate:,.0f}/s, end to end "
                    f"{s.end_to_end_rate:,.0f}/s (backlog {s.backlog:,}, drained in "
                    f"{s.drain:.1f} s); paced {p.accepted_rate:,.0f}/s, lag p50 "
                    f"{p.lag_p50_ms:,.0f} ms p99 {p.lag_p99_ms:,.0f} ms; at {h.pace:,.0f}/s lag "
                    f"p50 {h.lag_p50_ms:,.0f} ms p99 {h.lag_p99_ms:,.0f} ms; plain INSERT "
                    f"{b.rate:,.0f}/s"
                )
                progress(
                    "  CPU ms per 1,000 events (saturation): "
                    + ", ".join(f"{k} {v:,.0f}" for k, v in s.cpu.items())
                    + f"; machine {s.busy:.0%} busy"
                )
            killed = pipeline.go("kill", seconds, paced_threads(pace), pace=pace, kill=True)
            assert killed.kill is not None
            progress(
                f"kill: {killed.kill.in_flight:,} in flight, {killed.kill.requeued} messages "
                f"requeued, worker back in {killed.kill.down:.1f} s; nothing lost; lag p99 "
                f"{killed.lag_p99_ms:,.0f} ms"
            )
            if workers[0].starts != 2:
                raise BenchmarkFailed(f"the worker was started {workers[0].starts} times")
    return report(saturated, paced, steady, plain, killed, knobs)


def paced_threads(pace: float) -> int:
    """Enough client threads that a batch never waits for one at the pace (a request holds one
    for up to a few seconds under load)."""
    return max(4, math.ceil(pace / BATCH * 3))


def report(
    saturated: list[Run],
    paced: list[Run],
    steady: list[Run],
    plain: list[Plain],
    killed: Run,
    knobs: dict[str, int],
) -> list[Result]:
    seconds, clients = knobs["BENCH_TELEMETRY_SECONDS"], knobs["BENCH_TELEMETRY_CLIENTS"]
    pace = knobs["BENCH_TELEMETRY_RATE"]
    workers, threads = knobs["BENCH_TELEMETRY_WORKERS"], knobs["BENCH_TELEMETRY_THREADS"]

    def each(runs: list[Run], attribute: str) -> list[float]:
        return [float(getattr(r, attribute)) for r in runs]

    def med(runs: list[Run], attribute: str) -> float:
        return statistics.median(each(runs, attribute))

    plain_rates = [b.rate for b in plain]
    plain_name = (
        "plain INSERT of the same rows (psycopg executemany, 1,000 per transaction, 2 connections)"
    )
    copy_rate = statistics.median(b.copy_rate for b in plain)
    copy_note = f"COPY of the same rows, one connection: {format_number(copy_rate)} rows/s"
    processes = knobs["BENCH_TELEMETRY_WORKER_PROCESSES"]
    shape = (
        f"web: {workers} gunicorn workers x {threads} threads; relay: 1 process; worker: "
        f"{processes} process{'es' if processes > 1 else ''}; {os.cpu_count()} cores shared "
        "with PostgreSQL, RabbitMQ and the clients"
    )
    mix = "batches of 1,000: 1% PHI exposure, 1% drift 0.12 (violating), 59% benign drift, 39% latency"
    # A steady state is one the pipeline keeps: at the goal's pace, as many events translated
    # while the clients post as accepted. A backlog that grows for as long as the load lasts
    # meets no rate, and its lag grows with the run's length.
    accepted_at_pace = med(paced, "accepted_rate")
    translated_at_pace = med(paced, "translated_rate")
    growth = med(paced, "backlog") / med(paced, "seconds")
    sustained = accepted_at_pace >= 0.97 * pace and translated_at_pace >= 0.97 * pace
    keeping_up = (
        f"at {pace:,} events/s paced, {format_number(accepted_at_pace)}/s accepted and "
        f"{format_number(translated_at_pace)}/s translated while the clients posted, the "
        f"backlog growing by {format_number(growth)} events/s"
    )
    burst = med(saturated, "end_to_end_rate")
    rate_goal = f"goal ≥ {GOAL_RATE:,.0f} events/s accepted and translated: " + (
        "met"
        if sustained
        else f"MISSED as a steady state: {keeping_up}; {format_number(burst)}/s here counts "
        "the backlog drained after the load, when translation has the machine to itself"
    )
    p99 = med(paced, "lag_p99_ms") / 1000
    lag_goal = f"goal p99 < {GOAL_P99_S:g} s at {pace:,} events/s: " + (
        "met"
        if p99 < GOAL_P99_S and sustained
        else f"MISSED as a steady state (under {GOAL_P99_S:g} s in a {seconds} s run, but "
        f"{keeping_up}, so the lag grows with the load's length)"
        if p99 < GOAL_P99_S
        else "MISSED"
    )
    kill = killed.kill
    assert kill is not None
    cores = os.cpu_count() or 1

    def cpu_total(runs: list[Run]) -> list[float]:
        return [sum(r.cpu[name] for name in PIPELINE) for r in runs]

    def cpu_split(runs: list[Run]) -> str:
        names = (*PIPELINE, "clients", "lag polling", "drain polling")
        return ", ".join(
            f"{name} {format_number(statistics.median(r.cpu[name] for r in runs))}"
            for name in names
        )

    sat = f"{clients} client threads back to back for {seconds} s"
    at_pace = f"paced at {pace:,} events/s for {seconds} s"
    return [
        median_result(
            "Accepted and translated, end to end, at saturation",
            each(saturated, "end_to_end_rate"),
            "events/s",
            plain_name,
            plain_rates,
            f"{rate_goal}; from the first request until PostgreSQL holds no untranslated "
            f"event; {sat}; {format_number(med(saturated, 'events'))} events; accepted "
            f"{format_number(med(saturated, 'accepted_rate'))}/s, translated "
            f"{format_number(med(saturated, 'translated_rate'))}/s, "
            f"{format_number(med(saturated, 'backlog'))} untranslated at the last 202, drained "
            f"{format_number(med(saturated, 'drain'))} s later; the relay published the run's "
            f"{format_number(med(saturated, 'outbox_events') / med(saturated, 'events') * 1000)} "
            f"outbox events per 1,000 events until "
            f"{format_number(med(saturated, 'published'))} s after the last 202; lag p50 "
            f"{format_number(med(saturated, 'lag_p50_ms') / 1000)} s, p99 "
            f"{format_number(med(saturated, 'lag_p99_ms') / 1000)} s; machine "
            f"{med(saturated, 'busy'):.0%} busy; {shape}; {mix}; baseline: {copy_note}",
        ),
        median_result(
            "Accepted: events in 202s per second, at saturation",
            each(saturated, "accepted_rate"),
            "events/s",
            plain_name,
            plain_rates,
            f"{sat}; first request to last 202; a batch's request p50 "
            f"{format_number(med(saturated, 'request_p50_ms'))} ms, p99 "
            f"{format_number(med(saturated, 'request_p99_ms'))} ms (plain INSERT transaction of "
            f"1,000 rows: p50 {format_number(statistics.median(b.p50_ms for b in plain))} ms)",
        ),
        median_result(
            "Translated: events whose translated_at falls in the load's window, at saturation",
            each(saturated, "translated_rate"),
            "events/s",
            plain_name,
            plain_rates,
            f"{sat}; while the clients post; once they stop, the worker alone drains the "
            f"backlog at {format_number(med(saturated, 'drain_rate'))} events/s; the worker's "
            "batches are up to 8 messages (8,000 events) per transaction",
        ),
        median_result(
            f"Translated while the clients post, {at_pace}: the steady state",
            each(paced, "translated_rate"),
            "events/s",
            plain_name,
            plain_rates,
            f"translated_at within the load's window; {format_number(accepted_at_pace)}/s "
            "accepted: "
            + (
                "the pipeline keeps the pace"
                if sustained
                else f"the backlog grows by {format_number(growth)} events/s "
                f"({format_number(med(paced, 'backlog'))} after {seconds} s) for as long as the "
                "load lasts"
            ),
        ),
        median_result(
            f"Lag from 202 to violation stored, p50, {at_pace}",
            each(paced, "lag_p50_ms"),
            "ms",
            "a plain INSERT transaction of 1,000 of the same rows, p50",
            [b.p50_ms for b in plain],
            f"{format_number(med(paced, 'violating'))} violating events per run, polled every "
            f"{POLL_SECONDS * 1000:.0f} ms; accepted {format_number(med(paced, 'accepted_rate'))}"
            f"/s, end to end {format_number(med(paced, 'end_to_end_rate'))}/s; machine "
            f"{med(paced, 'busy'):.0%} busy",
        ),
        median_result(
            f"Lag from 202 to violation stored, p99, {at_pace}",
            each(paced, "lag_p99_ms"),
            "ms",
            "a plain INSERT transaction of 1,000 of the same rows, p99",
            [b.p99_ms for b in plain],
            f"{lag_goal}; {format_number(med(paced, 'backlog'))} untranslated at the last "
            f"202; max {format_number(med(paced, 'lag_max_ms'))} ms; "
            "translated_at (when the translation began) - 202, p99: "
            f"{format_number(med(paced, 'begun_p99_ms'))} ms; a batch's request p99 "
            f"{format_number(med(paced, 'request_p99_ms'))} ms",
        ),
        median_result(
            "Lag from 202 to violation stored, p50, paced at half the saturation rate",
            each(steady, "lag_p50_ms"),
            "ms",
            "a plain INSERT transaction of 1,000 of the same rows, p50",
            [b.p50_ms for b in plain],
            f"paced at {', '.join(format_number(r.pace) for r in steady)} events/s for "
            f"{seconds} s (half each round's end-to-end rate at saturation): the lag when "
            f"nothing queues; accepted {format_number(med(steady, 'accepted_rate'))}/s; machine "
            f"{med(steady, 'busy'):.0%} busy",
        ),
        median_result(
            "Lag from 202 to violation stored, p99, paced at half the saturation rate",
            each(steady, "lag_p99_ms"),
            "ms",
            "a plain INSERT transaction of 1,000 of the same rows, p99",
            [b.p99_ms for b in plain],
            f"max {format_number(med(steady, 'lag_max_ms'))} ms; translated_at (when the "
            f"translation began) - 202, p99: {format_number(med(steady, 'begun_p99_ms'))} ms; "
            f"a batch's request p99 {format_number(med(steady, 'request_p99_ms'))} ms",
        ),
        Result(
            "Worker SIGKILLed halfway and restarted: accepted and translated, end to end",
            killed.end_to_end_rate,
            "events/s",
            f"the same {at_pace} without the kill (median)",
            med(paced, "end_to_end_rate"),
            f"one run; killed {kill.at:.1f} s in with {kill.in_flight:,} accepted events not yet "
            f"translated and {kill.requeued} batch messages back in the queue; restarted "
            f"{RESTART_AFTER:g} s later, consuming {kill.down:.1f} s after the kill (the new "
            f"process took {kill.down - RESTART_AFTER:.1f} s to start); all "
            f"{killed.events:,} accepted events translated, the "
            f"{killed.violating:,} violating ones with exactly their {killed.violations:,} "
            f"violation occurrences ({killed.opened:,} violations opened, with their "
            f"{killed.actions:,} actions; the others repeats of open ones), one alert "
            "occurrence each: nothing lost, nothing doubled",
        ),
        Result(
            "Worker SIGKILLed halfway and restarted: lag from 202 to violation stored, p99",
            killed.lag_p99_ms,
            "ms",
            f"the same {at_pace} without the kill, p99 (median)",
            med(paced, "lag_p99_ms"),
            f"one run; p50 {format_number(killed.lag_p50_ms)} ms, max "
            f"{format_number(killed.lag_max_ms)} ms",
        ),
        median_result(
            "CPU per 1,000 events: web, worker, relay and PostgreSQL, at saturation",
            cpu_total(saturated),
            "ms",
            "the plain INSERTs (this process and its 2 backends)",
            [b.cpu_ms for b in plain],
            f"user + system time from the first request until all is translated and the "
            f"outbox published; by process: {cpu_split(saturated)} ms (paced: "
            f"{cpu_split(paced)} ms); {cores} cores give {cores * 1000:,} ms of CPU a second, so "
            f"{format_number(statistics.median(cpu_total(saturated)))} ms per 1,000 events caps "
            "the pipeline near "
            f"{format_number(cores * 1_000_000 / statistics.median(cpu_total(saturated)))} "
            "events/s here",
        ),
    ]
