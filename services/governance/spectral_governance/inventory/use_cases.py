"""The inventory's use cases: the only code that writes AI systems, each write with its outbox
events in the same transaction.

Shapes and enums are checked by the API's schemas; here are the rules that need the database:
the plan limit, names unique per organization, owners and vendor organizations that exist,
and lifecycle moves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from spectral_governance.db import bus
from spectral_governance.directory.models import Member, Organization
from spectral_governance.directory.use_cases import UNLIMITED, lock_organization
from spectral_governance.inventory import rules as inventory
from spectral_governance.inventory.csv_format import RowError
from spectral_governance.inventory.events import (
    AI_SYSTEM_CREATED,
    AI_SYSTEM_DELETED,
    AI_SYSTEM_STATUS_CHANGED,
    AI_SYSTEM_UPDATED,
    AISystemCreated,
    AISystemDeleted,
    AISystemSnapshot,
    AISystemStatusChanged,
    AISystemUpdated,
    Source,
)
from spectral_governance.inventory.models import AISystem
from spectral_governance.inventory.queries import locked_system
from spectral_shared.bus import record_event
from spectral_shared.component import Runtime
from spectral_shared.db import new_id, utcnow
from spectral_shared.errors import Conflict, DomainError, ReadOnly, UpgradeRequired
from spectral_shared.identity import Identity

# docs/billing.md#plans: until billing's first snapshot, an organization may keep 3 AI systems.
STARTER_AI_SYSTEM_LIMIT = 3


# Inventory fields a client sets (the rest are kept by governance).
FIELDS = (
    "name",
    "description",
    "department",
    "category",
    "clinical_use_case",
    "vendor_name",
    "vendor_organization_id",
    "model_name",
    "model_version",
    "uses_phi",
    "fda_status",
    "fda_submission_number",
    "risk_level",
    "status",
    "monitoring_enabled",
    "serves_states",
    "serves_localities",
    "owner_user_id",
    "provider_type",
    "provider_system_id",
)


class LimitReached(UpgradeRequired):
    def __init__(self, limit: int, plan: str | None) -> None:
        super().__init__(
            f"Your plan ({plan or 'none yet'}) allows {limit} AI systems; upgrade to add more.",
            plan=plan or "none",
            title="AI-system limit reached",
            limit=limit,
        )
        self.limit = limit


class ImportRefused(DomainError):
    """Rows with errors: nothing of the file was imported."""

    status = 422
    title = "The file has errors; nothing was imported"
    slug = "import-rejected"

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(
            f"{len(errors)} problem(s) in the file; fix them and import again.",
            errors=[
                {
                    "row": str(e.row),
                    "field": e.field,
                    "pointer": f"/rows/{e.row}/{e.field}",
                    "message": e.message,
                }
                for e in errors
            ],
        )
        self.row_errors = errors


def _snapshot(system: AISystem) -> AISystemSnapshot:
    return AISystemSnapshot(**{field: _plain(getattr(system, field)) for field in FIELDS})


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else value


def _check_writable(organization: Organization) -> None:
    """Billing's capabilities let the organization add things (ADR 0041)."""
    if not organization.writable:
        raise ReadOnly(
            organization.read_only_reason,
            organization.pay_url,
            refused="No AI system can be added while the organization is read-only.",
        )


def _check_limit(session: Session, organization: Organization, adding: int) -> None:
    _check_writable(organization)
    limit = organization.ai_system_limit
    if limit is None:
        limit = STARTER_AI_SYSTEM_LIMIT
    if limit == UNLIMITED:
        return
    count = session.scalar(
        select(func.count())
        .select_from(AISystem)
        .where(
            AISystem.organization_id == organization.id,
            AISystem.deleted_at.is_(None),
            AISystem.status != "deprecated",
        )
    )
    if (count or 0) + adding > limit:
        raise LimitReached(limit, organization.plan_name or organization.plan)


def _check_references(
    session: Session, identity: Identity, values: dict[str, Any], *, row: int | None = None
) -> None:
    owner = values.get("owner_user_id")
    if owner is not None and not (identity.subject_type == "user" and owner == identity.subject_id):
        member = session.get(Member, owner)
        if member is None or member.organization_id != identity.organization_id:
            raise inventory.RuleBroken(
                "owner_user_id", "No user with this id in your organization."
            )
        if not member.active:
            raise inventory.RuleBroken("owner_user_id", "This user is deactivated.")
    vendor = values.get("vendor_organization_id")
    if vendor is not None:
        organization = session.get(Organization, vendor)
        if organization is None or organization.type != "vendor":
            raise inventory.RuleBroken(
                "vendor_organization_id", "No vendor organization with this id on Spectral."
            )


