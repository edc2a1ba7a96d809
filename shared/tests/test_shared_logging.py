"""JSON logs: secrets are masked at any depth, context ids are carried."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import structlog

from spectral_shared.db import Database
from spectral_shared.logging import (
    REDACTED,
    bind_context,
    clear_context,
    configure_logging,
    get_logger,
    names_a_secret,
    redact,
    redact_secrets,
)

SECRET = "s3cr3t-VALUE-do-not-log"


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "new_password",
        "PASSWORD",
        "token",
        "access_token",
        "refresh_token",
        "authorization",
        "Authorization",
        "api_key",
        "api-key",
        "apiKey",
        "X-API-KEY",
        "client_secret",
        "cookie",
        "session_secret",
        "ssn",
        "otp",
        "mfa_code",
        "private_key",
        "credentials",
    ],
)
def test_names_a_secret(key: str) -> None:
    assert names_a_secret(key)


@pytest.mark.parametrize(
    "key", ["email_verified", "organization_id", "request_id", "status", "event", "role"]
)
def test_ordinary_names_are_not_secrets(key: str) -> None:
    assert not names_a_secret(key)


def test_redact_masks_at_any_depth_and_leaves_the_rest() -> None:
    original = {
        "user": "u-1",
        "password": SECRET,
        "headers": {"Authorization": f"Bearer {SECRET}", "Accept": "application/json"},
        "outer": {"inner": {"api_key": SECRET, "token": SECRET, "count": 3}},
    }
    masked = redact(original)
    assert masked == {
        "user": "u-1",
        "password": REDACTED,
        "headers": {"Authorization": REDACTED, "Accept": "application/json"},
        "outer": {"inner": {"api_key": REDACTED, "token": REDACTED, "count": 3}},
    }
    assert original["password"] == SECRET  # a copy, the input is untouched
    assert SECRET not in json.dumps(masked)


def test_a_secret_named_key_is_masked_even_when_its_value_is_a_mapping() -> None:
    assert redact({"credentials": {"user": "a", "pw": SECRET}}) == {"credentials": REDACTED}


def test_redact_masks_secrets_inside_lists() -> None:
    masked = redact({"users": [{"email": "a@example.org", "password": SECRET}]})
    assert SECRET not in json.dumps(masked)


def test_redact_secrets_processor_masks_fields_but_not_the_event() -> None:
    event = {
        "event": "login token issued",
        "token": SECRET,
        "ctx": {"api_key": SECRET},
        "user": "u",
    }
    result = redact_secrets(None, "info", event)
    assert result == {
        "event": "login token issued",
        "token": REDACTED,
        "ctx": {"api_key": REDACTED},
        "user": "u",
    }


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    clear_context()
    yield stream
    clear_context()
    structlog.reset_defaults()
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_configured_logger_writes_json_with_bound_context(log_stream: io.StringIO) -> None:
    bind_context(request_id="req-123", organization_id="org-9", trace_id=None)
    get_logger("spectral.test").info("user.login", user_id="u-1", attempts=2)
    [line] = _lines(log_stream)
    assert line["event"] == "user.login"
    assert line["request_id"] == "req-123"
    assert line["organization_id"] == "org-9"
    assert "trace_id" not in line  # None values are not bound
    assert line["user_id"] == "u-1"
    assert line["attempts"] == 2
    assert line["level"] == "info"
    assert line["logger"] == "spectral.test"
    assert line["timestamp"].endswith("Z")

    clear_context()
    get_logger("spectral.test").info("after.clear")
    assert "request_id" not in _lines(log_stream)[-1]


def test_configured_logger_never_prints_secret_values(log_stream: io.StringIO) -> None:
    bind_context(request_id="req-1", session_token=SECRET)
    get_logger("spectral.test").warning(
        "auth.attempt",
        password=SECRET,
        authorization=f"Bearer {SECRET}",
        api_key=SECRET,
        request={"headers": {"Cookie": f"sid={SECRET}"}, "body": {"new_password": SECRET}},
    )
    output = log_stream.getvalue()
    assert SECRET not in output
    [line] = _lines(log_stream)
    assert line["password"] == REDACTED
    assert line["authorization"] == REDACTED
    assert line["api_key"] == REDACTED
    assert line["session_token"] == REDACTED
    assert line["request"] == {"headers": {"Cookie": REDACTED}, "body": {"new_password": REDACTED}}
    assert line["request_id"] == "req-1"


def test_stdlib_loggers_go_through_the_same_pipeline(log_stream: io.StringIO) -> None:
    bind_context(request_id="req-std")
    logging.getLogger("third.party").error("plain %s message", "stdlib")
    [line] = _lines(log_stream)
    assert line["event"] == "plain stdlib message"
    assert line["request_id"] == "req-std"
    assert line["level"] == "error"


def test_log_level_filters(log_stream: io.StringIO) -> None:
    configure_logging("WARNING", stream=log_stream)
    get_logger("spectral.test").info("hidden")
    get_logger("spectral.test").warning("shown")
    assert [line["event"] for line in _lines(log_stream)] == ["shown"]


PATIENT_EMAIL = "jane.doe.mrn-4471@example.org"


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
)
def test_a_failed_statement_logs_neither_its_parameters_nor_the_row_postgres_quotes(
    backend: str, log_stream: io.StringIO, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'rows.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    database = Database("audit", url)
    table = sa.Table("people", sa.MetaData(), sa.Column("email", sa.String, primary_key=True))
    try:
        table.create(database.engine)
        with database.session() as session:
            session.execute(table.insert().values(email=PATIENT_EMAIL))
        with pytest.raises(sa.exc.IntegrityError) as raised, database.session() as session:
            session.execute(table.insert().values(email=PATIENT_EMAIL))
        try:
            raise raised.value
        except sa.exc.IntegrityError as exc:
            get_logger("spectral.test").exception("worker.handler_failed", error=str(exc))
    finally:
        database.dispose()
    output = log_stream.getvalue()
    assert PATIENT_EMAIL not in output
    [line] = [entry for entry in _lines(log_stream) if entry["event"] == "worker.handler_failed"]
    assert "IntegrityError" in line["exception"]  # the error itself is still there
    assert ("people_pkey" if backend == "postgresql" else "people.email") in line["error"]


def test_a_failure_is_kept_without_the_values_it_was_handed() -> None:
    from pydantic import BaseModel, ValidationError

    from spectral_shared.logging import failure_text

    class Notice(BaseModel):
        ai_system_id: int
        note: str

    try:
        Notice.model_validate({"ai_system_id": "Jane Roe, MRN 0012345", "note": 7})
    except ValidationError as exc:
        text = failure_text(exc)
    assert "Jane Roe" not in text and "0012345" not in text
    assert text == (
        "ValidationError: 2 invalid in Notice: ai_system_id: int_parsing; note: string_type"
    )
    database = ValueError("duplicate key\nDETAIL:  Key (email)=(jane@example.org) exists.")
    assert "jane@example.org" not in failure_text(database)
    assert failure_text(database).startswith("ValueError: duplicate key")
