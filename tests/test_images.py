"""The Dockerfile and the gateway image, checked without an engine: the images are pinned,
non-root, health-checked and free of build tools, and the gateway container's command line,
run for real, renders a config nginx accepts, serves, redirects and starts its watcher."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spectral_gateway.testing import free_port, wait_until
from spectral_gateway.tls import self_signed
from spectral_shared.component import installed_components

from compose_file import (
    ENTRYPOINT,
    ROOT,
    dockerfile_stages,
    final_stages,
    services,
)

# ---- Dockerfile -------------------------------------------------------------------------------


def test_every_base_image_is_pinned_by_digest_from_one_argument() -> None:
    stages = dockerfile_stages()
    [pin] = [i for i in stages["<global>"] if i.startswith("ARG PYTHON_IMAGE=")]
    assert re.fullmatch(r"ARG PYTHON_IMAGE=python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", pin)
    for name, instructions in stages.items():
        if name == "<global>":
            continue
        base = instructions[0].split()[1]
        assert base == "${PYTHON_IMAGE}" or base in stages or base.startswith("default-command-")


def test_the_final_images_run_as_spectral_with_a_healthcheck_and_no_build_tools() -> None:
    for name, instructions in final_stages().items():
        users = [i.split()[1] for i in instructions if i.startswith("USER ")]
        assert users and users[-1] == "10001:10001", name  # numeric: runAsNonRoot can verify it
        assert any(i.startswith("HEALTHCHECK ") for i in instructions), name
        for instruction in instructions:
            assert not re.search(r"\b(uv|pip)\b.*\b(install|sync)\b", instruction), instruction
            if instruction.startswith("COPY --from="):
                assert " /app/.venv /app/.venv" in instruction, instruction
    service = final_stages()["service"]
    assert 'ENTRYPOINT ["spectral"]' in service
    assert (
        'HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["python", "-m", "spectral_shared.probe"]'
        in service
    )
    env = " ".join(i for i in service if i.startswith("ENV "))
    for setting in ("PORT=8000", "METRICS_PORT=8000", "HOST=0.0.0.0", "SPECTRAL_ENV=production"):
        assert setting in env
    assert "EXPOSE 8000" in service
    # the account is created in the shared base, uid and gid 10001
    base = dockerfile_stages()["base"]
    assert any("--uid 10001" in i and "--gid spectral" in i for i in base)
    assert any("--gid 10001 spectral" in i for i in base)


def test_the_service_argument_covers_every_installed_service_and_all() -> None:
    stages = dockerfile_stages()
    [check] = [i for i in stages["venv"] if i.startswith('RUN case "${SERVICE}"')]
    allowed = set(re.search(r"in (\S+)\)", check)[1].split("|"))  # type: ignore[index]
    assert allowed == {*installed_components(), "all"}
    commands = {
        name.removeprefix("default-command-"): next(i for i in steps if i.startswith("CMD "))
        for name, steps in stages.items()
        if name.startswith("default-command-")
    }
    assert commands.pop("all") == 'CMD ["all"]'
    assert commands == {s: f'CMD ["{s}", "web"]' for s in installed_components()}
    assert stages["service"][0] == "FROM default-command-${SERVICE} AS service"
    assert list(stages)[-1] == "service"  # the default target
    syncs = [i for i in stages["venv"] if "uv sync" in i]
    assert len(syncs) == 2 and all('--package "spectral-${SERVICE}"' in s for s in syncs)
    # ... and the sync is given that --package (through "$@"): first dependencies, then ours
    assert re.search(
        r'uv sync --locked --no-dev --no-editable --no-install-workspace "\$@"$', syncs[0]
    )
    assert re.search(r'uv sync --locked --no-dev --no-editable "\$@"$', syncs[1])


def test_the_lock_inputs_are_copied_before_the_sources() -> None:
    """Every workspace member's pyproject.toml, so `uv sync --locked` sees the whole workspace."""
    steps = dockerfile_stages()["uv"]
    copied = {i.split()[1] for i in steps if i.startswith("COPY ") and "pyproject.toml" in i}
    members = {
        str(p.relative_to(ROOT))
        for p in [ROOT / "shared", *sorted((ROOT / "services").iterdir()), ROOT / "gateway"]
        if (p / "pyproject.toml").exists()
    }
    assert copied == {"pyproject.toml", *(f"{m}/pyproject.toml" for m in members)}


def test_the_build_context_leaves_out_what_images_must_not_hold() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".tools", "var", "tests", "services/*/tests", "helm"} <= ignored
    assert {".env", ".env.*", "docs", "bench"} <= ignored


def test_the_gateway_image_renders_then_execs_nginx() -> None:
    gateway = dockerfile_stages()["gateway"]
    assert any(
        "--no-install-recommends nginx-light" in i and "rm -rf /var/lib/apt/lists/*" in i
        for i in gateway
    )
    assert 'ENTRYPOINT ["spectral-gateway-entrypoint"]' in gateway
    assert any(i.startswith("EXPOSE 8443 8080") for i in gateway)
    script = ENTRYPOINT.read_text()
    assert script.startswith("#!/bin/sh\n") and "\nset -eu\n" in script
    render = script.index("spectral gateway render")
    assert script.index("nginx -t") > render
    assert script.rstrip().splitlines()[-1].startswith("exec nginx ")
    assert os.access(ENTRYPOINT, os.X_OK)


# ---- the gateway container's command line, for real --------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        pytest.fail("nginx is not installed: `apt-get install nginx-light` (.ci/run does)")
    return found