def _check_unique(
    session: Session, organization_id: str, values: dict[str, Any], *, except_id: str | None = None
) -> None:
    name_key = values["name"].strip().lower()
    clash = select(AISystem.id).where(
        AISystem.organization_id == organization_id,
        AISystem.deleted_at.is_(None),
        AISystem.name_key == name_key,
    )
    if except_id:
        clash = clash.where(AISystem.id != except_id)
    if session.scalar(clash) is not None:
        raise Conflict(
            f"Your organization already has an AI system named {values['name']!r}.",
            slug="duplicate-name",
        )
    provider = values.get("provider_type"), values.get("provider_system_id")
    if provider[0] is not None:
        linked = select(AISystem.id).where(
            AISystem.organization_id == organization_id,
            AISystem.deleted_at.is_(None),
            AISystem.provider_type == provider[0],
            AISystem.provider_system_id == provider[1],
        )
        if except_id:
            linked = linked.where(AISystem.id != except_id)
        if session.scalar(linked) is not None:
            raise Conflict(
                f"Another AI system is already linked to {provider[0]} system {provider[1]!r}.",
                slug="duplicate-provider-link",
            )


def _settled(values: dict[str, Any], *, monitoring_stated: bool) -> dict[str, Any]:
    values["monitoring_enabled"] = inventory.settle(
        inventory.Shape(
            risk_level=values["risk_level"],
            monitoring_enabled=values.get("monitoring_enabled"),
            fda_status=values["fda_status"],
            fda_submission_number=values.get("fda_submission_number"),
            provider_type=values.get("provider_type"),
            provider_system_id=values.get("provider_system_id"),
        ),
        monitoring_stated=monitoring_stated,
    )
    values["serves_states"] = inventory.normalize_states(values.get("serves_states") or [])
    values["serves_localities"] = inventory.normalize_states(values.get("serves_localities") or [])
    return values


def _new_system(
    session: Session,
    identity: Identity,
    values: dict[str, Any],
    *,
    source: Source,
    now: datetime,
) -> AISystem:
    status = values.get("status") or "testing"
    if status not in inventory.INITIAL_STATES:
        raise inventory.RuleBroken(
            "status", "A new AI system starts as testing or active; move it later."
        )
    values = {**values, "status": status}
    values.setdefault("fda_status", "unknown")
    values = _settled(values, monitoring_stated=values.get("monitoring_enabled") is not None)
    _check_references(session, identity, values)
    _check_unique(session, identity.organization_id, values)
    system = AISystem(
        id=new_id(),
        organization_id=identity.organization_id,
        name_key=values["name"].strip().lower(),
        compliance_posture="ok",
        created_by=identity.acting_as,
        created_at=now,
        updated_at=now,
        version=1,
        **{field: values.get(field) for field in FIELDS},
    )
    session.add(system)
    session.flush()
    record_event(
        session,
        bus,
        AI_SYSTEM_CREATED,
        AISystemCreated(ai_system_id=system.id, source=source, system=_snapshot(system)),
        organization_id=identity.organization_id,
        actor=identity.actor,
    )
    return system


def create_system(
    runtime: Runtime, identity: Identity, values: dict[str, Any], *, source: Source = "api"
) -> AISystem:
    with runtime.database.session() as session:
        organization = lock_organization(session, identity.organization_id)
        _check_limit(session, organization, 1)
        return _new_system(session, identity, values, source=source, now=utcnow())


def update_system(
    runtime: Runtime, identity: Identity, system_id: str, changes: dict[str, Any]
) -> AISystem:
    """Apply the given fields (``None`` clears an optional one). A lifecycle move is checked
    against docs/domain.md#decision-5-ai-systems and recorded as its own event."""
    with runtime.database.session() as session:
        system = locked_system(session, identity, system_id)
        before = {field: _plain(getattr(system, field)) for field in FIELDS}
        wanted = {**before, **changes}
        if "status" in changes:
            inventory.check_transition(system.status, changes["status"])
        wanted = _settled(wanted, monitoring_stated="monitoring_enabled" in changes)
        if "owner_user_id" in changes or "vendor_organization_id" in changes:
            _check_references(
                session,
                identity,
                {k: wanted[k] for k in ("owner_user_id", "vendor_organization_id") if k in changes},
            )
        if wanted["name"].strip().lower() != system.name_key or any(
            k in changes for k in ("provider_type", "provider_system_id")
        ):
            _check_unique(session, identity.organization_id, wanted, except_id=system.id)
        diff = {
            field: {"from": before[field], "to": wanted[field]}
            for field in FIELDS
            if wanted[field] != before[field]
        }
        if not diff:
            return system
        for field, change in diff.items():
            setattr(system, field, change["to"])
        system.name_key = system.name.strip().lower()
        system.updated_at = utcnow()
        system.version += 1
        actor = identity.actor
        status_change = diff.pop("status", None)
        if status_change:
            record_event(
                session,
                bus,
                AI_SYSTEM_STATUS_CHANGED,
                AISystemStatusChanged(
                    ai_system_id=system.id,
                    name=system.name,
                    from_status=status_change["from"],
                    to_status=status_change["to"],
                ),
                organization_id=identity.organization_id,
                actor=actor,
            )
        if diff:
            record_event(
                session,
                bus,
                AI_SYSTEM_UPDATED,
                AISystemUpdated(
                    ai_system_id=system.id, name=system.name, version=system.version, changes=diff
                ),
                organization_id=identity.organization_id,
                actor=actor,
            )
        return system


