"""docker-compose.yml and .env.production.example, checked by parsing, since no Docker engine
runs here: every target of every installed service is a container with the right command,
hardened, health-checked and started in order; each container gets exactly the secrets it needs;
and each one's environment passes the production checks of what it runs."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_spec import PyOptions

from spectral_shared.component import installed_components
from spectral_shared.config import Settings

from compose_file import (
    COMPOSE,
    DOCKERFILE,
    DROPS_ROOT_ITSELF,
    ENTRYPOINT,
    ENV_EXAMPLE,
    ROOT,
    ROOT_JOBS,
    SPECTRAL_IMAGES,
    TARGETS,
    VARIABLE,
    compose,
    dockerfile_stages,
    env_file,
    environment_of,
    filled_in,
    interpolate,
    listed,
    long_running,
    passed_through,
    services,
)

# ---- docker-compose.yml -----------------------------------------------------------------------


def test_the_compose_file_is_valid_by_the_compose_specification() -> None:
    text = interpolate(COMPOSE.read_text(), filled_in())
    project = PyOptions(apply_merge=True).from_yaml(text)
    project.validate()  # networks, volumes, configs and secrets that services use are declared
    assert project.name == "spectral"
    assert "version" not in yaml.safe_load(COMPOSE.read_text())
    assert set(project.service_names()) == set(services())


def test_the_schema_check_catches_a_broken_file() -> None:
    """The check above is a real one: a typo in a key or a condition fails it."""
    text = interpolate(COMPOSE.read_text(), filled_in())
    for broken in (
        text.replace("read_only: true", "readonly: true", 1),
        text.replace("condition: service_healthy", "condition: service_ready", 1),
        text.replace("interval: 30s", "interval: thirty", 1),
    ):
        assert broken != text
        with pytest.raises(ValueError):  # noqa: PT011 - the library raises ValueError only
            PyOptions(apply_merge=True).from_yaml(broken).validate()


def test_every_target_of_every_installed_service_is_a_container_with_its_command() -> None:
    found = services()
    for service in installed_components():
        for target in TARGETS:
            spec = found[f"{service}-{target}"]
            assert spec["image"] == f"spectral-{service}"
            assert spec["command"] == [service, target]
            assert spec["restart"] == "unless-stopped"
        # One of the three builds the service's image, from this Dockerfile, for that service.
        builds = [found[f"{service}-{t}"].get("build") for t in TARGETS]
        [build] = [b for b in builds if b]
        assert build["context"] == "." and build["args"] == {"SERVICE": service}
        assert "target" not in build  # the default target, the service image


def test_the_jobs_and_the_gateway_run_the_right_commands() -> None:
    found = services()
    migrate = found["migrate"]
    assert migrate["image"] == "spectral-all" and migrate["build"]["args"] == {"SERVICE": "all"}
    assert migrate["command"] == ["spectral db upgrade && spectral bus declare"]
    definitions = found["rabbitmq-definitions"]
    [script] = definitions["command"]
    assert "spectral bus definitions --password-env RABBITMQ_PASSWORD" in script
    assert (
        "load_definitions = /definitions/definitions.json"
        in (ROOT / "deploy" / "docker" / "rabbitmq.conf").read_text()
    )
    assert found["platform"]["command"][:2] == ["gateway", "dev-router"]
    assert found["gateway"]["build"] == {"context": ".", "target": "gateway"}
    assert "command" not in found["gateway"]  # the image's entrypoint: render, then nginx


def test_every_long_running_service_has_a_healthcheck_and_jobs_have_none() -> None:
    for name, spec in services().items():
        check = spec.get("healthcheck", {})
        if long_running(spec):
            assert check.get("test") and not check.get("disable"), name
            assert spec["restart"] == "unless-stopped", name
        else:
            assert spec["restart"] == "no", name
            assert "test" not in check, name


def test_every_dependency_waits_for_health_or_completion() -> None:
    found = services()
    for name, spec in found.items():
        depends = spec.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must be the long form"
        for other, how in depends.items():
            condition = how["condition"]
            if condition == "service_healthy":
                assert long_running(found[other]) and found[other]["healthcheck"]["test"], other
            elif condition == "service_completed_successfully":
                assert not long_running(found[other]), f"{name} waits for {other} to exit"
            else:
                raise AssertionError(f"{name} -> {other}: {condition}")


def test_the_start_up_order() -> None:
    found = services()
    for service in installed_components():
        for target in TARGETS:
            depends = found[f"{service}-{target}"]["depends_on"]
            assert depends["migrate"]["condition"] == "service_completed_successfully"
            for backing in ("postgres", "rabbitmq", "redis"):
                assert depends[backing]["condition"] == "service_healthy"
    for target in TARGETS:
        assert found[f"reports-{target}"]["depends_on"]["s3-init"] == {
            "condition": "service_completed_successfully"
        }
    assert set(found["migrate"]["depends_on"]) == {"postgres", "rabbitmq"}
    assert found["rabbitmq"]["depends_on"]["rabbitmq-definitions"] == {
        "condition": "service_completed_successfully"
    }
    webs = {f"{service}-web" for service in installed_components()}
    assert webs <= set(found["platform"]["depends_on"])
    assert webs | {"platform"} <= set(found["gateway"]["depends_on"])


def test_no_sleeps_anywhere() -> None:
    for path in (COMPOSE, DOCKERFILE, ENTRYPOINT, ROOT / "deploy" / "postgres" / "init.sh"):
        assert not re.search(r"\bsleep\b", path.read_text()), path


def test_nothing_runs_as_root_and_spectral_containers_are_hardened() -> None:
    for name, spec in services().items():
        image = spec["image"]
        if image in SPECTRAL_IMAGES:
            assert spec["user"] == "10001:10001", name
            assert spec["read_only"] is True, name
            assert spec["cap_drop"] == ["ALL"], name
            assert "no-new-privileges:true" in spec["security_opt"], name
        elif name in ROOT_JOBS:
            assert spec["user"] == "0:0" and spec["cap_add"] == ["CHOWN"], name
            assert spec["cap_drop"] == ["ALL"] and spec["network_mode"] == "none", name
        elif image not in DROPS_ROOT_ITSELF:
            assert spec.get("user", "0").split(":")[0] not in ("0", "root"), name
            assert spec["cap_drop"] == ["ALL"], name


def test_only_the_gateway_publishes_ports_and_the_backing_services_are_internal() -> None:
    parsed = compose()
    for name, spec in parsed["services"].items():
        assert ("ports" in spec) == (name == "gateway"), name
        assert "expose" not in spec or name != "gateway"
    assert parsed["services"]["gateway"]["ports"] == ["443:8443", "80:8080"]
    assert parsed["networks"]["backend"]["internal"] is True
    for backing in ("postgres", "rabbitmq", "redis", "s3", "s3-init", "migrate", "platform"):
        assert parsed["services"][backing]["networks"] == ["backend"], backing


def test_every_spectral_container_serves_on_port_8000() -> None:
    found = services()
    for service in installed_components():
        for target in TARGETS:
            environment = found[f"{service}-{target}"]["environment"]
            assert environment["PORT"] == environment["METRICS_PORT"] == "8000"
            assert environment["HOST"] == "0.0.0.0"
    upstreams = found["gateway"]["environment"]
    for service in installed_components():
        assert upstreams[f"{service.upper()}_UPSTREAM"] == f"http://{service}-web:8000"
        assert found["platform"]["environment"][f"{service.upper()}_UPSTREAM"] == (
            f"http://{service}-web:8000"
        )
    assert upstreams["PLATFORM_UPSTREAM"] == "http://platform:8000"


def test_every_service_connects_to_postgres_as_its_own_role() -> None:
    values = filled_in()
    environment = services(values)["migrate"]["environment"]
    for service in installed_components():
        password = values[f"{service.upper()}_DB_PASSWORD"]
        assert environment[f"{service.upper()}_DATABASE_URL"] == (
            f"postgresql://spectral_{service}:{password}@postgres:5432/{values['PGDATABASE']}"
        )
    init = (ROOT / "deploy" / "postgres" / "init.sh").read_text()
    for service in installed_components():
        assert f'-v {service}_password="${service.upper()}_DB_PASSWORD"' in init
        assert f"-v {service}_role=spectral_{service}" in init
    # init.sql's own variables are exactly these
    sql = (ROOT / "deploy" / "postgres" / "init.sql").read_text()
    used = set(re.findall(r":[\"']([a-z]+_(?:role|password))[\"']", sql))
    assert used == set(re.findall(r"-v ([a-z]+_(?:role|password))=", init))
    mounts = services()["postgres"]["volumes"]
    assert "./deploy/postgres/init.sh:/docker-entrypoint-initdb.d/10-spectral-roles.sh:ro" in mounts
    assert "./deploy/postgres/init.sql:/etc/spectral/postgres/init.sql:ro" in mounts


# ---- .env.production.example ---------------------------------------------------------------


def test_every_variable_the_compose_file_reads_is_in_the_example() -> None:
    """Required ones (``${X}``, ``${X:?...}``) have a value there; optional ones are listed."""
    found = VARIABLE.findall(COMPOSE.read_text())
    assert found, "the compose file reads no variables?"
    required = {name for name, operator, _ in found if operator in ("", ":?", "?")}
    optional = {name for name, operator, _ in found if operator in (":-", "-")}
    assert required <= set(env_file(ENV_EXAMPLE)), required - set(env_file(ENV_EXAMPLE))
    assert optional <= listed(ENV_EXAMPLE), optional - listed(ENV_EXAMPLE)
    assert {"WEB_CONCURRENCY", "ENCRYPTION_KEYS_PREVIOUS"} <= passed_through()
    assert passed_through() <= listed(ENV_EXAMPLE), passed_through() - listed(ENV_EXAMPLE)


def test_an_unset_optional_setting_is_unset_in_the_containers_not_empty() -> None:
    """gunicorn reads int(WEB_CONCURRENCY) on import: empty would stop every web target."""
    values = filled_in()
    assert "WEB_CONCURRENCY" not in values  # commented out in the example
    set_empty = {name for name, value in values.items() if value == ""}
    for name, spec in services(values).items():
        environment = environment_of(spec, values)
        empty = {n for n, v in environment.items() if v == ""}
        assert empty <= set_empty, f"{name}: {empty - set_empty}"
        assert "WEB_CONCURRENCY" not in environment
    chosen = services({**values, "WEB_CONCURRENCY": "3"})["auth-web"]
    assert environment_of(chosen, {**values, "WEB_CONCURRENCY": "3"})["WEB_CONCURRENCY"] == "3"


def test_every_setting_env_example_lists_is_in_the_production_example() -> None:
    text = (ROOT / ".env.example").read_text()
    settings = listed_before(text, "# ---- Tests only")
    assert {"SESSION_SECRET", "ENCRYPTION_KEY", "AUDIT_SIGNING_KEY", "BROKER_URL"} <= settings
    assert settings <= listed(ENV_EXAMPLE), settings - listed(ENV_EXAMPLE)


def listed_before(text: str, marker: str) -> set[str]:
    head = text.split(marker, 1)[0]
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", head, re.MULTILINE))


def test_the_example_names_every_secret_and_generates_none() -> None:
    values = env_file(ENV_EXAMPLE)
    assert "SPECTRAL_ENV" in listed(ENV_EXAMPLE)  # set by the compose file, see below
    assert values["BASE_URL"].startswith("https://")
    for name in SECRETS - OPTIONAL_SECRETS:
        assert values[name].startswith("CHANGE_ME") or name == "AWS_ACCESS_KEY_ID", name
    assert not OPTIONAL_SECRETS & set(values)  # commented out: set them only if used


# ---- who gets which secret --------------------------------------------------------------------

# Every secret .env.production holds. Each gets a distinct value below, so a secret is found in
# a container by its value wherever it went (inside a URL, a command, a healthcheck).
SECRETS = {
    "POSTGRES_PASSWORD",
    *(f"{service.upper()}_DB_PASSWORD" for service in installed_components()),
    *(f"{service.upper()}_DATABASE_REPLICA_URL" for service in installed_components()),
    "DATABASE_REPLICA_URL",
    "RABBITMQ_PASSWORD",
    "REDIS_PASSWORD",
    "SESSION_SECRET",
    "ENCRYPTION_KEY",
    "ENCRYPTION_KEYS_PREVIOUS",
    "SENDGRID_API_KEY",
    "AUDIT_SIGNING_KEY",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "WORKOS_API_KEY",
    "WORKOS_COOKIE_PASSWORD",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "JWT_SECRET",
    "UPSTASH_REDIS_TOKEN",
    "PGPASSWORD",
}
OPTIONAL_SECRETS = {
    *(f"{service.upper()}_DATABASE_REPLICA_URL" for service in installed_components()),
    "DATABASE_REPLICA_URL",
    "ENCRYPTION_KEYS_PREVIOUS",
    "JWT_SECRET",
    "UPSTASH_REDIS_TOKEN",
    "PGPASSWORD",
}
# What every service's web, worker and relay gets besides its own database: the broker and Redis
# passwords (in BROKER_URL and REDIS_URL), field encryption and SendGrid (every relay sends its
# service's mail).
SERVICE_SECRETS = {
    "RABBITMQ_PASSWORD",
    "REDIS_PASSWORD",
    "ENCRYPTION_KEY",
    "ENCRYPTION_KEYS_PREVIOUS",
    "SENDGRID_API_KEY",
}
OWN_SECRETS = {
    "auth": {"SESSION_SECRET", "WORKOS_API_KEY", "WORKOS_COOKIE_PASSWORD"},
    "governance": set(),
    "audit": {"AUDIT_SIGNING_KEY"},
    "billing": {"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"},
    "reports": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"},
}
DB_PASSWORDS = {f"{service.upper()}_DB_PASSWORD" for service in installed_components()}
MINIO = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def allowed_secrets() -> dict[str, set[str]]:
    """Container -> exactly the secrets it may (and must) receive."""
    allowed = {
        f"{service}-{target}": {
            f"{service.upper()}_DB_PASSWORD",
            f"{service.upper()}_DATABASE_REPLICA_URL",
            *SERVICE_SECRETS,
            *OWN_SECRETS[service],
        }
        for service in installed_components()
        for target in TARGETS
    }
    return {
        **allowed,
        # every schema migrated as its own role, then the bus declared
        "migrate": DB_PASSWORDS | {"RABBITMQ_PASSWORD"},
        # every schema dumped as its own role
        "backup": DB_PASSWORDS,
        "rabbitmq-definitions": {"RABBITMQ_PASSWORD"},
        # the router only proxies: its production check (boot("gateway", [])) asks for no secret
        "platform": set(),
        "postgres": {"POSTGRES_PASSWORD", *DB_PASSWORDS},  # init.sh creates the roles
        "redis": {"REDIS_PASSWORD"},
        "s3": MINIO,
        "s3-init": MINIO,
        "rabbitmq": set(),
        "s3-volume": set(),
        "gateway": set(),
    }


def distinct_secrets() -> dict[str, str]:
    """The filled-in example with every secret, set or optional, a value of its own."""
    values = filled_in()
    for name in SECRETS:
        values[name] = f"{name.lower().replace('_', '')}{secrets.token_hex(8)}"
    return values


def secrets_received(spec: dict[str, Any], values: dict[str, str]) -> set[str]:
    """The secrets a container gets: by a variable's name, or by value anywhere in its spec."""
    text = yaml.safe_dump(spec)
    return {name for name in SECRETS if name in spec.get("environment", {}) or values[name] in text}


