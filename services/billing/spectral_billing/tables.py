"""Every table billing maps, gathered for its migrations and the component."""

from __future__ import annotations

from spectral_billing.accounts import models as accounts
from spectral_billing.db import Base, bus
from spectral_billing.entitlements import models as entitlements
from spectral_billing.stripe_api import models as stripe_api
from spectral_billing.subscriptions import models as subscriptions
from spectral_billing.usage import models as usage

metadata = Base.metadata
__all__ = ["accounts", "bus", "entitlements", "metadata", "stripe_api", "subscriptions", "usage"]
