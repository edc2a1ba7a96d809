"""``/health`` in the shape docs/operations.md#health-checks gives, with real dependency checks under timeouts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kombu import Connection

PROCESS_STARTED = time.monotonic()
CHECK_TIMEOUT = 3.0


def _run_checks(checks: dict[str, Callable[[], bool]], timeout: float) -> dict[str, bool]:
    """Run every check on its own daemon thread under one shared deadline. A check that has not
    answered by then counts as down; a hung one holds only its own thread, never a shared pool,
    so it cannot starve or block later reports."""
    results: dict[str, bool] = {}
    finished = {name: threading.Event() for name in checks}

    def run(name: str, check: Callable[[], bool]) -> None:
        try:
            results[name] = bool(check())
        except Exception:
            results[name] = False
        finally:
            finished[name].set()

    for name, check in checks.items():
        threading.Thread(target=run, args=(name, check), name=f"health-{name}", daemon=True).start()
    deadline = time.monotonic() + timeout
    for event in finished.values():
        event.wait(max(0.0, deadline - time.monotonic()))
    return {name: finished[name].is_set() and results.get(name, False) for name in checks}


class CachedCheck:
    """Probes hit /health every few seconds; the broker check opens a connection, so cache it briefly."""

    def __init__(self, check: Callable[[], bool], ttl: float = 5.0) -> None:
        self.check = check
        self.ttl = ttl
        self._value: bool | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        with self._lock:
            if self._value is not None and time.monotonic() - self._at < self.ttl:
                return self._value
        value = self.check()
        with self._lock:
            self._value, self._at = value, time.monotonic()
        return value


def broker_check(url: str) -> Callable[[], bool]:
    if url.startswith("memory://"):
        return lambda: True

    def check() -> bool:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            return bool(conn.connected)

    return CachedCheck(check)


def health_report(checks: dict[str, Callable[[], bool]]) -> tuple[dict[str, Any], int]:
    """``{"status", "timestamp", "uptime", "database", "checks"}`` and 200, or 503 if anything is down."""
    results = {
        name: ("up" if ok else "down") for name, ok in _run_checks(checks, CHECK_TIMEOUT).items()
    }
    healthy = all(v == "up" for v in results.values())
    database_checks = [v for k, v in results.items() if k == "database" or k.endswith(".database")]
    body = {
        "status": "healthy" if healthy else "unhealthy",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "uptime": int(time.monotonic() - PROCESS_STARTED),
        # A router without database checks of its own reports what its upstreams report.
        "database": "connected"
        if (all(v == "up" for v in database_checks) if database_checks else healthy)
        else "disconnected",
        "checks": results,
    }
    return body, 200 if healthy else 503