def secret_problems(text: str | None = None) -> list[str]:
    values = distinct_secrets()
    found = services(values, text)
    allowed = allowed_secrets()
    problems = [f"{name}: not on the allow-list" for name in set(found) - set(allowed)]
    for name, spec in found.items():
        if "env_file" in spec:
            problems.append(f"{name}: env_file gives it every secret")
        got = secrets_received(spec, values)
        if got - allowed.get(name, set()):
            problems.append(f"{name} gets {sorted(got - allowed.get(name, set()))}")
        if allowed.get(name, set()) - got:
            problems.append(f"{name} lacks {sorted(allowed.get(name, set()) - got)}")
    return problems


def test_every_container_gets_exactly_the_secrets_it_needs() -> None:
    assert secret_problems() == []
    values = distinct_secrets()
    found = services(values)
    governance = yaml.safe_dump(found["governance-web"])
    for other in ("AUTH_DB_PASSWORD", "POSTGRES_PASSWORD", "STRIPE_SECRET_KEY"):
        assert values[other] not in governance
    for other in ("AWS_SECRET_ACCESS_KEY", "AUDIT_SIGNING_KEY", "WORKOS_API_KEY", "SESSION_SECRET"):
        assert values[other] not in governance
    auth = environment_of(found["auth-web"], values)
    assert auth["SESSION_SECRET"] == values["SESSION_SECRET"]
    assert auth["AUTH_DATABASE_URL"] == (
        f"postgresql://spectral_auth:{values['AUTH_DB_PASSWORD']}@postgres:5432/"
        f"{values['PGDATABASE']}"
    )
    assert not {n for n in auth if n.endswith("_DATABASE_URL")} - {"AUTH_DATABASE_URL"}


