"""``/health`` in the deployment guide's shape, with real dependency checks under timeouts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any

from kombu import Connection

PROCESS_STARTED = time.monotonic()
CHECK_TIMEOUT = 3.0

_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")


def _with_timeout(check: Callable[[], bool], timeout: float) -> bool:
    try:
        return bool(_pool.submit(check).result(timeout=timeout))
    except (FutureTimeout, Exception):
        return False


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
    futures = {
        name: _pool.submit(_with_timeout, check, CHECK_TIMEOUT) for name, check in checks.items()
    }
    results = {name: ("up" if future.result() else "down") for name, future in futures.items()}
    healthy = all(v == "up" for v in results.values())
    body = {
        "status": "healthy" if healthy else "unhealthy",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "uptime": int(time.monotonic() - PROCESS_STARTED),
        "database": "connected"
        if all(v == "up" for k, v in results.items() if k == "database" or k.endswith(".database"))
        else "disconnected",
        "checks": results,
    }
    return body, 200 if healthy else 503
