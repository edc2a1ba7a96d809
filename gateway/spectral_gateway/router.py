"""Routers that follow the route table: in-process (``spectral all``) and proxying (split topology)."""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import requests
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from spectral_gateway.api_docs import combine, render_page
from spectral_gateway.contract import (
    AUTH_REQUEST_HEADER,
    AUTHORIZE_PATH,
    DENIAL_HEADER,
    IDENTITY_HEADERS,
    INTERNAL_TOKEN_HEADER,
    QUOTA_HEADERS,
    REQUEST_ID_PATTERN,
    SECURITY_HEADERS,
    content_security_policy,
)
from spectral_gateway.problems import GATEWAY_PROBLEMS
from spectral_gateway.routes import Route, route_for, route_table
from spectral_shared.logging import get_logger
from spectral_shared.ratelimit import MemoryRateLimiter
from spectral_shared.web.health import health_report
from spectral_shared.web.problems import PROBLEM_CONTENT_TYPE

log = get_logger(__name__)
_DOCS_SECONDS = 60.0  # the combined API document is rebuilt at most this often

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "content-encoding",
    "host",
}


class _Router:
    def __init__(
        self,
        routes: tuple[Route, ...] | None,
        health_checks: dict[str, Callable[[], bool]],
    ) -> None:
        self.routes = route_table() if routes is None else routes
        self.health_checks = health_checks
        self._docs: tuple[float, dict[str, Any]] | None = None

    def documents(self) -> dict[str, dict[str, Any]]:
        """Each service's OpenAPI document (service name -> document)."""
        raise NotImplementedError

    def combined_document(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._docs is None or now - self._docs[0] > _DOCS_SECONDS:
            self._docs = (now, combine(self.documents()))
        return self._docs[1]

    def platform(self, request: Request) -> Response | None:
        if request.path == "/api/docs/openapi.json":
            return Response(json.dumps(self.combined_document()), content_type="application/json")
        if request.path in ("/api/docs", "/api/docs/"):
            page = render_page(self.combined_document())
            return Response(page, content_type="text/html; charset=utf-8")
        if request.path == "/livez":
            return Response(json.dumps({"status": "alive"}), content_type="application/json")
        if request.path == "/health":
            body, status = health_report(self.health_checks)
            return Response(json.dumps(body), status=status, content_type="application/json")
        # /metrics is not here: a router is public, and metrics are scraped on the process's
        # metrics port (`--metrics-port`), never through it.
        return None


class InProcessRouter(_Router):
    """Dispatches each request to the service app the table names, in this process, under the
    gateway's contract (the nginx config enforces the same; only TLS is nginx's alone): identity
    headers from the client dropped, a request id kept or made, the per-IP limit on abuse-prone
    public routes, each route's body limit, and auth's answer about every other route, whose
    internal token then replaces the client's credential."""

    def __init__(
        self,
        apps: Mapping[str, WSGIApp],
        health_checks: dict[str, Callable[[], bool]],
        routes: tuple[Route, ...] | None = None,
        *,
        abuse_rate_per_minute: int = 30,
    ) -> None:
        super().__init__(routes, health_checks)
        self.apps = apps
        self.abuse_rate_per_minute = abuse_rate_per_minute
        self.per_ip = MemoryRateLimiter()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        _drop_identity_headers(environ)
        request_id = _request_id(environ)
        request = Request(environ)
        response = self.platform(request)
        if response is None:
            route = route_for(request.path, self.routes)
            # Internal routes are for services and the gateway, never for a client.
            app = self.apps.get(route.service) if route and not route.internal else None
            if route is None or app is None:
                response = gateway_problem("not_found", request_id)
            else:
                response, extra = self._admit(route, environ, request, request_id)
                if response is None:
                    return app(environ, _with_headers(start_response, extra, request.path))
        _secure(response, request.path, request_id)
        return response(environ, start_response)

    def documents(self) -> dict[str, dict[str, Any]]:
        found = {}
        for service, app in self.apps.items():
            answer = Response.from_app(
                app, EnvironBuilder(path=f"/api/v1/{service}/openapi.json").get_environ()
            )
            if answer.status_code == 200:
                found[service] = json.loads(answer.get_data())
        return found

    def _admit(
        self, route: Route, environ: dict[str, Any], request: Request, request_id: str
    ) -> tuple[Response | None, list[tuple[str, str]]]:
        """None and the headers to add, or the problem that stops the request here."""
        if route.abuse_prone:
            decision = self.per_ip.hit(
                f"abuse:{request.remote_addr}",  # one budget per address, as nginx's zone
                limit=self.abuse_rate_per_minute,
                window_seconds=60,
            )
            if not decision.allowed:
                retry = str(max(1, -(-60 // self.abuse_rate_per_minute)))
                return gateway_problem("rate_limited", request_id, {"Retry-After": retry}), []
        if (request.content_length or 0) > body_limit(route.max_body):
            return gateway_problem("too_large", request_id), []
        if route.public:
            return None, []
        return self._authorize(environ, request_id)

    def _authorize(
        self, environ: dict[str, Any], request_id: str
    ) -> tuple[Response | None, list[tuple[str, str]]]:
        """Ask auth, as nginx's auth_request does: the same path, headers and answers."""
        auth = self.apps.get("auth")
        if auth is None:
            return gateway_problem("unavailable", request_id), []
        asking = {
            key: value
            for key, value in environ.items()
            if not key.startswith("wsgi.") and key not in ("CONTENT_LENGTH", "CONTENT_TYPE")
        }
        asking.update(
            {
                "wsgi.input": io.BytesIO(),
                "wsgi.errors": environ.get("wsgi.errors"),
                "wsgi.url_scheme": environ.get("wsgi.url_scheme", "http"),
                "wsgi.version": (1, 0),
                "wsgi.multithread": True,
                "wsgi.multiprocess": False,
                "wsgi.run_once": False,
                "REQUEST_METHOD": "GET",
                "PATH_INFO": AUTHORIZE_PATH,
                "QUERY_STRING": "",
                "HTTP_X_ORIGINAL_METHOD": environ.get("REQUEST_METHOD", "GET"),
                "HTTP_X_ORIGINAL_URI": environ.get("RAW_URI") or environ.get("PATH_INFO", ""),
                _environ_key(AUTH_REQUEST_HEADER): "router",
                "HTTP_X_REQUEST_ID": request_id,
            }
        )
        try:
            answer = Response.from_app(auth, asking)
        except Exception:
            log.exception("gateway.authorize_failed")
            return gateway_problem("unavailable", request_id), []
        quota = [(name, answer.headers[name]) for name in QUOTA_HEADERS if name in answer.headers]
        if answer.status_code == 200 and answer.headers.get(INTERNAL_TOKEN_HEADER):
            environ["HTTP_AUTHORIZATION"] = f"Bearer {answer.headers[INTERNAL_TOKEN_HEADER]}"
            return None, quota
        denied = answer.headers.get(DENIAL_HEADER, "")
        if answer.status_code == 401:
            return gateway_problem("unauthenticated", request_id), []
        if answer.status_code == 403 and denied in ("quota", "csrf"):
            return gateway_problem(denied, request_id, dict(quota)), []
        if answer.status_code == 403:
            return gateway_problem("forbidden", request_id), []
        return gateway_problem("unavailable", request_id), []


def body_limit(size: str) -> int:
    """nginx's size syntax (``1m``, ``512k``, ``100``) in bytes."""
    units = {"k": 1024, "m": 1024 * 1024, "g": 1024 * 1024 * 1024}
    unit = size[-1].lower()
    return int(size[:-1]) * units[unit] if unit in units else int(size)


def gateway_problem(
    key: str, request_id: str, headers: Mapping[str, str] | None = None
) -> Response:
    problem = GATEWAY_PROBLEMS[key]
    response = Response(
        problem.json(request_id), status=problem.status, content_type=PROBLEM_CONTENT_TYPE
    )
    for name, value in (*problem.headers, *(headers or {}).items()):
        response.headers[name] = value
    return response


def _environ_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


_IDENTITY_KEYS = tuple(_environ_key(name) for name in IDENTITY_HEADERS)
_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)


def _drop_identity_headers(environ: dict[str, Any]) -> None:
    for key in _IDENTITY_KEYS:
        environ.pop(key, None)


def _request_id(environ: dict[str, Any]) -> str:
    incoming = environ.get("HTTP_X_REQUEST_ID", "")
    request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    environ["HTTP_X_REQUEST_ID"] = request_id
    return request_id


def _security_headers(path: str) -> list[tuple[str, str]]:
    return [*SECURITY_HEADERS, ("Content-Security-Policy", content_security_policy(path))]


def _secure(response: Response, path: str, request_id: str) -> None:
    for name, value in _security_headers(path):
        response.headers[name] = value
    response.headers["X-Request-ID"] = request_id


def _with_headers(
    start_response: Callable[..., Any], extra: list[tuple[str, str]], path: str
) -> Callable[..., Any]:
    """The service's answer, with the gateway's headers added (as nginx's add_header does)."""
    added = [*_security_headers(path), *extra]
    names = {name.lower() for name, _ in added}

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        kept = [(k, v) for k, v in headers if k.lower() not in names]
        return start_response(status, kept + added, exc_info)

    return start


class ProxyRouter(_Router):
    """Forwards each request to the upstream of the service the table names (the split topology
    without nginx). Behind nginx (``make stack``), it answers only the platform pages."""

    def __init__(self, upstreams: dict[str, str], routes: tuple[Route, ...] | None = None) -> None:
        checks = {name: self._upstream_check(url) for name, url in upstreams.items()}
        super().__init__(routes, checks)
        self.upstreams = {name: url.rstrip("/") for name, url in upstreams.items()}
        self.session = requests.Session()

    def documents(self) -> dict[str, dict[str, Any]]:
        found = {}
        for service, upstream in self.upstreams.items():
            try:
                answer = self.session.get(f"{upstream}/api/v1/{service}/openapi.json", timeout=5)
            except requests.RequestException:
                continue  # a service that is down is left out until it is back
            if answer.status_code == 200:
                found[service] = answer.json()
        return found

    @staticmethod
    def _upstream_check(url: str) -> Callable[[], bool]:
        def check() -> bool:
            return requests.get(f"{url.rstrip('/')}/health", timeout=2).status_code == 200

        return check

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        response = self.platform(request) or self.forward(request)
        return response(environ, start_response)

    def forward(self, request: Request) -> Response:
        request_id = _request_id(request.environ)
        route = route_for(request.path, self.routes)
        upstream = self.upstreams.get(route.service) if route and not route.internal else None
        if route is None or upstream is None:
            return gateway_problem("not_found", request_id)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["X-Forwarded-For"] = request.remote_addr or ""
        headers["X-Forwarded-Proto"] = request.scheme
        try:
            upstream_response = self.session.request(
                request.method,
                upstream + request.full_path.rstrip("?"),
                headers=headers,
                data=request.get_data(),
                timeout=route.timeout_seconds,
                allow_redirects=False,
            )
        except requests.Timeout:
            return gateway_problem("timeout", request_id)
        except requests.ConnectionError:
            return gateway_problem("bad_gateway", request_id)
        out_headers = [
            (k, v) for k, v in upstream_response.headers.items() if k.lower() not in _HOP_BY_HOP
        ]
        return Response(
            upstream_response.content, status=upstream_response.status_code, headers=out_headers
        )
