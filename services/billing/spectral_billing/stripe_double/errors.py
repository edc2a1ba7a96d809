"""Stripe's error document: ``{"error": {"type", "message", "param", "code", ...}}`` and its status."""

from __future__ import annotations

from typing import Any

DOC_URL = "https://stripe.com/docs/error-codes/"


class StripeError(Exception):
    """An API error answered the way Stripe answers it (400, 401, 402, 404, 409)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.extra = extra

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.param is not None:
            error["param"] = self.param
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = DOC_URL + self.code.replace("_", "-")
        if request_id:
            error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        error.update(self.extra)
        return {"error": error}


def missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", param=param, code="parameter_missing"
    )


def invalid(param: str, message: str, code: str = "parameter_invalid") -> StripeError:
    return StripeError(400, message, param=param, code=code)


def unknown_param(param: str) -> StripeError:
    return StripeError(
        400, f"Received unknown parameter: {param}", param=param, code="parameter_unknown"
    )


def no_such(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", param=param, code="resource_missing")


def card_declined(charge_id: str | None = None, payment_intent: str | None = None) -> StripeError:
    extra: dict[str, Any] = {"decline_code": "generic_decline"}
    if charge_id:
        extra["charge"] = charge_id
    if payment_intent:
        extra["payment_intent"] = {"id": payment_intent, "object": "payment_intent"}
    return StripeError(
        402, "Your card was declined.", type="card_error", code="card_declined", **extra
    )
