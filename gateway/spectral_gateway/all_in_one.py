"""The whole platform in one process (``spectral all``): every installed service's app behind the
in-process router, with each service's relay and worker on background threads, sharing the
in-memory bus. The same code paths as the split topology, only fewer processes."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from functools import partial

from spectral_gateway.router import InProcessRouter
from spectral_shared.bus.publisher import broker_connection
from spectral_shared.bus.worker import Worker
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings
from spectral_shared.logging import get_logger
from spectral_shared.web.health import broker_check

log = get_logger(__name__)


class Platform:
    def __init__(self, settings: Settings, services: list[str] | None = None) -> None:
        components = installed_components()
        chosen = services or list(components)
        self.settings = settings
        self.runtimes = {name: Runtime(components[name], settings) for name in chosen}
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.workers: dict[str, Worker] = {}
        self.failed = threading.Event()

    def migrate(self) -> None:
        for runtime in self.runtimes.values():
            runtime.migrate()

    def declare_topology(self) -> None:
        """Queues exist before the first event is published, so nothing is published into the void."""
        if not any(r.subscriptions for r in self.runtimes.values()):
            return
        with (
            broker_connection(self.settings.broker_url) as connection,
            connection.channel() as channel,
        ):
            for runtime in self.runtimes.values():
                runtime.topology.declare(channel, runtime.subscriptions)

    def router(self) -> InProcessRouter:
        apps = {name: runtime.app() for name, runtime in self.runtimes.items()}
        checks: dict[str, Callable[[], bool]] = {
            f"{name}.database": runtime.database.ping for name, runtime in self.runtimes.items()
        }
        checks["broker"] = broker_check(self.settings.broker_url)
        first = next(iter(self.runtimes.values()))
        if self.settings.redis_url:
            checks["redis"] = first.kv.ping
        return InProcessRouter(
            apps, checks, abuse_rate_per_minute=self.settings.gateway_abuse_rate_per_minute
        )

    def start_background(self) -> None:
        self.declare_topology()
        for name, runtime in self.runtimes.items():
            self._spawn(
                f"{name}-relay", partial(runtime.run_relay, self.stop_event, in_process=True)
            )
            if runtime.schedules:
                self._spawn(f"{name}-schedules", partial(runtime.run_schedules, self.stop_event))
            if runtime.subscriptions:
                worker = runtime.worker()
                self.workers[name] = worker
                self._spawn(f"{name}-worker", worker.run)
        for worker in self.workers.values():
            worker.ready.wait(timeout=10)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                target()
            except Exception:
                # A dead relay or worker would silently stop events; take the process down instead.
                log.exception("platform.thread_died", thread=name)
                self.failed.set()
                os.kill(os.getpid(), signal.SIGTERM)

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def stop(self) -> None:
        self.stop_event.set()
        for worker in self.workers.values():
            worker.stop()
        for thread in self.threads:
            thread.join(timeout=10)
        for runtime in self.runtimes.values():
            runtime.database.dispose()
