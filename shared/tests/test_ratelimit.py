"""The sliding-window limiter on real Redis and in memory: same answers from both."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from spectral_shared.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    if request.param == "memory":
        return MemoryRateLimiter()
    return RedisRateLimiter(
        request.getfixturevalue("redis_url"), prefix=f"test-{uuid.uuid4().hex}:"
    )


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