def delete_system(runtime: Runtime, identity: Identity, system_id: str) -> None:
    """Soft delete: the record stays for auditors, out of lists and the plan count. Deleting a
    deleted system changes nothing."""
    with runtime.database.session() as session:
        system = locked_system(session, identity, system_id, deleted_ok=True)
        if system.deleted_at is not None:
            return
        system.deleted_at = system.updated_at = utcnow()
        system.deleted_by = identity.acting_as
        system.version += 1
        record_event(
            session,
            bus,
            AI_SYSTEM_DELETED,
            AISystemDeleted(ai_system_id=system.id, name=system.name, status=system.status),
            organization_id=identity.organization_id,
            actor=identity.actor,
        )


class _Rehearsal(Exception):
    """Leaves a checked import's transaction, rolling it back; ``count`` systems passed."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


def check_import(
    runtime: Runtime, identity: Identity, rows: Sequence[dict[str, Any] | list[RowError]]
) -> int:
    """Everything ``import_systems`` checks, without keeping anything; how many systems the
    import would add."""
    try:
        import_systems(runtime, identity, rows, rehearse=True)
    except _Rehearsal as rehearsal:
        return rehearsal.count
    raise AssertionError("a rehearsal always rolls back")


def import_systems(
    runtime: Runtime,
    identity: Identity,
    rows: Sequence[dict[str, Any] | list[RowError]],
    *,
    rehearse: bool = False,
) -> list[AISystem]:
    """Create every row or none. ``rows`` holds each CSV row's parsed values, or the errors the
    parser found in it; every rule is checked for every row before anything is written, and any
    error refuses the whole import."""
    errors = [e for r in rows if isinstance(r, list) for e in r]
    with runtime.database.session() as session:
        organization = lock_organization(session, identity.organization_id)
        _check_writable(organization)
        names: dict[str, int] = {}
        created: list[AISystem] = []
        now = utcnow()
        for number, values in enumerate(rows, start=1):
            if isinstance(values, list):
                continue
            key = str(values.get("name", "")).strip().lower()
            if key in names:
                errors.append(
                    RowError(number, "name", f"Same name as row {names[key]} of this file.")
                )
                continue
            names[key] = number
            try:
                with session.begin_nested():
                    created.append(
                        _new_system(session, identity, dict(values), source="csv_import", now=now)
                    )
            except inventory.RuleBroken as broken:
                errors.append(RowError(number, broken.field, broken.message))
            except Conflict as conflict:
                errors.append(RowError(number, "name", conflict.message))
        if errors:  # leaving the block by an exception rolls every row back
            raise ImportRefused(sorted(errors, key=lambda e: (e.row, e.field)))
        _check_limit(session, organization, 0)  # the new rows are flushed: they count
        if rehearse:
            raise _Rehearsal(len(created))
        return created


def seed_demo(runtime: Runtime, organization_id: str) -> list[AISystem]:
    """Add the eight systems of docs/domain.md's demo portfolio that the organization does not have yet. An
    operator's command: the plan limit does not stop it (the next creation over it answers 402)."""
    from spectral_governance.inventory.demo import DEMO_SYSTEMS

    identity = Identity(
        subject_type="service",
        subject_id="spectral governance seed-demo",
        organization_id=organization_id,
        role="admin",
    )
    added: list[AISystem] = []
    with runtime.database.session() as session:
        lock_organization(session, organization_id)
        now = utcnow()
        for demo in DEMO_SYSTEMS:
            values = {k: v for k, v in demo.items() if k != "posture"}
            exists = session.scalar(
                select(AISystem.id).where(
                    AISystem.organization_id == organization_id,
                    AISystem.deleted_at.is_(None),
                    AISystem.name_key == values["name"].lower(),
                )
            )
            if exists:
                continue
            system = _new_system(session, identity, values, source="demo_seed", now=now)
            system.compliance_posture = demo["posture"]
            added.append(system)
    return added
