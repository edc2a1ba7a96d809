"""Periodic jobs a service's worker runs beside its consumers (signing checkpoints, purging).

Every worker replica runs them, so a job must be safe to run twice at once: idempotent writes,
or a lock it takes without waiting. A failing run is logged and counted and the job runs again at
its next turn; it never stops the worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from spectral_shared import metrics
from spectral_shared.logging import bind_context, clear_context, get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Schedule:
    name: str
    every: float  # seconds from the start of one run to the start of the next
    run: Callable[[], None]


class Scheduler:
    def __init__(self, schedules: list[Schedule]) -> None:
        self.schedules = schedules
        # Consecutive failures by job: the first is logged with its traceback, the rest of the
        # streak in one line each (a database outage would otherwise print a traceback every
        # turn of every job), and the recovery says how many turns failed.
        self.failing: dict[str, int] = {}

    def run_due(self, due: dict[str, float], now: float) -> None:
        for schedule in self.schedules:
            if due.get(schedule.name, 0.0) > now:
                continue
            clear_context()
            bind_context(job=schedule.name)
            started = time.perf_counter()
            failures = self.failing.get(schedule.name, 0)
            try:
                schedule.run()
                outcome = "ok"
            except Exception as exc:
                outcome = "failed"
                self.failing[schedule.name] = failures + 1
                if failures == 0:
                    log.exception("schedule.failed")
                else:
                    log.warning(
                        "schedule.still_failing",
                        failures=failures + 1,
                        error=f"{type(exc).__name__}: {exc}"[:500],
                    )
            else:
                if failures:
                    log.info("schedule.recovered", failures=failures)
                    del self.failing[schedule.name]
            metrics.scheduled_runs.labels(schedule.name, outcome).inc()
            metrics.scheduled_duration.labels(schedule.name).observe(time.perf_counter() - started)
            due[schedule.name] = now + schedule.every

    def run(self, stop: threading.Event) -> None:
        due: dict[str, float] = {}
        while not stop.is_set():
            self.run_due(due, time.monotonic())
            next_due = min(due.values(), default=time.monotonic() + 1.0)
            stop.wait(max(0.01, next_due - time.monotonic()))
