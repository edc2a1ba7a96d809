"""OpenAPI 3.1 documents built from the routes themselves.

Views declare what they take and answer with ``@api.operation(...)``; the document is assembled
from the app's URL map, so it lists exactly the routes that exist. Pydantic's JSON Schema is
JSON Schema 2020-12, which OpenAPI 3.1 uses as is.

What every operation of a kind can answer is added here, from facts about the route, so no view
has to remember it (``IMPLIED``): credentials refused (401) on every secured operation, a role or
scope refused (403) wherever ``@requires`` guards the view, a quota or edge limit (429), a missing
resource (404) wherever the path names one, a bad body (400, 415, 422) wherever one is read and a
bad query (400) wherever a query model is. Path parameters carry their converter's type (a UUID,
a bounded integer), and responses are described as they are serialized (their aliases).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema
from werkzeug.routing import IntegerConverter, Rule, UUIDConverter

from spectral_shared.web.converters import UuidText

F = TypeVar("F", bound=Callable[..., Any])

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "pointer": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}

# The answers an operation gives by its kind, described once. A view's own description of the
# same status wins (it says more about that operation).
UNAUTHENTICATED = "No credentials, or expired, revoked or forged ones (`unauthenticated`)"
FORBIDDEN = (
    "The role, or the API key's scopes, do not allow this (`forbidden`, `insufficient-scope`)"
)
QUOTA = (
    "The organization's request quota, or the edge's per-address limit, is used up; see Retry-After"
)
NOT_FOUND = "Nothing with this id in your organization (another organization's ids included)"
MALFORMED = "The body is not JSON, or not a JSON object (`malformed-json`)"
MEDIA_TYPE = "The body is not sent as application/json (`unsupported-media-type`)"
INVALID_BODY = "A field is missing, unknown or invalid; `errors` names each (`validation-error`)"
INVALID_QUERY = "A query parameter is invalid (`invalid-query`), or the cursor is not one this API gave (`invalid-cursor`)"

# What an untyped path segment matches (converters.PlainSegment): no slash, no control character.
SEGMENT_PATTERN = "^[^/\\u0000-\\u001f\\u007f-\\u009f]+$"
_CONVERTER = re.compile(r"<(?:[a-z_]+(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
SchemaMode = Literal["validation", "serialization"]


@dataclass(frozen=True)
class Operation:
    summary: str
    request: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | str | None] = field(default_factory=dict)
    query: type[BaseModel] | None = None
    tags: tuple[str, ...] = ()
    public: bool = False
    description: str | None = None
    # A body that is not a JSON model (a CSV upload): its media type, described in words.
    body: tuple[str, str] | None = None


class SpectralJsonSchema(GenerateJsonSchema):
    """Pydantic's JSON Schema, saying also what a trimmed text needs: text that is stripped before
    its minimum length is checked must hold that many characters between its first and last
    non-space one (a pattern; JSON Schema's minLength counts the spaces too)."""

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        json_schema = super().str_schema(schema)
        shortest = schema.get("min_length") or 0
        if schema.get("strip_whitespace") and shortest >= 1:
            pattern = r"\S" if shortest == 1 else rf"\S[\s\S]{{{shortest - 2},}}\S"
            if "pattern" in json_schema:
                json_schema.setdefault("allOf", []).append({"pattern": pattern})
            else:
                json_schema["pattern"] = pattern
        return json_schema


def path_parameter(rule: Rule, name: str) -> dict[str, Any]:
    """A path parameter typed as its converter matches it: anything else never reaches a view."""
    converter = rule._converters.get(name)  # werkzeug keeps no public accessor
    if isinstance(converter, UuidText | UUIDConverter):
        schema: dict[str, Any] = {"type": "string", "format": "uuid"}
    elif isinstance(converter, IntegerConverter):
        schema = {"type": "integer", "minimum": converter.min or 0}
        if converter.max is not None:
            schema["maximum"] = converter.max
    else:
        schema = {"type": "string", "minLength": 1, "pattern": SEGMENT_PATTERN}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def implied_responses(op: Operation, rule: Rule, *, guarded: bool, limited: bool) -> dict[int, str]:
    implied: dict[int, str] = {}
    if not op.public:
        implied[401] = UNAUTHENTICATED
    if guarded:
        implied[403] = FORBIDDEN
    if limited or not op.public:
        implied[429] = QUOTA
    if rule.arguments:
        implied[404] = NOT_FOUND
    if op.request is not None:
        implied.update({400: MALFORMED, 415: MEDIA_TYPE, 422: INVALID_BODY})
    if op.query is not None:
        implied[400] = INVALID_QUERY
    return implied


class ApiDoc:
    def __init__(
        self, service: str, title: str, version: str = "1.0.0", description: str = ""
    ) -> None:
        self.service = service
        self.title = title
        self.version = version
        self.description = description

    @staticmethod
    def operation(
        summary: str,
        *,
        request: type[BaseModel] | None = None,
        responses: dict[int, type[BaseModel] | str | None] | None = None,
        query: type[BaseModel] | None = None,
        tags: tuple[str, ...] = (),
        public: bool = False,
        description: str | None = None,
        body: tuple[str, str] | None = None,
    ) -> Callable[[F], F]:
        def decorate(view: F) -> F:
            view.openapi_operation = Operation(  # type: ignore[attr-defined]
                summary, request, responses or {}, query, tags, public, description, body
            )
            return view

        return decorate

    def build(self, app: Flask, limited_prefixes: Iterable[str] = ()) -> dict[str, Any]:
        """The document; operations under ``limited_prefixes`` (the gateway's abuse-prone public
        routes) also answer 429."""
        limited = tuple(limited_prefixes)
        schemas: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
        paths: dict[str, dict[str, Any]] = {}
        models: dict[tuple[type[BaseModel], SchemaMode], list[dict[str, Any]]] = {}

        def ref(model: type[BaseModel], mode: SchemaMode) -> dict[str, Any]:
            # Filled in once every model is known: one pass names request and response schemas
            # apart only where their shapes differ (aliases, defaults).
            holder: dict[str, Any] = {}
            models.setdefault((model, mode), []).append(holder)
            return holder

        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            view = app.view_functions.get(rule.endpoint)
            op: Operation | None = getattr(view, "openapi_operation", None)
            if op is None:
                continue
            path = _CONVERTER.sub(r"{\1}", rule.rule)
            guarded = hasattr(view, "required_permission")
            rate_limited = any(
                rule.rule == prefix or rule.rule.startswith(prefix + "/") for prefix in limited
            )
            responses: dict[int, type[BaseModel] | str | None] = {
                **implied_responses(op, rule, guarded=guarded, limited=rate_limited),
                **op.responses,
            }
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                entry: dict[str, Any] = {
                    "operationId": f"{self.service}.{rule.endpoint}.{method.lower()}",
                    "summary": op.summary,
                    "tags": list(op.tags) or [self.service],
                    "responses": {},
                }
                if op.description:
                    entry["description"] = op.description
                params = [path_parameter(rule, name) for name in sorted(rule.arguments)]
                if op.query is not None:
                    query_schema = op.query.model_json_schema(
                        ref_template="#/components/schemas/{model}",
                        schema_generator=SpectralJsonSchema,
                    )
                    schemas.update(query_schema.pop("$defs", {}))
                    required = set(query_schema.get("required", []))
                    for name, prop in query_schema.get("properties", {}).items():
                        params.append(
                            {
                                "name": name,
                                "in": "query",
                                "required": name in required,
                                "schema": prop,
                            }
                        )
                if params:
                    entry["parameters"] = params
                if op.request is not None:
                    entry["requestBody"] = {
                        "required": True,
                        "content": {"application/json": {"schema": ref(op.request, "validation")}},
                    }
                elif op.body is not None:
                    media_type, what = op.body
                    entry["requestBody"] = {
                        "required": True,
                        "description": what,
                        "content": {media_type: {"schema": {"type": "string"}}},
                    }
                if not op.public:
                    entry["security"] = [{"bearerAuth": []}]
                for status, model in sorted(responses.items()):
                    if status >= 400:
                        entry["responses"][str(status)] = {
                            "description": model if isinstance(model, str) else "Problem",
                            "content": {
                                "application/problem+json": {
                                    "schema": {"$ref": "#/components/schemas/Problem"}
                                }
                            },
                        }
                    elif model is None or isinstance(model, str):
                        entry["responses"][str(status)] = {"description": model or "No content"}
                    else:
                        entry["responses"][str(status)] = {
                            "description": model.__doc__.strip().splitlines()[0]
                            if model.__doc__
                            else "OK",
                            "content": {
                                "application/json": {"schema": ref(model, "serialization")}
                            },
                        }
                paths.setdefault(path, {})[method.lower()] = entry

        if models:
            refs, definitions = models_json_schema(
                list(models),
                ref_template="#/components/schemas/{model}",
                schema_generator=SpectralJsonSchema,
            )
            schemas.update(definitions.get("$defs", {}))
            for key, holders in models.items():
                for holder in holders:
                    holder.update(refs[key])
        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version, "description": self.description},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                },
            },
        }
