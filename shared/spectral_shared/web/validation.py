"""Request bodies parsed into pydantic models; every failure is a problem with per-field errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Annotated, Any, TypeVar

from flask import request
from pydantic import BaseModel, BeforeValidator, ValidationError

from spectral_shared.web.converters import MAX_INDEX
from spectral_shared.web.problems import Problem, validation_problem
from spectral_shared.web.text import text_problem

M = TypeVar("M", bound=BaseModel)

_MESSAGES = {
    "extra_forbidden": "Unknown field.",
    "missing": "This field is required.",
}


def _pointer(loc: tuple[Any, ...]) -> str:
    """An RFC 6901 JSON Pointer: ``~`` and ``/`` inside a name are escaped as ``~0`` and ``~1``."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in loc)


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as ``{field, pointer, code, message}``; input values are never echoed (PHI)."""
    errors = []
    for err in exc.errors(include_input=False, include_url=False):
        # "[key]" marks a mapping's key as the culprit: the pointer names the member itself.
        loc = tuple(p for p in err.get("loc", ()) if p != "[key]")
        message = _MESSAGES.get(err["type"], err["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        errors.append(
            {
                "field": ".".join(str(p) for p in loc),
                "pointer": _pointer(loc),
                "code": err["type"],
                "message": message,
            }
        )
    return errors


def json_document(raw: bytes, loads: Callable[[bytes], Any] = json.loads) -> Any:
    """A request body parsed as JSON, or the 400 ``malformed-json`` problem."""
    try:
        return loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Problem(
            400,
            "Malformed JSON",
            detail=f"The body is not valid JSON: {exc}",
            type_slug="malformed-json",
        ) from exc


def read_json_body(loads: Callable[[bytes], Any] = json.loads) -> Any:
    """The request's JSON body, whatever its shape: 415 unless it is sent as JSON, 400 unless it
    parses."""
    if not request.mimetype or (
        request.mimetype not in ("application/json",) and not request.mimetype.endswith("+json")
    ):
        raise Problem(
            415,
            "Unsupported media type",
            detail="Send the body as application/json.",
            type_slug="unsupported-media-type",
        )
    return json_document(request.get_data(cache=True), loads)


def parse_json_body(model: type[M]) -> M:
    data = read_json_body()
    if not isinstance(data, dict):
        raise Problem(
            400,
            "Malformed JSON",
            detail="The body must be a JSON object.",
            type_slug="malformed-json",
        )
    try:
        # Strict, as the document says: `true` is a boolean and 1 is not, "5" is no integer.
        # JSON's strings still stand for dates, times, UUIDs and enumerations.
        return model.model_validate_json(request.get_data(cache=True), strict=True)
    except ValidationError as exc:
        raise validation_problem(field_errors(exc)) from exc


# What a query string's text must look like where the schema asks for something other than text;
# pydantic alone would take "0" as a time (1970) and "1" or "yes" as true.
_QUERY_FORMS: dict[str, tuple[re.Pattern[str], str]] = {
    "boolean": (re.compile(r"true|false"), "Send true or false."),
    "integer": (re.compile(r"-?[0-9]{1,19}"), "Send a whole number (at most 2^63 - 1)."),
    "number": (re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?"), "Send a number."),
    "date-time": (
        re.compile(
            r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[-+][0-9]{2}:[0-9]{2})"
        ),
        "Send an RFC 3339 date-time with its offset, e.g. 2026-01-31T09:00:00Z.",
    ),
    "date": (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"), "Send a date as YYYY-MM-DD."),
}


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _QUERY_FORMS["date-time"][0].fullmatch(value):
        raise ValueError(_QUERY_FORMS["date-time"][1])
    return value


# A time given only as RFC 3339 text: where a parameter takes an index or a time, "-1" must be
# refused as an index, not read as a time in 1969.
Rfc3339DateTime = Annotated[datetime, BeforeValidator(_rfc3339)]


def _kinds(schema: dict[str, Any]) -> set[str]:
    """The forms a parameter's schema allows: "text" for any string, else the _QUERY_FORMS keys."""
    if "anyOf" in schema:
        return set().union(*(_kinds(option) for option in schema["anyOf"]))
    kind = schema.get("type")
    if kind == "string":
        fmt = schema.get("format")
        return {fmt} if fmt in _QUERY_FORMS else {"text"}
    if kind in _QUERY_FORMS:
        return {kind}
    return set() if kind == "null" else {"text"}


@cache
def _query_kinds(model: type[BaseModel]) -> dict[str, set[str]]:
    properties = model.model_json_schema().get("properties", {})
    return {name: _kinds(prop) for name, prop in properties.items()}


def _query_form_errors(model: type[BaseModel], data: dict[str, str]) -> list[dict[str, str]]:
    errors = []
    for name, raw in data.items():
        kinds = _query_kinds(model).get(name)
        if not kinds or "text" in kinds:
            continue  # unknown names and free text are the model's to judge
        if not any(_QUERY_FORMS[kind][0].fullmatch(raw) for kind in kinds) or (
            kinds == {"integer"} and abs(int(raw)) > MAX_INDEX
        ):
            messages = " Or: ".join(_QUERY_FORMS[kind][1] for kind in sorted(kinds))
            errors.append(
                {"field": name, "pointer": f"/{name}", "code": "query_form", "message": messages}
            )
    return errors


def parse_query(model: type[M]) -> M:
    data = request.args.to_dict()
    # No query value is multi-line text, and none may hold a control character (PostgreSQL
    # refuses NUL in a query's parameters; an escape sequence has no place in a filter).
    errors = [
        {"field": name, "pointer": f"/{name}", "code": "control_characters", "message": problem}
        for name, raw in data.items()
        if (problem := text_problem(raw, multi_line=False)) is not None
    ] or _query_form_errors(model, data)
    try:
        if not errors:
            return model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
    raise Problem(
        400,
        "Invalid query parameters",
        detail="One or more query parameters are invalid; see errors.",
        type_slug="invalid-query",
        errors=errors,
    )
