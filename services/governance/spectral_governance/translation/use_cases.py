"""Translating stored telemetry (the governance worker, from ``governance.telemetry.received``):
the engine's violations, required actions and alerts are stored with their events in the
consumer's transaction, so a crash before the commit leaves the message to be redelivered and
nothing half-done, and a redelivery after it finds the events already translated.

One open violation per (AI system, control): an event that raises a control already open on the
system adds an occurrence to it (as severe and as urgent as the stronger of the two) and plans no
new actions. Reporting deadlines count from discovery, the event's ``occurred_at`` (when the
organization knew or should have known), not from its arrival: a back-filled event's clock has
been running since it happened. A person's assessment of a control is never overwritten by a
finding: the finding is recorded beside it (``contested_by``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Table, select, text
from sqlalchemy.orm import Session

from spectral_governance.actions.events import ACTION_CREATED, ActionCreated
from spectral_governance.actions.models import RequiredAction
from spectral_governance.alerts import rules as alerting
from spectral_governance.alerts.messages import alert_message, alert_metadata, highest
from spectral_governance.alerts.use_cases import AlertBatch, raise_alert
from spectral_governance.catalog.applicability import SystemFacts
from spectral_governance.controls.events import (
    CONTROL_ASSESSMENT_CONTESTED,
    CONTROL_STATUS_CHANGED,
    ControlAssessmentContested,
    ControlStatusChanged,
)
from spectral_governance.controls.models import ControlStatus
from spectral_governance.customization.queries import active_customization
from spectral_governance.directory.models import Organization
from spectral_governance.engine.customization import (
    disabled_controls,
    effective_limits,
)
from spectral_governance.engine.deadlines import IncidentFacts, Obligation
from spectral_governance.engine.mapping import Violation as Found
from spectral_governance.engine.normalizer import Normalized, rules
from spectral_governance.engine.translate import SIGNIFICANT, Finding, Translation, translate
from spectral_governance.inventory.models import AISystem
from spectral_governance.inventory.posture import refresh_posture
from spectral_governance.inventory.queries import facts_of
from spectral_governance.telemetry.models import TelemetryEvent
from spectral_governance.violations.events import (
    VIOLATION_DETECTED,
    VIOLATION_RECURRED,
    ViolationDetected,
    ViolationRecurred,
)
from spectral_governance.violations.messages import describe
from spectral_governance.violations.models import Violation
from spectral_shared.bus import Actor
from spectral_shared.crypto import FieldCipher
from spectral_shared.db import insert_rows, new_id, update_rows, utcnow

ENGINE = Actor.system("governance.translation")


PRIORITY_RANK = {"immediate": 0, "urgent": 1, "high": 2, "medium": 3, "low": 4}


_EVENTS: Table = TelemetryEvent.__table__  # type: ignore[assignment]


_COLUMNS = (
    _EVENTS.c.id,
    _EVENTS.c.organization_id,
    _EVENTS.c.ai_system_id,
    _EVENTS.c.canonical_type,
    _EVENTS.c.category,
    _EVENTS.c.severity,
    _EVENTS.c.confidence,
    _EVENTS.c.matched_by,
    _EVENTS.c.metrics,
    _EVENTS.c.received_at,
    _EVENTS.c.occurred_at,
    _EVENTS.c.incident,
)
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}


class Writes(AlertBatch):
    """What one translation transaction writes, gathered so that it goes to the database in a few
    statements (bulk inserts of violations, actions and outbox events) instead of one round trip
    per row; with the alerts of the last hour and the control statuses it reads, looked up once."""

    def __init__(
        self, session: Session, cipher: FieldCipher, now: datetime, base_url: str = ""
    ) -> None:
        super().__init__(session, cipher, now, ENGINE, base_url)
        self.violations: list[dict[str, Any]] = []
        self.actions: list[dict[str, Any]] = []
        self._statuses: dict[tuple[str, str], ControlStatus | None] = {}
        self._open: dict[tuple[str, str], Violation | dict[str, Any]] | None = None

    def open_violation(self, system_id: str, control_id: str) -> Violation | dict[str, Any] | None:
        """The open violation of this control on the system: stored (locked, so that a person
        resolving it waits for this transaction) or written earlier in this one."""
        if self._open is None:
            self._open = {}
            if self._system_ids:
                for row in self.session.scalars(
                    select(Violation)
                    .where(
                        Violation.ai_system_id.in_(sorted(self._system_ids)),
                        Violation.resolved_at.is_(None),
                    )
                    .order_by(Violation.id)
                    .with_for_update()
                ):
                    self._open[(row.ai_system_id, row.control_id)] = row
        return self._open.get((system_id, control_id))

    def opened_violation(self, row: dict[str, Any]) -> None:
        self.violations.append(row)
        if self._open is not None:
            self._open[(row["ai_system_id"], row["control_id"])] = row

    def status(self, system_id: str, control_id: str) -> ControlStatus | None:
        key = (system_id, control_id)
        if key not in self._statuses:
            self._statuses[key] = self.session.get(ControlStatus, key)
        return self._statuses[key]

    def set_status(self, status: ControlStatus) -> None:
        self._statuses[(status.ai_system_id, status.control_id)] = status

    def flush(self) -> None:
        self.session.flush()
        insert_rows(self.session, _table(Violation), self.violations)
        insert_rows(self.session, _table(RequiredAction), self.actions)
        self.violations, self.actions = [], []
        super().flush()


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _mark_non_compliant(writes: Writes, system: AISystem, found: Found, violation_id: str) -> None:
    """The control is non-compliant while a violation is open; but a person's assessment stays,
    with the violation that contradicts it recorded beside it for them to decide."""
    status = writes.status(system.id, found.control_id)
    before = status.status if status else "not_assessed"
    if before == "non_compliant":
        return
    if status is not None and status.source == "user":
        if status.contested_by is None:
            status.contested_by, status.contested_at = violation_id, writes.now
            writes.record(
                CONTROL_ASSESSMENT_CONTESTED,
                ControlAssessmentContested(
                    ai_system_id=system.id,
                    ai_system_name=system.name,
                    control_id=found.control_id,
                    framework_id=found.framework_id,
                    status=before,
                    violation_id=violation_id,
                ),
                system.organization_id,
            )
        return
    if status is None:
        status = ControlStatus(
            ai_system_id=system.id,
            control_id=found.control_id,
            organization_id=system.organization_id,
        )
        writes.session.add(status)
        writes.set_status(status)
    status.status, status.source, status.updated_at = "non_compliant", "violation", writes.now
    status.reason, status.updated_by = f"Open violation of {found.control_id}", None
    writes.record(
        CONTROL_STATUS_CHANGED,
        ControlStatusChanged(
            ai_system_id=system.id,
            ai_system_name=system.name,
            control_id=found.control_id,
            framework_id=found.framework_id,
            from_status=before,
            to_status="non_compliant",
            reason=status.reason,
            source="violation",
        ),
        system.organization_id,
    )


def _deadline(finding: Finding, discovered: datetime) -> datetime | None:
    """The earliest mandatory obligation's due date; for a reportable violation whose
    obligations have none (a law that says "without unreasonable delay"), None."""
    if finding.obligations:
        return finding.reporting_deadline
    days = finding.violation.reporting_deadline_days
    return discovered + timedelta(days=days) if days else None


# An obligation as stored on its violation (JSON): every field, dates in ISO 8601.
_OBLIGATIONS = TypeAdapter(tuple[Obligation, ...])


def _obligations_json(finding: Finding) -> list[dict[str, Any]] | None:
    if not finding.obligations:
        return None
    return list(_OBLIGATIONS.dump_python(finding.obligations, mode="json"))


def _bring_forward(writes: Writes, violation_id: str, due: datetime) -> None:
    """The violation's pending actions due on its reporting deadline follow it forward."""
    pending = [a for a in writes.actions if a["violation_id"] == violation_id]
    pending += list(
        writes.session.scalars(
            select(RequiredAction).where(
                RequiredAction.violation_id == violation_id, RequiredAction.status == "pending"
            )
        )
    )
    for action in pending:
        details = action["details"] if isinstance(action, dict) else action.details
        deadline = action["deadline"] if isinstance(action, dict) else action.deadline
        if "deadline_basis" not in (details or {}) or deadline <= due:
            continue
        if isinstance(action, dict):
            action["deadline"] = due
        else:
            action.deadline = due


