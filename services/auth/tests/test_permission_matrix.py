"""The permission matrix, walked through HTTP (issue 3, item 10).

Generated from the app's URL map, so a route is walked the day it is added:

1. every route is governed: ``@requires(permission)``, ``public=True`` in its OpenAPI operation,
   or one of the few listed below that need no permission, each with its reason;
2. every governed route, with every role (and an API key), answers exactly what ``PERMISSIONS``
   says: 403 problem when the role lacks the permission, anything but 401/403 when it holds it;
3. every governed route with a path parameter answers 404 to another organization's id, and
   changes nothing there.

Each walk collects every mismatch and reports them all in one assertion.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from spectral_auth import services
from spectral_auth.roles import API_KEY_SCOPES
from spectral_shared.identity import PERMISSIONS, Role, role_allows
from spectral_shared.web.problems import PROBLEM_CONTENT_TYPE

pytestmark = pytest.mark.integration

THIS_FILE = "services/auth/tests/test_permission_matrix.py"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WALKED_METHODS = frozenset({"GET", *UNSAFE})
PASSWORD = "correct horse battery staple"

# ---- routes that name no permission, each with why -----------------------------------------------

# Open by design: they reveal nothing about any organization.
OPEN_INFRASTRUCTURE: dict[str, str] = {
    "/health": "readiness probe for the load balancer; says only whether dependencies answer",
    "/livez": "liveness probe; answers a constant",
    "/metrics": "Prometheus scrape: process metrics, no tenant data; the gateway never routes it",
    "/api/v1/auth/openapi.json": "the API description, published like any public API document",
    "/static/<path:filename>": "Flask's static folder (auth ships no files in it)",
}

# They authenticate the caller themselves instead of through @requires. Checked below: each
# answers 401 without a credential and with a forged one.
SELF_AUTHENTICATING: dict[str, str] = {
    "/api/v1/auth/mfa/enroll": "accepts an access token or the MFA enrolment token that sign-in "
    "hands out when the organization requires MFA (no access token exists yet); enrolling "
    "yourself needs no permission",
    "/api/v1/auth/mfa/confirm": "same as /mfa/enroll: finishes the enrolment that token started",
}

# Governed routes that end the caller's own sign-ins when they succeed: each role calls them
# with a throwaway member of that role, so the walk's tokens stay valid.
CALLER_REVOKING: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/api/v1/auth/sign-out-everywhere"),
        # answers new tokens and refuses every older one, the caller's included
        ("POST", "/api/v1/auth/password/change"),
    }
)

# Bodies that pass validation, for routes with a path parameter and a request body: a 422 would
# prove nothing about tenant isolation, the lookup has to be reached.
CROSS_TENANT_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/v1/auth/users/<uuid:user_id>/role"): {"role": "analyst"},
}

# Routes with a path parameter whose kind of resource this test cannot create, with the reason.
CROSS_TENANT_UNCOVERED: dict[tuple[str, str], str] = {}


# ---- the route inventory ------------------------------------------------------------------------

_PARAMETER = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


@dataclass(frozen=True)
class Route:
    method: str
    rule: Rule
    permission: str

    @property
    def path(self) -> str:
        return self.rule.rule

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _view(app: Flask, rule: Rule) -> Any:
    return app.view_functions[rule.endpoint]


def _methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) & WALKED_METHODS)


def governed_routes(app: Flask) -> list[Route]:
    routes = []
    for rule in app.url_map.iter_rules():
        permission = getattr(_view(app, rule), "required_permission", None)
        if permission is not None:
            routes += [Route(method, rule, permission) for method in _methods(rule)]
    return sorted(routes, key=lambda r: (r.path, r.method))


def fill(app: Flask, route: Route, values: dict[str, str]) -> str:
    """The route's path with its parameters filled, checked to reach the same view."""
    path = _PARAMETER.sub(lambda m: values.get(m.group(1), str(uuid.uuid4())), route.path)
    try:
        endpoint, _ = app.url_map.bind("localhost").match(path, method=route.method)
    except HTTPException:
        endpoint = None
    assert endpoint == route.rule.endpoint, (
        f"{route}: the walk filled its parameters as {path!r}, which does not reach the view; "
        f"teach fill() in {THIS_FILE} a value its converters accept"
    )
    return path


