"""JSON logs with request, trace and organization ids; secrets never reach them.

Context is carried in structlog's contextvars, bound by the web layer per request and by the
bus worker per message. A redaction processor masks any field whose name says it is a secret.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

_SENSITIVE = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|api[_-]?key|private|credential|ssn|"
    r"signature|otp|mfa_code|session",
    re.IGNORECASE,
)
REDACTED = "[REDACTED]"


def names_a_secret(key: str) -> bool:
    return _SENSITIVE.search(key) is not None


def _redact_value(key: str, value: Any) -> Any:
    if names_a_secret(key):
        return REDACTED
    if isinstance(value, Mapping):
        return redact(value)
    if isinstance(value, list | tuple):
        return [_redact_value(key, item) for item in value]
    return value


def redact(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A copy with the value of every key that names a secret masked, at any depth."""
    return {str(k): _redact_value(str(k), v) for k, v in mapping.items()}


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Mask values of keys that name secrets, at any depth of a mapping."""
    for key in list(event_dict):
        if key == "event":
            continue
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


# PostgreSQL's DETAIL line quotes the row: "Key (email)=(alice@example.org) already exists.",
# "Failing row contains (...)". The constraint named in the message is what an operator needs.
_DATABASE_DETAIL = re.compile(r"(DETAIL:\s+)[^\n]*")


def without_database_details(text: str) -> str:
    """``text`` with the row values PostgreSQL quotes in an error's DETAIL line masked: for error
    texts kept anywhere (logs, retry and dead-letter headers), since they are no place for PHI."""
    return _DATABASE_DETAIL.sub(rf"\g<1>{REDACTED}", text) if "DETAIL:" in text else text


def failure_text(exc: BaseException) -> str:
    """An exception as kept in logs and retry or dead-letter headers: its type and message, never
    the values it was handed. A pydantic error names each field and what was wrong with it, not
    its input (which quotes the message: a patient's name, an address); a database error has its
    DETAIL line masked."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        fields = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(value)'}: {error['type']}"
            for error in exc.errors(include_input=False, include_url=False, include_context=False)
        )
        return f"ValidationError: {exc.error_count()} invalid in {exc.title}: {fields}"
    return without_database_details(
        "".join(traceback.format_exception_only(type(exc), exc)).strip()
    )


def redact_database_details(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Mask database error details in any text field of a log line, the traceback included."""
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = without_database_details(value)
    return event_dict


_configured = False


def configure_logging(level: str = "INFO", *, stream: Any = None) -> None:
    """Route stdlib and structlog through one JSON renderer on stdout."""
    global _configured
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    structlog.configure(
        # filter_by_level first: a line below LOG_LEVEL is dropped before it is built.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_database_details,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Werkzeug's and waitress's own access lines would duplicate ours.
    for noisy in ("werkzeug", "waitress.queue", "amqp", "kombu", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    _configured = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)


def bind_context(**values: Any) -> None:
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})


def clear_context() -> None:
    structlog.contextvars.clear_contextvars()
