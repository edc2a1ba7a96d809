"""Every event type a service publishes, with its payload schema.

A service declares its events once (``EventCatalog.define``); :func:`record_event` refuses a type
that is not declared, and ``docs/events.md`` is checked against the union of all catalogs, so the
documentation cannot drift from what the code emits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict


class EventData(BaseModel):
    """Base for event payloads: closed (no unknown fields), immutable, no secrets by design."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class EventType:
    name: str
    data: type[EventData]
    description: str
    version: int = 1
    # The catalog that declared it; None for a type made outside any catalog (refused by the outbox).
    catalog: EventCatalog | None = field(default=None, compare=False, repr=False)

    @property
    def declared(self) -> bool:
        return self.catalog is not None and self.catalog.types.get(self.name) is self

    @property
    def producer(self) -> str:
        return self.name.split(".", 1)[0]

    def json_schema(self) -> dict[str, Any]:
        return self.data.model_json_schema()


@dataclass(frozen=True)
class Contract:
    """An event type as its producer and its consumers both know it: the routing key and the
    typed payload. Contracts of events that cross a service boundary live in
    ``spectral_shared.contracts``; the producer declares each in its catalog (``adopt``) and a
    consumer registers a handler for it (``EventHandlers.on``), so neither can drift."""

    name: str
    data: type[EventData]
    version: int = 1


@dataclass
class EventCatalog:
    producer: str
    types: dict[str, EventType] = field(default_factory=dict)

    def define(
        self, name: str, data: type[EventData], description: str, version: int = 1
    ) -> EventType:
        if not name.startswith(self.producer + "."):
            raise ValueError(f"{name}: events of {self.producer} start with '{self.producer}.'")
        if name in self.types:
            raise ValueError(f"{name} is declared twice")
        event_type = EventType(name, data, description, version, catalog=self)
        self.types[name] = event_type
        return event_type

    def adopt(self, contract: Contract, description: str) -> EventType:
        """Declare an event type other services consume, as its shared contract has it."""
        return self.define(contract.name, contract.data, description, contract.version)


def routing_key_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: ``*`` is one word, ``#`` zero or more."""
    pattern_words, key_words = pattern.split("."), key.split(".")

    def match(p: int, k: int) -> bool:
        if p == len(pattern_words):
            return k == len(key_words)
        word = pattern_words[p]
        if word == "#":
            return any(match(p + 1, j) for j in range(k, len(key_words) + 1))
        if k == len(key_words):
            return False
        return (word == "*" or word == key_words[k]) and match(p + 1, k + 1)

    return match(0, 0)
