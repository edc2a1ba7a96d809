"""``/livez``, ``/health`` and ``/metrics`` for the targets that serve no API (workers, relays).

They answer on ``METRICS_PORT`` what a web target answers on its own port, so one probe
configuration (Docker ``HEALTHCHECK``, Kubernetes liveness/readiness, compose health checks) fits
every target: ``/livez`` is the process's own loop (restart when stale), ``/health`` its
dependencies (database, broker) under the same timeouts as a web target's.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from spectral_shared.web.health import health_report


class ProbeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        service: str,
        alive: Callable[[], bool],
        checks: dict[str, Callable[[], bool]],
    ) -> None:
        self.service = service
        self.alive = alive
        self.checks = checks
        super().__init__(address, _ProbeHandler)

    def serve_in_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="probes", daemon=True)
        thread.start()
        return thread


class _ProbeHandler(BaseHTTPRequestHandler):
    server: ProbeServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
        elif path == "/livez":
            alive = self.server.alive()
            self._json(200 if alive else 503, {"status": "alive" if alive else "stale"})
        elif path == "/health":
            body, status = health_report(self.server.checks)
            body["service"] = self.server.service
            self._json(status, body)
        else:
            self._json(
                404,
                {
                    "type": "https://spectral.health/problems/not-found",
                    "title": "Not found",
                    "status": 404,
                    "detail": "This port serves /livez, /health and /metrics only.",
                },
                content_type="application/problem+json",
            )

    def _json(
        self, status: int, body: dict[str, Any], content_type: str = "application/json"
    ) -> None:
        self._send(status, json.dumps(body).encode(), content_type)

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Probes come every few seconds; their requests are not worth a log line."""
