"""Tenant isolation, generated from the API document (issue 18, "Keep it fixed").

Every operation of ``/api/docs/openapi.json`` that takes an organization's id in its path is
called with organization B's ids by everyone in organization A: a member of each role, the
platform organization's super_admin, and an API key holding every scope. Each answer must be a
404 problem document: B's resource does not exist for them.

The one other acceptable answer is 403, when the caller may not use that operation at all: the
same caller then gets 403 for the same operation on its own organization's resource too (checked
for every such answer), so the refusal says nothing about B's ids. A 403 for B's resource and
anything else for one's own would be a leak, and fails.

Afterwards B's resources, lists and audit log are what they were: nothing was changed.

Because the operations come from the document, a new route is covered as soon as it exists. A
path parameter this module does not know fails the test until someone says which resource it
names (``B_IDS`` below) or why it is not an organization's (``NOT_TENANT_OWNED``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from live_orgs import (
    PHI_EXPOSURE,
    LivePlatform,
    Org,
    ai_system,
    call,
    first_row,
    invite,
    join,
    module_settings,
    ok,
    onboard,
    serve_platform,
    settled_audit_size,
    subscribe,
)

from spectral_shared.testing import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

METHODS = ("get", "post", "put", "patch", "delete")

# Path parameters that name something of an organization's, and so an id of B's to send.
TENANT_OWNED = (
    "system_id",
    "violation_id",
    "action_id",
    "alert_id",
    "event_id",
    "key_id",
    "invitation_id",
    "user_id",
    "toggle_id",
    "override_id",
)

# Path parameters that name nothing of an organization's, with the value sent and why.
NOT_TENANT_OWNED: dict[str, tuple[str, str]] = {
    "control_id": ("164.312(b)", "a control of the public catalog, the same for everyone"),
    "framework_id": ("HIPAA", "a framework of the public catalog, the same for everyone"),
    "source": ("arize", "the observability tool whose webhook format is read"),
    "index": (
        "0",
        "a position in the caller's own audit log: every organization's log has its own entry "
        "0..n-1, so an index names the caller's entry, never another organization's "
        "(test_an_audit_index_reads_only_the_callers_own_log)",
    ),
}

# Public operations that take an organization's id: what guards them instead of a credential.
PUBLIC_WITH_IDS = {
    ("post", "/api/v1/webhooks/{source}/{system_id}"): (
        "signed with the system's own secret, not a credential "
        "(test_another_organizations_webhook_secret_signs_nothing_for_b)"
    ),
}

# A minimal valid body for each request schema an id-bearing operation takes: a body the
# operation would accept, so validation never answers before the lookup does.
BODIES: dict[str, Any] = {
    "RoleChange": {"role": "viewer"},
    "ActionUpdate": {"status": "in_progress", "notes": "Taken over by another organization"},
    "AISystemUpdate": {"description": "Changed by another organization"},
    "ControlStatusUpdate": {"status": "non_compliant", "reason": "Assessed by an outsider"},
    "AlertMove": {"note": "Moved by another organization"},
    "ResolveViolation": {"note": "Resolved by another organization"},
}


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory,
    pg_template: tuple[sa.Engine, str],
    broker_url: str,
    redis_url: str,
) -> Iterator[LivePlatform]:
    var = tmp_path_factory.mktemp("isolation") / "var"
    with (
        module_settings(var, pg_template, broker_url, redis_url) as settings,
        serve_platform(settings) as platform,
    ):
        yield platform


@dataclass
class Estate:
    """An organization with one of each kind of resource, and its people."""

    org: Org
    ids: dict[str, str]  # path parameter name -> the id of that kind
    webhook_secret: str
    system: dict[str, Any]


def furnish(live: LivePlatform, org: Org, tag: str) -> Estate:
    """One of each resource, made through the API by the organization's admin."""
    client, token = live.client, org.admin.token
    subscribe(live, org)  # threshold overrides are a paid plan's
    system = ai_system(client, token, f"Sepsis Watch {tag}")
    system_id = system["id"]
    secret = ok(call(client, "POST", f"/api/v1/ai-systems/{system_id}/webhook-secret", token))
    ok(
        call(
            client,
            "POST",
            "/api/v1/telemetry/events",
            token,
            {"events": [{"ai_system_id": system_id, **PHI_EXPOSURE}]},
        ),
        202,
    )
    ok(
        call(
            client,
            "PUT",
            f"/api/v1/ai-systems/{system_id}/controls/164.312(b)",
            token,
            {"status": "compliant"},
        )
    )
    key = ok(
        call(
            client,
            "POST",
            "/api/v1/auth/api-keys",
            token,
            {"name": f"pusher {tag}", "scopes": ["telemetry:write"]},
        )
    )
    invitation = invite(client, org, f"pending@{tag}.example", "viewer")
    toggle = ok(
        call(
            client,
            "POST",
            "/api/v1/engine/control-toggles",
            token,
            {"control_id": "MANAGE-4.1", "justification": "Covered by our drift review board."},
        )
    )

    def override() -> dict[str, Any] | None:
        answer = call(
            client,
            "POST",
            "/api/v1/engine/threshold-overrides",
            token,
            {
                "threshold": "drift.accuracy_drop_high",
                "value": 0.2,
                "event_type": "model_drift",
                "justification": "Validated against our own cohort.",
            },
        )
        if answer.status_code == 402:  # the plan has not reached governance yet
            return None
        return dict(ok(answer, 201))

    overridden = wait_until(override, timeout=20, what=f"{tag}'s plan to reach governance")

    def found(path: str, **params: Any) -> Callable[[], dict[str, Any] | None]:
        return lambda: first_row(client, token, path, ai_system_id=system_id, **params)

    violation = wait_until(found("/api/v1/violations"), timeout=20, what=f"{tag}'s violation")
    action = wait_until(found("/api/v1/actions"), timeout=20, what=f"{tag}'s action")
    alert = wait_until(found("/api/v1/alerts"), timeout=20, what=f"{tag}'s alert")
    event = wait_until(found("/api/v1/telemetry/events"), timeout=20, what=f"{tag}'s event")
    return Estate(
        org,
        {
            "system_id": system_id,
            "violation_id": violation["id"],
            "action_id": action["id"],
            "alert_id": alert["id"],
            "event_id": event["id"],
            "key_id": key["id"],
            "invitation_id": invitation["id"],
            "user_id": "",  # a member's, set by the caller
            "toggle_id": toggle["id"],
            "override_id": overridden["id"],
        },
        secret["secret"],
        system,
    )


