"""The nginx gateway, rendered from the route table, tested as clients meet it: over TLS, through
a real nginx, in front of the real services."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import warnings
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import requests

from spectral_gateway.contract import DOCS_CSP, IDENTITY_HEADERS
from spectral_gateway.routes import route_table
from spectral_gateway.testing import assert_gateway_problem
from spectral_shared.identity import INTERNAL_TOKEN_AUDIENCE
from spectral_shared.testing import wait_until

from .conftest import Gateway

pytestmark = pytest.mark.integration

SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "X-XSS-Protection": "1; mode=block",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def handshake(gateway: Gateway, version: ssl.TLSVersion) -> tuple[str | None, str | None]:
    """(negotiated TLS version, ALPN protocol) for a client that speaks only ``version``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(gateway.cert)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1: what we check is refused
        context.minimum_version = context.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer it; the server refuses
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", gateway.https_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return tls.version(), tls.selected_alpn_protocol()


def assert_problem(response: requests.Response, key: str) -> dict[str, Any]:
    body = assert_gateway_problem(response, key)
    for name, value in SECURITY_HEADERS.items():  # the values this test states for nginx
        assert response.headers[name] == value, name
    return body


def test_the_rendered_config_passes_nginx_t(gateway: Gateway, nginx_binary: str) -> None:
    checked = subprocess.run(
        [
            nginx_binary,
            "-t",
            "-p",
            str(gateway.config.runtime_dir),
            "-c",
            str(gateway.config.out_dir / "nginx.conf"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def test_tls_1_3_and_1_2_with_http2_and_nothing_older(gateway: Gateway) -> None:
    assert handshake(gateway, ssl.TLSVersion.TLSv1_3) == ("TLSv1.3", "h2")
    assert handshake(gateway, ssl.TLSVersion.TLSv1_2) == ("TLSv1.2", "h2")
    with pytest.raises(ssl.SSLError) as refused:
        handshake(gateway, ssl.TLSVersion.TLSv1_1)
    # The server's alert, not a client that could not offer TLS 1.1.
    assert refused.value.reason in ("TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL")


def test_port_80_only_redirects_to_https_and_serves_the_acme_challenge(gateway: Gateway) -> None:
    redirect = requests.get(
        gateway.http_url + "/api/v1/governance/x?page=2", allow_redirects=False, timeout=5
    )
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == f"{gateway.base_url}/api/v1/governance/x?page=2"
    challenge = requests.get(gateway.http_url + "/.well-known/acme-challenge/probe", timeout=5)
    assert challenge.status_code == 200 and challenge.text == "ready"


def test_security_headers_on_service_answers_and_gateway_errors(gateway: Gateway) -> None:
    document = gateway.get("/api/v1/auth/openapi.json")
    assert document.status_code == 200 and document.json()["openapi"].startswith("3.1")
    missing = gateway.get("/no/such/place")
    assert_problem(missing, "not_found")
    for response in (document, missing):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value, name
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert "Server" not in response.headers or "nginx/" not in response.headers["Server"]


def test_every_route_reaches_its_service(gateway: Gateway) -> None:
    _, token = gateway.client.onboard("routes@mercy.example")
    for route in route_table():
        gateway.seen.clear()
        path = route.prefix if route.exact else route.prefix + "/gateway-probe"
        response = gateway.get(path, headers={"Authorization": f"Bearer {token}"})
        if route.internal:
            assert_problem(response, "not_found")
            assert not gateway.seen, f"{route.prefix} is internal but reached a service"
            continue
        assert gateway.seen, f"{path}: no service saw it ({response.status_code})"
        assert {s.service for s in gateway.seen if s.path == path} == {route.service}, path


def test_without_credentials_an_authorized_route_is_a_401_problem(gateway: Gateway) -> None:
    response = gateway.get("/api/v1/audit/events")
    assert_problem(response, "unauthenticated")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="spectral"'
    assert not [s for s in gateway.seen if s.service == "audit"]


def test_an_authorized_request_carries_the_internal_token_and_quota_headers(
    gateway: Gateway,
) -> None:
    created, token = gateway.client.onboard("carry@mercy.example")
    jwks = gateway.get("/.well-known/jwks.json").json()
    response = gateway.get(
        "/api/v1/audit/events",
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "client-request-0001"},
    )
    assert response.status_code == 200, response.text
    assert int(response.headers["X-RateLimit-Limit"]) > 0
    assert response.headers["X-Request-ID"] == "client-request-0001"
    seen = gateway.last_seen("audit")
    assert seen.headers["X-Request-Id"] == "client-request-0001"
    scheme, _, internal = seen.headers["Authorization"].partition(" ")
    kid = jwt.get_unverified_header(internal)["kid"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid)).key
    claims = jwt.decode(
        internal,
        key,
        algorithms=["EdDSA"],
        audience=INTERNAL_TOKEN_AUDIENCE,
        issuer=gateway.base_url,
    )
    assert scheme == "Bearer" and claims["org"] == created["organization"]["id"]
    assert token not in seen.headers["Authorization"]

    def logged() -> list[dict[str, Any]]:  # nginx writes the line once the answer is sent
        entries = [json.loads(line) for line in gateway.access_log()]
        return [e for e in entries if e["request_id"] == "client-request-0001"]

    mine = wait_until(logged, what="the request's access-log line")
    assert mine[-1]["status"] == 200 and mine[-1]["path"] == "/api/v1/audit/events"
    assert mine[-1]["tls"] in ("TLSv1.2", "TLSv1.3") and token not in json.dumps(mine)


def test_a_malformed_request_id_is_replaced(gateway: Gateway) -> None:
    response = gateway.get("/.well-known/jwks.json", headers={"X-Request-ID": "bad id\u00e9"})
    generated = response.headers["X-Request-ID"]
    assert generated != "bad id\u00e9" and len(generated) == 32
    assert gateway.last_seen("auth").headers["X-Request-Id"] == generated


def test_client_identity_headers_never_reach_a_service(gateway: Gateway) -> None:
    _, token = gateway.client.onboard("spoof@mercy.example")
    forged = {name: "forged" for name in IDENTITY_HEADERS}
    for path, credential in (
        ("/.well-known/jwks.json", None),  # public
        ("/api/v1/audit/events", token),  # authorized
    ):
        headers = dict(forged)
        if credential:
            headers["Authorization"] = f"Bearer {credential}"
        response = gateway.get(path, headers=headers)
        assert response.status_code == 200, response.text
        seen = [s for s in gateway.seen if s.path == path][-1]
        received = {name.lower() for name in seen.headers}
        assert not received & {name.lower() for name in IDENTITY_HEADERS}, received
    # A forged internal token as the credential itself is refused by auth.
    response = gateway.get("/api/v1/audit/events", headers={"Authorization": "Bearer forged"})
    assert_problem(response, "unauthenticated")


def test_the_organizations_quota_is_a_429_with_retry_after(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway(settings={"rate_limit_max_requests": 3})
    _, token = gateway.client.onboard("quota@mercy.example")
    bearer = {"Authorization": f"Bearer {token}"}
    answers = [gateway.get("/api/v1/audit/events", headers=bearer) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert_problem(refused, "quota")
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["X-RateLimit-Remaining"] == "0"


def test_abuse_prone_public_routes_have_a_per_ip_limit(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway(abuse_rate_per_minute=2, abuse_burst=1)
    login = {"email": "nobody@mercy.example", "password": "wrong password here"}
    statuses = [
        gateway.request("POST", "/api/v1/auth/login", json=login).status_code for _ in range(4)
    ]
    assert statuses[:2] == [401, 401] and statuses[-1] == 429, statuses
    limited = gateway.request("POST", "/api/v1/auth/login", json=login)
    assert_problem(limited, "rate_limited")
    assert limited.headers["Retry-After"] == "30"
    # Routes that are not abuse-prone are not limited.
    assert all(gateway.get("/.well-known/jwks.json").status_code == 200 for _ in range(5))


def test_an_oversized_body_is_a_413_problem(gateway: Gateway) -> None:
    response = gateway.request(
        "POST",
        "/api/v1/auth/register",
        data=b"x" * (2 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, "too_large")
    assert not [s for s in gateway.seen if s.path == "/api/v1/auth/register"]


def test_a_stopped_service_is_a_502_and_a_stopped_auth_a_503(gateway: Gateway) -> None:
    _, token = gateway.client.onboard("stopped@mercy.example")
    bearer = {"Authorization": f"Bearer {token}"}
    gateway.apps["audit"].stop()
    assert_problem(gateway.get("/api/v1/audit/events", headers=bearer), "bad_gateway")
    gateway.apps["auth"].stop()
    assert_problem(gateway.get("/api/v1/governance/anything", headers=bearer), "unavailable")


def test_a_browser_session_needs_its_csrf_token_for_writes_through_the_gateway(
    gateway: Gateway,
) -> None:
    created, _ = gateway.client.onboard("browser@mercy.example")
    browser = requests.Session()  # keeps the cookie; verify per call (the env's CA bundle wins)
    tls = str(gateway.cert)
    signed_in = browser.post(
        gateway.base_url + "/api/v1/auth/session",
        json={"email": "browser@mercy.example", "password": "correct horse battery staple"},
        timeout=30,
        verify=tls,
    )
    assert signed_in.status_code == 201, signed_in.text
    csrf = signed_in.json()["csrf_token"]
    read = browser.get(gateway.base_url + "/api/v1/audit/events", timeout=30, verify=tls)
    assert read.status_code == 200, read.text
    gateway.seen.clear()
    # auth sees the client's method (X-Original-Method): a write without the token stops here.
    forged = browser.post(
        gateway.base_url + "/api/v1/auth/api-keys", json={}, timeout=30, verify=tls
    )
    assert_problem(forged, "csrf")
    assert not [s for s in gateway.seen if s.path == "/api/v1/auth/api-keys"]
    written = browser.post(
        gateway.base_url + "/api/v1/auth/api-keys",
        json={},
        headers={"X-CSRF-Token": csrf},
        timeout=30,
        verify=tls,
    )
    assert written.status_code == 422, written.text  # reached the service, which validated it
    assert created["organization"]["id"]


def test_websocket_upgrade_headers_reach_the_service(gateway: Gateway) -> None:
    gateway.get(
        "/api/v1/auth/openapi.json", headers={"Upgrade": "websocket", "Connection": "Upgrade"}
    )
    seen = gateway.last_seen("auth").headers
    assert seen["Upgrade"] == "websocket" and seen["Connection"].lower() == "upgrade"
    gateway.get("/api/v1/auth/openapi.json")
    assert "Upgrade" not in gateway.last_seen("auth").headers  # plain requests keep keep-alive


def test_platform_pages_health_and_api_docs_through_the_gateway(gateway: Gateway) -> None:
    assert gateway.get("/livez").json() == {"status": "alive"}
    health = gateway.get("/health")
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "healthy"
    assert set(health.json()["checks"]) == set(gateway.apps) - {"platform"}
    page = gateway.get("/api/docs")
    assert page.status_code == 200 and "/api/v1/audit/events" in page.text
    assert page.headers["Content-Security-Policy"] == DOCS_CSP
    combined = gateway.get("/api/docs/openapi.json").json()
    assert "/api/v1/auth/login" in combined["paths"]
    assert gateway.get("/metrics").status_code == 404  # scraped per process, never public


def test_auth_requests_reuse_keep_alive_connections(gateway: Gateway) -> None:
    _, token = gateway.client.onboard("keepalive@mercy.example")
    gateway.seen.clear()
    for _ in range(10):
        response = gateway.get("/api/v1/audit/events", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
    asked = [s for s in gateway.seen if s.path == "/internal/authorize"]
    served = [s for s in gateway.seen if s.path == "/api/v1/audit/events"]
    assert len(asked) == len(served) == 10
    # One nginx worker, requests one after another: one connection each way, kept open. (With a
    # body in auth's answer nginx would close the connection after every request.)
    assert len({s.remote_port for s in asked}) == 1
    assert len({s.remote_port for s in served}) == 1
