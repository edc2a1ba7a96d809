"""An AI system's posture and risk score, kept current from its findings
(docs/domain.md#system-risk-and-posture): its open violations and its alerts of the last day (one
per problem event, repeats counted on it), never the volume of benign telemetry. Recomputed when a
translation stores findings, when a violation is resolved or an alert dismissed, and by a worker
job as alerts age."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from spectral_governance.alerts.models import Alert
from spectral_governance.db import bus
from spectral_governance.engine.scoring import system_risk
from spectral_governance.inventory.events import AI_SYSTEM_POSTURE_CHANGED, AISystemPostureChanged
from spectral_governance.inventory.models import AISystem
from spectral_governance.violations.models import Violation
from spectral_shared.bus import Actor, record_event
from spectral_shared.component import Runtime
from spectral_shared.db import utcnow

POSTURE = Actor.system("governance.posture")
RECENT = timedelta(hours=24)
BATCH = 500


def refresh_posture(session: Session, system_ids: Iterable[str], now: datetime) -> int:
    """Recompute the systems' posture and risk score in the caller's transaction; a changed
    posture is recorded as an event. Returns how many systems changed."""
    ids = sorted(set(system_ids))
    if not ids:
        return 0
    open_violations: dict[str, list[str]] = defaultdict(list)
    for system_id, severity in session.execute(
        select(Violation.ai_system_id, Violation.severity).where(
            Violation.ai_system_id.in_(ids), Violation.resolved_at.is_(None)
        )
    ):
        open_violations[system_id].append(severity)
    recent: dict[str, list[str]] = defaultdict(list)
    for system_id, severity in session.execute(
        select(Alert.ai_system_id, Alert.severity).where(
            Alert.ai_system_id.in_(ids),
            Alert.last_seen_at > now - RECENT,
            Alert.status != "dismissed",
        )
    ):
        recent[system_id].append(severity)
    changed = 0
    for system in session.scalars(select(AISystem).where(AISystem.id.in_(ids))):
        risk = system_risk(open_violations[system.id], recent[system.id])
        if (system.compliance_posture, system.risk_score) == (risk.posture, risk.score):
            continue
        before = system.compliance_posture
        system.compliance_posture, system.risk_score = risk.posture, risk.score
        changed += 1
        if before != risk.posture:
            record_event(
                session,
                bus,
                AI_SYSTEM_POSTURE_CHANGED,
                AISystemPostureChanged(
                    ai_system_id=system.id,
                    name=system.name,
                    from_posture=before,
                    to_posture=risk.posture,
                    risk_score=risk.score,
                ),
                organization_id=system.organization_id,
                actor=POSTURE,
            )
    return changed


def refresh_scored_systems(runtime: Runtime) -> int:
    """The worker job: systems with a score recomputed as their day's alerts age out (a system
    never scored keeps the posture it was given)."""
    now, changed, after = utcnow(), 0, None
    while True:
        with runtime.database.session() as session:
            scored = select(AISystem.id).where(
                AISystem.risk_score > 0, AISystem.deleted_at.is_(None)
            )
            if after is not None:
                scored = scored.where(AISystem.id > after)
            ids = session.scalars(scored.order_by(AISystem.id).limit(BATCH)).all()
            changed += refresh_posture(session, ids, now)
        if len(ids) < BATCH:
            return changed
        after = ids[-1]
