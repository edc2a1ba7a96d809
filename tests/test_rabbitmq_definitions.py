"""deploy/rabbitmq/definitions.json: what `spectral bus definitions` makes of the code's topology,
so a broker provisioned from it is the broker the services would declare themselves."""

from __future__ import annotations

import json
import re
from pathlib import Path

from spectral_shared.bus.definitions import definitions
from spectral_shared.bus.topology import Topology
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings

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
