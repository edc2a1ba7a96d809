"""Event contracts: producer and consumer share one typed payload per event type; a consumer
registers one handler per type; a payload that breaks its contract is parked at once, on a real
broker; and the shared directory keeps organizations and members from auth's events."""

from __future__ import annotations

import importlib
import json
import pkgutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from kombu import Connection
from sqlalchemy.orm import DeclarativeBase, Session

import spectral_shared.contracts
from spectral_shared.bus import Actor, Envelope
from spectral_shared.bus.catalog import Contract
from spectral_shared.bus.handlers import ContractBroken, EventHandlers, UnhandledEvent
from spectral_shared.bus.publisher import Publisher
from spectral_shared.bus.topology import Subscription, Topology
from spectral_shared.bus.worker import Worker
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings
from spectral_shared.contracts import auth, billing
from spectral_shared.db import make_metadata
from spectral_shared.directory import DirectoryMember, DirectoryOrganization, directory_handlers
from spectral_shared.testing import running_worker
from spectral_shared.testing.billing import capabilities
from spectral_shared.testing.plugin import BusNamespace

ORG = str(uuid.uuid4())
USER, OTHER, GHOST = (str(uuid.uuid4()) for _ in range(3))


def contracts() -> list[Contract]:
    found = []
    for module in pkgutil.iter_modules(spectral_shared.contracts.__path__):
        loaded = importlib.import_module(f"spectral_shared.contracts.{module.name}")
        found += [v for v in vars(loaded).values() if isinstance(v, Contract)]
    return found


def envelope(contract: Contract, data: dict[str, Any], organization: str | None = ORG) -> Envelope:
    return Envelope(
        type=contract.name,
        organization_id=uuid.UUID(organization) if organization else None,
        actor=Actor.system("test"),
        data=data,
    )


def test_every_contract_is_declared_by_its_producer_with_the_same_payload() -> None:
    catalogs = {c.name: c.events for c in installed_components().values()}
    assert contracts(), "no contracts found"
    for contract in contracts():
        producer = contract.name.split(".", 1)[0]
        declared = catalogs[producer].types.get(contract.name)
        assert declared is not None, f"{producer} does not declare {contract.name}"
        assert declared.data is contract.data and declared.version == contract.version


def test_every_handler_binding_names_a_declared_contract(tmp_path: Path) -> None:
    """Whatever a service subscribes to through EventHandlers is a type some service declares."""
    declared = {n for c in installed_components().values() for n in c.events.types}
    settings = Settings(var_dir=tmp_path)
    for component in installed_components().values():
        for subscription in Runtime(component, settings).subscriptions:
            if isinstance(subscription.handler, EventHandlers):
                assert set(subscription.handler.bindings) <= declared


def test_handlers_dispatch_by_type_with_the_typed_payload() -> None:
    handlers = EventHandlers()
    seen: list[Any] = []

    @handlers.on(auth.USER_DEACTIVATED)
    def deactivated(_session: Session, _envelope: Envelope, data: auth.UserDeactivated) -> None:
        seen.append(data)

    assert handlers.bindings == ("auth.user.deactivated",)
    handlers(None, envelope(auth.USER_DEACTIVATED, {"user_id": USER}))  # type: ignore[arg-type]
    assert seen == [auth.UserDeactivated(user_id=USER)]
    with pytest.raises(UnhandledEvent):
        handlers(None, envelope(auth.USER_REACTIVATED, {"user_id": USER}))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="has a handler already"):
        handlers.on(auth.USER_DEACTIVATED)(deactivated)


def test_a_payload_that_breaks_its_contract_names_the_fields_and_quotes_nothing() -> None:
    handlers = EventHandlers()
    handlers.on(auth.USER_REGISTERED)(lambda *_: None)
    broken = envelope(auth.USER_REGISTERED, {"user_id": "u-1", "email": "jane.doe@mercy.example"})
    with pytest.raises(ContractBroken) as refused:
        handlers(None, broken)  # type: ignore[arg-type]
    assert "name: Field required" in str(refused.value)
    not_an_id = envelope(auth.USER_DEACTIVATED, {"user_id": "u-1"})
    handlers.on(auth.USER_DEACTIVATED)(lambda *_: None)
    with pytest.raises(ContractBroken, match="user_id"):
        handlers(None, not_an_id)  # type: ignore[arg-type]
    assert "role: Field required" in str(refused.value)
    assert "jane.doe" not in str(refused.value)


