"""No control characters in what people and clients send (issue 18): NUL, which PostgreSQL
refuses where SQLite stores it, so the two databases would disagree; ANSI escapes and the other
C0 and C1 controls, which rewrite a terminal or a log line when shown; and CR or LF in a
one-line field (a name, an e-mail subject), which forge lines. A request model inherits
``PlainText``: each of its text fields is checked (lists and mappings of text too, keys
included) and a bad one is a 422 pointing at the field, the same on both databases.

Multi-line fields (a description, a note) may hold line breaks and tabs; secrets (passwords)
and free-form payloads (telemetry, stored encrypted and redacted) are left as they are."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

# C0 controls but tab, LF and CR; DEL; C1 controls (ESC, CSI's 0x9b, ...).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAK = re.compile(r"[\r\n\u2028\u2029]")

# Field names that hold several lines of text for people.
MULTI_LINE = frozenset(
    {
        "description",
        "note",
        "notes",
        "reason",
        "justification",
        "resolution_note",
        "message",
        "text",
        "body",
        "clinical_use_case",
        "comment",
    }
)
# Field names whose text is not ours to judge: secrets, and free-form data kept as sent.
UNCHECKED = frozenset(
    {"password", "current_password", "new_password", "payload", "code", "token", "secret"}
)


def text_problem(value: str, *, multi_line: bool) -> str | None:
    """What is wrong with ``value`` (never quoting it), or None."""
    if _CONTROL.search(value):
        return (
            "Control characters (NUL, escape sequences and the like) are not allowed; send "
            "plain text."
        )
    if not multi_line and _LINE_BREAK.search(value):
        return "Line breaks are not allowed in this one-line field."
    return None


# The same rules as JSON Schema patterns, so the OpenAPI document says what is refused.
MULTI_LINE_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
ONE_LINE_PATTERN = "^[^\\u0000-\\u0008\\u000a-\\u001f\\u007f-\\u009f\\u2028\\u2029]*$"


def _document(schema: dict[str, Any], pattern: str) -> None:
    """Adds ``pattern`` to every string in a property's schema (lists and maps of text too)."""
    if schema.get("type") == "string" and not {"enum", "const", "format"} & schema.keys():
        if "pattern" in schema:
            schema.setdefault("allOf", []).append({"pattern": pattern})
        else:
            schema["pattern"] = pattern
    for key in ("items", "additionalProperties", "propertyNames"):
        if isinstance(schema.get(key), dict):
            _document(schema[key], ONE_LINE_PATTERN if key == "propertyNames" else pattern)
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key, ()):
            _document(option, pattern)


def _document_plain_text(schema: dict[str, Any], model: type[BaseModel]) -> None:
    plain = model if issubclass(model, PlainText) else None
    if plain is None:
        return
    for name, prop in schema.get("properties", {}).items():
        field_name = next(
            (f for f, info in model.model_fields.items() if (info.alias or f) == name), name
        )
        if field_name in plain.unchecked_fields:
            continue
        multi = field_name in plain.multi_line_fields
        _document(prop, MULTI_LINE_PATTERN if multi else ONE_LINE_PATTERN)


def _check(value: Any, multi_line: bool) -> None:
    if isinstance(value, str):
        problem = text_problem(value, multi_line=multi_line)
        if problem:
            raise ValueError(problem)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _check(item, multi_line)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check(key, False)
            _check(item, multi_line)


class PlainText(BaseModel):
    """A request model whose text fields refuse control characters (see the module)."""

    model_config = ConfigDict(json_schema_extra=_document_plain_text)

    multi_line_fields: ClassVar[frozenset[str]] = MULTI_LINE
    unchecked_fields: ClassVar[frozenset[str]] = UNCHECKED

    @field_validator("*", mode="after")
    @classmethod
    def _plain_text(cls, value: Any, info: ValidationInfo) -> Any:
        # After the type, not before: a "before" validator would take JSON's strings for times,
        # ids and enumerations out of pydantic's strict JSON mode (parse_json_body).
        name = info.field_name or ""
        if name in cls.unchecked_fields or isinstance(value, BaseModel):
            return value  # a nested model checks its own fields
        _check(value, multi_line=name in cls.multi_line_fields)
        return value
