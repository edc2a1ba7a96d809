"""Small helpers every service's views share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Response, current_app, jsonify
from pydantic import BaseModel

if TYPE_CHECKING:
    from spectral_shared.component import Runtime


def current_runtime() -> Runtime:
    """The Runtime of the service whose app serves this request."""
    runtime: Runtime = current_app.extensions["spectral"]
    return runtime


def json_response(model: BaseModel, status: int = 200) -> tuple[Response, int]:
    """A pydantic model as JSON (UTC ISO 8601 datetimes, snake_case) with a status."""
    return jsonify(model.model_dump(mode="json")), status