def _recur(
    writes: Writes,
    earlier: Violation | dict[str, Any],
    finding: Finding,
    *,
    event_id: str,
    system: AISystem,
    discovered: datetime,
    seen: datetime,
) -> None:
    """One more occurrence of an open violation: counted, and as severe and as urgent as the
    stronger of the two; its actions are not planned again."""
    found = finding.violation
    row: Any = earlier if isinstance(earlier, dict) else None

    def get(name: str) -> Any:
        return row[name] if row is not None else getattr(earlier, name)

    def put(name: str, value: Any) -> None:
        if row is not None:
            row[name] = value
        else:
            setattr(earlier, name, value)

    put("occurrences", get("occurrences") + 1)
    put("last_seen_at", max(get("last_seen_at") or seen, seen))
    if SEVERITY_RANK.get(found.severity, 9) < SEVERITY_RANK.get(get("severity"), 9):
        put("severity", found.severity)
    if found.requires_reporting:
        put("requires_reporting", True)
        due = _deadline(finding, discovered)
        if due is not None and (
            get("reporting_deadline") is None or due < get("reporting_deadline")
        ):
            put("reporting_deadline", due)
            put("obligations", _obligations_json(finding))
            put("discovered_at", min(get("discovered_at") or discovered, discovered))
            _bring_forward(writes, get("id"), due)
    deadline = get("reporting_deadline")
    writes.record(
        VIOLATION_RECURRED,
        ViolationRecurred(
            violation_id=get("id"),
            ai_system_id=system.id,
            telemetry_event_id=event_id,
            control_id=found.control_id,
            occurrences=get("occurrences"),
            severity=get("severity"),
            requires_reporting=get("requires_reporting"),
            reporting_deadline=deadline.isoformat() if deadline else None,
        ),
        system.organization_id,
    )


