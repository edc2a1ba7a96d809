"""The sliding-window limiter on real Redis and in memory: same answers from both."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from spectral_shared.kv import KeyValueStore, MemoryStore, RedisStore
from spectral_shared.ratelimit import (
    Guard,
    GuardMoved,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    rate_limiter,
)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest) -> KeyValueStore:
    if request.param == "memory":
        return MemoryStore()
    return RedisStore(request.getfixturevalue("redis_url"), prefix=f"test-{uuid.uuid4().hex}:")


@pytest.fixture
def limiter(store: KeyValueStore) -> RateLimiter:
    return rate_limiter(store, namespace="quota:")


def test_the_limiter_follows_its_store(store: KeyValueStore) -> None:
    expected = RedisRateLimiter if isinstance(store, RedisStore) else MemoryRateLimiter
    assert isinstance(rate_limiter(store), expected)


def test_allows_up_to_the_limit_then_refuses_with_retry_after(limiter: RateLimiter) -> None:
    decisions = [limiter.hit("org-1", limit=5, window_seconds=60) for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    refused = decisions[-1]
    assert 1 <= refused.retry_after_seconds <= 120
    assert refused.headers()["Retry-After"] == str(refused.retry_after_seconds)
    assert (
        refused.headers()["X-RateLimit-Limit"] == "5"
        and refused.headers()["X-RateLimit-Remaining"] == "0"
    )


def test_keys_are_counted_apart(limiter: RateLimiter) -> None:
    for _ in range(3):
        limiter.hit("org-a", limit=3, window_seconds=60)
    assert not limiter.hit("org-a", limit=3, window_seconds=60).allowed
    assert limiter.hit("org-b", limit=3, window_seconds=60).allowed


def test_the_window_slides(limiter: RateLimiter) -> None:
    hit: Callable[[], bool] = lambda: limiter.hit("org-s", limit=4, window_seconds=0.5).allowed  # noqa: E731
    assert all(hit() for _ in range(4))
    assert not hit()
    time.sleep(1.05)  # two whole windows later nothing of the burst counts
    assert all(hit() for _ in range(4))


def test_a_guarded_hit_counts_while_the_guard_holds(
    store: KeyValueStore, limiter: RateLimiter
) -> None:
    store.incr("version:user-1", ttl_seconds=60)
    guard = Guard("version:user-1", b"1")
    assert limiter.hit("org-g", limit=3, window_seconds=60, guard=guard).remaining == 2
    assert limiter.hit("org-g", limit=3, window_seconds=60, guard=guard).remaining == 1


def test_a_moved_guard_counts_nothing_and_says_what_it_holds(
    store: KeyValueStore, limiter: RateLimiter
) -> None:
    store.incr("version:user-2", ttl_seconds=60)
    limiter.hit("org-m", limit=3, window_seconds=60, guard=Guard("version:user-2", b"1"))
    store.incr("version:user-2", ttl_seconds=60)  # a committed change elsewhere
    with pytest.raises(GuardMoved) as moved:
        limiter.hit("org-m", limit=3, window_seconds=60, guard=Guard("version:user-2", b"1"))
    assert moved.value.current == b"2"
    # The refused hit was not counted: two more fit under the limit of three.
    assert limiter.hit("org-m", limit=3, window_seconds=60).remaining == 1
    renewed = Guard("version:user-2", b"2")
    assert limiter.hit("org-m", limit=3, window_seconds=60, guard=renewed).remaining == 0


def test_an_absent_guard_key_holds_the_empty_value(
    store: KeyValueStore, limiter: RateLimiter
) -> None:
    assert limiter.hit(
        "org-e", limit=3, window_seconds=60, guard=Guard("version:none", b"")
    ).allowed
    with pytest.raises(GuardMoved) as moved:
        limiter.hit("org-e", limit=3, window_seconds=60, guard=Guard("version:none", b"7"))
    assert moved.value.current == b""
