"""Reading docker-compose.yml, .env.production.example and the Dockerfile as Docker would, with
no engine: what the container tests share (test_compose.py, test_images.py)."""

from __future__ import annotations

import base64
import re
import secrets
from pathlib import Path
from typing import Any

import yaml

from spectral_shared.component import installed_components

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.production.example"
ENTRYPOINT = ROOT / "deploy" / "docker" / "gateway-entrypoint.sh"
TARGETS = ("web", "worker", "relay")
SPECTRAL_IMAGES = {f"spectral-{name}" for name in installed_components()} | {
    "spectral-all",
    "spectral-gateway",
}
# Third-party images whose entrypoint drops root for their own account before the server starts
# (gosu/su-exec to postgres, rabbitmq, redis); MinIO does not, so docker-compose.yml runs it as
# 10001. s3-volume is the one root container: a chown of MinIO's volume, CAP_CHOWN only.
DROPS_ROOT_ITSELF = {"postgres:15-alpine", "rabbitmq:3.13-alpine", "redis:7-alpine"}
ROOT_JOBS = {"s3-volume"}
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


# ---- parsing ----------------------------------------------------------------------------------


def env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines (compose's env-file format, unquoted values)."""
    found = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            found[name.strip()] = value
    return found


def listed(path: Path) -> set[str]:
    """Every variable a template names, set or commented out (``# NAME=...``)."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", path.read_text(), re.MULTILINE))


def filled_in() -> dict[str, str]:
    """The example with each placeholder replaced the way its comment says to generate it."""
    values = env_file(ENV_EXAMPLE)
    for name, value in values.items():
        if value.startswith("CHANGE_ME"):
            if "base64" in value:
                values[name] = base64.b64encode(secrets.token_bytes(32)).decode()
            elif "hex" in value:
                values[name] = secrets.token_hex(32)
            else:
                values[name] = f"{name.lower()}-{secrets.token_hex(8)}"
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """What docker compose does to each string of the file (``$$`` is a literal ``$``)."""

    def value(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        current = env.get(name)
        if operator in (":-", "-"):
            return current if current else argument
        if operator in (":?", "?") and not current:
            raise AssertionError(f"{name} is required: {argument}")
        assert current is not None, f"{name} has no value in .env.production.example"
        return current

    return VARIABLE.sub(value, text.replace("$$", "\0")).replace("\0", "$")


def interpolated(node: Any, env: dict[str, str]) -> Any:
    """The parsed file with every string interpolated: compose parses first (anchors, merge
    keys), then interpolates, so ``KEY: ${EMPTY:-}`` is an empty string, not YAML's null."""
    if isinstance(node, dict):
        return {key: interpolated(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolated(item, env) for item in node]
    return interpolate(node, env) if isinstance(node, str) else node


def compose(env: dict[str, str] | None = None, text: str | None = None) -> dict[str, Any]:
    parsed = yaml.safe_load(COMPOSE.read_text() if text is None else text)
    result: dict[str, Any] = interpolated(parsed, env if env is not None else filled_in())
    return result


def services(
    env: dict[str, str] | None = None, text: str | None = None
) -> dict[str, dict[str, Any]]:
    return dict(compose(env, text)["services"])


def environment_of(spec: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
    """A container's environment as its process sees it: compose's own (no env_file), a name
    without a value taken from .env.production (``values``) when set there, else left out."""
    assert "env_file" not in spec
    return {
        name: str(values[name] if value is None else value)
        for name, value in spec.get("environment", {}).items()
        if value is not None or name in values
    }


def passed_through(text: str | None = None) -> set[str]:
    """The names a container gets from .env.production as they are (``NAME:`` with no value)."""
    return {
        name
        for spec in yaml.safe_load(text or COMPOSE.read_text())["services"].values()
        for name, value in (spec.get("environment") or {}).items()
        if value is None
    }


def long_running(spec: dict[str, Any]) -> bool:
    return spec.get("restart") != "no"


def dockerfile_stages() -> dict[str, list[str]]:
    """Stage name -> its instructions (continuation lines joined, comments dropped)."""
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    stages["<global>"] = current
    logical = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    for line in logical.splitlines():
        line = " ".join(line.split())
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            name = line.split()[-1] if " AS " in line.upper() else line.split()[1]
            current = [line]
            stages[name] = current
        else:
            current.append(line)
    return stages


def final_stages() -> dict[str, list[str]]:
    """The images one can run: the service stage with the stages it is built on, and gateway."""
    stages = dockerfile_stages()
    service = stages["runtime"] + stages["service"]
    return {"service": service, "gateway": stages["gateway"]}
