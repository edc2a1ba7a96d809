"""Documentation that code keeps true: the events catalog, the route table, the Procfile, .env.example,
the permissions matrix and the translation rules."""

from __future__ import annotations

import re
from pathlib import Path

from spectral_gateway.routes import route_for, route_table
from spectral_shared.bus.catalog import routing_key_matches
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings
from spectral_shared.events_doc import BEGIN, END, render_catalog
from spectral_shared.routing import Route

ROOT = Path(__file__).resolve().parents[1]


def test_docs_events_md_lists_exactly_what_the_code_publishes_and_consumes(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path)
    text = (ROOT / "docs" / "events.md").read_text()
    documented = text[text.index(BEGIN) : text.index(END) + len(END)] + "\n"
    generated = render_catalog(installed_components(), settings)
    assert documented == generated, "docs/events.md is stale: regenerate it with `make events-doc`"


def test_every_published_type_has_a_consumer_and_every_binding_matches_a_type(
    tmp_path: Path,
) -> None:
    settings = Settings(var_dir=tmp_path)
    components = installed_components()
    types = {name for c in components.values() for name in c.events.types}
    subscriptions = [s for c in components.values() for s in Runtime(c, settings).subscriptions]
    for name in types:
        assert any(routing_key_matches(b, name) for s in subscriptions for b in s.bindings), (
            f"{name} has no consumer"
        )
    for subscription in subscriptions:
        for binding in subscription.bindings:
            assert any(routing_key_matches(binding, name) for name in types), (
                f"{subscription.name} binds {binding}, which nothing publishes"
            )


def test_every_route_a_service_serves_is_sent_to_it_by_the_route_table(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path)
    own_paths = {"/health", "/livez", "/metrics", "/static/<path:filename>"}
    for name, component in installed_components().items():
        app = Runtime(component, settings).app()
        for rule in app.url_map.iter_rules():
            if rule.rule in own_paths:
                continue
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"sample-\1", rule.rule)
            route = route_for(path)
            assert route is not None and route.service == name, (
                f"{name} serves {rule.rule}, but the route table sends it to {route}"
            )


def test_the_route_table_prefers_the_most_specific_prefix_and_marks_public_paths() -> None:
    assert route_for("/api/v1/auth/login") is not None and route_for("/api/v1/auth/login").public  # type: ignore[union-attr]
    assert route_for("/api/v1/auth/me") is not None and not route_for("/api/v1/auth/me").public  # type: ignore[union-attr]
    assert route_for("/api/v1/authx") is None  # prefixes match whole path segments only
    assert route_for("/.well-known/jwks.json/extra") is None
    assert route_for("/api/v1/audit/events").service == "audit"  # type: ignore[union-attr]


def test_the_route_table_is_what_the_installed_components_declare() -> None:
    components = installed_components()
    table = route_table()
    for name, component in components.items():
        own = tuple(route for route in table if route.service == name)
        assert own == (*component.routes, Route(f"/api/v1/{name}/openapi.json", name, public=True))
    assert {route.service for route in table} == set(components)


def test_the_procfile_runs_every_target_of_every_service_behind_nginx() -> None:
    procfile = dict(
        line.split(": ", 1)
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line and not line.startswith("#")
    )
    env = dict(
        line.split("=", 1)
        for line in (ROOT / "deploy/stack/stack.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    for name in installed_components():
        for target in ("web", "worker", "relay"):
            assert procfile[f"{name}-{target}"].startswith(f"spectral {name} {target}")
        port = re.search(r"--port (\d+)", procfile[f"{name}-web"]).group(1)  # type: ignore[union-attr]
        assert env[f"{name.upper()}_UPSTREAM"] == f"http://127.0.0.1:{port}"
    assert "dev-router --host 127.0.0.1 --port 5000" in procfile["router"]
    assert env["PLATFORM_UPSTREAM"] == "http://127.0.0.1:5000"
    # nginx runs the config deploy/stack/prepare.py renders, in the foreground under honcho.
    assert (
        procfile["gateway"].startswith("nginx ")
        and "var/stack/nginx/nginx.conf" in procfile["gateway"]
    )
    assert "daemon off;" in procfile["gateway"]
    assert env["BASE_URL"] == "https://localhost:8443"


def test_env_example_and_readme_name_every_setting() -> None:
    names = {name.upper() for name in Settings.model_fields}
    names |= {n.upper() for c in installed_components().values() for n in c.settings.model_fields}
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    for name in names:
        assert re.search(rf"^#?\s*{name}=", example, re.M), f".env.example does not list {name}"
        assert f"`{name}`" in readme, f"README's variable table does not list {name}"


def test_docs_permissions_md_shows_the_matrix_the_code_enforces() -> None:
    from spectral_shared.identity import PERMISSIONS_BEGIN, PERMISSIONS_END, render_permissions

    text = (ROOT / "docs" / "permissions.md").read_text()
    documented = (
        text[text.index(PERMISSIONS_BEGIN) : text.index(PERMISSIONS_END) + len(PERMISSIONS_END)]
        + "\n"
    )
    assert documented == render_permissions(), (
        "docs/permissions.md is stale: regenerate the table from PERMISSIONS"
    )


def test_docs_rules_md_shows_the_rule_tables_the_engine_runs() -> None:
    from spectral_governance.engine.rules_doc import BEGIN as RULES_BEGIN
    from spectral_governance.engine.rules_doc import END as RULES_END
    from spectral_governance.engine.rules_doc import render_rules

    text = (ROOT / "docs" / "rules.md").read_text()
    documented = text[text.index(RULES_BEGIN) : text.index(RULES_END) + len(RULES_END)] + "\n"
    assert documented == render_rules(), (
        "docs/rules.md is stale: regenerate it with `make rules-doc`"
    )


def test_docs_telemetry_md_shows_the_tables_the_normalizer_and_mapping_run() -> None:
    from spectral_governance.engine.telemetry_doc import BEGIN as T_BEGIN
    from spectral_governance.engine.telemetry_doc import END as T_END
    from spectral_governance.engine.telemetry_doc import render_telemetry

    text = (ROOT / "docs" / "telemetry.md").read_text()
    documented = text[text.index(T_BEGIN) : text.index(T_END) + len(T_END)] + "\n"
    assert documented == render_telemetry(), (
        "docs/telemetry.md is stale: regenerate it with `make telemetry-doc`"
    )
