"""A consumer's handlers, one per event type, each given the event's typed payload.

A subscription's bindings are the types its handlers are registered for, so a consumer never
receives a type it has no handler for, and never branches on type strings. A payload that does
not match its contract is parked as a dead letter at once (``ContractBroken``): retrying a
message cannot make it match.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy.orm import Session

from spectral_shared.bus.catalog import Contract, EventData
from spectral_shared.bus.envelope import Envelope

D = TypeVar("D", bound=EventData)
Handler = Callable[[Session, Envelope, Any], None]
H = TypeVar("H", bound=Handler)


class ContractBroken(ValueError):
    """An event whose payload is not what its contract says (names the fields, quotes nothing)."""


class UnhandledEvent(LookupError):
    """An event of a type no handler is registered for (a binding without a handler)."""


def contract_data(data_type: type[D], envelope: Envelope) -> D:
    """``envelope``'s payload as ``data_type``; ``ContractBroken`` (naming the fields, quoting
    none of their values) when it does not match."""
    try:
        return data_type.model_validate(envelope.data)
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'data'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise ContractBroken(f"{envelope.type} does not match its contract: {fields}") from None


class EventHandlers:
    def __init__(self) -> None:
        self._handlers: dict[str, tuple[type[EventData], Handler]] = {}
        self._then: dict[str, list[Handler]] = {}

    def on(self, contract: Contract) -> Callable[[H], H]:
        """Register the decorated ``handler(session, envelope, data)`` for ``contract``'s type."""

        def register(handler: H) -> H:
            if contract.name in self._handlers:
                raise ValueError(f"{contract.name} has a handler already")
            self._handlers[contract.name] = (contract.data, handler)
            return handler

        return register

    def also(self, contract: Contract) -> Callable[[H], H]:
        """Register the decorated handler to run after the one registered for ``contract``, in
        the same transaction (a service adding its own step to a shared handler, such as
        billing deciding a new organization's capabilities once the directory has it)."""

        def register(handler: H) -> H:
            if contract.name not in self._handlers:
                raise ValueError(f"{contract.name} has no handler to follow")
            self._then.setdefault(contract.name, []).append(handler)
            return handler

        return register

    @property
    def bindings(self) -> tuple[str, ...]:
        return tuple(self._handlers)

    def __call__(self, session: Session, envelope: Envelope) -> None:
        registered = self._handlers.get(envelope.type)
        if registered is None:
            raise UnhandledEvent(envelope.type)
        data_type, handler = registered
        data = contract_data(data_type, envelope)
        handler(session, envelope, data)
        for then in self._then.get(envelope.type, ()):
            then(session, envelope, data)