@pytest.mark.integration
def test_a_broken_contract_is_parked_at_once_on_a_real_broker(
    integration_settings: Settings, bus_namespace: BusNamespace
) -> None:
    runtime = Runtime(installed_components()["audit"], integration_settings)
    runtime.migrate()
    handlers = EventHandlers()
    handled: list[str] = []

    @handlers.on(auth.USER_DEACTIVATED)
    def deactivated(_s: Session, _e: Envelope, data: auth.UserDeactivated) -> None:
        handled.append(data.user_id)

    subscription = Subscription("test", "contract", handlers.bindings, handlers)
    topology = Topology(integration_settings)
    bus_namespace.extra_queues += [q.name for q in topology.queues_for(subscription)]
    worker = Worker(
        integration_settings.broker_url,
        topology,
        runtime.database,
        runtime.component.tables,
        [subscription],
    )
    queue = topology.queue_name(subscription)
    bad = envelope(auth.USER_DEACTIVATED, {"user": "Jane Doe"})
    good = envelope(auth.USER_DEACTIVATED, {"user_id": OTHER})
    with running_worker(worker) as (_, deliveries):
        publisher = Publisher(integration_settings.broker_url, topology)
        try:
            for message in (bad, good):
                publisher.send_to_queue(
                    queue, message.model_dump_json(), message_id=str(message.id), headers={}
                )
        finally:
            publisher.close()
        deliveries.wait_handled(str(good.id))
        [parked] = deliveries.wait_for(lambda d: d.outcome == "dead_lettered", count=1)
    assert parked.message_id == str(bad.id)
    assert handled == [OTHER]
    with Connection(integration_settings.broker_url) as connection, connection.channel() as channel:
        letter = channel.basic_get(queue=topology.dead_letter_queue_name(subscription), no_ack=True)
    assert letter is not None
    assert letter.headers["x-attempts"] == 1  # parked on its first failure, never retried
    assert "does not match its contract" in letter.headers["x-error"]
    assert "Jane Doe" not in letter.headers["x-error"]
    assert json.loads(letter.body)["data"] == {"user": "Jane Doe"}  # kept whole, for replay
    runtime.database.dispose()


class Base(DeclarativeBase):
    metadata = make_metadata()


class Organization(DirectoryOrganization, Base):
    __tablename__ = "organizations"


class Member(DirectoryMember, Base):
    __tablename__ = "members"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def session(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    url = (
        f"sqlite:///{tmp_path / 'directory.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("empty_pg_url")
    )
    engine = sa.create_engine(url)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


def test_the_directory_follows_auth_events(session: Session) -> None:
    handlers = directory_handlers(Organization, Member)
    user = str(uuid.uuid4())
    for contract, data in (
        (
            auth.ORGANIZATION_CREATED,
            {"organization_id": ORG, "name": "Mercy", "type": "health_system"},
        ),
        (
            auth.ORGANIZATION_UPDATED,
            {
                "organization_id": ORG,
                "changes": {
                    "state": {"from": None, "to": "CA"},
                    "phone": {"from": None, "to": "555"},
                },
            },
        ),
        (
            auth.USER_REGISTERED,
            {"user_id": user, "email": "ada@mercy.example", "name": "Ada", "role": "admin"},
        ),
        (
            auth.USER_ROLE_CHANGED,
            {
                "user_id": user,
                "before": {"role": "admin"},
                "after": {"role": "compliance_officer", "personas": ["privacy_officer"]},
            },
        ),
    ):
        handlers(session, envelope(contract, data))
    organization = session.get(Organization, ORG)
    member = session.get(Member, user)
    assert organization is not None and member is not None
    assert (organization.name, organization.type, organization.state) == (
        "Mercy",
        "health_system",
        "CA",
    )
    assert (member.email, member.role, member.personas, member.active) == (
        "ada@mercy.example",
        "compliance_officer",
        ["privacy_officer"],
        True,
    )
    handlers(session, envelope(auth.USER_DEACTIVATED, {"user_id": user}))
    assert member.active is False
    handlers(session, envelope(auth.USER_REACTIVATED, {"user_id": user}))
    assert member.active is True and member.email == "ada@mercy.example"  # kept
    # A role change for someone this service never heard of changes nothing.
    handlers(
        session,
        envelope(
            auth.USER_ROLE_CHANGED, {"user_id": GHOST, "before": {}, "after": {"role": "admin"}}
        ),
    )
    assert session.get(Member, GHOST) is None


def test_billing_capabilities_are_a_versioned_snapshot_not_a_plan_to_interpret() -> None:
    data = billing.Capabilities.model_validate(capabilities("professional"))
    # Consumers read what is allowed; the plan's name is there for messages only.
    assert data.version >= 1 and data.ai_system_limit == 10 and data.threshold_overrides
    assert data.request_quota is not None and data.request_quota.limit == 10_000
    with pytest.raises(ValueError, match="version"):  # a snapshot without a version is unordered
        billing.Capabilities.model_validate({**capabilities("professional"), "version": 0})
    with pytest.raises(ValueError, match="tier"):  # closed: an unpublished field is refused
        billing.Capabilities.model_validate({**capabilities("starter"), "tier": "gold"})