# ---- resources, created through the API --------------------------------------------------------


def _created_id(response: Any, what: str) -> str:
    assert response.status_code == 201, f"creating {what}: {response.status_code} {response.json}"
    return str(response.json["id"])


def _make_user(api: Any, admin: str) -> str:
    return str(api.member(admin, "viewer")[0]["id"])


def _make_invitation(api: Any, admin: str) -> str:
    response = api.client.post(
        "/api/v1/auth/invitations",
        json={"email": f"pending-{uuid.uuid4().hex[:8]}@walk.example", "role": "analyst"},
        headers=api.bearer(admin),
    )
    return _created_id(response, "an invitation")


def _make_api_key(api: Any, admin: str) -> str:
    response = api.client.post(
        "/api/v1/auth/api-keys",
        json={"name": f"walk {uuid.uuid4().hex[:8]}", "scopes": ["telemetry:write"]},
        headers=api.bearer(admin),
    )
    return _created_id(response, "an API key")


# Path parameter -> makes what it names in the given admin's organization, returns its id. The
# role walk fills parameters with these (a random UUID for any other), and the tenant walk needs
# one for every parameter of every governed route.
RESOURCE_MAKERS: dict[str, Callable[[Any, str], str]] = {
    "user_id": _make_user,  # a throwaway member: the walk deactivates and re-roles it
    "invitation_id": _make_invitation,
    "key_id": _make_api_key,
}


def resources(api: Any, admin: str, names: set[str] | None = None) -> dict[str, str]:
    names = set(RESOURCE_MAKERS) if names is None else names
    return {name: RESOURCE_MAKERS[name](api, admin) for name in sorted(names)}


# ---- callers ------------------------------------------------------------------------------------


@dataclass
class Caller:
    name: str  # a role, or "api_key"
    ids: dict[str, str]  # path parameter -> an id in the caller's own organization
    allows: Callable[[str], bool]
    token: Callable[[], str]
    throwaway: Callable[[], str] | None = None  # a fresh member's token, for CALLER_REVOKING
    is_user: bool = True


def key_caller(api: Any, admin: str, ids: dict[str, str]) -> Caller:
    """An API key holding every scope, calling the way the gateway forwards it: with the
    internal token /internal/authorize answers (freshly minted per call: they live 60 s)."""
    scopes = list(API_KEY_SCOPES)
    created = api.client.post(
        "/api/v1/auth/api-keys",
        json={"name": "walking machine", "scopes": scopes},
        headers=api.bearer(admin),
    )
    assert created.status_code == 201, created.json
    secret = created.json["secret"]

    def internal_token() -> str:
        granted = api.client.post("/internal/authorize", headers=api.bearer(secret))
        assert granted.status_code == 200, granted.json
        return str(granted.headers["X-Spectral-Internal-Token"])

    # Machines hold scopes, not roles: a permission passes only if it is one of the scopes.
    return Caller("api_key", ids, lambda p: p in scopes, internal_token, is_user=False)


def callers(api: Any) -> list[Caller]:
    """Every role (super_admin in the platform organization, the rest in one tenant) and an
    API key, each with ids of its own organization."""
    _, admin = api.onboard(org="Walked Tenant")
    tenant_ids = resources(api, admin)
    email = f"root-{uuid.uuid4().hex[:8]}@spectral.example"
    services.create_platform_admin(api.runtime, name="Root", email=email, password=PASSWORD)
    root = api.login(email)
    platform_ids = resources(api, root)

    found = []
    for role in Role:
        if role is Role.SUPER_ADMIN:  # exists only in the platform organization
            inviter, ids, token = root, platform_ids, root
        else:
            inviter, ids = admin, tenant_ids
            token = admin if role is Role.ADMIN else api.member(admin, role.value)[1]
        found.append(
            Caller(
                role.value,
                ids,
                lambda p, r=role.value: role_allows(r, p),
                lambda t=token: t,
                lambda i=inviter, r=role.value: api.member(i, r)[1],
            )
        )
    return [*found, key_caller(api, admin, tenant_ids)]


def _is_problem(response: TestResponse) -> bool:
    return response.mimetype == PROBLEM_CONTENT_TYPE


def bare_client(api: Any) -> FlaskClient:
    """A client of the same app that keeps no cookies: each call is exactly its bearer token."""
    return api.client.application.test_client(use_cookies=False)


