"""Whether a worker's or relay's main loop still goes round: what their ``/livez`` answers from.

A web target is alive when it answers at all; a worker or relay is alive when its loop has come
round recently. A loop that waits for the broker to come back still beats (a broker outage is
not the process's fault, and restarting it would not help), so only a loop that is truly stuck,
in a handler or a dead thread, goes stale and gets the process restarted.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# A loop goes round at least every few seconds (the relay's poll interval, the worker's drain
# timeout); two minutes without a beat is a stuck process, not a slow one.
STALE_AFTER_SECONDS = 120.0


class Heartbeat:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = clock()

    def beat(self) -> None:
        self._last = self._clock()

    def age(self) -> float:
        return self._clock() - self._last

    def alive(self, stale_after: float = STALE_AFTER_SECONDS) -> bool:
        return self.age() < stale_after
