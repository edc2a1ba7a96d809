"""Reports's tables, in the ``reports`` schema. Only the bus tables so far."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import DeclarativeBase

from spectral_shared.bus import bus_tables
from spectral_shared.db import UTCDateTime, make_metadata


class Base(DeclarativeBase):
    metadata = make_metadata()
    type_annotation_map = {datetime: UTCDateTime}


bus = bus_tables(Base.metadata)