def _call(
    http: FlaskClient, method: str, path: str, token: str | None, body: Any = None
) -> TestResponse:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method in UNSAFE:
        return http.open(path, method=method, json=body or {}, headers=headers)
    return http.open(path, method=method, headers=headers)


def _shown(response: TestResponse) -> str:
    return f"{response.status_code} {response.get_data(as_text=True)[:300]}"


# ---- 1. every route is governed -----------------------------------------------------------------


def test_every_route_is_governed_by_a_permission_or_listed_with_a_reason(api: Any) -> None:
    http = bare_client(api)
    app = http.application
    ungoverned, unknown, listed = [], [], set()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = _view(app, rule)
        permission = getattr(view, "required_permission", None)
        operation = getattr(view, "openapi_operation", None)
        if permission is not None:
            if permission not in PERMISSIONS:
                unknown.append(f"{rule.rule} requires {permission!r}")
            continue
        if operation is not None and operation.public:
            continue
        if rule.rule in OPEN_INFRASTRUCTURE or rule.rule in SELF_AUTHENTICATING:
            listed.add(rule.rule)
            continue
        ungoverned.append(f"{'/'.join(_methods(rule))} {rule.rule} (view {rule.endpoint})")

    assert not ungoverned, (
        "routes with no @requires(permission), not public=True and not listed:\n  "
        + "\n  ".join(ungoverned)
        + "\nDecorate each view with @requires('<permission>') (spectral_shared.identity), or "
        "mark it public=True in @api.operation(...) if anyone may call it, or, if it checks "
        f"credentials itself, add its rule to SELF_AUTHENTICATING in {THIS_FILE} with the reason "
        "(OPEN_INFRASTRUCTURE is for probes and documents that show no organization's data)."
    )
    assert not unknown, f"permissions missing from PERMISSIONS: {unknown}"
    stale = (set(OPEN_INFRASTRUCTURE) | set(SELF_AUTHENTICATING)) - listed
    assert not stale, f"listed in {THIS_FILE} but no longer routes (or now governed): {stale}"

    refused = []
    for path in sorted(SELF_AUTHENTICATING):
        rule = next(r for r in app.url_map.iter_rules() if r.rule == path)
        for method in _methods(rule):
            for token in (None, "forged.not-a.jwt"):
                response = _call(http, method, path, token)
                if response.status_code != 401 or not _is_problem(response):
                    refused.append(f"{method} {path} with token {token!r}: {_shown(response)}")
    assert not refused, (
        "self-authenticating routes must answer 401 without a valid credential:\n"
        + "\n".join(refused)
    )


# ---- 2. allow/deny for every role ---------------------------------------------------------------


def _gate_mismatch(route: Route, caller: Caller, response: TestResponse) -> str | None:
    allowed = caller.allows(route.permission)
    status = response.status_code
    if not allowed:
        if status == 403 and _is_problem(response):
            return None
        return (
            f"{route} as {caller.name}: {route.permission} is denied, expected a 403 problem, "
            f"got {_shown(response)}"
        )
    # Allowed: anything past the gate will do, since the body is empty or invalid on purpose.
    # 503 included: the SSO connection routes answer it when WorkOS is not configured (as here),
    # which they check after the permission.
    if status in (401, 403):
        return f"{route} as {caller.name}: {route.permission} is granted, got {_shown(response)}"
    if status >= 500 and status != 503:
        return f"{route} as {caller.name}: passed the gate, then failed: {_shown(response)}"
    return None


