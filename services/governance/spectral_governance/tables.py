"""Every table governance owns, for its migrations and its component: each domain package maps
its own tables; importing them here puts them all on the one ``metadata``."""

from __future__ import annotations

from spectral_governance.actions import models as _actions
from spectral_governance.alerts import models as _alerts
from spectral_governance.catalog import models as _catalog
from spectral_governance.controls import models as _controls
from spectral_governance.customization import models as _customization
from spectral_governance.db import Base, bus
from spectral_governance.directory import models as _directory
from spectral_governance.inventory import models as _inventory
from spectral_governance.telemetry import models as _telemetry
from spectral_governance.violations import models as _violations

metadata = Base.metadata
DOMAINS = (
    _actions,
    _alerts,
    _catalog,
    _controls,
    _customization,
    _directory,
    _inventory,
    _telemetry,
    _violations,
)

__all__ = ["DOMAINS", "bus", "metadata"]