def test_the_secret_check_catches_a_leak_and_a_missing_secret() -> None:
    """The check above is a real one: each of these edits of the file fails it."""
    text = COMPOSE.read_text()
    governance = "x-governance-environment: &governance-environment\n"
    billing = '    command: ["billing", "worker"]\n'
    definitions = "      RABBITMQ_PASSWORD: ${RABBITMQ_PASSWORD}\n"
    for broken, problem in (
        (
            text.replace(governance, f"{governance}  AUTH_DATABASE_URL: *auth-database-url\n"),
            "governance-web gets ['AUTH_DB_PASSWORD']",
        ),
        (
            text.replace(billing, f"{billing}    env_file: [.env.production]\n"),
            "billing-worker: env_file gives it every secret",
        ),
        (
            text.replace(definitions, f"{definitions}      PGPASS: ${{POSTGRES_PASSWORD}}\n"),
            "rabbitmq-definitions gets ['POSTGRES_PASSWORD']",
        ),
        (
            re.sub(r"\n  AUDIT_SIGNING_KEY: [^\n]*", "", text, count=1),
            "audit-relay lacks ['AUDIT_SIGNING_KEY']",
        ),
    ):
        assert broken != text
        assert problem in secret_problems(broken)


# ---- each container's real environment passes what its command checks --------------------------


