"""Stripe's webhook signature and one delivery attempt over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request


def sign(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header for ``payload``: ``t=<unix>,v1=<hex HMAC-SHA256>`` of
    ``f"{t}.{payload}"`` keyed with the endpoint's secret, as ``stripe.Webhook.construct_event``
    verifies it."""
    if timestamp is None:
        timestamp = int(time.time())
    body = payload.decode("utf-8") if isinstance(payload, bytes | bytearray) else payload
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp}.{body}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def post(url: str, body: bytes, secret: str, timeout: float) -> tuple[int | None, str | None]:
    """POST one signed event; the status answered (``None`` when none was) and an error text."""
    if not url.startswith(("http://", "https://")):
        return None, "webhook URLs must be http or https"
    request = urllib.request.Request(  # noqa: S310 (http(s) checked above)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(body, secret),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks) spectral-stripe-double",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.read()
            status: int = response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return status, None if 200 <= status < 300 else f"HTTP {status}"
