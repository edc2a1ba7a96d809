"""Cursor pagination (docs/architecture.md#http-conventions: ``limit`` + ``cursor``, answer ``{"data", "next_cursor"}``).

The cursor is opaque to clients: base64url of the last row's sort key. Pages are stable under
concurrent inserts because they continue strictly after a key, never at an offset.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from spectral_shared.web.problems import Problem


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)


def encode_cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": key}).encode()).decode().rstrip("=")


def invalid_cursor(detail: str = "Pass next_cursor from a previous page as is.") -> Problem:
    """The 400 for a cursor that was not handed out (or not for this query)."""
    return Problem(400, "Invalid cursor", detail=detail, type_slug="invalid-cursor")


def decode_cursor(cursor: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["after"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise invalid_cursor() from None
