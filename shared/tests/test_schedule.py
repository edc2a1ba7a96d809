"""Periodic jobs: each runs at its own pace, and a failing one neither stops the others nor itself."""

from __future__ import annotations

import threading

from structlog.testing import capture_logs

from spectral_shared.schedule import Schedule, Scheduler
from spectral_shared.testing import wait_until


def test_a_failing_job_is_retried_at_its_next_turn_and_others_keep_running() -> None:
    runs: list[str] = []

    def flaky() -> None:
        runs.append("flaky")
        raise RuntimeError("storage unavailable")

    scheduler = Scheduler(
        [Schedule("flaky", 0.01, flaky), Schedule("steady", 0.01, lambda: runs.append("steady"))]
    )
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run, args=(stop,), daemon=True)
    thread.start()
    wait_until(lambda: runs.count("flaky") >= 3 and runs.count("steady") >= 3, what="both jobs")
    stop.set()
    thread.join(2)
    assert not thread.is_alive()


def test_a_job_waits_its_interval_between_runs() -> None:
    runs: list[str] = []
    scheduler = Scheduler(
        [
            Schedule("often", 0.0, lambda: runs.append("often")),
            Schedule("rare", 3600, lambda: runs.append("rare")),
        ]
    )
    due: dict[str, float] = {}
    for tick in range(3):
        scheduler.run_due(due, now=float(tick))
    assert runs.count("rare") == 1 and runs.count("often") == 3


def test_a_failing_streak_logs_one_traceback_then_a_line_a_turn_then_the_recovery() -> None:
    healthy = False

    def needs_the_database() -> None:
        if not healthy:
            raise ConnectionError("database unreachable")

    scheduler = Scheduler([Schedule("sla_watch", 0.0, needs_the_database)])
    due: dict[str, float] = {}
    with capture_logs() as logged:
        for tick in range(4):
            scheduler.run_due(due, now=float(tick))
        healthy = True
        scheduler.run_due(due, now=4.0)
        scheduler.run_due(due, now=5.0)

    events = [(e["event"], e.get("exc_info", False), e.get("failures")) for e in logged]
    assert events == [
        ("schedule.failed", True, None),  # with its traceback
        ("schedule.still_failing", False, 2),
        ("schedule.still_failing", False, 3),
        ("schedule.still_failing", False, 4),
        ("schedule.recovered", False, 4),
    ]
    assert logged[1]["error"] == "ConnectionError: database unreachable"
    assert scheduler.failing == {}
