"""deploy/rabbitmq/definitions.json: what `spectral bus definitions` makes of the code's topology,
so a broker provisioned from it is the broker the services would declare themselves."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from kombu import Connection

from spectral_shared.bus.definitions import definitions, rabbit_password_hash
from spectral_shared.bus.topology import Topology
from spectral_shared.cli import cli
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings
from spectral_shared.testing import wait_until

FILE = Path(__file__).resolve().parents[1] / "deploy" / "rabbitmq" / "definitions.json"


def generated() -> dict[str, object]:
    settings = Settings(broker_url="amqp://guest:guest@localhost:5672//")
    subscriptions = [
        subscription
        for component in installed_components().values()
        for subscription in Runtime(component, settings).subscriptions
    ]
    return definitions(Topology(settings), subscriptions)


def test_the_committed_file_is_what_the_code_declares() -> None:
    """After changing a consumer: spectral bus definitions > deploy/rabbitmq/definitions.json"""
    assert json.loads(FILE.read_text()) == generated()


def test_every_consumer_has_a_quorum_queue_its_retries_and_its_dead_letters() -> None:
    document = json.loads(FILE.read_text())
    queues = {q["name"]: q["arguments"] for q in document["queues"]}
    bound = {(b["destination"], b["routing_key"]) for b in document["bindings"]}
    settings = Settings(broker_url="amqp://guest:guest@localhost:5672//")
    for component in installed_components().values():
        for subscription in Runtime(component, settings).subscriptions:
            name = subscription.name
            assert queues[name]["x-queue-type"] == "quorum"
            assert queues[f"{name}.dead-letter"]["x-queue-type"] == "quorum"
            for tier in (1, 2, 3):
                retry = queues[f"{name}.retry.{tier}"]
                assert retry["x-dead-letter-routing-key"] == name
                assert retry["x-message-ttl"] > 0
            assert {(name, key) for key in subscription.bindings} <= bound
    assert [e["name"] for e in document["exchanges"]] == ["spectral.events"]


def test_the_user_has_no_password_and_reaches_only_spectrals_resources() -> None:
    document = json.loads(FILE.read_text())
    [user] = document["users"]
    assert user["password_hash"] == ""  # set with rabbitmqctl change_password
    [permissions] = document["permissions"]
    pattern = re.compile(permissions["write"])
    for queue in document["queues"]:
        assert pattern.fullmatch(queue["name"])
    assert pattern.fullmatch("spectral.events") and pattern.fullmatch("amq.default")
    assert not pattern.fullmatch("billing.other") and not pattern.fullmatch("audit.logs")


def test_a_rendered_password_is_hashed_and_never_written_in_clear(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BROKER_URL", "amqp://guest:guest@localhost:5672//")
    monkeypatch.setenv("TEST_RABBITMQ_PASSWORD", "correct horse battery staple")
    result = CliRunner().invoke(
        cli, ["bus", "definitions", "--password-env", "TEST_RABBITMQ_PASSWORD"]
    )
    assert result.exit_code == 0, result.output
    assert "correct horse" not in result.output
    [user] = json.loads(result.output)["users"]
    raw = base64.b64decode(user["password_hash"])
    salt, digest = raw[:4], raw[4:]
    assert digest == hashlib.sha256(salt + b"correct horse battery staple").digest()

    monkeypatch.delenv("TEST_RABBITMQ_PASSWORD")
    missing = CliRunner().invoke(
        cli, ["bus", "definitions", "--password-env", "TEST_RABBITMQ_PASSWORD"]
    )
    assert missing.exit_code != 0 and "TEST_RABBITMQ_PASSWORD is not set" in missing.output


@pytest.mark.integration
def test_rabbitmq_accepts_the_hashed_password_and_refuses_another(broker_url: str) -> None:
    """What docker-compose's broker loads at boot: the hash must be the one RabbitMQ checks."""
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        pytest.fail("rabbitmqctl is needed to import definitions into the local RabbitMQ")
    user, password = f"spectral_test_{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(16)
    document = {
        "users": [
            {
                "name": user,
                "password_hash": rabbit_password_hash(password),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": [],
            }
        ],
        "permissions": [
            {"user": user, "vhost": "/", "configure": "^$", "write": "^$", "read": "^$"}
        ],
    }
    host = broker_url.split("@", 1)[1]

    def connects(secret: str) -> bool:
        try:
            with Connection(f"amqp://{user}:{secret}@{host}", connect_timeout=3) as conn:
                conn.ensure_connection(max_retries=1)
                return bool(conn.connected)
        except Exception:
            return False

    # From standard input: the broker node, not this process, would read a named file.
    subprocess.run(
        [rabbitmqctl, "import_definitions"],
        input=json.dumps(document).encode(),
        check=True,
        capture_output=True,
    )
    try:
        wait_until(lambda: connects(password), what="RabbitMQ to accept the imported user")
        assert not connects(password + "x")
    finally:
        subprocess.run([rabbitmqctl, "delete_user", user], check=False, capture_output=True)
