"""The settings governance alone reads (its component declares them)."""

from __future__ import annotations

from pydantic import Field

from spectral_shared.component import Runtime
from spectral_shared.config import ServiceSettings


class GovernanceSettings(ServiceSettings):
    # How often the worker carries out automated required actions (notify, escalate).
    action_executor_interval_seconds: float = Field(default=60.0, gt=0)


def governance_settings(runtime: Runtime) -> GovernanceSettings:
    own = runtime.service_settings
    assert isinstance(own, GovernanceSettings), "the governance component declares its settings"
    return own