def _store(
    writes: Writes,
    *,
    event_id: str,
    event: Normalized,
    detected_at: datetime,
    discovered: datetime,
    system: AISystem,
    organization: Organization | None,
    translation: Translation,
) -> None:
    org = system.organization_id
    for finding in translation.findings:
        found = finding.violation
        earlier = writes.open_violation(system.id, found.control_id)
        if earlier is not None:
            _recur(
                writes,
                earlier,
                finding,
                event_id=event_id,
                system=system,
                discovered=discovered,
                seen=detected_at,
            )
            continue
        violation_id = new_id()
        deadline = _deadline(finding, discovered)
        writes.opened_violation(
            {
                "id": violation_id,
                "organization_id": org,
                "ai_system_id": system.id,
                "telemetry_event_id": event_id,
                "framework_id": found.framework_id,
                "control_id": found.control_id,
                "control_name": found.control_name,
                "type": found.type,
                "severity": found.severity,
                "requires_reporting": found.requires_reporting,
                "reporting_deadline": deadline,
                "description": describe(found, event, system),
                "legal_standing": found.standing,
                "detected_at": detected_at,
                "discovered_at": discovered,
                "occurrences": 1,
                "last_seen_at": detected_at,
                "obligations": _obligations_json(finding),
                "resolved_at": None,
                "resolved_by": None,
                "resolution_note": None,
            }
        )
        writes.record(
            VIOLATION_DETECTED,
            ViolationDetected(
                violation_id=violation_id,
                ai_system_id=system.id,
                telemetry_event_id=event_id,
                framework_id=found.framework_id,
                control_id=found.control_id,
                type=found.type,
                severity=found.severity,
                requires_reporting=found.requires_reporting,
                reporting_deadline=deadline.isoformat() if deadline else None,
                legal_standing=found.standing,
            ),
            org,
        )
        if found.standing is None:  # a recommendation judges no control
            _mark_non_compliant(writes, system, found, violation_id)
        for planned in finding.actions:
            # An action due on the reporting deadline counts from discovery, like the deadline;
            # the others (notify within 2 hours, escalate within 7 days) from detection.
            on_deadline = "deadline_basis" in planned.details
            action_id = new_id()
            if on_deadline and deadline is not None:
                due = deadline
            else:
                due = (discovered if on_deadline else detected_at) + planned.due_in
            writes.actions.append(
                {
                    "id": action_id,
                    "organization_id": org,
                    "ai_system_id": system.id,
                    "violation_id": violation_id,
                    "action_type": planned.action_type,
                    "priority": planned.priority,
                    "priority_rank": PRIORITY_RANK[planned.priority],
                    "assignee": planned.assignee,
                    "assigned_user_id": None,
                    "deadline": due,
                    "automated": planned.automated,
                    "description": planned.description,
                    "details": planned.details,
                    "status": "pending",
                    "created_at": writes.now,
                    "updated_at": writes.now,
                    "completed_at": None,
                    "completed_by": None,
                    "notes": None,
                    "attempts": 0,
                }
            )
            writes.record(
                ACTION_CREATED,
                ActionCreated(
                    action_id=action_id,
                    violation_id=violation_id,
                    ai_system_id=system.id,
                    action_type=planned.action_type,
                    priority=planned.priority,
                    assignee=planned.assignee,
                    deadline=due.isoformat(),
                    automated=planned.automated,
                ),
                org,
            )
    found_all = [f.violation for f in translation.findings]
    # An alert for what raised findings, and for what its source itself called high or critical
    # (a monitoring tool's own alert): people see it, though no threshold of ours was crossed.
    if found_all or event.severity in SIGNIFICANT:
        alert_type = alerting.alert_type_for(event.event_type, event.category)
        severity = highest(
            [
                alerting.auto_severity(alert_type, alert_metadata(event, found_all)),
                *(f.severity for f in found_all),
                *([event.severity] if not found_all else []),
            ]
        )
        raise_alert(
            writes.session,
            writes.cipher,
            organization=organization,
            system=system,
            alert_type=alert_type,
            severity=severity,
            message=alert_message(event, system, found_all),
            telemetry_event_id=event_id,
            now=writes.now,
            writes=writes,
        )


