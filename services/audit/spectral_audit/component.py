"""Audit as a Spectral component."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from spectral_audit import services
from spectral_audit.commands import commands
from spectral_audit.event_types import catalog
from spectral_audit.events import subscriptions
from spectral_audit.models import Base, bus
from spectral_audit.signing import runtime_signer
from spectral_shared.component import Component, Runtime
from spectral_shared.routing import Route
from spectral_shared.schedule import Schedule

PURGE_EVERY = 3600.0  # seconds; a run with nothing expired costs one query


def _sign_checkpoints(runtime: Runtime) -> None:
    services.sign_due_checkpoints(runtime.database, runtime_signer(runtime))


def _purge(runtime: Runtime) -> None:
    services.purge_expired(
        runtime.database, runtime.component.tables, runtime.settings.audit_retention_days
    )


def schedules(runtime: Runtime) -> list[Schedule]:
    return [
        Schedule(
            "audit.checkpoints",
            runtime.settings.audit_checkpoint_interval,
            partial(_sign_checkpoints, runtime),
        ),
        Schedule("audit.retention", PURGE_EVERY, partial(_purge, runtime)),
    ]


component = Component(
    name="audit",
    title="The append-only, verifiable audit log",
    metadata=Base.metadata,
    tables=bus,
    migrations=Path(__file__).parent / "migrations",
    events=catalog,
    routes_module="spectral_audit.api.routes",
    routes=(
        # The key that signs audit checkpoints: public, so anyone can check a checkpoint they hold.
        Route("/api/v1/audit/public-key", "audit", public=True),
        # Recomputing or exporting a large log takes longer than an ordinary request.
        Route("/api/v1/audit/verify", "audit", timeout_seconds=300),
        Route("/api/v1/audit/export", "audit", timeout_seconds=900),
        Route("/api/v1/audit", "audit"),
    ),
    subscriptions=subscriptions,
    schedules=schedules,
    production_requires=("AUDIT_SIGNING_KEY",),
    commands=commands,
    restore_check=services.verify_every_log,
)
