"""The key-value store: the same behaviour from process memory and from a real Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from spectral_shared.kv import KeyValueStore, MemoryStore, RedisStore, key_value_store


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest) -> Iterator[KeyValueStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    redis_url = request.getfixturevalue("redis_url")
    prefix = f"spectral-test:{uuid.uuid4().hex}:"
    redis_store = RedisStore(redis_url, prefix=prefix)
    yield redis_store
    for key in redis_store.client.scan_iter(match=prefix + "*"):
        redis_store.client.delete(key)
    redis_store.client.close()


def test_get_missing_is_none(store: KeyValueStore) -> None:
    assert store.get("nothing-here") is None


def test_set_then_get(store: KeyValueStore) -> None:
    assert store.set("k", b"\x00binary\xffvalue", ttl_seconds=60) is True
    assert store.get("k") == b"\x00binary\xffvalue"
    assert store.set("k", b"replaced", ttl_seconds=60) is True
    assert store.get("k") == b"replaced"


def test_only_if_absent(store: KeyValueStore) -> None:
    assert store.set("lock", b"first", ttl_seconds=60, only_if_absent=True) is True
    assert store.set("lock", b"second", ttl_seconds=60, only_if_absent=True) is False
    assert store.get("lock") == b"first"


def test_delete(store: KeyValueStore) -> None:
    store.set("k", b"v", ttl_seconds=60)
    store.delete("k")
    assert store.get("k") is None
    store.delete("k")  # deleting a missing key is fine
    assert store.set("k", b"again", ttl_seconds=60, only_if_absent=True) is True


def test_keys_are_independent(store: KeyValueStore) -> None:
    store.set("a", b"1", ttl_seconds=60)
    store.set("b", b"2", ttl_seconds=60)
    store.delete("a")
    assert (store.get("a"), store.get("b")) == (None, b"2")


def test_ttl_expiry_frees_the_key(store: KeyValueStore) -> None:
    store.set("short", b"v", ttl_seconds=1)
    store.set("long", b"v", ttl_seconds=60)
    assert store.get("short") == b"v"
    deadline = time.monotonic() + 3
    while store.get("short") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.get("short") is None
    assert store.get("long") == b"v"
    # An expired key is absent for only_if_absent too.
    assert store.set("short", b"new", ttl_seconds=60, only_if_absent=True) is True
    assert store.get("short") == b"new"


def test_ping(store: KeyValueStore) -> None:
    assert store.ping() is True


@pytest.mark.integration
def test_redis_store_uses_its_prefix(redis_url: str) -> None:
    prefix = f"spectral-test:{uuid.uuid4().hex}:"
    one, two = (
        RedisStore(redis_url, prefix=prefix + "one:"),
        RedisStore(redis_url, prefix=prefix + "two:"),
    )
    try:
        one.set("k", b"1", ttl_seconds=30)
        assert two.get("k") is None
        assert one.client.get(prefix + "one:k") == b"1"
        assert 0 < one.client.ttl(prefix + "one:k") <= 30
    finally:
        one.client.delete(prefix + "one:k")
        one.client.close()
        two.client.close()


def test_redis_ping_is_false_when_unreachable() -> None:
    unreachable = RedisStore("redis://127.0.0.1:1/0")
    try:
        assert unreachable.ping() is False
    finally:
        unreachable.client.close()


def test_key_value_store_picks_the_backend() -> None:
    assert isinstance(key_value_store(None), MemoryStore)
    assert isinstance(key_value_store(""), MemoryStore)
    chosen = key_value_store("redis://127.0.0.1:6379/0", prefix="p:")
    assert isinstance(chosen, RedisStore)
    assert chosen.prefix == "p:"
    chosen.client.close()
