"""The control registry: frameworks and controls from versioned data files in this package.

The files under ``data/`` are written by us and checked against the regulatory reference data
(``tests/test_catalog.py``). One file per framework; ``data/catalog.yaml`` holds the catalog
version and its changelog, with the SHA-256 of the framework files each version shipped. Editing a
framework file without a new version (a changelog entry and a migration that loads it) fails the
tests: the catalog never changes silently.

Pure data and parsing: no database here (``services.sync_catalog`` writes it to the tables).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib.resources import files
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Severity = Literal["critical", "high", "medium", "low"]
ControlKind = Literal[
    # HIPAA
    "standard",
    "implementation_specification",
    "breach_notification",
    # NIST AI RMF
    "subcategory",
    # ISO/IEC 42001 Annex A
    "control",
    # FDA
    "check",
    # state law
    "state_rule",
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
# A framework's legal standing: binding law (in_force), a standard an organization adopts by
# choice (voluntary), or a bill or law that does not bind (vetoed, repealed, proposed).
LegalStatus = Literal["in_force", "voluntary", "vetoed", "repealed", "proposed"]

FRAMEWORK_FILES = (
    "hipaa.yaml",
    "nist_ai_rmf.yaml",
    "iso_42001.yaml",
    "fda.yaml",
    "ca_sb1047.yaml",
    "ca_breach.yaml",
    "co_ai_act.yaml",
    "nyc_ll144.yaml",
    "ca_ab3030.yaml",
    "ca_hsc_1280_15.yaml",
    "tx_traiga.yaml",
    "tx_sb1188.yaml",
    "ut_ai_policy.yaml",
)


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Control(_Closed):
    id: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9().\-_]+$")
    ]
    reference_id: str | None = Field(
        default=None,
        description="The item's id in the reference file when it differs from ours "
        "(e.g. HIPAA standard 164.308(a)(1) is 164.308(a)(1)(i) there); None for our additions.",
    )
    kind: ControlKind
    parent: str | None = None
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200)]
    description: Text
    category: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100)]
    severity: Severity
    required_evidence: list[Text] = Field(min_length=1)
    requirement: Literal["required", "addressable"] | None = None  # HIPAA implementation specs
    reporting_deadline_days: int | None = Field(default=None, ge=1, le=365)
    tags: list[str] = Field(default_factory=list)


class Framework(_Closed):
    id: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,31}$")]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200)]
    issuer: Text
    citation: Text
    # INTL for an international standard; US, US-<state> or US-<state>-<city> for a law.
    jurisdiction: Annotated[str, StringConstraints(pattern=r"^(INTL|US(-[A-Z]{2}(-[A-Z]{3})?)?)$")]
    reference: str | None = Field(
        default=None, description="The file in the regulatory reference data it is checked against."
    )
    description: Text
    effective_date: date | None = Field(
        default=None,
        description="The first day it binds (a voluntary standard: its publication); None for a "
        "bill or law that never took effect.",
    )
    status: LegalStatus
    status_date: date | None = Field(
        default=None, description="The day of the veto, repeal or proposal."
    )
    end_date: date | None = Field(
        default=None,
        description="Exclusive: the first day it no longer binds (a repeal's or sunset's "
        "effective date); None while no end is set.",
    )
    status_note: Text = Field(description="Its legal standing in a sentence, for people.")

    @model_validator(mode="after")
    def _dated(self) -> Framework:
        if self.status == "in_force" and self.effective_date is None:
            raise ValueError(f"{self.id}: a framework in force needs its effective_date")
        if self.status in ("vetoed", "repealed", "proposed") and self.status_date is None:
            raise ValueError(f"{self.id}: status {self.status} needs its status_date")
        if (
            self.end_date is not None
            and self.effective_date is not None
            and self.end_date <= self.effective_date
        ):
            raise ValueError(
                f"{self.id}: end_date {self.end_date} is not after effective_date "
                f"{self.effective_date}"
            )
        return self

    @property
    def binding(self) -> bool:
        """Law in force (whatever the day), not a voluntary standard nor a vetoed, repealed or
        proposed bill."""
        return self.status == "in_force"

    def in_force(self, on: date) -> bool:
        """Binding law on day ``on``: status in_force, on or after effective_date (if any),
        before end_date (if any)."""
        if not self.binding:
            return False
        if self.effective_date is not None and on < self.effective_date:
            return False
        return self.end_date is None or on < self.end_date


class FrameworkFile(_Closed):
    framework: Framework
    controls: list[Control] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_and_linked(self) -> FrameworkFile:
        ids = [c.id for c in self.controls]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"{self.framework.id}: duplicate control ids {duplicates}")
        known = set(ids)
        orphans = sorted(c.id for c in self.controls if c.parent and c.parent not in known)
        if orphans:
            raise ValueError(f"{self.framework.id}: parents missing for {orphans}")
        return self


class CatalogVersion(_Closed):
    version: int = Field(ge=1)
    date: date
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    changes: Text


class CatalogIndex(_Closed):
    version: int = Field(ge=1)
    aliases: dict[str, str] = Field(
        description="Control ids the translation rules use (from the reference) -> our ids (docs/domain.md#the-control-registry)."
    )
    changelog: list[CatalogVersion] = Field(min_length=1)


@dataclass(frozen=True, eq=False)
class Catalog:
    version: int
    frameworks: tuple[FrameworkFile, ...]
    aliases: dict[str, str]
    changelog: tuple[CatalogVersion, ...]
    controls: dict[str, tuple[Framework, Control]] = field(init=False)

    def __post_init__(self) -> None:
        found: dict[str, tuple[Framework, Control]] = {}
        for file in self.frameworks:
            for control in file.controls:
                if control.id in found:
                    raise ValueError(
                        f"control {control.id} is in {found[control.id][0].id} and {file.framework.id}"
                    )
                found[control.id] = (file.framework, control)
        object.__setattr__(self, "controls", found)

    def resolve(self, control_id: str) -> str:
        """Our id for a control id as a rule or a client names it (an alias, or ours as is)."""
        return self.aliases.get(control_id, control_id)

    def control(self, control_id: str) -> tuple[Framework, Control] | None:
        return self.controls.get(self.resolve(control_id))

    def framework(self, framework_id: str) -> FrameworkFile | None:
        return next((f for f in self.frameworks if f.framework.id == framework_id), None)


def _data(name: str) -> bytes:
    return files(__package__).joinpath("data", name).read_bytes()


def content_sha256() -> str:
    """The SHA-256 over the framework files, in their fixed order (what a version ships)."""
    digest = hashlib.sha256()
    for name in FRAMEWORK_FILES:
        raw = _data(name)
        digest.update(name.encode() + b"\0" + str(len(raw)).encode() + b"\0" + raw)
    return digest.hexdigest()


@cache
def load_catalog() -> Catalog:
    index = CatalogIndex.model_validate(yaml.safe_load(_data("catalog.yaml")))
    frameworks = tuple(
        FrameworkFile.model_validate(yaml.safe_load(_data(name))) for name in FRAMEWORK_FILES
    )
    catalog = Catalog(
        version=index.version,
        frameworks=frameworks,
        aliases=index.aliases,
        changelog=tuple(index.changelog),
    )
    dangling = sorted(a for a, target in index.aliases.items() if target not in catalog.controls)
    if dangling:
        raise ValueError(f"aliases point at missing controls: {dangling}")
    return catalog
