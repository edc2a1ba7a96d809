"""Request bodies parsed into pydantic models; every failure is a problem with per-field errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from spectral_shared.web.problems import Problem, validation_problem

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
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(field_errors(exc)) from exc


def parse_query(model: type[M]) -> M:
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise Problem(
            400,
            "Invalid query parameters",
            detail="One or more query parameters are invalid; see errors.",
            type_slug="invalid-query",
            errors=field_errors(exc),
        ) from exc
