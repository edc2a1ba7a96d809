"""A small key-value store with expiry: Redis when ``REDIS_URL`` is set, process memory otherwise.

Used for idempotency keys now, and sessions and rate limits later. Only the operations those
need are exposed, with the same semantics on both backends.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import redis


class KeyValueStore(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def set(
        self, key: str, value: bytes, *, ttl_seconds: int, only_if_absent: bool = False
    ) -> bool: ...
    def delete(self, key: str) -> None: ...
    def incr(self, key: str, *, ttl_seconds: int) -> int: ...
    def tally(self, key: str, field: str, *, ttl_seconds: int) -> None: ...
    def tallies(self, key: str) -> dict[str, int]: ...
    def ping(self) -> bool: ...


class MemoryStore:
    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes, float]] = {}
        self._tallies: dict[str, tuple[dict[str, int], float]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= time.monotonic():
            del self._data[key]
            return None
        return item[0]

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._live(key)

    def set(
        self, key: str, value: bytes, *, ttl_seconds: int, only_if_absent: bool = False
    ) -> bool:
        with self._lock:
            if only_if_absent and self._live(key) is not None:
                return False
            self._data[key] = (value, time.monotonic() + ttl_seconds)
            return True

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def incr(self, key: str, *, ttl_seconds: int) -> int:
        with self._lock:
            value = int(self._live(key) or b"0") + 1
            self._data[key] = (str(value).encode(), time.monotonic() + ttl_seconds)
            return value

    def tally(self, key: str, field: str, *, ttl_seconds: int) -> None:
        """Count one for ``field`` in the counters kept under ``key`` (a Redis hash)."""
        with self._lock:
            counts = self._tallies.get(key)
            if counts is None or counts[1] <= time.monotonic():
                counts = self._tallies[key] = ({}, time.monotonic() + ttl_seconds)
            counts[0][field] = counts[0].get(field, 0) + 1

    def tallies(self, key: str) -> dict[str, int]:
        with self._lock:
            counts = self._tallies.get(key)
            if counts is None or counts[1] <= time.monotonic():
                return {}
            return dict(counts[0])

    def ping(self) -> bool:
        return True


class RedisStore:
    def __init__(self, url: str, *, prefix: str = "spectral:") -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix

    def get(self, key: str) -> bytes | None:
        value = self.client.get(self.prefix + key)
        return value if isinstance(value, bytes) else None

    def set(
        self, key: str, value: bytes, *, ttl_seconds: int, only_if_absent: bool = False
    ) -> bool:
        return bool(self.client.set(self.prefix + key, value, ex=ttl_seconds, nx=only_if_absent))

    def delete(self, key: str) -> None:
        self.client.delete(self.prefix + key)

    def incr(self, key: str, *, ttl_seconds: int) -> int:
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(self.prefix + key)
        pipe.expire(self.prefix + key, ttl_seconds)
        value, _ = pipe.execute()
        return int(value)

    def tally(self, key: str, field: str, *, ttl_seconds: int) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hincrby(self.prefix + key, field, 1)
        pipe.expire(self.prefix + key, ttl_seconds)
        pipe.execute()

    def tallies(self, key: str) -> dict[str, int]:
        raw = self.client.hgetall(self.prefix + key)
        return {k.decode(): int(v) for k, v in raw.items()}  # type: ignore[union-attr]

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False


def key_value_store(redis_url: str | None, *, prefix: str = "spectral:") -> KeyValueStore:
    return RedisStore(redis_url, prefix=prefix) if redis_url else MemoryStore()
