"""Request validation and RFC 9457 problems, in a tiny Flask app."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import pytest
from flask import Flask, Response, request
from flask.testing import FlaskClient
from pydantic import BaseModel, ConfigDict, Field

from spectral_shared.web.problems import (
    PROBLEM_BASE,
    PROBLEM_CONTENT_TYPE,
    Problem,
    validation_problem,
)
from spectral_shared.web.validation import parse_json_body, parse_query

PHI = "Jane-Doe-MRN-0012345"


class Owner(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")


class NewSystem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    risk_score: int = Field(ge=0, le=100)
    tags: list[str] = []
    owner: Owner | None = None


class ListQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = None
    archived: bool = False
    since: datetime | None = None
    start: int | datetime | None = None


class Flagged(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uses_phi: bool
    count: int = 0
    at: datetime | None = None
    id: uuid.UUID | None = None


def make_app() -> Flask:
    app = Flask("validation-test")

    @app.errorhandler(Problem)
    def problem(exc: Problem) -> Response:
        return exc.response(instance=request.path)

    @app.post("/systems")
    def create() -> tuple[dict[str, Any], int]:
        body = parse_json_body(NewSystem)
        return body.model_dump(), 201

    @app.post("/flagged")
    def flag() -> tuple[dict[str, Any], int]:
        return parse_json_body(Flagged).model_dump(mode="json"), 201

    @app.get("/systems")
    def list_systems() -> dict[str, Any]:
        return parse_query(ListQuery).model_dump(mode="json", exclude_none=True)

    return app


@pytest.fixture
def client() -> FlaskClient:
    return make_app().test_client()


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.mimetype == PROBLEM_CONTENT_TYPE
    document = response.get_json(force=True)
    assert document["status"] == status
    assert {"type", "title", "status"} <= set(document)
    return document  # type: ignore[no-any-return]


def test_valid_body_is_parsed(client: FlaskClient) -> None:
    response = client.post(
        "/systems", json={"name": "Sepsis model", "risk_score": 70, "owner": {"email": "a@b.org"}}
    )
    assert response.status_code == 201
    assert response.get_json() == {
        "name": "Sepsis model",
        "risk_score": 70,
        "tags": [],
        "owner": {"email": "a@b.org"},
    }


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/merge-patch+json"]
)
def test_json_media_types_are_accepted(client: FlaskClient, content_type: str) -> None:
    response = client.post(
        "/systems", data=json.dumps({"name": "x", "risk_score": 1}), content_type=content_type
    )
    assert response.status_code == 201


@pytest.mark.parametrize("body", ['{"name": "x",', "{'name': 'x'}", "", "\xff\xfe", "nul"])
def test_malformed_json_is_a_400_problem(client: FlaskClient, body: str) -> None:
    response = client.post("/systems", data=body.encode("latin-1"), content_type="application/json")
    document = _problem(response, 400)
    assert document["type"] == PROBLEM_BASE + "malformed-json"
    assert document["instance"] == "/systems"


@pytest.mark.parametrize("body", ["[]", '[{"name": "x"}]', '"a string"', "42", "null", "true"])
def test_non_object_json_is_a_400_problem(client: FlaskClient, body: str) -> None:
    document = _problem(client.post("/systems", data=body, content_type="application/json"), 400)
    assert document["type"] == PROBLEM_BASE + "malformed-json"
    assert document["detail"] == "The body must be a JSON object."


def test_deeply_nested_json_is_a_400_problem(client: FlaskClient) -> None:
    body = "[" * 100_000 + "]" * 100_000
    _problem(client.post("/systems", data=body, content_type="application/json"), 400)


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_wrong_content_type_is_a_415_problem(client: FlaskClient, content_type: str | None) -> None:
    kwargs: dict[str, Any] = {"data": json.dumps({"name": "x", "risk_score": 1})}
    if content_type:
        kwargs["content_type"] = content_type
    document = _problem(client.post("/systems", **kwargs), 415)
    assert document["type"] == PROBLEM_BASE + "unsupported-media-type"


def test_unknown_field_and_wrong_types_are_422_with_field_errors(client: FlaskClient) -> None:
    response = client.post(
        "/systems",
        json={
            "name": PHI,
            "risk_score": f"high-{PHI}",
            "tags": ["ok", {"nested": PHI}],
            "owner": {"email": f"not-an-email {PHI}"},
            "patient_name": PHI,
        },
    )
    document = _problem(response, 422)
    assert document["type"] == PROBLEM_BASE + "validation-error"
    assert PHI not in response.get_data(as_text=True)  # input values are never echoed
    errors = {e["field"]: e for e in document["errors"]}
    assert set(errors) == {"risk_score", "tags.1", "owner.email", "patient_name"}
    for error in document["errors"]:
        assert set(error) == {"field", "pointer", "code", "message"}
        assert all(isinstance(v, str) and v for v in error.values())
    assert errors["risk_score"]["pointer"] == "/risk_score"
    assert errors["risk_score"]["code"] == "int_type"  # strict: text is no number
    assert errors["tags.1"]["pointer"] == "/tags/1"
    assert errors["owner.email"]["pointer"] == "/owner/email"
    assert errors["owner.email"]["code"] == "string_pattern_mismatch"
    assert errors["patient_name"] == {
        "field": "patient_name",
        "pointer": "/patient_name",
        "code": "extra_forbidden",
        "message": "Unknown field.",
    }


def test_missing_and_out_of_range_fields(client: FlaskClient) -> None:
    document = _problem(client.post("/systems", json={"risk_score": 101}), 422)
    errors = {e["field"]: e for e in document["errors"]}
    assert errors["name"]["code"] == "missing"
    assert errors["name"]["message"] == "This field is required."
    assert errors["risk_score"]["code"] == "less_than_equal"


def test_pointer_escapes_field_names(client: FlaskClient) -> None:
    document = _problem(
        client.post("/systems", json={"name": "x", "risk_score": 1, "a/b~c": 1}), 422
    )
    assert document["errors"][0]["pointer"] == "/a~1b~0c"


def test_query_parameters_are_validated(client: FlaskClient) -> None:
    assert client.get("/systems?limit=10&cursor=abc").get_json() == {
        "limit": 10,
        "cursor": "abc",
        "archived": False,
    }
    document = _problem(client.get(f"/systems?limit={PHI}"), 400)
    assert document["type"] == PROBLEM_BASE + "invalid-query"
    assert document["errors"][0]["field"] == "limit"
    assert document["errors"][0]["pointer"] == "/limit"
    assert PHI not in json.dumps(document)


def test_problem_document_shape_and_headers() -> None:
    problem = Problem(
        429,
        "Too many requests",
        detail="Slow down.",
        type_slug="rate-limited",
        headers={"Retry-After": "30"},
        limit=100,
    )
    assert problem.to_dict("/api/v1/x") == {
        "type": PROBLEM_BASE + "rate-limited",
        "title": "Too many requests",
        "status": 429,
        "detail": "Slow down.",
        "instance": "/api/v1/x",
        "limit": 100,
    }
    with Flask("problem-test").app_context():
        response = problem.response()
    assert response.status_code == 429
    assert response.mimetype == PROBLEM_CONTENT_TYPE
    assert response.headers["Retry-After"] == "30"
    assert json.loads(response.get_data())["limit"] == 100


def test_problem_without_slug_is_about_blank() -> None:
    assert Problem(404, "Not found").to_dict() == {
        "type": "about:blank",
        "title": "Not found",
        "status": 404,
    }


def test_validation_problem_defaults() -> None:
    problem = validation_problem(
        [{"field": "a", "pointer": "/a", "code": "missing", "message": "m"}]
    )
    assert problem.status == 422
    assert problem.to_dict()["errors"] == [
        {"field": "a", "pointer": "/a", "code": "missing", "message": "m"}
    ]


def test_a_bad_mapping_key_is_pointed_at_as_the_member() -> None:
    """Pydantic marks a bad key with "[key]", which is no JSON Pointer token: the pointer names
    the member whose key is wrong."""
    from pydantic import TypeAdapter, ValidationError

    from spectral_shared.us_states import USState
    from spectral_shared.web.validation import field_errors

    class Counts(BaseModel):
        per_state: dict[USState, int]

    with pytest.raises(ValidationError) as raised:
        TypeAdapter(Counts).validate_python({"per_state": {"ZZ": 3}})
    [error] = field_errors(raised.value)
    assert error["pointer"] == "/per_state/ZZ"
    assert error["field"] == "per_state.ZZ"


@pytest.mark.parametrize(
    "body",
    [
        {"uses_phi": 0},
        {"uses_phi": "true"},
        {"uses_phi": True, "count": "5"},
        {"uses_phi": True, "count": 1.5},
        {"uses_phi": True, "at": 0},
    ],
)
def test_bodies_are_validated_strictly_as_the_schema_says(
    client: FlaskClient, body: dict[str, Any]
) -> None:
    document = _problem(client.post("/flagged", json=body), 422)
    assert document["errors"], document


def test_json_strings_still_carry_times_and_ids(client: FlaskClient) -> None:
    answer = client.post(
        "/flagged",
        json={
            "uses_phi": True,
            "count": 3,
            "at": "2026-01-31T09:00:00Z",
            "id": "019c12c8-d558-4434-8982-76b69aaee3ea",
        },
    )
    assert answer.status_code == 201
    assert answer.get_json()["at"] == "2026-01-31T09:00:00Z"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("archived=1", "archived"),
        ("archived=yes", "archived"),
        ("since=0", "since"),
        ("since=2026-01-31", "since"),
        ("since=2026-01-31T09:00:00", "since"),  # no offset: which time zone?
        ("limit=5.0", "limit"),
        ("limit=9223372036854775808", "limit"),  # past SQL's BIGINT: names nothing
        ("limit=-99999999999999999999999", "limit"),
        ("cursor=a%00b", "cursor"),  # PostgreSQL refuses NUL in a parameter
        ("cursor=%1b%5B2J", "cursor"),
        ("start=yesterday", "start"),
    ],
)
def test_query_strings_are_read_as_the_schema_says(
    client: FlaskClient, query: str, field: str
) -> None:
    document = _problem(client.get(f"/systems?{query}"), 400)
    assert document["type"] == PROBLEM_BASE + "invalid-query"
    assert [e["field"] for e in document["errors"]] == [field]


def test_query_strings_in_their_documented_forms_are_taken(client: FlaskClient) -> None:
    answer = client.get("/systems?archived=true&since=2026-01-31T09:00:00%2B01:00&start=0")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {
        "limit": 50,
        "archived": True,
        "since": "2026-01-31T09:00:00+01:00",
        "start": 0,
    }
    assert client.get("/systems?start=2026-01-31T09:00:00Z").get_json()["start"] == (
        "2026-01-31T09:00:00Z"
    )


def test_a_plain_text_model_still_takes_times_and_ids_as_json_strings() -> None:
    """parse_json_body validates in pydantic's strict JSON mode; the plain-text check must not
    take a model's times and ids out of it."""
    from spectral_shared.web.text import PlainText

    class Key(PlainText):
        model_config = ConfigDict(extra="forbid")
        name: str
        expires_at: datetime
        owner: uuid.UUID

    app = Flask("plain-text-strict")

    @app.post("/keys")
    def create() -> tuple[dict[str, Any], int]:
        return parse_json_body(Key).model_dump(mode="json"), 201

    answer = app.test_client().post(
        "/keys",
        json={
            "name": "Vendor",
            "expires_at": "2026-12-31T00:00:00+00:00",
            "owner": "019c12c8-d558-4434-8982-76b69aaee3ea",
        },
    )
    assert answer.status_code == 201, answer.get_json()
