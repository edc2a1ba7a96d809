"""``Idempotency-Key`` for creating POSTs: a retried request gets the first answer, not a second resource.

The first request with a key takes a lock; its response (below 500) is stored for 24 hours and
replayed, marked ``Idempotent-Replayed: true``. The same key with a different body is a 422
problem; a retry while the first is still running is a 409 problem.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec

from flask import Response, current_app, g, request

from spectral_shared.web.problems import Problem

P = ParamSpec("P")
STORE_SECONDS = 24 * 3600
LOCK_SECONDS = 60


def idempotent(scope: str) -> Callable[[Callable[P, Any]], Callable[P, Response]]:
    def decorate(view: Callable[P, Any]) -> Callable[P, Response]:
        @wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
            key = request.headers.get("Idempotency-Key")
            if key is None:
                return current_app.make_response(view(*args, **kwargs))
            if not 1 <= len(key) <= 255 or not key.isprintable():
                raise Problem(
                    400,
                    "Invalid Idempotency-Key",
                    detail="Use 1 to 255 printable characters, e.g. a UUID.",
                )
            store = current_app.extensions["spectral"].kv
            identity = g.get("identity")
            tenant = identity.organization_id if identity else "anonymous"
            slot = f"idem:{scope}:{tenant}:{hashlib.sha256(key.encode()).hexdigest()}"
            fingerprint = hashlib.sha256(request.get_data(cache=True)).hexdigest()
            stored = store.get(slot)
            if stored is not None:
                return _replay(json.loads(stored), fingerprint)
            pending = json.dumps({"state": "pending", "fingerprint": fingerprint}).encode()
            if not store.set(slot, pending, ttl_seconds=LOCK_SECONDS, only_if_absent=True):
                again = store.get(slot)
                if again is not None:
                    return _replay(json.loads(again), fingerprint)
            try:
                response = current_app.make_response(view(*args, **kwargs))
            except BaseException:
                store.delete(slot)
                raise
            if response.status_code >= 500:
                store.delete(slot)
                return response
            record = {
                "state": "done",
                "fingerprint": fingerprint,
                "status": response.status_code,
                "body": response.get_data(as_text=True),
                "headers": {
                    k: v for k, v in response.headers.items() if k in ("Content-Type", "Location")
                },
            }
            store.set(slot, json.dumps(record).encode(), ttl_seconds=STORE_SECONDS)
            return response

        return wrapper

    return decorate


def _replay(record: dict[str, Any], fingerprint: str) -> Response:
    if record["fingerprint"] != fingerprint:
        raise Problem(
            422,
            "Idempotency-Key reused",
            detail="This Idempotency-Key was used with a different request body.",
            type_slug="idempotency-key-reused",
        )
    if record["state"] == "pending":
        raise Problem(
            409,
            "Request in progress",
            detail="A request with this Idempotency-Key is still being processed; retry shortly.",
            type_slug="idempotency-in-progress",
            headers={"Retry-After": "1"},
        )
    response = Response(record["body"], status=record["status"], headers=record["headers"])
    response.headers["Idempotent-Replayed"] = "true"
    return response
