"""Governance's declarative base, its bus tables and the column types and row helpers its domain
packages share. Each domain package maps its own tables in its ``models.py``; ``tables.py``
gathers them for migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    String,
    TypeDecorator,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session

from spectral_shared.bus import bus_tables
from spectral_shared.db import UTCDateTime, make_metadata
from spectral_shared.errors import NotFound


class StateCodes(TypeDecorator[list[str]]):
    """A list of US state codes kept as one comma-separated text (``CA,NY``): cheaper to read
    than JSON on the hot list path, and searchable with LIKE."""

    impl = String(240)
    cache_ok = True

    def process_bind_param(self, value: list[str] | None, dialect: Dialect) -> str:
        return ",".join(value or ())

    def process_result_value(self, value: str | None, dialect: Dialect) -> list[str]:
        return value.split(",") if value else []


class Base(DeclarativeBase):
    metadata = make_metadata()
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


bus = bus_tables(Base.metadata)


def owned_for_update(
    session: Session, model: Any, organization_id: str, row_id: str, what: str
) -> Any:
    """The organization's row with this id, locked for the transaction; else ``NotFound(what)``."""
    row = session.scalars(
        select(model)
        .where(model.id == row_id, model.organization_id == organization_id)
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound(what)
    return row
