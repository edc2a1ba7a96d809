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

    def run_due(self, due: dict[str, float], now: float) -> None:
        for schedule in self.schedules:
            if due.get(schedule.name, 0.0) > now:
                continue
            clear_context()
            bind_context(job=schedule.name)
            started = time.perf_counter()
            try:
                schedule.run()
                outcome = "ok"
            except Exception:
                log.exception("schedule.failed")
                outcome = "failed"
            metrics.scheduled_runs.labels(schedule.name, outcome).inc()
            metrics.scheduled_duration.labels(schedule.name).observe(time.perf_counter() - started)
            due[schedule.name] = now + schedule.every

    def run(self, stop: threading.Event) -> None:
        due: dict[str, float] = {}
        while not stop.is_set():
            self.run_due(due, time.monotonic())
            next_due = min(due.values(), default=time.monotonic() + 1.0)
            stop.wait(max(0.01, next_due - time.monotonic()))
