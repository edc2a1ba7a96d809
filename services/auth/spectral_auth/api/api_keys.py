"""HTTP API: an organization's API keys for machines. Thin views over ``services``.

The secret is in exactly one response, the ``201`` that creates the key. ``Idempotency-Key`` stores
a creating POST's response for replay; that stored copy holds the secret, so it is sealed with
``ENCRYPTION_KEY`` (AES-256-GCM) before it reaches the store and opened only on the way out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Annotated, Literal, ParamSpec

from flask import Blueprint, Response
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, field_validator
from sqlalchemy import or_, select

from spectral_auth import services
from spectral_auth.api.schemas import Request
from spectral_auth.models import ApiKey
from spectral_auth.roles import API_KEY_SCOPES, ApiKeyScope
from spectral_shared.db import utcnow
from spectral_shared.errors import NotFound
from spectral_shared.identity import current_identity, requires
from spectral_shared.web.idempotency import idempotent
from spectral_shared.web.openapi import ApiDoc
from spectral_shared.web.pagination import Keyset, PageQuery
from spectral_shared.web.responses import current_runtime, json_response
from spectral_shared.web.validation import parse_json_body, parse_query

api = ApiDoc("auth", "Spectral auth")
bp = Blueprint("api_keys", __name__)

P = ParamSpec("P")
Status = Literal["active", "revoked", "expired"]


# Keys page oldest first.
CREATION_ORDER: Keyset[ApiKey] = Keyset((ApiKey.created_at, ApiKey.id))


# ---- schemas -------------------------------------------------------------------------------------


class ApiKeyCreate(Request):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    scopes: list[ApiKeyScope] = Field(min_length=1, max_length=2 * len(API_KEY_SCOPES))
    expires_at: AwareDatetime | None = Field(
        default=None, description="When the key stops working (UTC); omit for no expiry."
    )

    @field_validator("expires_at")
    @classmethod
    def _future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= utcnow():
            raise ValueError("Must be in the future.")
        return value


class ApiKeyOut(BaseModel):
    """An API key: never its secret."""

    id: str
    name: str
    prefix: str = Field(description="The secret's first characters, to tell keys apart.")
    scopes: list[str]
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="To the minute.")
    revoked_at: datetime | None
    status: Status


class ApiKeyWithSecret(ApiKeyOut):
    """The new key and its secret, shown this once: store it now, it cannot be read again."""

    secret: str


class ApiKeyPage(BaseModel):
    """A page of the organization's API keys, oldest first."""

    data: list[ApiKeyOut]
    next_cursor: str | None


class ApiKeyQuery(PageQuery):
    status: Status | None = None


def status_of(key: ApiKey, now: datetime) -> Status:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def key_out(key: ApiKey, now: datetime | None = None) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        scopes=json.loads(key.scopes or "[]"),
        created_by=key.created_by,
        created_at=key.created_at,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
        status=status_of(key, now or utcnow()),
    )


# ---- the secret never rests in the idempotency store in clear ----------------------------------------


def _sealing_context() -> str:
    return f"auth.api_key.idempotency:{current_identity().organization_id}"


def _unsealed(view: Callable[P, Response]) -> Callable[P, Response]:
    """Opens the sealed 201 below it, whether fresh or replayed by ``@idempotent``."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        response = view(*args, **kwargs)
        if response.status_code == 201:
            body = current_runtime().cipher.decrypt_text(
                response.get_data(as_text=True), _sealing_context()
            )
            response.set_data(body)
            response.mimetype = "application/json"
        response.headers["Cache-Control"] = "no-store"
        return response

    return wrapper


def _sealed(model: ApiKeyWithSecret) -> Response:
    body = json.dumps(model.model_dump(mode="json"))
    response = Response(
        current_runtime().cipher.encrypt_text(body, _sealing_context()),
        status=201,
        mimetype="text/plain",
    )
    response.headers["Location"] = f"/api/v1/auth/api-keys/{model.id}"
    return response


# ---- views -------------------------------------------------------------------------------------------


@bp.get("/api/v1/auth/api-keys")
@api.operation(
    "List the organization's API keys (never their secrets)",
    query=ApiKeyQuery,
    responses={200: ApiKeyPage, 400: "Invalid query", 403: "Admins only"},
)
@requires("api_keys:read")
def list_api_keys() -> tuple[Response, int]:
    query = parse_query(ApiKeyQuery)
    now = utcnow()
    statement = select(ApiKey).where(ApiKey.organization_id == current_identity().organization_id)
    unexpired = or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now)
    if query.status == "active":
        statement = statement.where(ApiKey.revoked_at.is_(None), unexpired)
    elif query.status == "revoked":
        statement = statement.where(ApiKey.revoked_at.is_not(None))
    elif query.status == "expired":
        statement = statement.where(ApiKey.revoked_at.is_(None), ApiKey.expires_at <= now)
    with current_runtime().database.read_session() as session:
        rows = session.scalars(CREATION_ORDER.apply(statement, query)).all()
    page, cursor = CREATION_ORDER.page(rows, query)
    return json_response(ApiKeyPage(data=[key_out(k, now) for k in page], next_cursor=cursor))


@bp.post("/api/v1/auth/api-keys")
@api.operation(
    "Create an API key; its secret is in this response only",
    request=ApiKeyCreate,
    responses={201: ApiKeyWithSecret, 403: "Admins only", 422: "Invalid fields"},
    description="The secret is shown once: store it now. Accepts Idempotency-Key (a retry with "
    "the same key and body within 24 hours gets the same key and secret back).",
)
@requires("api_keys:manage")
@_unsealed
@idempotent("auth.api_key")
def create_api_key() -> Response:
    body = parse_json_body(ApiKeyCreate)
    key, secret = services.create_api_key(
        current_runtime(),
        current_identity(),
        name=body.name,
        scopes=body.scopes,
        expires_at=body.expires_at,
    )
    return _sealed(ApiKeyWithSecret(**key_out(key).model_dump(), secret=secret))


@bp.get("/api/v1/auth/api-keys/<uuid:key_id>")
@api.operation(
    "One API key of the organization (never its secret)",
    responses={200: ApiKeyOut, 403: "Admins only", 404: "Not in your organization"},
)
@requires("api_keys:read")
def get_api_key(key_id: str) -> tuple[Response, int]:
    with current_runtime().database.read_session() as session:
        key = session.scalars(
            select(ApiKey).where(
                ApiKey.id == key_id, ApiKey.organization_id == current_identity().organization_id
            )
        ).first()
    if key is None:
        raise NotFound("API key")
    return json_response(key_out(key))


@bp.delete("/api/v1/auth/api-keys/<uuid:key_id>")
@api.operation(
    "Revoke an API key (at once, for good)",
    responses={204: None, 403: "Admins only", 404: "No active key with this id"},
)
@requires("api_keys:manage")
def revoke_api_key(key_id: str) -> tuple[str, int]:
    services.revoke_api_key(current_runtime(), current_identity(), key_id)
    return "", 204
