"""What a benchmark receives (a private database and bus namespace) and what it gives back.

A benchmark module ``bench/bench_<topic>.py`` declares ``TITLE``, the ``COMPONENTS`` whose
migrations it needs, and ``run(context) -> list[Result]``. ``bench/run.py`` provisions the
context, runs the module and writes ``docs/benchmarks.md``.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings


class BenchmarkFailed(RuntimeError):
    """A benchmark could not produce a figure (timeout, lost or failed message, wrong count)."""


@dataclass(frozen=True)
class Result:
    """One figure beside the baseline measured in the same run; ``ratio`` = value / baseline."""

    name: str
    value: float
    unit: str
    baseline_name: str
    baseline_value: float
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else float("nan")


@dataclass
class BenchContext:
    """A throwaway PostgreSQL database (migrated for ``COMPONENTS``) and a private bus namespace."""

    settings: Settings
    database_url: str  # SQLAlchemy URL of the throwaway database
    broker_url: str
    queue_prefix: str
    repeats: int
    extra_queues: list[str] = field(default_factory=list)
    _runtimes: dict[str, Runtime] = field(default_factory=dict)
    _engine: sa.Engine | None = None

    def runtime(self, name: str) -> Runtime:
        """The component's runtime on the private database and namespace (one per component)."""
        if name not in self._runtimes:
            self._runtimes[name] = Runtime(installed_components()[name], self.settings)
        return self._runtimes[name]

    def engine(self) -> sa.Engine:
        """A plain engine on the throwaway database, for baselines outside any service schema."""
        if self._engine is None:
            self._engine = sa.create_engine(self.database_url, pool_size=2)
        return self._engine

    def private_queue(self, purpose: str) -> str:
        """A queue name inside the namespace that is deleted with it."""
        name = f"{self.queue_prefix}bench.{purpose}"
        self.extra_queues.append(name)
        return name

    def close(self) -> None:
        for runtime in self._runtimes.values():
            runtime.database.dispose()
        if self._engine is not None:
            self._engine.dispose()


def deployed_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment of a ``spectral <service> <target>`` process a benchmark starts: as
    deployed, but on the throwaway database and private bus namespace of ``settings``, quiet, and
    without this shell's database URLs, Redis or SendGrid; ``overrides`` by variable name."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith("DATABASE_URL") and key not in ("SENDGRID_API_KEY", "REDIS_URL")
    }
    return {
        **inherited,
        "SPECTRAL_ENV": "test",
        "DATABASE_URL": settings.database_url or "",
        "BROKER_URL": settings.broker_url,
        "BUS_EXCHANGE": settings.bus_exchange,
        "BUS_QUEUE_PREFIX": settings.bus_queue_prefix,
        "ENCRYPTION_KEY": settings.secret("ENCRYPTION_KEY"),
        "SESSION_SECRET": settings.secret("SESSION_SECRET"),
        "VAR_DIR": str(settings.var_dir),
        "LOG_LEVEL": "warning",
        "OTEL_TRACES_EXPORTER": "none",
        **overrides,
    }


def spread(values: Sequence[float]) -> str:
    return ", ".join(format_number(v) for v in values)


def median_result(
    name: str,
    values: Sequence[float],
    unit: str,
    baseline_name: str,
    baseline_values: Sequence[float],
    note: str = "",
) -> Result:
    """The median of repeated runs of a figure and of its baseline, with every run in the note."""
    runs = f"runs: {spread(values)} vs {spread(baseline_values)}"
    return Result(
        name,
        statistics.median(values),
        unit,
        baseline_name,
        statistics.median(baseline_values),
        f"{note} ({runs})" if note else runs,
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    rank = min(max(1, math.ceil(fraction * len(ordered))), len(ordered))
    return ordered[rank - 1]


def format_number(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def time_in_turns(
    steps: Mapping[str, Callable[[], object]], *, repeats: int, iterations: int, chunks: int
) -> dict[str, list[float]]:
    """Microseconds per call of each step, one figure per repeat. The steps are warmed, then take
    turns in short chunks, so a burst of other work on the machine falls on all of them rather
    than on one."""
    for step in steps.values():
        for _ in range(50):  # warm the pools, the statement caches and the key caches
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    chunk = iterations // chunks
    for _ in range(repeats):
        spent = dict.fromkeys(steps, 0.0)
        for _ in range(chunks):
            for name, step in steps.items():
                started = time.perf_counter()
                for _ in range(chunk):
                    step()
                spent[name] += time.perf_counter() - started
        for name, seconds in spent.items():
            times[name].append(seconds / (chunk * chunks) * 1_000_000)
    return times


def step_results(
    rows: Sequence[tuple[str, str, str]],
    steps: Mapping[str, Sequence[float]],
    iterations: int,
) -> list[Result]:
    """One figure per ``(step, name, note)`` of an in-process breakdown timed by
    ``time_in_turns``, each beside the ``livez`` step, /livez through the same Flask app."""
    per_call = f"{iterations} calls, one thread, server stopped"
    return [
        median_result(
            name,
            steps[step],
            "µs",
            "/livez through the same Flask app (test client), in-process",
            steps["livez"],
            f"{note}; {per_call}" if note else per_call,
        )
        for step, name, note in rows
    ]
