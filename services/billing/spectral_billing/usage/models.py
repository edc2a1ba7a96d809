"""Daily usage per organization, counted from the bus."""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from spectral_billing.db import Base
from spectral_shared.db import UUIDString


class DailyUsage(Base):
    __tablename__ = "usage_daily"

    organization_id: Mapped[str] = mapped_column(UUIDString, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # ai_systems (the most active that day) | telemetry_events | reports | api_calls
    metric: Mapped[str] = mapped_column(String(30), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
