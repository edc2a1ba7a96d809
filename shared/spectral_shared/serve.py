"""Serving WSGI apps: gunicorn for one service's web target, waitress for the all-in-one."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, load_app: Callable[[], Any], options: dict[str, Any]) -> None:
        self._load_app = load_app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Called in each worker after fork, so no database pool or broker socket crosses a fork.
        return self._load_app()


def serve_gunicorn(
    load_app: Callable[[], Any], *, bind: str, workers: int, threads: int, log_level: str
) -> None:
    _Gunicorn(
        load_app,
        {
            "bind": bind,
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            # SIGTERM lets requests in flight finish for this long (systemd's and Kubernetes'
            # stop timeouts are set above it); a worker silent for `timeout` is killed.
            "graceful_timeout": int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "30")),
            "timeout": int(os.environ.get("WEB_TIMEOUT", "60")),
            "keepalive": 5,
            "loglevel": log_level.lower(),
            "accesslog": None,  # the app logs each request as JSON
            "preload_app": False,
            # Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads new
            # connections over the workers; on one shared socket a worker could take every
            # long-lived keep-alive connection of a client (or of nginx) and leave the other
            # cores idle.
            "reuse_port": True,
            # One machine may run several web targets; they must not fight over one control socket.
            "control_socket_disable": True,
        },
    ).run()