@dataclass
class World:
    a: Estate  # the callers' organization
    b: Estate  # the organization whose ids they send
    callers: dict[str, str]  # who -> bearer credential, all of organization A's side
    document: dict[str, Any]


def super_admin(live: LivePlatform) -> str:
    """The platform organization's super_admin (made as the operator's command makes it)."""
    from spectral_auth import services

    email = "staff@spectral.example"
    services.create_platform_admin(
        live.platform.runtimes["auth"],
        name="Sam Staff",
        email=email,
        password="staff passphrase ok",
    )
    return live.client.login(email, "staff passphrase ok")


@pytest.fixture(scope="module")
def world(live: LivePlatform) -> World:
    client = live.client
    a = onboard(client, "ada@mercy.example", "Mercy General")
    b = onboard(client, "bo@county.example", "County Health")
    for role in ("compliance_officer", "analyst", "viewer", "executive"):
        join(client, a, f"{role}@mercy.example", role)
    b_member = join(client, b, "ann@county.example", "analyst")
    a_estate, b_estate = furnish(live, a, "mercy"), furnish(live, b, "county")
    a_estate.ids["user_id"] = a.members["analyst"].user_id
    b_estate.ids["user_id"] = b_member.user_id
    a_key = ok(
        call(
            client,
            "POST",
            "/api/v1/auth/api-keys",
            a.admin.token,
            {"name": "every scope", "scopes": _every_scope()},
        )
    )
    callers = {role: member.token for role, member in a.by_role().items()}
    callers["super_admin (platform organization)"] = super_admin(live)
    callers["api_key (every scope)"] = a_key["secret"]
    document = ok(client.get("/api/docs/openapi.json"))
    return World(a_estate, b_estate, callers, document)


def _every_scope() -> list[str]:
    from spectral_auth.roles import API_KEY_SCOPES

    return list(API_KEY_SCOPES)


@dataclass(frozen=True)
class IdOperation:
    method: str
    path: str
    params: tuple[str, ...]  # path parameters, in order
    body_schema: str | None
    public: bool


def id_operations(document: dict[str, Any]) -> list[IdOperation]:
    """Every operation with a path parameter, from the document."""
    found = []
    for path, operations in document["paths"].items():
        for method in METHODS:
            operation = operations.get(method)
            if operation is None:
                continue
            params = tuple(p["name"] for p in operation.get("parameters", []) if p["in"] == "path")
            if not params:
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            schema = None
            if body is not None:
                ref = body.get("schema", {}).get("$ref", "")
                schema = ref.rsplit("/", 1)[-1].split(".")[-1] or json.dumps(body.get("schema"))
            found.append(
                IdOperation(method, path, params, schema, public="security" not in operation)
            )
    return sorted(found, key=lambda o: (o.path, METHODS.index(o.method)))


