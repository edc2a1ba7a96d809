"""Every list of services outside a service's own folder names exactly the installed components.

A service registers itself once, as its ``Component`` (docs/architecture.md, "Adding a service");
what cannot read ``installed_components()`` at run time (the workspace's project files, the
Procfile, the Dockerfile, docker-compose.yml, the Helm chart, the systemd units, the PostgreSQL
roles) lists the services by name, and these tests hold each of those lists equal to the installed
components: a service added without its deployment entries, or a leftover entry for one that is
gone, fails here by name. (deploy/rabbitmq/definitions.json is generated from the components'
subscriptions and compared whole in test_rabbitmq_definitions.py.)
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from spectral_shared.component import installed_components

from compose_file import ENV_EXAMPLE, TARGETS, dockerfile_stages, env_file, services
from helm_release import CHART, SERVICES

ROOT = Path(__file__).resolve().parents[1]
INSTALLED = list(installed_components())
PACKAGES = [f"spectral_{name}" for name in INSTALLED]
DISTRIBUTIONS = [f"spectral-{name}" for name in INSTALLED]


def toml(path: str) -> dict[str, Any]:
    with (ROOT / path).open("rb") as file:
        return tomllib.load(file)


def lines(path: str) -> list[str]:
    return (ROOT / path).read_text().splitlines()


def in_order(found: list[str]) -> list[str]:
    """The names in the order they first appear (a list that repeats a name per target)."""
    return list(dict.fromkeys(found))


# ---- the workspace ------------------------------------------------------------------------------


def test_every_service_folder_is_an_installed_component_registered_under_its_name() -> None:
    folders = sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))
    assert folders == sorted(INSTALLED)
    for name in INSTALLED:
        registered = toml(f"services/{name}/pyproject.toml")["project"]["entry-points"]
        assert registered["spectral.components"] == {name: f"spectral_{name}.component:component"}


def test_the_root_project_and_the_gateway_depend_on_every_service() -> None:
    root = toml("pyproject.toml")
    shared_and_gateway = {"spectral-shared", "spectral-gateway"}
    assert [d for d in root["project"]["dependencies"] if d not in shared_and_gateway] == (
        DISTRIBUTIONS
    )
    assert [s for s in root["tool"]["uv"]["sources"] if s not in shared_and_gateway] == (
        DISTRIBUTIONS
    )
    gateway = toml("gateway/pyproject.toml")
    dependencies = [d for d in gateway["project"]["dependencies"] if d.startswith("spectral-")]
    assert dependencies == ["spectral-shared", *DISTRIBUTIONS]
    assert list(gateway["tool"]["uv"]["sources"]) == ["spectral-shared", *DISTRIBUTIONS]


def test_the_import_boundaries_and_the_cycle_check_cover_every_service() -> None:
    tool = toml("pyproject.toml")["tool"]
    every_package = ["spectral_shared", *PACKAGES, "spectral_gateway"]
    assert tool["importlinter"]["root_packages"] == every_package
    assert tool["ruff"]["lint"]["isort"]["known-first-party"] == every_package
    contracts = tool["importlinter"]["contracts"]
    [independence] = [c for c in contracts if c["type"] == "independence"]
    assert independence["modules"] == PACKAGES
    forbidden = {
        c["source_modules"][0]: c["forbidden_modules"]
        for c in contracts
        if c["type"] == "forbidden"
    }
    assert forbidden["spectral_shared"] == [*PACKAGES, "spectral_gateway"]
    assert forbidden["spectral_gateway"] == PACKAGES
    cycles = (ROOT / "tools" / "check_import_cycles.py").read_text()
    listed = re.search(r"^PACKAGES = \(([^)]*)\)", cycles, re.M)
    assert listed is not None
    assert re.findall(r'"(\w+)"', listed[1]) == every_package


# ---- make stack ---------------------------------------------------------------------------------


def test_the_procfile_and_the_stack_environment_list_every_service() -> None:
    targets = [
        line.split(":", 1)[0]
        for line in lines("Procfile")
        if line
        and not line.startswith("#")
        and line.split(":", 1)[0].endswith(tuple(f"-{t}" for t in TARGETS))
    ]
    assert targets == [f"{name}-{target}" for name in INSTALLED for target in TARGETS]
    upstreams = [
        key.removesuffix("_UPSTREAM").lower()
        for key in env_file(ROOT / "deploy" / "stack" / "stack.env")
        if key.endswith("_UPSTREAM") and key != "PLATFORM_UPSTREAM"
    ]
    assert upstreams == INSTALLED


# ---- images and docker compose -----------------------------------------------------------------


def test_the_dockerfile_builds_an_image_for_every_service() -> None:
    stages = dockerfile_stages()
    copied = [
        match[1]
        for line in stages["uv"]
        if (match := re.fullmatch(r"COPY services/(\w+)/pyproject\.toml services/\1/", line))
    ]
    assert copied == INSTALLED
    [check] = [line for line in stages["venv"] if line.startswith('RUN case "${SERVICE}" in')]
    accepted = re.search(r" in ([\w|]+)\) ;;", check)
    assert accepted is not None and accepted[1].split("|") == ["all", *INSTALLED]
    commands = [s.removeprefix("default-command-") for s in stages if s.startswith("default-")]
    assert commands == ["all", *INSTALLED]


def test_docker_compose_runs_every_service_and_no_other() -> None:
    found = services()
    containers = [name for name in found if name.endswith(tuple(f"-{t}" for t in TARGETS))]
    assert containers == [f"{name}-{target}" for name in INSTALLED for target in TARGETS]
    text = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert [key for key in text["x-urls"] if key != "broker"] == INSTALLED
    assert [k.removesuffix("_UPSTREAM").lower() for k in text["x-upstreams"]] == INSTALLED
    assert list(text["x-web-targets-healthy"]) == [f"{name}-web" for name in INSTALLED]
    for job in ("migrate", "backup"):  # the jobs that reach every schema
        urls = [k for k in found[job]["environment"] if k.endswith("_DATABASE_URL")]
        assert urls == [f"{name.upper()}_DATABASE_URL" for name in INSTALLED], job
    passwords = [k for k in env_file(ENV_EXAMPLE) if k.endswith("_DB_PASSWORD")]
    assert passwords == [f"{name.upper()}_DB_PASSWORD" for name in INSTALLED]
    example_upstreams = re.findall(
        r"^# (\w+)_UPSTREAM=http://\w+-web:", ENV_EXAMPLE.read_text(), re.M
    )
    assert example_upstreams == [name.upper() for name in INSTALLED]


# ---- the Helm chart -----------------------------------------------------------------------------


def test_the_helm_chart_lists_every_service() -> None:
    assert list(SERVICES) == INSTALLED  # what the chart's tests render and expect
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    names = re.search(r'define "spectral\.serviceNames".*?toJson \(list ([^)]*)\)', helpers, re.S)
    assert names is not None and re.findall(r'"(\w+)"', names[1]) == INSTALLED
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert list(values["services"]) == INSTALLED
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert list(schema["properties"]["services"]["properties"]) == INSTALLED


# ---- plain servers and PostgreSQL ---------------------------------------------------------------


def test_the_systemd_target_and_the_port_files_list_every_service() -> None:
    units = " ".join(
        line.removeprefix("Wants=")
        for line in lines("deploy/systemd/spectral.target")
        if line.startswith("Wants=")
    ).split()
    instances = [m for unit in units if (m := re.fullmatch(r"spectral-(\w+)@(\w+)\.service", unit))]
    assert [(m[2], m[1]) for m in instances] == [(n, t) for n in INSTALLED for t in TARGETS]
    port_files = sorted(p.stem for p in (ROOT / "deploy" / "systemd" / "env").glob("*.env"))
    assert port_files == sorted(INSTALLED)


def test_postgres_has_a_role_and_a_schema_for_every_service() -> None:
    sql = (ROOT / "deploy" / "postgres" / "init.sql").read_text()
    assert re.findall(r'^CREATE ROLE :"(\w+)_role"', sql, re.M) == INSTALLED
    schemas = re.findall(r'^CREATE SCHEMA (\w+) AUTHORIZATION :"(\w+)_role"', sql, re.M)
    assert schemas == [(name, name) for name in INSTALLED]
    [granted] = re.findall(r"unnest\(ARRAY\[([^\]]*)\]", sql)
    assert re.findall(r":'(\w+)_role'", granted) == INSTALLED
    assert re.findall(r"^--\s+-v (\w+)_role=spectral_\1 ", sql, re.M) == INSTALLED  # its usage
    script = (ROOT / "deploy" / "postgres" / "init.sh").read_text()
    checked = re.search(r"^for name in ([A-Z ]+); do", script, re.M)
    assert checked is not None and checked[1].split() == [n.upper() for n in INSTALLED]
    passed = re.findall(r'-v (\w+)_role=spectral_\1 -v \1_password="\$(\w+)_DB_PASSWORD"', script)
    assert passed == [(name, name.upper()) for name in INSTALLED]
