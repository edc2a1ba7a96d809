"""RFC 9457 problem details: every error Spectral answers is ``application/problem+json``."""

from __future__ import annotations

from typing import Any

from flask import Response, json

from spectral_shared.errors import DomainError

PROBLEM_BASE = "https://spectral.health/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class Problem(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        *,
        detail: str | None = None,
        type_slug: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = PROBLEM_BASE + type_slug if type_slug else "about:blank"
        self.errors = errors
        self.headers = headers or {}
        self.extensions = extensions

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extensions)
        return body

    def response(self, instance: str | None = None) -> Response:
        response = Response(
            json.dumps(self.to_dict(instance)), status=self.status, mimetype=PROBLEM_CONTENT_TYPE
        )
        for name, value in self.headers.items():
            response.headers[name] = value
        return response


def validation_problem(errors: list[dict[str, str]], detail: str | None = None) -> Problem:
    return Problem(
        422,
        "Your request is not valid",
        detail=detail or "One or more fields are invalid; see errors.",
        type_slug="validation-error",
        errors=errors,
    )


def field_problem(field: str, message: str) -> Problem:
    """A 422 for one field that a rule beyond the schema refused (a service's own check)."""
    return validation_problem(
        [{"field": field, "pointer": f"/{field}", "code": "value_error", "message": message}]
    )


def not_found(what: str) -> Problem:
    """Another organization's resource and a missing one answer alike: 404, never 403."""
    return Problem(404, "Not found", detail=f"No {what} with this id in your organization.")


def domain_problem(error: DomainError) -> Problem:
    """The problem document a use case's refusal is answered with (the app maps every one)."""
    return Problem(
        error.status,
        error.problem_title,
        detail=error.detail,
        type_slug=error.problem_slug,
        errors=error.errors,
        headers=error.headers,
        **error.extensions,
    )