def test_every_role_gets_exactly_what_the_matrix_grants_on_every_route(api: Any) -> None:
    http = bare_client(api)
    app = http.application
    routes = governed_routes(app)
    walkers = callers(api)
    mismatches: list[str] = []
    calls = 0

    for route in routes:
        response = _call(http, route.method, fill(app, route, {}), None)
        calls += 1
        if response.status_code != 401 or not _is_problem(response):
            mismatches.append(
                f"{route} without a token: expected a 401 problem, got {_shown(response)}"
            )

        revoking = (route.method, route.path) in CALLER_REVOKING
        for caller in walkers:
            token = caller.throwaway() if revoking and caller.throwaway else caller.token()
            response = _call(http, route.method, fill(app, route, caller.ids), token)
            calls += 1
            mismatch = _gate_mismatch(route, caller, response)
            if mismatch:
                mismatches.append(mismatch)
            if caller.is_user and not revoking:
                still = _call(http, "GET", "/api/v1/auth/me", token)
                assert still.status_code == 200, (
                    f"{route} as {caller.name} ended the caller's own sign-in "
                    f"({_shown(still)}), so the rest of the walk would not be honest: add "
                    f"{(route.method, route.path)!r} to CALLER_REVOKING in {THIS_FILE}"
                )

    names = [c.name for c in walkers]
    assert calls == len(routes) * (len(names) + 1)
    assert not mismatches, (
        f"{len(mismatches)} of {calls} calls disagree with PERMISSIONS "
        f"({len(routes)} routes x {names} + anonymous):\n" + "\n".join(mismatches)
    )


# ---- 3. another organization's ids answer 404 ---------------------------------------------------


def snapshot(http: FlaskClient, admin: str, ids: dict[str, str]) -> dict[str, Any]:
    """What every governed GET route shows the admin, their resources' own routes included."""
    seen = {}
    for route in governed_routes(http.application):
        if route.method == "GET":
            response = _call(http, "GET", fill(http.application, route, ids), admin)
            seen[str(route)] = (response.status_code, response.get_json(silent=True))
    return seen


def test_every_route_answers_404_to_another_organizations_ids(api: Any) -> None:
    http = bare_client(api)
    app = http.application
    routes = [
        r
        for r in governed_routes(app)
        if r.rule.arguments and (r.method, r.path) not in CROSS_TENANT_UNCOVERED
    ]
    assert routes, "no governed route takes an id: has the URL map changed shape?"

    uncovered = sorted(
        f"{route} (parameter {name!r})"
        for route in routes
        for name in route.rule.arguments
        if name not in RESOURCE_MAKERS
    )
    assert not uncovered, (
        "routes take an id this test cannot create in another organization:\n  "
        + "\n  ".join(uncovered)
        + f"\nIn {THIS_FILE}, add to RESOURCE_MAKERS, under the parameter's name, a function "
        "that creates what it names in an organization through the API; or, if that cannot be "
        "done, list (method, rule) in CROSS_TENANT_UNCOVERED with the reason."
    )
    need_body = sorted(
        str(r)
        for r in routes
        if r.method in UNSAFE
        and getattr(getattr(_view(app, r.rule), "openapi_operation", None), "request", None)
        and (r.method, r.path) not in CROSS_TENANT_BODIES
    )
    assert not need_body, (
        f"add a body that passes validation to CROSS_TENANT_BODIES in {THIS_FILE} for "
        f"{need_body}: a 422 would not show that the lookup is scoped to the caller's organization"
    )
    for route in routes:
        assert role_allows(Role.ADMIN, route.permission), (
            f"{route} needs {route.permission}, which a tenant admin lacks: walk it as a role "
            f"that holds it, or list it in CROSS_TENANT_UNCOVERED in {THIS_FILE} with the reason"
        )

    _, admin_a = api.onboard(org="Tenant A")
    _, admin_b = api.onboard(org="Tenant B")
    ids_b = resources(api, admin_b, {name for r in routes for name in r.rule.arguments})
    before = snapshot(http, admin_b, ids_b)
    unreadable = [str(r) for r in routes if r.method == "GET" and before[str(r)][0] != 200]
    assert not unreadable, f"tenant B's admin cannot read B's own resources at {unreadable}"

    leaks = []
    for route in routes:
        path = fill(app, route, ids_b)
        body = CROSS_TENANT_BODIES.get((route.method, route.path))
        response = _call(http, route.method, path, admin_a, body)
        if response.status_code != 404 or not _is_problem(response):
            leaks.append(
                f"{route} with tenant B's id, {path}, as tenant A's admin: expected a 404 "
                f"problem, got {_shown(response)}"
            )

    after = snapshot(http, admin_b, ids_b)
    changed = sorted(route for route in before if before[route] != after[route])
    assert not leaks, (
        f"{len(leaks)} of {len(routes)} routes do not answer 404 to another organization's id:\n"
        + "\n".join(leaks)
    )
    assert not changed, f"tenant A's calls changed what tenant B's admin sees at {changed}"
