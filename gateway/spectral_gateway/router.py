"""Routers that follow the route table: in-process (``spectral all``) and proxying (split topology)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import requests
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.wrappers import Request, Response

from spectral_gateway.routes import ROUTES, Route, route_for
from spectral_shared.web.health import health_report
from spectral_shared.web.problems import PROBLEM_CONTENT_TYPE

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


def problem_response(status: int, title: str, detail: str, instance: str) -> Response:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    return Response(json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)


class _Router:
    def __init__(
        self, routes: tuple[Route, ...], health_checks: dict[str, Callable[[], bool]]
    ) -> None:
        self.routes = routes
        self.health_checks = health_checks

    def platform(self, request: Request) -> Response | None:
        if request.path == "/livez":
            return Response(json.dumps({"status": "alive"}), content_type="application/json")
        if request.path == "/health":
            body, status = health_report(self.health_checks)
            return Response(json.dumps(body), status=status, content_type="application/json")
        if request.path == "/metrics":
            return Response(generate_latest(), content_type=CONTENT_TYPE_LATEST)
        return None

    def not_found(self, request: Request) -> Response:
        return problem_response(
            404, "Not Found", "No resource lives at this address.", request.path
        )


class InProcessRouter(_Router):
    """Dispatches each request to the service app the table names, in this process."""

    def __init__(
        self,
        apps: Mapping[str, WSGIApp],
        health_checks: dict[str, Callable[[], bool]],
        routes: tuple[Route, ...] = ROUTES,
    ) -> None:
        super().__init__(routes, health_checks)
        self.apps = apps

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        response = self.platform(request)
        if response is None:
            route = route_for(request.path, self.routes)
            # Internal routes are for services and the gateway, never for a client.
            app = self.apps.get(route.service) if route and not route.internal else None
            if app is not None:
                return app(environ, start_response)
            response = self.not_found(request)
        return response(environ, start_response)


class ProxyRouter(_Router):
    """Forwards each request to the upstream of the service the table names (split topology
    without nginx; nginx replaces this in ``make stack`` from issue #4 on)."""

    def __init__(self, upstreams: dict[str, str], routes: tuple[Route, ...] = ROUTES) -> None:
        checks = {name: self._upstream_check(url) for name, url in upstreams.items()}
        super().__init__(routes, checks)
        self.upstreams = {name: url.rstrip("/") for name, url in upstreams.items()}
        self.session = requests.Session()

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
        route = route_for(request.path, self.routes)
        upstream = self.upstreams.get(route.service) if route and not route.internal else None
        if route is None or upstream is None:
            return self.not_found(request)
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
            return problem_response(
                504,
                "Gateway Timeout",
                f"The {route.service} service did not answer in time.",
                request.path,
            )
        except requests.ConnectionError:
            return problem_response(
                502, "Bad Gateway", f"The {route.service} service is unreachable.", request.path
            )
        out_headers = [
            (k, v) for k, v in upstream_response.headers.items() if k.lower() not in _HOP_BY_HOP
        ]
        return Response(
            upstream_response.content, status=upstream_response.status_code, headers=out_headers
        )
