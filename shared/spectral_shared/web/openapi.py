"""OpenAPI 3.1 documents built from the routes themselves.

Views declare what they take and answer with ``@api.operation(...)``; the document is assembled
from the app's URL map, so it lists exactly the routes that exist. Pydantic's JSON Schema is
JSON Schema 2020-12, which OpenAPI 3.1 uses as is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask
from pydantic import BaseModel

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

_CONVERTER = re.compile(r"<(?:[a-z_]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


@dataclass(frozen=True)
class Operation:
    summary: str
    request: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | str | None] = field(default_factory=dict)
    query: type[BaseModel] | None = None
    tags: tuple[str, ...] = ()
    public: bool = False
    description: str | None = None


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
    ) -> Callable[[F], F]:
        def decorate(view: F) -> F:
            view.openapi_operation = Operation(  # type: ignore[attr-defined]
                summary, request, responses or {}, query, tags, public, description
            )
            return view

        return decorate

    def build(self, app: Flask) -> dict[str, Any]:
        schemas: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
        paths: dict[str, dict[str, Any]] = {}

        def ref(model: type[BaseModel]) -> dict[str, str]:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in schema.pop("$defs", {}).items():
                schemas[name] = sub
            schemas[model.__name__] = schema
            return {"$ref": f"#/components/schemas/{model.__name__}"}

        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            view = app.view_functions.get(rule.endpoint)
            op: Operation | None = getattr(view, "openapi_operation", None)
            if op is None:
                continue
            path = _CONVERTER.sub(r"{\1}", rule.rule)
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                entry: dict[str, Any] = {
                    "operationId": f"{self.service}.{rule.endpoint}.{method.lower()}",
                    "summary": op.summary,
                    "tags": list(op.tags) or [self.service],
                    "responses": {},
                }
                if op.description:
                    entry["description"] = op.description
                params = [
                    {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                    for name in rule.arguments
                ]
                if op.query is not None:
                    query_schema = op.query.model_json_schema(
                        ref_template="#/components/schemas/{model}"
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
                        "content": {"application/json": {"schema": ref(op.request)}},
                    }
                if not op.public:
                    entry["security"] = [{"bearerAuth": []}]
                for status, model in sorted(op.responses.items()):
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
                            "content": {"application/json": {"schema": ref(model)}},
                        }
                paths.setdefault(path, {})[method.lower()] = entry
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
