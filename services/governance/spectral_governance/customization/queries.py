"""The overrides and toggles in force for organizations, as the engine takes them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from spectral_governance.customization.models import ControlToggle, ThresholdOverride
from spectral_governance.engine.customization import (
    Override,
    Toggle,
)


@dataclass
class Customization:
    overrides: list[Override]
    toggles: list[Toggle]


def active_customization(
    session: Session, organization_ids: Iterable[str], now: datetime
) -> dict[str, Customization]:
    found = {org: Customization([], []) for org in organization_ids}
    for o in session.scalars(
        select(ThresholdOverride).where(
            ThresholdOverride.organization_id.in_(list(found)),
            ThresholdOverride.revoked_at.is_(None),
        )
    ):
        if o.expires_at is None or o.expires_at > now:
            found[o.organization_id].overrides.append(
                Override(
                    o.id,
                    o.threshold,
                    o.value,
                    o.event_type,
                    o.ai_system_id,
                    o.created_at,
                    o.expires_at,
                )
            )
    for t in session.scalars(
        select(ControlToggle).where(
            ControlToggle.organization_id.in_(list(found)), ControlToggle.revoked_at.is_(None)
        )
    ):
        found[t.organization_id].toggles.append(Toggle(t.control_id, t.ai_system_id))
    return found
