"""Billing's declarative base and its bus tables. Each domain package maps its own tables in its
``models.py``; ``tables.py`` gathers them for migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.orm import DeclarativeBase

from spectral_shared.bus import bus_tables
from spectral_shared.db import UTCDateTime, make_metadata


class Base(DeclarativeBase):
    metadata = make_metadata()
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


bus = bus_tables(Base.metadata)