def gateway_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The gateway container's environment (image ENV, then compose), on this machine."""
    gateway = dockerfile_stages()["gateway"]
    image_env = dict(
        pair.split("=", 1)
        for instruction in gateway
        if instruction.startswith("ENV ")
        for pair in shlex.split(instruction[4:])
    )
    cert, key = tmp_path / "tls" / "fullchain.pem", tmp_path / "tls" / "privkey.pem"
    self_signed(cert, key, ("spectral.example.com",))
    composed = {k: str(v) for k, v in services()["gateway"]["environment"].items()}
    env = {
        "PATH": f"{Path(nginx_binary()).parent}:{Path(sys.executable).parent}:/usr/bin:/bin",
        **{k: v for k, v in image_env.items() if k != "PATH"},
        **composed,
        "GATEWAY_DIR": str(tmp_path / "gateway"),
        "TLS_CERT_PATH": str(cert),
        "TLS_KEY_PATH": str(key),
        "ACME_WEBROOT": str(tmp_path / "acme"),
        **extra,
    }
    # Upstream names resolve only on compose's network; nginx -t resolves them, so loopback here.
    for name, value in composed.items():
        if name.endswith("_UPSTREAM"):
            env[name] = re.sub(r"//[^:/]+:", "//127.0.0.1:", value)
    return env


def test_the_gateway_entrypoint_renders_a_config_nginx_accepts(tmp_path: Path) -> None:
    nginx = nginx_binary()
    env = gateway_environment(tmp_path)
    # The entrypoint as the image runs it, up to the exec (nginx -t included).
    script = ENTRYPOINT.read_text().replace("\nexec nginx ", "\necho nginx ")
    done = subprocess.run(
        ["/bin/sh", "-c", script, "gateway-entrypoint"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    config = tmp_path / "gateway" / "nginx" / "nginx.conf"
    assert done.stdout.strip() == (
        f"nginx -e stderr -p {tmp_path / 'gateway' / 'run'} -c {config} -g daemon off;"
    )
    text = config.read_text()
    assert "listen 8443 ssl" in text and "listen 8080;" in text
    assert "access_log /dev/stdout spectral_json;" in text and "error_log stderr warn;" in text
    assert f"server_name {env['GATEWAY_SERVER_NAME']};" in text
    assert "upstream spectral_platform" in text
    checked = subprocess.run(
        [nginx, "-t", "-e", "stderr", "-p", str(tmp_path / "gateway" / "run"), "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_the_gateway_entrypoint_refuses_to_start_without_a_certificate(tmp_path: Path) -> None:
    env = gateway_environment(tmp_path, TLS_CERT_PATH=str(tmp_path / "missing.pem"))
    done = subprocess.run(
        ["/bin/sh", str(ENTRYPOINT)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert "cannot read" in done.stderr and "missing.pem" in done.stderr
    assert not (tmp_path / "gateway" / "nginx").exists()


def test_the_gateway_healthcheck_passes_against_the_running_nginx(tmp_path: Path) -> None:
    """The real entrypoint execs nginx; the compose healthcheck's command then answers 0."""
    https, http = free_port(), free_port()
    env = gateway_environment(
        tmp_path,
        GATEWAY_HTTPS_PORT=str(https),
        GATEWAY_HTTP_PORT=str(http),
        GATEWAY_WORKERS="1",
        # pytest's tmp tree is root-only: nginx's workers must be root when the test is.
        **({"GATEWAY_USER": "root"} if os.geteuid() == 0 else {}),
    )
    test = services()["gateway"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    probe = [sys.executable, "-c", test[3].replace(":8443/", f":{https}/")]
    process = subprocess.Popen(
        ["/bin/sh", str(ENTRYPOINT)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "gateway.log", "wb"),  # noqa: SIM115 - lives with the process
    )
    try:

        def healthy() -> bool:
            assert process.poll() is None, (tmp_path / "gateway.log").read_text()
            return subprocess.run(probe, capture_output=True, check=False).returncode == 0

        wait_until(healthy, timeout=20, interval=0.2, what="the gateway's healthcheck")
        # Beside nginx (the entrypoint's own process, exec'd): the watcher that reloads it.
        watchers = wait_until(
            lambda: children_running(process.pid, "gateway watch"),
            timeout=10,
            what="the gateway watcher",
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
    # and the probe fails once nginx is gone, and the watcher with it
    assert subprocess.run(probe, capture_output=True, check=False).returncode != 0
    wait_until(
        lambda: not any(Path(f"/proc/{pid}").exists() and not zombie(pid) for pid in watchers),
        timeout=10,
        what="the watcher to stop with nginx",
    )


def zombie(pid: int) -> bool:
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def children_running(parent: int, command: str) -> list[int]:
    """The live child processes of ``parent`` whose command line holds ``command``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent and command in cmdline and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def test_the_redirect_to_https_names_the_published_port(tmp_path: Path) -> None:
    """nginx listens on 8443, published as 443: redirects name 443 (the image's
    GATEWAY_PUBLIC_HTTPS_PORT), which https:// implies, not the port inside the container."""
    script = ENTRYPOINT.read_text().replace("\nexec nginx ", "\necho nginx ")
    subprocess.run(
        ["/bin/sh", "-c", script, "gateway-entrypoint"],
        env=gateway_environment(tmp_path),
        capture_output=True,
        check=True,
    )
    text = (tmp_path / "gateway" / "nginx" / "nginx.conf").read_text()
    assert "return 301 https://$host$request_uri;" in text
    assert "8443$request_uri" not in text
