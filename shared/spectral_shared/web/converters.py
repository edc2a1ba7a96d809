"""URL converters every service's app registers.

``<uuid:name>`` matches a UUID in any case and hands the view its canonical text (lower case,
hyphenated), the form ids are stored in. Anything else in that place matches no route, so it is
answered as a missing resource (404) before any view or query runs.
"""

from __future__ import annotations

import uuid

from flask import Flask
from werkzeug.routing import BaseConverter, ValidationError

# The largest index or count a path or query may name: SQL's BIGINT (what SQLite and PostgreSQL
# store); a larger number names nothing, and is refused before it reaches a query.
MAX_INDEX = 2**63 - 1


class UuidText(BaseConverter):
    regex = r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}"

    def to_python(self, value: str) -> str:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValidationError from None

    def to_url(self, value: object) -> str:
        return str(value)


class PlainSegment(BaseConverter):
    """Any other path segment (a control's id, a framework's, a webhook source): text without
    control characters, which PostgreSQL would refuse in a query (NUL) and no id holds; anything
    else matches no route, a 404."""

    regex = "[^/\x00-\x1f\x7f-\x9f]+"


def register_converters(app: Flask) -> None:
    app.url_map.converters["uuid"] = UuidText
    app.url_map.converters["default"] = PlainSegment
    app.url_map.converters["string"] = PlainSegment


def is_uuid(value: str) -> bool:
    """Whether a value from a query string or body names an id at all."""
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True
