"""The module registry: each service registers a ``Component`` under the ``spectral.components``
entry point, so ``spectral all`` runs whatever is installed and an image holding one service
knows only that one (the Mimir ``-target`` model). The component is a service's one registration
point: its tables, migrations, events, consumers, jobs, commands, the settings it requires in
production, and the public routes the gateway sends to it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click
from sqlalchemy import MetaData

from spectral_shared import migrations
from spectral_shared.bus.catalog import EventCatalog
from spectral_shared.bus.outbox import outbox_committed
from spectral_shared.bus.publisher import Publisher
from spectral_shared.bus.relay import Relay
from spectral_shared.bus.retention import PRUNE_EVERY, prune_bus_tables
from spectral_shared.bus.tables import BusTables
from spectral_shared.bus.topology import Subscription, Topology
from spectral_shared.bus.worker import Worker
from spectral_shared.config import ServiceSettings, Settings
from spectral_shared.crypto import FieldCipher
from spectral_shared.db import Database
from spectral_shared.delivery import DeliveryPolicy, SlackSender, WebhookSender, deliver_due
from spectral_shared.email import EmailSender, EmlFileMailer, Mailer, SendGridMailer
from spectral_shared.identity import Identity, JwksKeySource, KeySource, TokenVerifier
from spectral_shared.kv import KeyValueStore, key_value_store
from spectral_shared.outbound import OutboundPolicy
from spectral_shared.routing import Route
from spectral_shared.schedule import Schedule, Scheduler
from spectral_shared.sealed import Sealed
from spectral_shared.storage import LocalObjectStore, ObjectStore, S3ObjectStore
from spectral_shared.web.app import create_service_app
from spectral_shared.web.health import broker_check

if TYPE_CHECKING:
    from flask import Flask

T = TypeVar("T")

# The order services start in, and the order they are listed in.
ORDER = ("auth", "governance", "audit", "billing", "reports")


@dataclass(frozen=True)
class Component:
    name: str
    title: str
    metadata: MetaData
    tables: BusTables
    migrations: Path
    events: EventCatalog
    routes_module: str  # a module with ``api`` (ApiDoc) and ``bp`` (Blueprint)
    # What the gateway sends to this service: its path prefixes, which are public, abuse-prone
    # (a per-IP limit), internal, their body limits and timeouts. Its OpenAPI document's route
    # (/api/v1/<name>/openapi.json) is added by the gateway; a test fails when the service
    # serves a path these do not send to it.
    routes: tuple[Route, ...] = ()
    subscriptions: Callable[[Runtime], list[Subscription]] = lambda runtime: []
    # Periodic jobs the worker target runs beside the consumers.
    schedules: Callable[[Runtime], list[Schedule]] = lambda runtime: []
    key_source: Callable[[Runtime], KeySource] | None = None
    # A service that owns the accounts (auth) re-checks a verified identity against them:
    # the current role, or None when the account was deactivated or its tokens revoked.
    current_identity: Callable[[Runtime, Identity], Identity | None] | None = None
    production_requires: tuple[str, ...] = ()
    # The settings this service alone reads (its own class, from the same environment).
    settings: type[ServiceSettings] = ServiceSettings
    # After a restore (``spectral db restore``): what is wrong with the restored data, if anything.
    restore_check: Callable[[Database], list[str]] | None = None
    # The columns it keeps encrypted with ENCRYPTION_KEY (its deliveries are added for it): at
    # start-up every target checks their key ids are all configured (``spectral_shared.sealed``).
    sealed: tuple[Sealed, ...] = ()
    # A deeper start-up check of what it must decrypt to serve (auth: its signing keys); what is
    # wrong, with what to do about it.
    key_check: Callable[[Runtime], list[str]] | None = None
    commands: click.Group | None = None
    # What the component runs inside `spectral all` in place of a third party it would otherwise
    # call, when the deployment names none (billing: the Stripe test double without a Stripe
    # key). Given the platform's settings, it starts and returns the settings to run with (by
    # name, e.g. {"stripe_api_base": ...}), a line for the start-up banner, and how to stop.
    embedded: Callable[[Settings], Embedded | None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Embedded:
    settings: dict[str, object]
    banner: str
    stop: Callable[[], None]


def installed_components() -> dict[str, Component]:
    found: dict[str, Component] = {}
    for ep in entry_points(group="spectral.components"):
        component = ep.load()
        if not isinstance(component, Component):
            raise TypeError(f"entry point {ep.name} is not a Component")
        found[component.name] = component
    return dict(sorted(found.items(), key=lambda kv: ORDER.index(kv[0]) if kv[0] in ORDER else 99))


class Runtime:
    """One component's wired dependencies in one process, built lazily."""

    def __init__(self, component: Component, settings: Settings) -> None:
        self.component = component
        self.settings = settings
        self.name = component.name
        self.database = Database(
            component.name,
            settings.database_url_for(component.name),
            replica_url=settings.replica_url_for(component.name),
        )
        self.topology = Topology(settings)
        self._extensions: dict[str, Any] = {}

    def extension(self, key: str, build: Callable[[Runtime], T]) -> T:
        """A service's own long-lived object (a signer, a client), built once per runtime."""
        if key not in self._extensions:
            self._extensions[key] = build(self)
        return cast(T, self._extensions[key])

    @cached_property
    def service_settings(self) -> ServiceSettings:
        """This service's own settings (``Component.settings``)."""
        return self.component.settings.of(self.settings)

    @cached_property
    def cipher(self) -> FieldCipher:
        return FieldCipher.from_config(
            self.settings.secret("ENCRYPTION_KEY"),
            self.settings.encryption_keys_previous.get_secret_value()
            if self.settings.encryption_keys_previous
            else None,
        )

    @cached_property
    def kv(self) -> KeyValueStore:
        return key_value_store(
            self.settings.redis_url, prefix=f"{self.settings.redis_key_prefix}:{self.name}:"
        )

    @cached_property
    def mailer(self) -> Mailer:
        if self.settings.sendgrid_api_key is not None:
            return SendGridMailer(
                self.settings.sendgrid_api_key.get_secret_value(),
                self.settings.from_email,
                host=self.settings.sendgrid_api_host,
            )
        return EmlFileMailer(self.settings.var_dir / "mail", self.settings.from_email)

    @cached_property
    def outbound(self) -> OutboundPolicy:
        """Where URLs a tenant sets may lead (ADR 0036), with the operator's
        ``OUTBOUND_ALLOW_PRIVATE`` exceptions."""
        return OutboundPolicy.parse(self.settings.outbound_allow_private)

    @cached_property
    def object_store(self) -> ObjectStore:
        s = self.settings
        if s.aws_s3_bucket:
            return S3ObjectStore(
                s.aws_s3_bucket,
                endpoint_url=s.s3_endpoint_url,
                region=s.aws_region,
                access_key_id=s.aws_access_key_id,
                secret_access_key=s.aws_secret_access_key.get_secret_value()
                if s.aws_secret_access_key
                else None,
            )
        return LocalObjectStore(s.var_dir / "objects")

    @property
    def auth_url(self) -> str:
        return (self.settings.auth_internal_url or f"http://127.0.0.1:{self.settings.port}").rstrip(
            "/"
        )

    @cached_property
    def verifier(self) -> TokenVerifier:
        if self.component.key_source is not None:
            keys = self.component.key_source(self)
        else:
            keys = JwksKeySource(f"{self.auth_url}/.well-known/jwks.json")
        return TokenVerifier(keys, issuer=self.settings.base_url)

    @cached_property
    def subscriptions(self) -> list[Subscription]:
        return self.component.subscriptions(self)

    @cached_property
    def schedules(self) -> list[Schedule]:
        """The service's own periodic jobs, and pruning its bus tables (every service has them)."""
        return [
            *self.component.schedules(self),
            Schedule(f"{self.name}.bus_retention", PRUNE_EVERY, self.prune_bus_tables),
        ]

    def prune_bus_tables(self) -> None:
        prune_bus_tables(self.database, self.component.tables, self.settings.bus_retention_days)

    def run_schedules(self, stop: threading.Event) -> None:
        Scheduler(self.schedules).run(stop)

    def health_checks(self, *, broker: bool, redis: bool) -> dict[str, Callable[[], bool]]:
        """What ``/health`` of one of this service's targets checks: the database always, the
        broker for targets that talk to it (worker, relay), Redis where it is configured and used."""
        checks: dict[str, Callable[[], bool]] = {"database": self.database.ping}
        if redis and self.settings.redis_url:
            checks["redis"] = self.kv.ping
        if broker:
            checks["broker"] = broker_check(self.settings.broker_url)
        return checks

    def migrate(self) -> None:
        migrations.upgrade(self.database, self.component.migrations)

    def app(self) -> Flask:
        routes = import_module(self.component.routes_module)
        return create_service_app(self, routes.api, [routes.bp])

    def relay(self) -> Relay:
        return Relay(
            self.database,
            self.component.tables,
            Publisher(self.settings.broker_url, self.topology),
            extra_work=[self.deliver_due],
        )

    def deliver_due(self) -> int:
        """Send one batch of the delivery outbox (the relay's second job, ADR 0032)."""
        return deliver_due(
            self.database,
            self.component.tables,
            self.cipher,
            {
                "email": EmailSender(self.mailer),
                "slack": SlackSender(self.outbound),
                "webhook": WebhookSender(self.outbound),
            },
            policy=DeliveryPolicy(self.outbound),
            max_attempts=self.settings.delivery_max_attempts,
        )

    def worker(self) -> Worker:
        return Worker(
            self.settings.broker_url,
            self.topology,
            self.database,
            self.component.tables,
            self.subscriptions,
            prefetch=self.settings.bus_prefetch,
        )

    def run_relay(
        self, stop: threading.Event, *, in_process: bool = False, relay: Relay | None = None
    ) -> None:
        """Run a relay (this one, e.g. one whose heartbeat a probe watches, or a new one)."""
        (relay or self.relay()).run(
            stop, self.settings.outbox_poll_interval, wake=outbox_committed if in_process else None
        )


def standalone_app(name: str, settings: Settings | None = None) -> Flask:
    """One service's app on its own (``gunicorn 'spectral_auth:create_app()'``)."""
    from spectral_shared.config import load_settings

    return Runtime(installed_components()[name], settings or load_settings()).app()
