"""The plain-server deployment (deploy/systemd): a unit per target of every installed service,
hardened, after the migrations, under one spectral.target, with a daily backup timer."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from spectral_shared.component import installed_components

UNITS = Path(__file__).resolve().parents[1] / "deploy" / "systemd"
TARGETS = ("web", "worker", "relay")
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
}


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / name).read_text())
    return parser


def every_value(path: Path, key: str) -> list[str]:
    return [
        line.split("=", 1)[1].strip()
        for line in path.read_text().splitlines()
        if line.startswith(f"{key}=")
    ]


@pytest.mark.parametrize("target", TARGETS)
def test_each_target_runs_hardened_as_spectral_after_the_migrations(target: str) -> None:
    path = UNITS / f"spectral-{target}@.service"
    parsed = unit(path.name)
    service = parsed["Service"]
    assert service["ExecStart"].split()[:3] == ["/opt/spectral/.venv/bin/spectral", "%i", target]
    assert (service["User"], service["Group"]) == ("spectral", "spectral")
    assert service["Restart"] == "on-failure" and int(service["TimeoutStopSec"]) >= 35
    for key, value in HARDENING.items():
        assert service[key] == value, key
    assert service["CapabilityBoundingSet"] == ""  # no capabilities at all
    assert "spectral-migrate.service" in parsed["Unit"]["Requires"]
    assert "spectral-migrate.service" in parsed["Unit"]["After"]
    env_files = every_value(path, "EnvironmentFile")
    assert "/etc/spectral/spectral.env" in env_files
    if target == "web":
        assert "/etc/spectral/%i.env" in env_files  # its PORT
        assert "--host 127.0.0.1" in service["ExecStart"]  # only the gateway reaches it


def test_the_target_wants_every_target_of_every_installed_service() -> None:
    wanted = {
        name for line in every_value(UNITS / "spectral.target", "Wants") for name in line.split()
    }
    expected = {
        f"spectral-{target}@{service}.service"
        for service in installed_components()
        for target in TARGETS
    }
    assert expected <= wanted
    assert {"spectral-migrate.service", "spectral-gateway.service"} <= wanted


def test_every_web_target_has_its_own_port() -> None:
    ports = {}
    for service in installed_components():
        [port] = every_value(UNITS / "env" / f"{service}.env", "PORT")
        ports[service] = int(port)
    assert len(set(ports.values())) == len(ports)


def test_migrations_and_the_bus_come_first_and_backups_run_daily() -> None:
    migrate = unit("spectral-migrate.service")["Service"]
    assert migrate["Type"] == "oneshot" and migrate["RemainAfterExit"] == "yes"
    commands = every_value(UNITS / "spectral-migrate.service", "ExecStart")
    assert [c.split()[1:] for c in commands] == [["db", "upgrade"], ["bus", "declare"]]
    backup = unit("spectral-backup.service")["Service"]
    assert backup["ExecStart"].split()[1:3] == ["db", "backup"]
    assert backup["User"] == "spectral" and backup["ProtectSystem"] == "strict"
    timer = unit("spectral-backup.timer")["Timer"]
    assert timer["OnCalendar"].startswith("*-*-*") and timer["Persistent"] == "true"


def test_the_gateway_checks_its_config_before_starting() -> None:
    service = unit("spectral-gateway.service")["Service"]
    assert service["ExecStartPre"].split()[:2] == ["/usr/sbin/nginx", "-t"]
    assert service["ExecStart"].endswith("-c /etc/spectral/nginx/nginx.conf")