def settings_from(environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as a container with exactly this environment loads them."""
    read = {
        (alias or name).upper()
        for name, field in Settings.model_fields.items()
        for alias in [None, *getattr(field.validation_alias, "choices", [])]
    }
    for name in list(os.environ):
        if name in read or name.endswith(("_DATABASE_URL", "_DATABASE_REPLICA_URL", "_UPSTREAM")):
            monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return Settings()


@pytest.mark.parametrize("container", [f"{s}-{t}" for s in installed_components() for t in TARGETS])
def test_every_target_passes_the_production_checks_with_its_own_environment(
    container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `spectral <service> <target>` checks at start-up (process.boot), with the filled-in
    example and the container's environment alone."""
    service = container.rsplit("-", 1)[0]
    values = filled_in()
    settings = settings_from(environment_of(services(values)[container], values), monkeypatch)
    extra = list(installed_components()[service].production_requires)
    assert settings.is_production
    assert settings.production_problems([service], extra) == []
    assert settings.database_url_for(service) == (
        f"postgresql+psycopg://spectral_{service}:{values[f'{service.upper()}_DB_PASSWORD']}"
        f"@postgres:5432/{values['PGDATABASE']}"
    )
    for other in set(installed_components()) - {service}:
        assert settings.database_url_for(other).startswith("sqlite"), other  # no access


def test_the_platform_router_passes_its_production_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """`spectral gateway dev-router` runs boot("gateway", []): what a process running no service needs."""
    values = filled_in()
    settings = settings_from(environment_of(services(values)["platform"], values), monkeypatch)
    assert settings.is_production
    assert settings.production_problems([], []) == []
    for service in installed_components():
        assert settings.database_url_for(service).startswith("sqlite")


def job_environment(spec: dict[str, Any], values: dict[str, str], var: Path) -> dict[str, str]:
    return {
        **environment_of(spec, values),
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "VAR_DIR": str(var),
    }


def test_migrate_runs_with_its_environment(tmp_path: Path) -> None:
    """Neither `spectral db upgrade` nor `spectral bus declare` demands an application secret:
    the job's command, with its environment, except that the databases are SQLite files and the
    broker is in memory (no PostgreSQL or RabbitMQ here)."""
    values = filled_in()
    spec = services(values)["migrate"]
    env = job_environment(spec, values, tmp_path)
    assert {n for n in env if n.endswith("_DATABASE_URL")} == {
        f"{service.upper()}_DATABASE_URL" for service in installed_components()
    }
    for service in installed_components():
        env[f"{service.upper()}_DATABASE_URL"] = f"sqlite:///{tmp_path / service}.db"
    assert env["BROKER_URL"].startswith("amqp://spectral:")
    env["BROKER_URL"] = "memory://"
    [script] = spec["command"]
    done = subprocess.run(
        [*spec["entrypoint"], script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    for service in installed_components():
        assert f"{service}: migrated" in done.stdout
    assert "audit: audit.log" in done.stdout  # the declared queues


def test_rabbitmq_definitions_runs_with_its_environment(tmp_path: Path) -> None:
    """The job's script, as the container runs it (its volume here a temporary directory)."""
    values = filled_in()
    spec = services(values)["rabbitmq-definitions"]
    [script] = spec["command"]
    done = subprocess.run(
        [*spec["entrypoint"], script.replace("/var/lib/spectral", str(tmp_path))],
        env=job_environment(spec, values, tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads((tmp_path / "definitions.json").read_text())
    [user] = document["users"]
    assert user["name"] == "spectral"
    salted = base64.b64decode(user["password_hash"])
    salt, digest = salted[:4], salted[4:]
    assert hashlib.sha256(salt + values["RABBITMQ_PASSWORD"].encode()).digest() == digest


def test_no_container_mounts_two_things_at_one_path() -> None:
    """Docker refuses a tmpfs and a volume at the same path (a duplicate mount point)."""
    for name, spec in services().items():
        targets = [entry.split(":")[0] for entry in spec.get("tmpfs", [])]
        targets += [entry.split(":")[1] for entry in spec.get("volumes", [])]
        assert len(targets) == len(set(targets)), name


def test_backups_run_on_demand_from_the_image_that_has_the_client_tools() -> None:
    values = filled_in()
    backup = services(values)["backup"]
    assert backup["profiles"] == ["ops"]  # `docker compose run --rm backup`, never started by up
    assert backup["image"] == "spectral-all" and backup["restart"] == "no"
    assert backup["command"] == ["db", "backup", "--to", "/backups"]
    assert backup["volumes"] == [f"{values.get('BACKUP_DIR', './var/backups')}:/backups"]
    environment = environment_of(backup, values)
    assert {n for n in environment if n.endswith("_DATABASE_URL")} == {
        f"{service.upper()}_DATABASE_URL" for service in installed_components()
    }
    assert backup["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    # pg_dump and pg_restore are in the spectral-all image only
    stages = dockerfile_stages()
    assert any("install" in i and "postgresql-client" in i for i in stages["default-command-all"])
    for name, steps in stages.items():
        if name.startswith("default-command-") and name != "default-command-all":
            assert not any("postgresql-client" in i for i in steps), name
