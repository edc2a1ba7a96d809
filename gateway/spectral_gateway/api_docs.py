"""``/api/docs``: one page, and one OpenAPI 3.1 document, for the whole public API.

Each service publishes its own document at ``/api/v1/<service>/openapi.json``; this combines them.
Only paths the route table sends to that service from outside are kept (``/internal/...`` is
not), and each service's component schemas are renamed ``<service>.<Name>`` so two services can
both have a ``Problem`` or an ``ItemOut``. The page is rendered on the server from the combined
document: plain HTML with its styles inline, no script and nothing fetched from anywhere, so it
works offline and under the gateway's strict Content-Security-Policy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from spectral_gateway.routes import route_for

__all__ = ["combine", "render_page"]

_METHODS = ("get", "post", "put", "patch", "delete")


def _rename_refs(node: Any, service: str) -> Any:
    if isinstance(node, dict):
        renamed = {key: _rename_refs(value, service) for key, value in node.items()}
        ref = renamed.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            renamed["$ref"] = f"#/components/schemas/{service}.{ref.rsplit('/', 1)[1]}"
        return renamed
    if isinstance(node, list):
        return [_rename_refs(item, service) for item in node]
    return node


def combine(documents: Mapping[str, dict[str, Any]], *, version: str = "1") -> dict[str, Any]:
    """One OpenAPI 3.1 document from each service's (service name -> document)."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    tags = []
    for service, document in sorted(documents.items()):
        info = document.get("info", {})
        tags.append(
            {"name": service, "description": info.get("description") or info.get("title", "")}
        )
        for path, operations in sorted(document.get("paths", {}).items()):
            route = route_for(path)
            if route is None or route.internal or route.service != service:
                continue
            paths[path] = _rename_refs(operations, service)
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            schemas[f"{service}.{name}"] = _rename_refs(schema, service)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Spectral API",
            "version": version,
            "description": "Every public endpoint of every Spectral service, as the gateway serves "
            "them. Errors are RFC 9457 problem documents.",
        },
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT or API key"}
            },
        },
    }


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for path, operations in document["paths"].items():
        for method in _METHODS:
            operation = operations.get(method)
            if operation is None:
                continue
            request = (
                operation.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema", {})
                .get("$ref", "")
            )
            found.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "id": operation.get("operationId", f"{method}-{path}"),
                    "tag": (operation.get("tags") or ["other"])[0],
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "public": "security" not in operation,
                    "parameters": operation.get("parameters", []),
                    "request": request.rsplit("/", 1)[-1] if request else None,
                    "responses": [
                        {
                            "status": status,
                            "description": response.get("description", ""),
                            "schema": next(
                                (
                                    c.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
                                    for c in response.get("content", {}).values()
                                ),
                                None,
                            ),
                        }
                        for status, response in sorted(operation.get("responses", {}).items())
                    ],
                }
            )
    return sorted(found, key=lambda o: (o["tag"], o["path"], _METHODS.index(o["method"].lower())))


def render_page(document: dict[str, Any]) -> str:
    environment = Environment(
        loader=PackageLoader("spectral_gateway", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    operations = _operations(document)
    tags = sorted({o["tag"] for o in operations})
    return environment.get_template("api_docs.html").render(
        document=document,
        tags=tags,
        operations=operations,
        schemas={
            name: json.dumps(schema, indent=2, sort_keys=True)
            for name, schema in sorted(document["components"]["schemas"].items())
        },
    )
