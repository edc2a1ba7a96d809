"""Governance's use cases: the only code that writes, each write with its outbox events in the
same transaction.

Validation of shapes and enums happens in the API's schemas; here are the rules that need the
database: the plan limit, names unique per organization, owners and vendor organizations that
exist, lifecycle moves, and which controls apply to a system.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spectral_governance import event_types as ev
from spectral_governance import inventory
from spectral_governance.applicability import Applicability, SystemFacts, applicability
from spectral_governance.catalog import load_catalog
from spectral_governance.models import AISystem, ControlStatus, Member, Organization, bus
from spectral_shared.bus import Actor, Envelope, record_event
from spectral_shared.db import Database, new_id, utcnow
from spectral_shared.identity import Identity

# Until billing says otherwise, an organization may keep 3 AI systems (docs/domain.md#plans-and-limits).
STARTER_AI_SYSTEM_LIMIT = 3
UNLIMITED = -1

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
    "owner_user_id",
    "provider_type",
    "provider_system_id",
)
ASSESSED = ("compliant", "non_compliant", "not_applicable")


class NotFound(LookupError):
    pass


class Conflict(Exception):
    """The request collides with the state of things (a 409)."""

    def __init__(self, message: str, *, slug: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.slug = slug
        self.extensions = extensions


class LimitReached(Exception):
    def __init__(self, limit: int, plan: str | None) -> None:
        super().__init__(
            f"Your plan ({plan or 'starter'}) allows {limit} AI systems; upgrade to add more."
        )
        self.limit = limit
        self.plan = plan or "starter"


@dataclass(frozen=True)
class RowError:
    """One problem with one row of an import (row 1 is the first data row after the header)."""

    row: int
    field: str
    message: str


class ImportRefused(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} problem(s); nothing was imported")
        self.errors = errors


def _actor(identity: Identity) -> Actor:
    return Actor.subject(identity.subject_type, identity.subject_id)


# ---- reading -------------------------------------------------------------------------------------


def get_system(session: Session, organization_id: str, system_id: str) -> AISystem:
    system = session.scalars(
        select(AISystem).where(
            AISystem.id == system_id, AISystem.organization_id == organization_id
        )
    ).first()
    if system is None:
        raise NotFound(system_id)
    return system


def organization_state(session: Session, organization_id: str) -> str | None:
    return session.scalar(select(Organization.state).where(Organization.id == organization_id))


def facts_of(system: AISystem, state: str | None) -> SystemFacts:
    return SystemFacts(
        name=system.name,
        department=system.department,
        category=system.category,
        uses_phi=system.uses_phi,
        fda_status=system.fda_status,
        fda_submission_number=system.fda_submission_number,
        risk_level=system.risk_level,
        serves_states=tuple(system.serves_states or ()),
        has_vendor=bool(system.vendor_name or system.vendor_organization_id),
        organization_state=state,
    )


def applicable_controls(session: Session, system: AISystem) -> Applicability:
    state = organization_state(session, system.organization_id)
    return applicability(facts_of(system, state), load_catalog())


# ---- the inventory -------------------------------------------------------------------------------


def _snapshot(system: AISystem) -> ev.AISystemSnapshot:
    return ev.AISystemSnapshot(**{field: _plain(getattr(system, field)) for field in FIELDS})


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else value


def _lock_organization(session: Session, organization_id: str) -> Organization:
    """The organization's row, created if governance has not heard of it yet, locked for the rest
    of the transaction: concurrent creations count one after another against the limit."""
    organization = session.get(Organization, organization_id, with_for_update=True)
    if organization is None:
        session.add(Organization(id=organization_id, updated_at=utcnow()))
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            pass  # created concurrently by an event; lock theirs
        organization = session.get(
            Organization, organization_id, with_for_update=True, populate_existing=True
        )
        assert organization is not None
    return organization


def _check_limit(session: Session, organization: Organization, adding: int) -> None:
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
        raise LimitReached(limit, organization.plan)


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
    return values


def _new_system(
    session: Session,
    identity: Identity,
    values: dict[str, Any],
    *,
    source: ev.Source,
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
        created_by=f"{identity.subject_type}:{identity.subject_id}",
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
        ev.AI_SYSTEM_CREATED,
        ev.AISystemCreated(ai_system_id=system.id, source=source, system=_snapshot(system)),
        organization_id=identity.organization_id,
        actor=_actor(identity),
    )
    return system


def create_system(
    database: Database, identity: Identity, values: dict[str, Any], *, source: ev.Source = "api"
) -> AISystem:
    with database.session() as session:
        organization = _lock_organization(session, identity.organization_id)
        _check_limit(session, organization, 1)
        return _new_system(session, identity, values, source=source, now=utcnow())


def _locked_system(
    session: Session, identity: Identity, system_id: str, *, deleted_ok: bool = False
) -> AISystem:
    """The caller's organization's system, locked for the transaction; a deleted one is
    read-only (409) unless ``deleted_ok``."""
    system = session.scalars(
        select(AISystem)
        .where(AISystem.id == system_id, AISystem.organization_id == identity.organization_id)
        .with_for_update()
    ).first()
    if system is None:
        raise NotFound(system_id)
    if system.deleted_at is not None and not deleted_ok:
        raise Conflict(
            "This AI system was deleted; its record is read-only.", slug="ai-system-deleted"
        )
    return system


def update_system(
    database: Database, identity: Identity, system_id: str, changes: dict[str, Any]
) -> AISystem:
    """Apply the given fields (``None`` clears an optional one). A lifecycle move is checked
    against docs/domain.md#decision-5-ai-systems and recorded as its own event."""
    with database.session() as session:
        system = _locked_system(session, identity, system_id)
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
        actor = _actor(identity)
        status_change = diff.pop("status", None)
        if status_change:
            record_event(
                session,
                bus,
                ev.AI_SYSTEM_STATUS_CHANGED,
                ev.AISystemStatusChanged(
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
                ev.AI_SYSTEM_UPDATED,
                ev.AISystemUpdated(
                    ai_system_id=system.id, name=system.name, version=system.version, changes=diff
                ),
                organization_id=identity.organization_id,
                actor=actor,
            )
        return system


def delete_system(database: Database, identity: Identity, system_id: str) -> None:
    """Soft delete: the record stays for auditors, out of lists and the plan count. Deleting a
    deleted system changes nothing."""
    with database.session() as session:
        system = _locked_system(session, identity, system_id, deleted_ok=True)
        if system.deleted_at is not None:
            return
        system.deleted_at = system.updated_at = utcnow()
        system.deleted_by = f"{identity.subject_type}:{identity.subject_id}"
        system.version += 1
        record_event(
            session,
            bus,
            ev.AI_SYSTEM_DELETED,
            ev.AISystemDeleted(ai_system_id=system.id, name=system.name, status=system.status),
            organization_id=identity.organization_id,
            actor=_actor(identity),
        )


class _Rehearsal(Exception):
    """Leaves a checked import's transaction, rolling it back."""


def check_import(
    database: Database, identity: Identity, rows: Sequence[dict[str, Any] | list[RowError]]
) -> None:
    """Everything ``import_systems`` checks, without keeping anything."""
    try:
        import_systems(database, identity, rows, rehearse=True)
    except _Rehearsal:
        return


def import_systems(
    database: Database,
    identity: Identity,
    rows: Sequence[dict[str, Any] | list[RowError]],
    *,
    rehearse: bool = False,
) -> list[AISystem]:
    """Create every row or none. ``rows`` holds each CSV row's parsed values, or the errors the
    parser found in it; every rule is checked for every row before anything is written, and any
    error refuses the whole import."""
    errors = [e for r in rows if isinstance(r, list) for e in r]
    with database.session() as session:
        organization = _lock_organization(session, identity.organization_id)
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
            raise _Rehearsal
        return created


# ---- control statuses --------------------------------------------------------------------------


def set_control_status(
    database: Database,
    identity: Identity,
    system_id: str,
    control_id: str,
    status: str,
    reason: str | None,
) -> tuple[AISystem, str, str]:
    """Record an assessment; ``not_assessed`` clears it. The system, the control's id, the status."""
    catalog = load_catalog()
    found = catalog.control(control_id)
    if found is None:
        raise NotFound(control_id)
    framework, control = found
    with database.session() as session:
        system = _locked_system(session, identity, system_id)
        verdicts = applicable_controls(session, system)
        if control.id not in verdicts.controls:
            why = next(v.reason for v in verdicts.frameworks if v.framework_id == framework.id)
            raise Conflict(
                f"{control.id} does not apply to this AI system: {why}.",
                slug="control-not-applicable",
            )
        row = session.get(ControlStatus, (system.id, control.id))
        before = row.status if row is not None else "not_assessed"
        if before == status and (row is None or row.reason == reason):
            return system, control.id, status
        if status == "not_assessed":
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(
                ControlStatus(
                    ai_system_id=system.id,
                    control_id=control.id,
                    organization_id=identity.organization_id,
                    status=status,
                    reason=reason,
                    source="user",
                    updated_by=f"{identity.subject_type}:{identity.subject_id}",
                    updated_at=utcnow(),
                )
            )
        else:
            row.status, row.reason, row.source = status, reason, "user"
            row.updated_by = f"{identity.subject_type}:{identity.subject_id}"
            row.updated_at = utcnow()
        record_event(
            session,
            bus,
            ev.CONTROL_STATUS_CHANGED,
            ev.ControlStatusChanged(
                ai_system_id=system.id,
                ai_system_name=system.name,
                control_id=control.id,
                framework_id=framework.id,
                from_status=before,
                to_status=status,
                reason=reason,
                source="user",
            ),
            organization_id=identity.organization_id,
            actor=_actor(identity),
        )
        return system, control.id, status


def statuses_of(session: Session, system_id: str) -> dict[str, ControlStatus]:
    return {
        row.control_id: row
        for row in session.scalars(
            select(ControlStatus).where(ControlStatus.ai_system_id == system_id)
        )
    }


# ---- what governance learns from other services ----------------------------------------------


def _organization(session: Session, organization_id: str) -> Organization:
    organization = session.get(Organization, organization_id)
    if organization is None:
        organization = Organization(id=organization_id, updated_at=utcnow())
        session.add(organization)
    return organization


def apply_directory_event(session: Session, envelope: Envelope) -> None:
    """Keep the organizations and members governance needs from ``auth.*`` and ``billing.*``."""
    data = envelope.data
    org_id = str(envelope.organization_id) if envelope.organization_id else None
    kind = envelope.type
    if kind == "auth.organization.created":
        organization = _organization(session, data["organization_id"])
        organization.name, organization.type = data["name"], data["type"]
    elif kind == "auth.organization.updated":
        organization = _organization(session, data["organization_id"])
        for field in ("name", "state"):
            if field in data.get("changes", {}):
                setattr(organization, field, data["changes"][field].get("to"))
    elif kind in (
        "auth.user.registered",
        "auth.invitation.accepted",
        "auth.user.sso_provisioned",
        "auth.user.reactivated",
    ):
        if org_id:
            member = _member(session, data["user_id"], org_id, active=True)
            member.email = data.get("email") or member.email
            member.role = data.get("role") or member.role
    elif kind == "auth.user.role_changed":
        changed = session.get(Member, data["user_id"])
        if changed is not None:
            after = data.get("after") or {}
            changed.role = after.get("role", changed.role)
            if "personas" in after:
                changed.personas = list(after["personas"] or [])
    elif kind == "auth.user.deactivated":
        if org_id:
            _member(session, data["user_id"], org_id, active=False)
    elif kind == "billing.entitlements.updated" and org_id:
        organization = _organization(session, org_id)
        as_of = envelope.occurred_at
        if organization.entitlements_as_of is None or as_of >= organization.entitlements_as_of:
            limit = data.get("ai_system_limit")
            organization.ai_system_limit = UNLIMITED if limit is None else int(limit)
            organization.plan = data.get("plan")
            organization.entitlements_as_of = as_of
    session.flush()


def _member(session: Session, user_id: str, organization_id: str, *, active: bool) -> Member:
    member = session.get(Member, user_id)
    if member is None:
        member = Member(id=user_id, organization_id=organization_id, active=active, personas=[])
        session.add(member)
    else:
        member.organization_id, member.active = organization_id, active
    return member


# ---- the demo portfolio ----------------------------------------------------------------------


def seed_demo(database: Database, organization_id: str) -> list[AISystem]:
    """Add the eight systems of docs/domain.md#the-demo-portfolio that the organization does not have yet. An
    operator's command: the plan limit does not stop it (the next creation over it answers 402)."""
    from spectral_governance.demo import DEMO_SYSTEMS

    identity = Identity(
        subject_type="service",
        subject_id="spectral governance seed-demo",
        organization_id=organization_id,
        role="admin",
    )
    added: list[AISystem] = []
    with database.session() as session:
        _lock_organization(session, organization_id)
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
