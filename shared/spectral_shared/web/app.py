"""The app base every service's factory calls: request ids, logging context, tracing, metrics,
RFC 9457 errors, ``/health``, ``/livez``, ``/metrics`` and the OpenAPI document."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import redis
from flask import Blueprint, Flask, Response, g, jsonify, request
from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from spectral_shared import metrics
from spectral_shared.context import correlation_id
from spectral_shared.crypto import UnknownKeyError
from spectral_shared.errors import DomainError
from spectral_shared.logging import bind_context, clear_context, get_logger
from spectral_shared.tracing import current_trace_id, extract_context, tracer
from spectral_shared.web.converters import register_converters
from spectral_shared.web.health import health_report
from spectral_shared.web.openapi import ApiDoc
from spectral_shared.web.problems import Problem, domain_problem

log = get_logger("spectral.http")
# An X-Request-ID from outside is kept only if it looks like one (the gateway checks the same).
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{8,128}$"
DEPENDENCY_RETRY_AFTER = 5  # seconds, on a 503 while the database or Redis is unreachable
_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)


class ServiceRuntime(Protocol):
    """What the app base needs of a component's runtime (``spectral_shared.component.Runtime``,
    which builds the app through ``Runtime.app``). Blueprints read the whole runtime back from
    ``app.extensions["spectral"]``."""

    name: str

    def health_checks(self, *, broker: bool, redis: bool) -> dict[str, Callable[[], bool]]: ...


def create_service_app(runtime: ServiceRuntime, api: ApiDoc, blueprints: list[Blueprint]) -> Flask:
    app = Flask(f"spectral_{runtime.name}")
    app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["spectral"] = runtime
    register_converters(app)
    service = runtime.name

    @app.before_request
    def start_request() -> None:
        clear_context()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else str(uuid.uuid4())
        g.correlation_token = correlation_id.set(g.request_id)
        g.started = time.perf_counter()
        span = tracer("spectral.http").start_span(
            f"{request.method} {request.url_rule.rule if request.url_rule else request.path}",
            context=extract_context(dict(request.headers)),
            kind=trace.SpanKind.SERVER,
            attributes={
                "http.request.method": request.method,
                "url.path": request.path,
                "spectral.service": service,
            },
        )
        g.span = span
        g.span_token = trace.use_span(span, end_on_exit=False)
        g.span_token.__enter__()
        bind_context(request_id=g.request_id, service=service, trace_id=current_trace_id())

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers.setdefault("Cache-Control", "no-store")
        rule = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        metrics.http_request_duration.labels(
            service, request.method, rule, str(response.status_code)
        ).observe(elapsed)
        span = g.get("span")
        if span is not None:
            span.set_attribute("http.response.status_code", response.status_code)
        if rule not in ("/livez", "/metrics", "/health"):
            log.info(
                "http.request",
                method=request.method,
                route=rule,
                status=response.status_code,
                duration_ms=round(elapsed * 1000, 2),
            )
        return response

    @app.teardown_request
    def end_span(_exc: BaseException | None) -> None:
        token = g.pop("span_token", None)
        if token is not None:
            token.__exit__(None, None, None)
        span = g.pop("span", None)
        if span is not None:
            span.end()
        ctoken = g.pop("correlation_token", None)
        if ctoken is not None:
            correlation_id.reset(ctoken)

    @app.errorhandler(Problem)
    def problem(exc: Problem) -> Response:
        return exc.response(instance=request.path)

    @app.errorhandler(DomainError)
    def refused(exc: DomainError) -> Response:
        return domain_problem(exc).response(instance=request.path)

    @app.errorhandler(HTTPException)
    def http_problem(exc: HTTPException) -> Response:
        status = exc.code or 500
        detail = exc.description if status != 404 else "No resource lives at this address."
        headers = {}
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return Problem(status, exc.name, detail=detail, headers=headers).response(
            instance=request.path
        )

    @app.errorhandler(sa_exc.OperationalError)
    @app.errorhandler(sa_exc.InterfaceError)
    @app.errorhandler(sa_exc.TimeoutError)  # no pooled connection came free in time
    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    def dependency_unavailable(exc: Exception) -> Response:
        # A restart, a failover, a lost connection, a deadlock: over in seconds. 503 with
        # Retry-After tells clients (telemetry senders above all) to send again, not give up.
        store = "session store" if isinstance(exc, redis.RedisError) else "database"
        log.warning(f"http.{store.replace(' ', '_')}_unavailable", error_type=type(exc).__name__)
        return Problem(
            503,
            "Service unavailable",
            detail=f"The service could not reach its {store}. Retry shortly; a request sent "
            "with an Idempotency-Key is safe to repeat.",
            headers={"Retry-After": str(DEPENDENCY_RETRY_AFTER)},
        ).response(instance=request.path)

    @app.errorhandler(UnknownKeyError)
    def key_not_configured(exc: UnknownKeyError) -> Response:
        # The database holds a value encrypted under a key this process lacks (ADR 0039): the
        # start-up check refuses that, so a key was taken away while running, or a row arrived
        # since. The operator's to fix, not the client's: say so, never a bare 500.
        log.error(
            "http.encryption_key_not_configured",
            key_id=exc.key_id,
            remedy="add the key with this id to ENCRYPTION_KEYS_PREVIOUS "
            "(docs/operations.md#troubleshooting)",
        )
        return Problem(
            503,
            "Encryption key not configured",
            detail="This service holds data encrypted under a key it has not been given, so it "
            f"cannot answer this request. Quote request id {g.get('request_id')} to support.",
            type_slug="encryption-key-not-configured",
        ).response(instance=request.path)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("http.unhandled_error", error_type=type(exc).__name__)
        return Problem(
            500,
            "Internal server error",
            detail=f"Something went wrong on our side. Quote request id {g.get('request_id')} to support.",
        ).response(instance=request.path)

    # What the web target needs to serve: its database, and Redis when configured. Not the
    # broker: requests only write the outbox, so a broker outage must not take the API out of
    # rotation (the relay catches up afterwards).
    checks = runtime.health_checks(broker=False, redis=True)

    @app.get("/health")
    def health() -> tuple[Response, int]:
        body, status = health_report(checks)
        body["service"] = service
        return jsonify(body), status

    @app.get("/livez")
    def livez() -> Response:
        return jsonify({"status": "alive"})

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)

    for blueprint in blueprints:
        app.register_blueprint(blueprint)

    document: dict[str, Any] = {}
    # The gateway limits these public routes per client address: they answer 429 too.
    routes = getattr(getattr(runtime, "component", None), "routes", ())
    limited = [route.prefix for route in routes if route.abuse_prone]

    @app.get(f"/api/v1/{service}/openapi.json")
    def openapi() -> Response:
        if not document:
            document.update(api.build(app, limited))
        return jsonify(document)

    return app
