"""Idempotency-Key on creating POSTs, against process memory and a real Redis."""

from __future__ import annotations

import threading
import types
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, Response, g, request
from flask.testing import FlaskClient

from spectral_shared.identity import Identity
from spectral_shared.kv import KeyValueStore, MemoryStore, RedisStore
from spectral_shared.web.idempotency import idempotent
from spectral_shared.web.problems import PROBLEM_BASE, PROBLEM_CONTENT_TYPE, Problem


class IdempotencyApp:
    def __init__(self, store: KeyValueStore) -> None:
        self.calls = 0
        self.fail_with: int | None = None
        self.raise_error = False
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        app = Flask("idempotency-test")
        app.extensions["spectral"] = types.SimpleNamespace(kv=store)

        @app.errorhandler(Problem)
        def problem(exc: Problem) -> Response:
            return exc.response(instance=request.path)

        @app.before_request
        def identify() -> None:
            org = request.headers.get("X-Test-Org")
            if org:
                g.identity = Identity("user", "u-1", org, "admin")

        @app.post("/things")
        @idempotent("things")
        def create() -> Any:
            self.entered.set()
            assert self.release.wait(5)
            self.calls += 1
            if self.raise_error:
                raise RuntimeError("database went away")
            if self.fail_with:
                return {"error": "unavailable"}, self.fail_with
            body = request.get_json()
            return (
                {"id": self.calls, "name": body["name"]},
                201,
                {"Location": f"/things/{self.calls}"},
            )

        self.app = app
        self.client = app.test_client()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest) -> Iterator[KeyValueStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    prefix = f"spectral-test:{uuid.uuid4().hex}:"
    redis_store = RedisStore(request.getfixturevalue("redis_url"), prefix=prefix)
    yield redis_store
    for key in redis_store.client.scan_iter(match=prefix + "*"):
        redis_store.client.delete(key)
    redis_store.client.close()


@pytest.fixture
def service(store: KeyValueStore) -> IdempotencyApp:
    return IdempotencyApp(store)


def _post(
    client: FlaskClient, body: dict[str, Any], key: str | None, org: str | None = None
) -> Any:
    headers = {}
    if key is not None:
        headers["Idempotency-Key"] = key
    if org is not None:
        headers["X-Test-Org"] = org
    return client.post("/things", json=body, headers=headers)


def test_same_key_and_body_replays_the_first_response(service: IdempotencyApp) -> None:
    key = str(uuid.uuid4())
    first = _post(service.client, {"name": "a"}, key)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers

    second = _post(service.client, {"name": "a"}, key)
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_json() == first.get_json() == {"id": 1, "name": "a"}
    assert second.headers["Location"] == "/things/1"
    assert second.mimetype == "application/json"
    assert service.calls == 1


def test_same_key_with_a_different_body_is_a_422_problem(service: IdempotencyApp) -> None:
    key = str(uuid.uuid4())
    _post(service.client, {"name": "a"}, key)
    response = _post(service.client, {"name": "b"}, key)
    assert response.status_code == 422
    assert response.mimetype == PROBLEM_CONTENT_TYPE
    assert response.get_json()["type"] == PROBLEM_BASE + "idempotency-key-reused"
    assert service.calls == 1


def test_without_a_key_the_view_runs_each_time(service: IdempotencyApp) -> None:
    assert _post(service.client, {"name": "a"}, None).get_json() == {"id": 1, "name": "a"}
    assert _post(service.client, {"name": "a"}, None).get_json() == {"id": 2, "name": "a"}
    assert service.calls == 2


def test_different_keys_are_independent(service: IdempotencyApp) -> None:
    _post(service.client, {"name": "a"}, "key-1")
    response = _post(service.client, {"name": "a"}, "key-2")
    assert "Idempotent-Replayed" not in response.headers
    assert service.calls == 2


def test_keys_are_scoped_by_tenant(service: IdempotencyApp) -> None:
    _post(service.client, {"name": "a"}, "shared-key", org="org-1")
    other = _post(service.client, {"name": "a"}, "shared-key", org="org-2")
    assert "Idempotent-Replayed" not in other.headers
    same = _post(service.client, {"name": "a"}, "shared-key", org="org-1")
    assert same.headers["Idempotent-Replayed"] == "true"
    assert service.calls == 2


def test_a_server_error_is_not_stored(service: IdempotencyApp) -> None:
    key = str(uuid.uuid4())
    service.fail_with = 503
    assert _post(service.client, {"name": "a"}, key).status_code == 503
    service.fail_with = None
    retried = _post(service.client, {"name": "a"}, key)
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert service.calls == 2


def test_a_client_error_is_stored_and_replayed(service: IdempotencyApp) -> None:
    key = str(uuid.uuid4())
    service.fail_with = 409
    assert _post(service.client, {"name": "a"}, key).status_code == 409
    service.fail_with = None
    replayed = _post(service.client, {"name": "a"}, key)
    assert replayed.status_code == 409
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert service.calls == 1


def test_an_exception_releases_the_key(service: IdempotencyApp) -> None:
    key = str(uuid.uuid4())
    service.raise_error = True
    assert _post(service.client, {"name": "a"}, key).status_code == 500
    service.raise_error = False
    assert _post(service.client, {"name": "a"}, key).status_code == 201
    assert service.calls == 2


def test_a_retry_while_the_first_is_running_is_a_409_problem(service: IdempotencyApp) -> None:
    key = str(uuid.uuid4())
    service.release.clear()
    results: list[Any] = []
    first = threading.Thread(
        target=lambda: results.append(_post(service.app.test_client(), {"name": "a"}, key))
    )
    first.start()
    try:
        assert service.entered.wait(5)
        concurrent = _post(service.client, {"name": "a"}, key)
        assert concurrent.status_code == 409
        assert concurrent.headers["Retry-After"] == "1"
        assert concurrent.get_json()["type"] == PROBLEM_BASE + "idempotency-in-progress"
    finally:
        service.release.set()
        first.join(5)
    assert results[0].status_code == 201
    assert _post(service.client, {"name": "a"}, key).headers["Idempotent-Replayed"] == "true"
    assert service.calls == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "bad\nkey"])
def test_invalid_keys_are_a_400_problem(service: IdempotencyApp, key: str) -> None:
    response = service.client.post(
        "/things", json={"name": "a"}, environ_base={"HTTP_IDEMPOTENCY_KEY": key}
    )
    assert response.status_code == 400
    assert response.mimetype == PROBLEM_CONTENT_TYPE
    assert service.calls == 0