def _incident(stored: Mapping[str, Any] | None, facts: SystemFacts) -> IncidentFacts:
    """The facts an event reported (checked at intake), for its obligations; an in-house system
    makes the organization the device's manufacturer."""
    data = stored or {}
    return IncidentFacts(
        affected_count=data.get("affected_count"),
        affected_by_state=data.get("affected_states") or {},
        patient_harm=data.get("patient_harm"),
        manufacturer=not facts.has_vendor,
        remedial_action=bool(data.get("remedial_action")),
    )


def _serialize_per_organization(session: Session, organization_ids: Iterable[str]) -> None:
    """One translation at a time per organization (a transaction-scoped advisory lock, taken in
    a fixed order): two worker replicas would otherwise create the same control statuses and
    open the same alerts at once, and deadlock or double them. Organizations still translate in
    parallel."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for organization_id in sorted(organization_ids):
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"governance.translation:{organization_id}"},
        )


def translate_events(
    session: Session,
    cipher: FieldCipher,
    event_ids: Sequence[str],
    organization_ids: Iterable[str] | None = None,
    base_url: str = "",
) -> int:
    """Translate the given events not yet translated; returns how many were. The organizations'
    locks come first (from the messages that named the events, or else from the events), so the
    rows need no row locks of their own: only a translation writes ``translated_at``."""
    ids = list(event_ids)
    if organization_ids is None:
        organization_ids = session.scalars(
            select(_EVENTS.c.organization_id).where(_EVENTS.c.id.in_(ids)).distinct()
        ).all()
    _serialize_per_organization(session, organization_ids)
    rows = session.execute(
        select(*_COLUMNS)
        .where(_EVENTS.c.id.in_(ids), _EVENTS.c.translated_at.is_(None))
        .order_by(_EVENTS.c.received_at, _EVENTS.c.id)
    ).all()
    if not rows:
        return 0
    now = utcnow()
    systems = {
        s.id: s
        for s in session.scalars(
            select(AISystem).where(AISystem.id.in_({r.ai_system_id for r in rows}))
        )
    }
    organizations = {
        o.id: o
        for o in session.scalars(
            select(Organization).where(Organization.id.in_({r.organization_id for r in rows}))
        )
    }
    custom = active_customization(session, {r.organization_id for r in rows}, now)
    writes = Writes(session, cipher, now, base_url)
    writes.watch(systems)
    facts: dict[str, SystemFacts] = {}
    limits: dict[tuple[str, str], Mapping[str, float]] = {}
    disabled: dict[str, frozenset[str]] = {}
    done: list[dict[str, Any]] = []
    found_on: set[str] = set()  # systems given violations or alerts: their posture may move
    types = rules().types
    with session.no_autoflush:
        for row in rows:
            system = systems[row.ai_system_id]
            organization = organizations.get(row.organization_id)
            customization = custom[row.organization_id]
            if system.id not in facts:
                facts[system.id] = facts_of(system, organization.state if organization else None)
                disabled[system.id] = disabled_controls(
                    customization.toggles, ai_system_id=system.id
                )
            if row.canonical_type not in types:  # unclassified: kept, shown, not translated
                done.append(
                    {
                        "id": row.id,
                        "translated_at": now,
                        "risk_score": 0,
                        "risk_level": "low",
                        "escalate": False,
                        "escalation_path": None,
                    }
                )
                continue
            kind = row.canonical_type
            if (system.id, kind) not in limits:
                limits[(system.id, kind)] = effective_limits(
                    customization.overrides, event_type=kind, ai_system_id=system.id, now=now
                )
            event = Normalized(
                kind,
                row.category,
                row.severity,
                row.confidence,
                row.matched_by,
                dict(row.metrics or {}),
                harm=(row.incident or {}).get("patient_harm"),
            )
            discovered = min(row.occurred_at, row.received_at)
            translation = translate(
                event,
                facts[system.id],
                limits=limits[(system.id, kind)],
                disabled=disabled[system.id],
                on=discovered.date(),
                discovered=discovered,
                incident=_incident(row.incident, facts[system.id]),
                recommendations=organization is None or organization.recommendations is not False,
            )
            if translation.findings or event.severity in SIGNIFICANT:
                found_on.add(system.id)
                _store(
                    writes,
                    event_id=row.id,
                    event=event,
                    detected_at=row.received_at,
                    discovered=discovered,
                    system=system,
                    organization=organization,
                    translation=translation,
                )
            risk = translation.risk
            done.append(
                {
                    "id": row.id,
                    "translated_at": now,
                    "risk_score": risk.score,
                    "risk_level": risk.level,
                    "escalate": risk.escalate,
                    "escalation_path": list(risk.path) if risk.escalate else None,
                }
            )
    writes.flush()
    update_rows(session, _EVENTS, done, _EVENTS.c.id)
    refresh_posture(session, found_on, now)
    return len(done)