def tenant_params(operation: IdOperation) -> list[str]:
    return [p for p in operation.params if p in TENANT_OWNED]


def filled(operation: IdOperation, ids: dict[str, str]) -> str:
    path = operation.path
    for name in operation.params:
        value = ids[name] if name in TENANT_OWNED else NOT_TENANT_OWNED[name][0]
        path = path.replace("{" + name + "}", value)
    return path


def send(
    live: LivePlatform, operation: IdOperation, ids: dict[str, str], credential: str
) -> requests.Response:
    body = BODIES[operation.body_schema] if operation.body_schema else None
    return call(live.client, operation.method.upper(), filled(operation, ids), credential, body)


def is_problem(response: requests.Response, status: int) -> bool:
    if response.status_code != status:
        return False
    if not response.headers.get("Content-Type", "").startswith("application/problem+json"):
        return False
    return bool(response.json().get("status") == status)


def test_every_path_parameter_names_a_known_kind_of_id(world: World) -> None:
    """A new route's path parameter fails here until someone says what it names."""
    unknown = {
        f"{o.method.upper()} {o.path}: {{{p}}}"
        for o in id_operations(world.document)
        for p in o.params
        if p not in TENANT_OWNED and p not in NOT_TENANT_OWNED
    }
    assert not unknown, (
        "path parameters this matrix does not know; add each to TENANT_OWNED (and to furnish(), "
        "an id of that kind) or to NOT_TENANT_OWNED with the reason:\n" + "\n".join(sorted(unknown))
    )
    public = {
        (o.method, o.path) for o in id_operations(world.document) if o.public and tenant_params(o)
    }
    assert public == set(PUBLIC_WITH_IDS), (
        "a public operation takes an organization's id: say what guards it in PUBLIC_WITH_IDS"
    )
    bodies = {
        o.body_schema
        for o in id_operations(world.document)
        if o.body_schema and tenant_params(o) and not o.public
    }
    assert bodies <= set(BODIES), f"add a minimal valid body to BODIES for {bodies - set(BODIES)}"
    assert set(TENANT_OWNED) == set(world.b.ids)


def snapshot(live: LivePlatform, estate: Estate) -> dict[str, Any]:
    """What B's admin sees of B: every list, every resource the matrix aims at, and the size of
    the audit log (every change is audited). Decrypted payloads are left out: reading one is
    itself audited."""
    client, token, ids = live.client, estate.org.admin.token, estate.ids
    paths = [
        "/api/v1/auth/organization",
        "/api/v1/auth/users",
        "/api/v1/auth/invitations",
        "/api/v1/auth/api-keys",
        "/api/v1/ai-systems",
        "/api/v1/violations?limit=200",
        "/api/v1/actions?limit=200",
        "/api/v1/alerts?limit=200",
        "/api/v1/telemetry/events?limit=200",
        "/api/v1/alerts/settings",
        "/api/v1/engine/settings",
        "/api/v1/engine/control-toggles",
        "/api/v1/engine/thresholds",
        f"/api/v1/ai-systems/{ids['system_id']}",
        f"/api/v1/ai-systems/{ids['system_id']}/controls",
        f"/api/v1/violations/{ids['violation_id']}",
        f"/api/v1/actions/{ids['action_id']}",
        f"/api/v1/alerts/{ids['alert_id']}",
        f"/api/v1/telemetry/events/{ids['event_id']}",
        f"/api/v1/auth/api-keys/{ids['key_id']}",
        f"/api/v1/auth/users/{ids['user_id']}",
    ]
    seen: dict[str, Any] = {path: ok(client.get(path, token)) for path in paths}
    seen["audit entries"] = settled_audit_size(client, token)
    return seen


def test_every_id_bearing_operation_answers_404_to_another_organization(
    live: LivePlatform, world: World
) -> None:
    operations = [o for o in id_operations(world.document) if tenant_params(o) and not o.public]
    assert len(operations) >= 25, [f"{o.method} {o.path}" for o in operations]
    before = snapshot(live, world.b)

    failures: list[str] = []
    looked_up: set[IdOperation] = set()  # answered 404 to someone, not refused outright
    for operation in operations:
        for who, credential in world.callers.items():
            answer = send(live, operation, world.b.ids, credential)
            where = f"{operation.method.upper()} {operation.path} as {who}"
            if is_problem(answer, 404):
                looked_up.add(operation)
                continue
            if is_problem(answer, 403):
                own = send(live, operation, world.a.ids, credential)
                if own.status_code == 403:
                    continue
                failures.append(
                    f"{where}: 403 for B's id but {own.status_code} for its own organization's"
                )
                continue
            failures.append(f"{where}: {answer.status_code} {answer.text[:300]}")
    assert not failures, "\n".join(failures)
    # Someone of A's (its admin at least) gets past the permission check on every operation.
    assert not set(operations) - looked_up, set(operations) - looked_up

    after = snapshot(live, world.b)
    changed = [key for key in before if before[key] != after[key]]
    assert not changed, {key: (before[key], after[key]) for key in changed}


