"""The plan catalog (``plans.toml``): prices and what each plan allows, read once and checked.

Pure data and lookups; the capabilities an organization gets from a plan and its billing state are
decided in ``spectral_billing.entitlements.rules``.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from spectral_shared.contracts.billing import ReportKind

Audience = Literal["health_system", "vendor"]
OrganizationType = Literal["health_system", "vendor", "platform"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Allowance(_Strict):
    """What a plan (or having no plan) allows."""

    ai_system_limit: int | None = Field(default=None, ge=0)  # None: unlimited
    requests_per_hour: int | None = Field(default=None, ge=1)  # None: the deployment's default
    threshold_overrides: bool = False
    control_toggles: bool = False
    custom_controls: int = Field(default=0, ge=0)
    reports: tuple[ReportKind, ...] = ()
    certification_tier: Literal["verified", "certified", "trusted"] | None = None


class Plan(Allowance):
    id: str = ""
    audience: Audience
    name: str
    rank: int = Field(ge=1)
    price_cents: int = Field(ge=0)  # a year

    @property
    def lookup_key(self) -> str:
        """The Stripe price's lookup key: a new price (a new key) when the amount changes."""
        return f"spectral_{self.id}_yearly_{self.price_cents}"

    @property
    def product_name(self) -> str:
        kind = "Plan" if self.audience == "health_system" else "Certification"
        return f"Spectral {self.name} {kind}"


class Trial(_Strict):
    days: int = Field(ge=1)
    audience: Audience


class MoneyStops(_Strict):
    grace_days: int = Field(ge=0)
    canceled_read_days: int = Field(ge=0)
    invoice_days_until_due: int = Field(ge=1)
    usage_warning_percent: int = Field(ge=1, le=100)


class Catalog(_Strict):
    plans: dict[str, Plan]
    unsubscribed: dict[OrganizationType, Allowance]
    trial: Trial
    money_stops: MoneyStops

    def plan(self, plan_id: str) -> Plan | None:
        return self.plans.get(plan_id)

    def for_audience(self, audience: str) -> list[Plan]:
        return sorted(
            (p for p in self.plans.values() if p.audience == audience), key=lambda p: p.rank
        )

    def by_lookup_key(self, key: str | None) -> Plan | None:
        return next((p for p in self.plans.values() if p.lookup_key == key), None)


CATALOG_FILE = Path(__file__).with_name("plans.toml")


@cache
def catalog() -> Catalog:
    raw = tomllib.loads(CATALOG_FILE.read_text(encoding="utf-8"))
    raw["plans"] = {key: {**value, "id": key} for key, value in raw["plans"].items()}
    return Catalog.model_validate(raw)
