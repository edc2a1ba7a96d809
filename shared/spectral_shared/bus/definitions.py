"""RabbitMQ definitions (the JSON ``rabbitmqctl import_definitions`` and the management plugin's
``load_definitions`` read) for the exchange and every consumer's queues, made from the same
``Topology`` the services declare at start, so a broker provisioned from the file and one the
services declared themselves are the same broker.

Queue types and dead-lettering are queue arguments (quorum queues, TTL retry queues that
dead-letter back to the main queue, a dead-letter queue per consumer), not policies: RabbitMQ
cannot set a queue's type by policy. The ``spectral`` user comes without a password (an empty
hash cannot log in): set one with ``rabbitmqctl change_password`` after importing, or render the
file with a password (``--password-env``), hashed as RabbitMQ hashes it, for a broker that loads
it at boot (docker-compose does).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any

from spectral_shared.bus.topology import Subscription, Topology


def definitions(
    topology: Topology,
    subscriptions: list[Subscription],
    *,
    vhost: str = "/",
    user: str = "spectral",
    password: str | None = None,
) -> dict[str, Any]:
    exchange = topology.exchange.name
    queues: list[dict[str, Any]] = []
    bindings: list[dict[str, Any]] = []
    for subscription in sorted(subscriptions, key=lambda s: s.name):
        for queue in topology.queues_for(subscription):
            queues.append(
                {
                    "name": queue.name,
                    "vhost": vhost,
                    "durable": True,
                    "auto_delete": False,
                    "arguments": dict(
                        sorted((getattr(queue, "queue_arguments", None) or {}).items())
                    ),
                }
            )
        for key in sorted(subscription.bindings):
            bindings.append(
                {
                    "source": exchange,
                    "vhost": vhost,
                    "destination": topology.queue_name(subscription),
                    "destination_type": "queue",
                    "routing_key": key,
                    "arguments": {},
                }
            )
    # Its own exchange and queues (and the default exchange, by which retries reach the retry
    # queues), and nothing else on the broker.
    names = {re.escape(exchange), re.escape("amq.default")} | {re.escape(q["name"]) for q in queues}
    own = "^(" + "|".join(sorted(names)) + ")$"
    return {
        "vhosts": [{"name": vhost}],
        "users": [
            {
                "name": user,
                "password_hash": rabbit_password_hash(password) if password else "",
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": [],
            }
        ],
        "permissions": [
            {
                "user": user,
                "vhost": vhost,
                "configure": own,
                "write": own,
                "read": own,
            }
        ],
        "exchanges": [
            {
                "name": exchange,
                "vhost": vhost,
                "type": "topic",
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
        ],
        "queues": queues,
        "bindings": bindings,
        "policies": [],
    }


def rabbit_password_hash(password: str, salt: bytes | None = None) -> str:
    """``rabbit_password_hashing_sha256``: base64(salt + SHA-256(salt + password)), 4-byte salt."""
    salt = secrets.token_bytes(4) if salt is None else salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()