def test_an_audit_index_reads_only_the_callers_own_log(live: LivePlatform, world: World) -> None:
    """Audit entries are addressed by their position in the caller's own log: B's last index
    answers with the caller's own entry of that index (or 404 past the end of its log), never
    B's."""
    b_size = settled_audit_size(live.client, world.b.org.admin.token)
    for who, credential in world.callers.items():
        for index in (0, b_size - 1):
            answer = call(live.client, "GET", f"/api/v1/audit/entries/{index}", credential)
            if is_problem(answer, 404) or is_problem(answer, 403):
                continue
            assert answer.status_code == 200, (who, answer.status_code, answer.text)
            entry = answer.json()
            assert world.b.org.organization_id not in json.dumps(entry), (who, entry)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_another_organizations_webhook_secret_signs_nothing_for_b(
    live: LivePlatform, world: World
) -> None:
    """The webhook route is public and signed with the system's own secret: A's secret, or no
    signature, gets 401 for B's system, and B stores nothing; B's own secret still works."""
    client = live.client
    path = f"/api/v1/webhooks/arize/{world.b.ids['system_id']}"
    body = json.dumps({"alert_type": "drift", "alert_id": "iso-1", "drift_value": 0.3}).encode()
    events_before = ok(client.get("/api/v1/telemetry/events?limit=200", world.b.org.admin.token))

    def deliver(signature: str | None) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Arize-Signature"] = signature
        return requests.post(client.base_url + path, data=body, headers=headers, timeout=30)

    for signature in (sign(world.a.webhook_secret, body), None, "sha256=" + "0" * 64):
        answer = deliver(signature)
        assert answer.status_code == 401, answer.text
        assert answer.headers["Content-Type"].startswith("application/problem+json")
    events_after = ok(client.get("/api/v1/telemetry/events?limit=200", world.b.org.admin.token))
    assert events_after == events_before
    assert deliver(sign(world.b.webhook_secret, body)).status_code == 202
    # A's system id with B's secret is no better.
    wrong = requests.post(
        client.base_url + f"/api/v1/webhooks/arize/{world.a.ids['system_id']}",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Arize-Signature": sign(world.b.webhook_secret, body),
        },
        timeout=30,
    )
    assert wrong.status_code == 401


def test_each_operation_reaches_its_own_organizations_resource(live: LivePlatform) -> None:
    """The other side of the matrix: with its own ids, an organization's admin gets past the
    lookup on every operation. So the paths and ids the matrix sends are real, and its 404s mean
    "not yours", not "no such route"."""
    client = live.client
    c = onboard(client, "cy@valley.example", "Valley Health")
    estate = furnish(live, c, "valley")
    estate.ids["user_id"] = join(client, c, "al@valley.example", "analyst").user_id
    operations = [o for o in id_operations(client_document(live)) if tenant_params(o)]
    order = ("get", "put", "patch", "post", "delete")  # what removes a resource goes last
    reached: list[str] = []
    for operation in sorted(operations, key=lambda o: (order.index(o.method), o.path)):
        if operation.public:
            continue
        answer = send(live, operation, estate.ids, c.admin.token)
        where = f"{operation.method.upper()} {operation.path}"
        assert answer.status_code in (200, 201, 202, 204, 409), (
            where,
            answer.status_code,
            answer.text[:300],
        )
        reached.append(where)
    assert len(reached) >= 25


def client_document(live: LivePlatform) -> dict[str, Any]:
    document: dict[str, Any] = ok(live.client.get("/api/docs/openapi.json"))
    return document


# Ids carried in bodies and query strings rather than paths: those that name nothing of the
# caller's organization, and the others by the kind of B's id sent.
NOT_TENANT_OWNED_FIELDS = {
    # Another organization by design: the vendor's, when it is on Spectral.
    "vendor_organization_id": "names the vendor's own organization, not the caller's",
    # The SSO entry point, before anyone is signed in: whose sign-in page to start.
    "organization_id": "chooses an organization's sign-in page; public, no resource",
    # Filters of the caller's own audit log: they narrow the caller's entries, find no one else's.
    "actor_id": "filters the caller's own audit log",
    "resource_id": "filters the caller's own audit log",
    "control_id": "the public catalog",
    "framework_id": "the public catalog",
}
ID_FIELDS = {
    "ai_system_id": "system_id",
    "assigned_user_id": "user_id",
    "owner_user_id": "user_id",
    "violation_id": "violation_id",
}


