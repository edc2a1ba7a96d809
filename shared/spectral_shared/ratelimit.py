"""Sliding-window rate limits, kept in the service's key-value store: Redis when ``REDIS_URL`` is
set, process memory otherwise.

The sliding-window *counter* (two fixed buckets, the previous one weighted by how much of it
still overlaps the window) approximates a true sliding log within a few percent, in O(1) memory
per key: a per-organization quota of 100,000 an hour costs two integers, not 100,000 entries.
On Redis one Lua script reads and increments atomically, so concurrent gateways share a count.

A hit may be *guarded*: counted only while a key of the same store still holds the value the
caller expects (a version it cached facts under). The check rides in the same script, so a caller
that must re-validate a cache and count a request pays one round trip, not two; when the key has
moved nothing is counted and :class:`GuardMoved` says what it holds now.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from spectral_shared.kv import KeyValueStore, MemoryStore, RedisStore

_SCRIPT = """
local guard = tonumber(ARGV[4])
local tally = tonumber(ARGV[5])
if guard > 0 and (redis.call('GET', KEYS[guard]) or '') ~= ARGV[6] then
  return {-1, redis.call('GET', KEYS[guard]) or ''}
end
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local bucket = math.floor(now / window)
local current_key = KEYS[1] .. ':' .. bucket
local previous = tonumber(redis.call('GET', KEYS[1] .. ':' .. (bucket - 1)) or '0')
local current = tonumber(redis.call('GET', current_key) or '0')
local overlap = 1 - (now % window) / window
local used = previous * overlap + current
if used + 1 > limit then
  return {0, tostring(used), tostring(previous)}
end
redis.call('INCR', current_key)
redis.call('PEXPIRE', current_key, window * 2)
if tally > 0 then
  redis.call('HINCRBY', KEYS[tally], ARGV[7], 1)
  redis.call('EXPIRE', KEYS[tally], tonumber(ARGV[8]))
end
return {1, tostring(used + 1), tostring(previous)}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # until the current bucket ends
    retry_after_seconds: int  # 0 when allowed

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers


def _decide(
    allowed: bool, used: float, previous: float, limit: int, window_ms: int, now_ms: int
) -> Decision:
    into_bucket = now_ms % window_ms
    reset = math.ceil((window_ms - into_bucket) / 1000)
    retry = 0
    if not allowed:
        # The weighted previous bucket decays linearly: wait until one request fits again,
        # and never past the end of this bucket plus a whole window.
        excess = used + 1 - limit
        retry_ms = window_ms * excess / previous if previous > 0 else window_ms - into_bucket
        retry = max(
            1, min(math.ceil(retry_ms / 1000), math.ceil((2 * window_ms - into_bucket) / 1000))
        )
    return Decision(allowed, limit, max(0, limit - math.ceil(used)), reset, retry)


@dataclass(frozen=True)
class Guard:
    """Count only if the store's ``key`` still holds ``expected`` (an absent key holds b"")."""

    key: str
    expected: bytes


@dataclass(frozen=True)
class Tally:
    """Also count an allowed hit under ``field`` in the store's counters at ``key`` (kept
    ``ttl_seconds``): usage metering that rides in the same round trip (read with
    ``KeyValueStore.tallies``)."""

    key: str
    field: str
    ttl_seconds: int = 3 * 86_400


class GuardMoved(Exception):
    """The guard's key no longer holds what the caller expected; nothing was counted."""

    def __init__(self, current: bytes) -> None:
        super().__init__("the guarded key has moved")
        self.current = current


class RateLimiter(Protocol):
    def hit(
        self,
        key: str,
        *,
        limit: int,
        window_seconds: float,
        guard: Guard | None = None,
        tally: Tally | None = None,
    ) -> Decision: ...


class RedisRateLimiter:
    def __init__(self, store: RedisStore, *, namespace: str = "ratelimit:") -> None:
        self.store = store
        self.script = store.client.register_script(_SCRIPT)
        self.prefix = store.prefix + namespace

    def hit(
        self,
        key: str,
        *,
        limit: int,
        window_seconds: float,
        guard: Guard | None = None,
        tally: Tally | None = None,
    ) -> Decision:
        window_ms = int(window_seconds * 1000)
        now_ms = int(time.time() * 1000)
        keys = [self.prefix + key]
        guard_at = tally_at = 0
        if guard is not None:
            keys.append(self.store.prefix + guard.key)
            guard_at = len(keys)
        if tally is not None:
            keys.append(self.store.prefix + tally.key)
            tally_at = len(keys)
        args: list[int | bytes | str] = [
            now_ms,
            window_ms,
            limit,
            guard_at,
            tally_at,
            guard.expected if guard is not None else b"",
            tally.field if tally is not None else "",
            tally.ttl_seconds if tally is not None else 0,
        ]
        allowed, used, *rest = self.script(keys=keys, args=args)
        if int(allowed) < 0:
            raise GuardMoved(used)
        return _decide(bool(int(allowed)), float(used), float(rest[0]), limit, window_ms, now_ms)


class MemoryRateLimiter:
    def __init__(self, store: KeyValueStore | None = None) -> None:
        self.store = store if store is not None else MemoryStore()
        self._buckets: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def hit(
        self,
        key: str,
        *,
        limit: int,
        window_seconds: float,
        guard: Guard | None = None,
        tally: Tally | None = None,
    ) -> Decision:
        window_ms = int(window_seconds * 1000)
        now_ms = int(time.time() * 1000)
        bucket = now_ms // window_ms
        with self._lock:
            if guard is not None:
                held = self.store.get(guard.key) or b""
                if held != guard.expected:
                    raise GuardMoved(held)
            previous = self._buckets.get((key, bucket - 1), 0)
            current = self._buckets.get((key, bucket), 0)
            used = previous * (1 - (now_ms % window_ms) / window_ms) + current
            allowed = used + 1 <= limit
            if allowed:
                self._buckets[(key, bucket)] = current + 1
                used += 1
            for stale in [k for k in self._buckets if k[0] == key and k[1] < bucket - 1]:
                del self._buckets[stale]
        if allowed and tally is not None:
            self.store.tally(tally.key, tally.field, ttl_seconds=tally.ttl_seconds)
        return _decide(allowed, used, previous, limit, window_ms, now_ms)


def rate_limiter(store: KeyValueStore, *, namespace: str = "ratelimit:") -> RateLimiter:
    """A limiter whose counters live in ``store`` (under ``namespace``) and whose guards read it."""
    if isinstance(store, RedisStore):
        return RedisRateLimiter(store, namespace=namespace)
    return MemoryRateLimiter(store)
