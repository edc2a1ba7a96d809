"""The double's WSGI app: ``/v1`` (Stripe's API), the hosted pages and ``/_control/``."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask, Response, redirect, request

from spectral_billing.stripe_double import pages
from spectral_billing.stripe_double.api import dispatch
from spectral_billing.stripe_double.core import (
    API_VERSION,
    CARDS,
    IDEMPOTENCY_TTL,
    Obj,
    StripeDouble,
    fmt_date,
    new_id,
    snapshot,
)
from spectral_billing.stripe_double.errors import StripeError
from spectral_billing.stripe_double.forms import Params, parse_pairs

log = logging.getLogger(__name__)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(body, indent=2), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _html(body: str, status: int = 200) -> Response:
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action *; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _api_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            return None
    return None


def _auth_error(key: str | None) -> StripeError:
    if not key:
        message = (
            "You did not provide an API key. You need to provide your API key in the Authorization "
            "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
        )
    else:
        shown = (
            key[:8] + "*" * max(len(key) - 12, 0) + key[-4:] if len(key) > 12 else "*" * len(key)
        )
        message = (
            f"Invalid API Key provided: {shown} (the Stripe test double takes any sk_test_ key)"
        )
    return StripeError(401, message, type="authentication_error")


def _pairs() -> list[tuple[str, str]]:
    pairs = parse_qsl(request.query_string.decode("utf-8", "replace"), keep_blank_values=True)
    if request.method in ("POST", "DELETE", "PUT", "PATCH"):
        body = request.get_data(cache=True).decode("utf-8", "replace")
        pairs += parse_qsl(body, keep_blank_values=True)
    return pairs


def _control_params() -> Params:
    data: dict[str, Any] = parse_pairs(_pairs())
    if request.is_json:
        loaded = request.get_json(silent=True)
        if isinstance(loaded, dict):
            data.update(
                {
                    k: v if isinstance(v, str | dict | list) else json.dumps(v)
                    for k, v in loaded.items()
                }
            )
    return Params(data)


def _next_or_json(params: Params, body: Any) -> Response:
    target = params.str("next")
    if isinstance(target, str) and target.startswith("/") and not target.startswith("//"):
        return redirect(target, code=303)  # type: ignore[return-value]
    return _json(body)


def create_app(double: StripeDouble) -> Flask:
    """The double as a WSGI app, servable at any URL root (links follow ``SCRIPT_NAME``)."""
    app = Flask("spectral_billing.stripe_double")

    @app.before_request
    def learn_public_url() -> None:
        if double.public_url is None:
            double.public_url = request.url_root.rstrip("/")

    @app.get("/")
    def index() -> Any:
        return redirect(f"{request.script_root}/_control/", code=303)

    # -- Stripe's API ------------------------------------------------------------------------

    @app.route("/v1/<path:rest>", methods=["GET", "POST", "DELETE", "PUT", "PATCH"])
    def v1(rest: str) -> Response:
        request_id = new_id("req", 14)
        method, path = request.method, f"/v1/{rest}"
        headers = {
            "Request-Id": request_id,
            "Stripe-Version": request.headers.get("Stripe-Version") or API_VERSION,
        }
        key = _api_key()
        if not key or not key.startswith("sk_test_"):
            headers["WWW-Authenticate"] = 'Bearer realm="Stripe"'
            return _json(_auth_error(key).body(request_id), 401, headers)
        pairs = _pairs()
        idempotency_key = (
            request.headers.get("Idempotency-Key") if method in ("POST", "DELETE") else None
        )
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        fingerprint = json.dumps([method, path, sorted(pairs)])
        try:
            with double.transaction(request_id, idempotency_key):
                if idempotency_key:
                    replay = _idempotent_replay(double, idempotency_key, fingerprint, headers)
                    if replay is not None:
                        return replay
                try:
                    body, ignored = dispatch(double, method, path, Params(parse_pairs(pairs)))
                    status = 200
                    if ignored:
                        headers["Stripe-Double-Ignored"] = ",".join(ignored)
                except StripeError as exc:
                    body, status = exc.body(request_id), exc.status
                if idempotency_key and (status < 400 or status == 402):
                    double.db["idempotency"][idempotency_key] = {
                        "fingerprint": fingerprint,
                        "status": status,
                        "body": snapshot(body),
                        "request_id": request_id,
                        "created": double.now(),
                    }
                    double.touch()
        except StripeError as exc:
            return _json(exc.body(request_id), exc.status, headers)
        except Exception:
            log.exception("Stripe test double: %s %s failed", method, path)
            error = StripeError(
                500, "An unexpected error occurred in the Stripe test double.", type="api_error"
            )
            return _json(error.body(request_id), 500, headers)
        return _json(body, status, headers)

    # -- hosted pages ------------------------------------------------------------------------

    def not_found(what: str) -> Response:
        body = pages.Markup('<div class="card"><h1>No such {}</h1></div>').format(what)
        return _html(pages.layout("Not found", body), 404)

    def page_error(title: str, message: str, status: int = 400) -> Response:
        body = pages.Markup('<div class="card"><h1>{}</h1><p>{}</p></div>').format(title, message)
        return _html(pages.layout(title, body), status)

    @app.get("/checkout/<session_id>")
    def checkout(session_id: str) -> Response:
        with double.transaction():
            session = double.db["checkout_sessions"].get(session_id)
            if session is None:
                return not_found("Checkout Session")
            return _html(pages.checkout_page(double, session, request.script_root))

    @app.post("/checkout/<session_id>/pay")
    def checkout_pay(session_id: str) -> Response:
        card = request.form.get("card", "good")
        try:
            session = double.complete_checkout(session_id, card)
        except StripeError as exc:
            return page_error("Checkout", exc.message, 404 if exc.status == 404 else 400)
        target = str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session_id)
        return redirect(target, code=303)  # type: ignore[return-value]

    @app.post("/checkout/<session_id>/cancel")
    def checkout_cancel(session_id: str) -> Response:
        with double.transaction():
            session = double.db["checkout_sessions"].get(session_id)
            if session is None:
                return not_found("Checkout Session")
            target = session["cancel_url"] or f"{request.script_root}/checkout/{session_id}"
        return redirect(target, code=303)  # type: ignore[return-value]

    def portal_session(session_id: str) -> Obj | None:
        session: Obj | None = double.db["portal_sessions"].get(session_id)
        return session

    @app.get("/portal/<session_id>")
    def portal(session_id: str) -> Response:
        with double.transaction():
            session = portal_session(session_id)
            if session is None:
                return not_found("portal session")
            return _html(pages.portal_page(double, session, request.script_root))

    @app.post("/portal/<session_id>/card")
    def portal_card(session_id: str) -> Response:
        with double.transaction():
            session = portal_session(session_id)
            if session is None:
                return not_found("portal session")
            kind = request.form.get("kind", "good")
            if kind not in CARDS:
                return page_error("Payment method", "Choose one of the test cards.")
            double.set_card(session["customer"], kind, retry_open=True)
        return redirect(f"{request.script_root}/portal/{session_id}", code=303)  # type: ignore[return-value]

    @app.post("/portal/<session_id>/subscriptions/<sub_id>/cancel")
    def portal_cancel(session_id: str, sub_id: str) -> Response:
        with double.transaction():
            session = portal_session(session_id)
            sub = double.db["subscriptions"].get(sub_id)
            if session is None or sub is None or sub["customer"] != session["customer"]:
                return not_found("subscription")
            if sub["status"] in ("canceled", "incomplete_expired"):
                return page_error("Subscription", "This subscription has ended.")
            flag = request.form.get("at_period_end", "true") == "true"
            with double.watch(sub):
                double.set_cancel_at_period_end(sub, flag)
        return redirect(f"{request.script_root}/portal/{session_id}", code=303)  # type: ignore[return-value]

    @app.get("/invoices/<invoice_id>")
    def invoice(invoice_id: str) -> Response:
        with double.transaction():
            inv = double.db["invoices"].get(invoice_id)
            if inv is None or inv["status"] == "draft":
                return not_found("invoice")
            message = (
                "Thank you: this invoice is paid (with a test card; no money moved)."
                if request.args.get("paid")
                else None
            )
            return _html(pages.invoice_page(double, inv, request.script_root, message))

    @app.post("/invoices/<invoice_id>/pay")
    def invoice_pay(invoice_id: str) -> Response:
        try:
            with double.transaction():
                inv = double.db["invoices"].get(invoice_id)
                if inv is None or inv["status"] == "draft":
                    return not_found("invoice")
                customer = double.db["customers"].get(inv["customer"])
                pm = double.new_payment_method(
                    customer if customer and not customer.get("deleted") else None, "good"
                )
                if pm["customer"] is None:
                    pm["customer"] = inv["customer"]
                double.pay_invoice(inv, payment_method=pm["id"])
        except StripeError as exc:
            return page_error("Invoice", exc.message)
        return redirect(f"{request.script_root}/invoices/{invoice_id}?paid=1", code=303)  # type: ignore[return-value]

    @app.get("/invoices/<invoice_id>/pdf")
    def invoice_pdf(invoice_id: str) -> Response:
        with double.transaction():
            inv = double.db["invoices"].get(invoice_id)
            if inv is None or inv["status"] == "draft":
                return not_found("invoice")
            document = pages.invoice_pdf(double, inv)
        response = Response(document, mimetype="application/pdf")
        name = (inv["number"] or invoice_id).replace('"', "")
        response.headers["Content-Disposition"] = f'inline; filename="test-invoice-{name}.pdf"'
        return response

    # -- /_control/ --------------------------------------------------------------------------

    @app.errorhandler(StripeError)
    def control_error(exc: StripeError) -> Response:
        return _json(exc.body(), exc.status)

    @app.get("/_control")
    def control_slash() -> Any:
        return redirect(f"{request.script_root}/_control/", code=308)

    @app.get("/_control/")
    def control_index() -> Response:
        with double.transaction():
            return _html(pages.control_page(double, request.script_root))

    @app.get("/_control/now")
    def control_now() -> Response:
        with double.transaction():
            now = double.now()
            return _json({"now": now, "iso": fmt_date(now), "offset": double.db["clock_offset"]})

    @app.post("/_control/advance")
    def control_advance() -> Response:
        p = _control_params()
        seconds, to = p.int("seconds"), p.int("to")
        ran = double.advance(seconds=seconds, to=to)
        return _next_or_json(p, {"now": double.now(), "ran": ran})

    @app.post("/_control/subscriptions/<sub_id>/advance")
    def control_subscription_advance(sub_id: str) -> Response:
        p = _control_params()
        moment = p.str("moment", required=True, choices=("trial_end", "renewal", "retry"))
        card = p.str("card", choices=(*CARDS, "none"))
        with double.transaction():
            sub = double.get("sub", sub_id)
            if card:
                double.set_card(sub["customer"], card)
            if moment == "trial_end":
                target = sub["trial_end"]
            elif moment == "renewal":
                target = double.item(sub)["current_period_end"]
            else:
                moments = [
                    i["next_payment_attempt"] or i["due_date"]
                    for i in double.db["invoices"].values()
                    if double.invoice_subscription(i) == sub_id and i["status"] == "open"
                ]
                moments = [m for m in moments if m]
                target = min(moments) if moments else None
            if target is None:
                raise StripeError(
                    400, f"Nothing to advance to ({moment}) for {sub_id}.", param="moment"
                )
            ran = double.advance(to=max(int(target), double.now()))
        return _next_or_json(p, {"now": double.now(), "ran": ran})

    @app.post("/_control/customers/<customer_id>/card")
    def control_card(customer_id: str) -> Response:
        p = _control_params()
        kind = p.str("kind", required=True, choices=(*CARDS, "none"))
        customer = double.set_card(customer_id, kind, retry_open=bool(p.bool("retry")))
        return _next_or_json(p, snapshot(customer))

    @app.post("/_control/charges/dispute")
    def control_dispute() -> Response:
        p = _control_params()
        dispute = double.dispute(p.str("invoice", required=True), p.str("reason") or "fraudulent")
        return _next_or_json(p, dispute)

    @app.route("/_control/webhooks", methods=["GET", "POST"])
    def control_webhooks() -> Response:
        p = _control_params()
        if request.method == "POST":
            if p.bool("auto_deliver") is not None:
                double.set_auto_deliver(bool(p.bool("auto_deliver")))
            if p.str("url"):
                try:
                    double.add_webhook_endpoint(p.str("url"), p.str("secret", required=True))
                except ValueError as exc:
                    raise StripeError(400, str(exc), param="url") from None
        body = {
            "auto_deliver": double.db["auto_deliver"],
            "endpoints": [url for url, _ in double.endpoints],
        }
        return _next_or_json(p, body)

    @app.get("/_control/deliveries")
    def control_deliveries() -> Response:
        return _json({"object": "list", "data": double.deliveries()})

    @app.post("/_control/webhooks/flush")
    def control_flush() -> Response:
        p = _control_params()
        return _next_or_json(p, double.flush_webhooks())

    @app.post("/_control/reset")
    def control_reset() -> Response:
        p = _control_params()
        double.reset()
        return _next_or_json(p, {"reset": True})

    return app


def _idempotent_replay(
    double: StripeDouble,
    idempotency_key: str,
    fingerprint: str,
    headers: dict[str, str],
) -> Response | None:
    """Stripe's idempotency: the same key and parameters replay the first answer; the same key
    with other parameters is an ``idempotency_error``. Keys are kept 24 hours (double time), for
    the one account every ``sk_test_`` key stands for."""
    store: dict[str, Obj] = double.db["idempotency"]
    now = double.now()
    for stale in [k for k, v in store.items() if v["created"] + IDEMPOTENCY_TTL <= now]:
        del store[stale]
        double.touch()
    record = store.get(idempotency_key)
    if record is None:
        return None
    if record["fingerprint"] != fingerprint:
        error = StripeError(
            400,
            "Keys for idempotent requests can only be used with the same parameters they were first "
            f"used with. Try using a key other than '{idempotency_key}' if you meant to execute a "
            "different request.",
            type="idempotency_error",
        )
        return _json(error.body(headers["Request-Id"]), 400, headers)
    return _json(
        record["body"],
        int(record["status"]),
        headers | {"Idempotent-Replayed": "true", "Original-Request": str(record["request_id"])},
    )