def uuid_fields(document: dict[str, Any]) -> set[str]:
    """Every body property and query parameter of the document that holds an id (a uuid)."""
    schemas = document["components"]["schemas"]
    found: set[str] = set()

    def walk(node: Any, seen: frozenset[str]) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, seen)
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.rsplit("/", 1)[-1] not in seen:
            name = ref.rsplit("/", 1)[-1]
            walk(schemas.get(name), seen | {name})
        for name, prop in (node.get("properties") or {}).items():
            if "uuid" in json.dumps(prop) and name.endswith("_id"):
                found.add(name)
            walk(prop, seen)
        for key in ("anyOf", "oneOf", "allOf", "items"):
            walk(node.get(key), seen)

    for operations in document["paths"].values():
        for method in METHODS:
            operation = operations.get(method) or {}
            for param in operation.get("parameters", []):
                if param["in"] == "query" and param["name"].endswith("_id"):
                    found.add(param["name"])
            walk(operation.get("requestBody"), frozenset())
    return found


def test_ids_of_another_organization_in_bodies_and_queries_find_nothing(
    live: LivePlatform, world: World
) -> None:
    """B's ids where a body or a query string takes one: refused (4xx), or, for a filter, an
    empty page; and B is unchanged. A new id-holding field fails here until it is listed."""
    unknown = uuid_fields(world.document) - set(ID_FIELDS) - set(NOT_TENANT_OWNED_FIELDS)
    assert not unknown, f"say which kind of id these hold (ID_FIELDS) or why not: {unknown}"

    client, b, a = live.client, world.b.ids, world.a.ids
    admin, officer = world.a.org.admin.token, world.a.org.members["compliance_officer"].token
    before = snapshot(live, world.b)
    refused = [
        ("PATCH", f"/api/v1/actions/{a['action_id']}", {"assigned_user_id": b["user_id"]}),
        ("PATCH", f"/api/v1/ai-systems/{a['system_id']}", {"owner_user_id": b["user_id"]}),
        (
            "POST",
            "/api/v1/ai-systems",
            {
                "name": "Owned elsewhere",
                "department": "IT",
                "category": "other",
                "uses_phi": False,
                "risk_level": "low",
                "owner_user_id": b["user_id"],
            },
        ),
        (
            "POST",
            "/api/v1/engine/control-toggles",
            {
                "control_id": "MEASURE-2.7",
                "ai_system_id": b["system_id"],
                "justification": "Not ours to turn off.",
            },
        ),
        (
            "POST",
            "/api/v1/engine/threshold-overrides",
            {
                "threshold": "drift.accuracy_drop_high",
                "value": 0.25,
                "event_type": "model_drift",
                "ai_system_id": b["system_id"],
                "justification": "Not ours to raise.",
            },
        ),
    ]
    for method, path, body in refused:
        for token in (admin, officer):
            answer = call(client, method, path, token, body)
            assert 400 <= answer.status_code < 500, (method, path, answer.status_code, answer.text)
            assert answer.status_code not in (401, 403), (method, path, answer.text)

    pushed = call(
        client,
        "POST",
        "/api/v1/telemetry/events",
        officer,
        {"events": [{"ai_system_id": b["system_id"], **PHI_EXPOSURE}]},
    )
    assert pushed.status_code in (202, 404, 422), pushed.text
    if pushed.status_code == 202:
        assert pushed.json()["accepted"] == 0, pushed.json()

    for path, kind in (
        ("/api/v1/violations", "system_id"),
        ("/api/v1/actions", "system_id"),
        ("/api/v1/alerts", "system_id"),
        ("/api/v1/telemetry/events", "system_id"),
    ):
        page = call(client, "GET", path, admin, params={"ai_system_id": b[kind]})
        assert page.status_code in (200, 404), page.text
        if page.status_code == 200:
            assert page.json()["data"] == [], (path, page.json())
    page = call(client, "GET", "/api/v1/actions", admin, params={"violation_id": b["violation_id"]})
    assert page.status_code in (200, 404) and (page.status_code == 404 or not page.json()["data"])

    after = snapshot(live, world.b)
    changed = [key for key in before if before[key] != after[key]]
    assert not changed, {key: (before[key], after[key]) for key in changed}
