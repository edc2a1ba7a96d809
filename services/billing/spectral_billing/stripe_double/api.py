"""The ``/v1`` endpoints: parameters read the way Stripe reads them, answers in Stripe's shapes.

Each handler runs inside :meth:`StripeDouble.transaction` (the app opens it). A top-level
parameter Stripe does not have is refused (``parameter_unknown``, checked against the SDK's own
parameter types); one Stripe has but the double does not act on is accepted and named in the
``Stripe-Double-Ignored`` response header.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from spectral_billing.stripe_double.core import (
    CARD_TOKENS,
    CARDS,
    CHECKOUT_LIFETIME,
    DAY,
    Obj,
    StripeDouble,
    new_id,
    snapshot,
)
from spectral_billing.stripe_double.errors import StripeError, invalid, missing, no_such
from spectral_billing.stripe_double.forms import Params, check_known, merge_metadata

Handler = Callable[..., Any]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    params_type: str  # "module:Class" in stripe.params, for the known parameter names
    handled: frozenset[str] = field(default_factory=frozenset)


ROUTES: list[Route] = []
_REQUEST_OPTIONS = {
    "api_key",
    "stripe_account",
    "stripe_context",
    "headers",
    "content_type",
    "max_network_retries",
    "idempotency_key",
    "stripe_version",
}
_PAGING = "limit starting_after ending_before expand"


def route(
    method: str, path: str, params_type: str, handled: str = ""
) -> Callable[[Handler], Handler]:
    """Register a handler for ``method path`` (``{id}`` matches one path segment)."""
    pattern = re.compile("^" + re.sub(r"\{\w+\}", r"([^/]+)", path) + "$")

    def register(handler: Handler) -> Handler:
        names = frozenset(handled.split()) | {"expand"}
        ROUTES.append(Route(method, pattern, handler, params_type, names))
        return handler

    return register


@cache
def known_params(params_type: str) -> frozenset[str] | None:
    """The parameter names the SDK's typed params declare for an endpoint (``None``: unknown)."""
    module_name, _, class_name = params_type.rpartition(":")
    try:
        module = importlib.import_module(f"stripe.params{module_name}")
        annotations = getattr(module, class_name).__annotations__
    except (ImportError, AttributeError):
        return None
    return frozenset(annotations) - _REQUEST_OPTIONS


def dispatch(double: StripeDouble, method: str, path: str, params: Params) -> tuple[Obj, list[str]]:
    """Run the endpoint; answers the body and the known parameters it ignored."""
    for candidate in ROUTES:
        if candidate.method != method:
            continue
        match = candidate.pattern.match(path)
        if match is None:
            continue
        known = known_params(candidate.params_type)
        if known is not None:
            check_known(params, known | {"expand"})
        ignored = [key for key in params if key not in candidate.handled]
        body = candidate.handler(double, params, *match.groups())
        return expand(double, body, params.strings("expand")), ignored
    raise StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we "
        "can help at https://support.stripe.com/.",
    )


# -- shared reads -----------------------------------------------------------------------------


def expand(double: StripeDouble, body: Obj, paths: Iterable[str]) -> Obj:
    """Replace ids named by ``expand[]`` paths with their objects; unknown paths are ignored."""
    for path in paths:
        _expand(double, body, path.split("."))
    return body


def _expand(double: StripeDouble, node: Any, parts: list[str]) -> None:
    if not parts or not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    value = node.get(head)
    if isinstance(value, list):
        for element in value:
            _expand(double, element, rest)
    elif rest:
        _expand(double, value, rest)
    else:
        found = double.find(value)
        if found is not None:
            node[head] = snapshot(found)


def created_filter(p: Params, key: str = "created") -> Callable[[Obj], bool]:
    """``created=<ts>`` or ``created[gt|gte|lt|lte]=<ts>``."""
    raw = p.raw(key)
    if raw is None or raw == "":
        return lambda obj: True
    if isinstance(raw, str):
        exact = p.int(key)
        return lambda obj: obj.get(key) == exact
    bounds = p.dict(key)
    gt, gte, lt, lte = (bounds.int(name) for name in ("gt", "gte", "lt", "lte"))

    def keep(obj: Obj) -> bool:
        value = obj.get(key)
        if value is None:
            return False
        return (
            (gt is None or value > gt)
            and (gte is None or value >= gte)
            and (lt is None or value < lt)
            and (lte is None or value <= lte)
        )

    return keep


def page(p: Params, objects: list[Obj], url: str, kind: str) -> Obj:
    """Stripe's list: newest first, ``limit`` (1-100, default 10), cursors by id."""
    limit = p.int("limit", minimum=1, maximum=100) or 10
    ordered = sorted(
        enumerate(objects), key=lambda pair: (pair[1].get("created", 0), pair[0]), reverse=True
    )
    items = [obj for _, obj in ordered]
    ids = [obj["id"] for obj in items]
    after, before = p.str("starting_after"), p.str("ending_before")
    if after:
        if after not in ids:
            raise no_such(kind, after, "starting_after")
        items = items[ids.index(after) + 1 :]
        chosen, has_more = items[:limit], len(items) > limit
    elif before:
        if before not in ids:
            raise no_such(kind, before, "ending_before")
        items = items[: ids.index(before)]
        chosen, has_more = items[-limit:], len(items) > limit
    else:
        chosen, has_more = items[:limit], len(items) > limit
    return {
        "object": "list",
        "data": [snapshot(obj) for obj in chosen],
        "has_more": has_more,
        "url": url,
    }


def live(objects: Iterable[Obj]) -> list[Obj]:
    return [obj for obj in objects if not obj.get("deleted")]


def recurring_price(double: StripeDouble, price_id: Any, param: str) -> Obj:
    price = double.get("price", price_id, param)
    if price["type"] != "recurring":
        raise invalid(
            param,
            f"The price specified ({price_id}) is not recurring; a subscription needs a recurring price.",
        )
    if not price["active"]:
        raise invalid(
            param,
            f"The price specified ({price_id}) is inactive. This field only accepts active prices.",
        )
    return price


def quantity(p: Params, param: str = "quantity") -> int:
    value = p.int(param, minimum=1)
    return 1 if value is None else int(value)


def timestamp_or_now(double: StripeDouble, p: Params, key: str) -> int | None:
    value = p.str(key)
    if value is None or value == "":
        return None
    if value == "now":
        return double.now()
    stamp = int(p.int(key))
    if stamp <= double.now():
        raise invalid(p.name(key), f"Invalid timestamp: must be in the future ({key}).")
    return stamp


# -- customers --------------------------------------------------------------------------------

_CUSTOMER_FIELDS = "name email description phone metadata invoice_settings balance invoice_prefix"


@route("POST", "/v1/customers", ":CustomerCreateParams", _CUSTOMER_FIELDS + " payment_method")
def create_customer(d: StripeDouble, p: Params) -> Obj:
    attach = p.str("payment_method")
    default = p.dict("invoice_settings").str("default_payment_method")
    for value, param in (
        (attach, "payment_method"),
        (default, "invoice_settings[default_payment_method]"),
    ):
        if value and value not in CARD_TOKENS and d.get("pm", value, param)["customer"] is not None:
            raise StripeError(
                400,
                "The payment method you provided has already been attached to a customer.",
                param=param,
                code="payment_method_unexpected_state",
            )
    customer = d.new_customer(
        name=p.str("name"),
        email=p.str("email"),
        description=p.str("description"),
        phone=p.str("phone"),
        metadata=p.metadata(),
        balance=p.int("balance") or 0,
        invoice_prefix=p.str("invoice_prefix"),
        emit=False,
    )
    attached: list[Obj] = []
    if attach:
        attached.append(d.resolve_payment_method(customer, attach, "payment_method", emit=False))
    if default:
        if attached and default == attach:
            pm = attached[0]
        else:
            pm = d.resolve_payment_method(
                customer, default, "invoice_settings[default_payment_method]", emit=False
            )
            attached.append(pm)
        customer["invoice_settings"]["default_payment_method"] = pm["id"]
    # Stripe's order: the customer (already holding its default card), then the attachments.
    d.emit("customer.created", customer)
    for pm in attached:
        d.emit("payment_method.attached", pm)
    return snapshot(customer)


@route("GET", "/v1/customers", ":CustomerListParams", "email created " + _PAGING)
def list_customers(d: StripeDouble, p: Params) -> Obj:
    email, created = p.str("email"), created_filter(p)
    found = [
        c
        for c in live(d.db["customers"].values())
        if (email is None or c["email"] == email) and created(c)
    ]
    return page(p, found, "/v1/customers", "customer")


@route("GET", "/v1/customers/{id}", ":CustomerRetrieveParams")
def retrieve_customer(d: StripeDouble, p: Params, customer_id: str) -> Obj:
    customer = d.db["customers"].get(customer_id)
    if customer is None:
        raise no_such("customer", customer_id)
    return snapshot(customer)


@route("POST", "/v1/customers/{id}", ":CustomerUpdateParams", _CUSTOMER_FIELDS)
def update_customer(d: StripeDouble, p: Params, customer_id: str) -> Obj:
    customer = d.get("cus", customer_id)
    settings = p.dict("invoice_settings")
    metadata = p.metadata()
    with d.watch(customer):
        for key in ("name", "email", "description", "phone"):
            if key in p:
                customer[key] = p.str(key) or None
        if "balance" in p:
            customer["balance"] = p.int("balance") or 0
        customer["metadata"] = merge_metadata(customer["metadata"], metadata)
        if "default_payment_method" in settings:
            value = settings.str("default_payment_method")
            pm = (
                d.resolve_payment_method(
                    customer, value, "invoice_settings[default_payment_method]"
                )
                if value
                else None
            )
            customer["invoice_settings"]["default_payment_method"] = pm["id"] if pm else None
    return snapshot(customer)


@route("DELETE", "/v1/customers/{id}", ":CustomerDeleteParams")
def delete_customer(d: StripeDouble, p: Params, customer_id: str) -> Obj:
    return d.delete_customer(customer_id)


@route(
    "GET",
    "/v1/customers/{id}/payment_methods",
    ":CustomerListPaymentMethodsParams",
    "type " + _PAGING,
)
def customer_payment_methods(d: StripeDouble, p: Params, customer_id: str) -> Obj:
    d.get("cus", customer_id)
    found = [pm for pm in d.db["payment_methods"].values() if pm["customer"] == customer_id]
    return page(p, found, f"/v1/customers/{customer_id}/payment_methods", "payment_method")


# -- payment methods, charges, payment intents, disputes ---------------------------------------


@route("GET", "/v1/payment_methods", ":PaymentMethodListParams", "customer type " + _PAGING)
def list_payment_methods(d: StripeDouble, p: Params) -> Obj:
    customer = p.str("customer")
    found = [
        pm
        for pm in d.db["payment_methods"].values()
        if customer is None or pm["customer"] == customer
    ]
    return page(p, found, "/v1/payment_methods", "payment_method")


@route("GET", "/v1/payment_methods/{id}", ":PaymentMethodRetrieveParams")
def retrieve_payment_method(d: StripeDouble, p: Params, pm_id: str) -> Obj:
    return snapshot(d.get("pm", pm_id))


@route("POST", "/v1/payment_methods/{id}/attach", ":PaymentMethodAttachParams", "customer")
def attach_payment_method(d: StripeDouble, p: Params, pm_id: str) -> Obj:
    customer = d.get("cus", p.str("customer", required=True), "customer")
    if pm_id in CARD_TOKENS:
        return snapshot(d.new_payment_method(customer, CARD_TOKENS[pm_id]))
    pm = d.get("pm", pm_id)
    if pm["customer"] is not None:
        raise StripeError(
            400,
            "The payment method you provided has already been attached to a customer.",
            code="payment_method_unexpected_state",
        )
    d.attach(pm, customer)
    return snapshot(pm)


@route("POST", "/v1/payment_methods/{id}/detach", ":PaymentMethodDetachParams")
def detach_payment_method(d: StripeDouble, p: Params, pm_id: str) -> Obj:
    pm = d.get("pm", pm_id)
    if pm["customer"] is None:
        raise StripeError(
            400,
            "The payment method you provided is not attached to a customer so detachment is impossible.",
            code="payment_method_unexpected_state",
        )
    customer = d.db["customers"].get(pm["customer"])
    d.detach(pm)
    if customer and customer["invoice_settings"]["default_payment_method"] == pm_id:
        with d.watch(customer):
            customer["invoice_settings"]["default_payment_method"] = None
    return snapshot(pm)


@route("GET", "/v1/charges/{id}", ":ChargeRetrieveParams")
def retrieve_charge(d: StripeDouble, p: Params, charge_id: str) -> Obj:
    return snapshot(d.get("ch", charge_id))


@route("GET", "/v1/payment_intents/{id}", ":PaymentIntentRetrieveParams")
def retrieve_payment_intent(d: StripeDouble, p: Params, pi_id: str) -> Obj:
    return snapshot(d.get("pi", pi_id))


@route("GET", "/v1/disputes/{id}", ":DisputeRetrieveParams")
def retrieve_dispute(d: StripeDouble, p: Params, dispute_id: str) -> Obj:
    return snapshot(d.get("dp", dispute_id))


@route("GET", "/v1/invoice_payments", ":InvoicePaymentListParams", "invoice payment " + _PAGING)
def list_invoice_payments(d: StripeDouble, p: Params) -> Obj:
    invoice, payment = p.str("invoice"), p.dict("payment")
    intent = payment.str("payment_intent")
    found = [
        ip
        for ip in d.db["invoice_payments"].values()
        if (invoice is None or ip["invoice"] == invoice)
        and (intent is None or ip["payment"]["payment_intent"] == intent)
    ]
    return page(p, found, "/v1/invoice_payments", "invoice_payment")


# -- products and prices ----------------------------------------------------------------------


def _new_product(d: StripeDouble, name: str, **fields: Any) -> Obj:
    now = d.now()
    product: Obj = {
        "id": fields.get("id") or new_id("prod", 14),
        "object": "product",
        "active": fields.get("active", True),
        "created": now,
        "default_price": None,
        "description": fields.get("description"),
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": fields.get("metadata") or {},
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": now,
        "url": None,
    }
    if product["id"] in d.db["products"]:
        raise StripeError(
            400,
            f"Product already exists: {product['id']}",
            param="id",
            code="resource_already_exists",
        )
    d.db["products"][product["id"]] = product
    d.emit("product.created", product)
    return product


@route("POST", "/v1/products", ":ProductCreateParams", "id name description metadata active")
def create_product(d: StripeDouble, p: Params) -> Obj:
    product = _new_product(
        d,
        p.str("name", required=True),
        id=p.str("id"),
        description=p.str("description"),
        metadata=p.metadata(),
        active=p.bool("active") is not False,
    )
    return snapshot(product)


@route("GET", "/v1/products", ":ProductListParams", "active ids created " + _PAGING)
def list_products(d: StripeDouble, p: Params) -> Obj:
    active, ids, created = p.bool("active"), p.strings("ids"), created_filter(p)
    found = [
        prod
        for prod in d.db["products"].values()
        if (active is None or prod["active"] == active)
        and (not ids or prod["id"] in ids)
        and created(prod)
    ]
    return page(p, found, "/v1/products", "product")


@route("GET", "/v1/products/{id}", ":ProductRetrieveParams")
def retrieve_product(d: StripeDouble, p: Params, product_id: str) -> Obj:
    return snapshot(d.get("prod", product_id))


@route("POST", "/v1/products/{id}", ":ProductUpdateParams", "name description metadata active")
def update_product(d: StripeDouble, p: Params, product_id: str) -> Obj:
    product = d.get("prod", product_id)
    with d.watch(product):
        if p.str("name"):
            product["name"] = p.str("name")
        if "description" in p:
            product["description"] = p.str("description") or None
        if p.bool("active") is not None:
            product["active"] = p.bool("active")
        product["metadata"] = merge_metadata(product["metadata"], p.metadata())
        product["updated"] = d.now()
    return snapshot(product)


def _claim_lookup_key(d: StripeDouble, p: Params, price_id: str | None) -> str | None:
    key = p.str("lookup_key")
    if not key:
        return None
    holder = next(
        (pr for pr in d.db["prices"].values() if pr["lookup_key"] == key and pr["id"] != price_id),
        None,
    )
    if holder is not None:
        if not p.bool("transfer_lookup_key"):
            raise invalid(
                "lookup_key",
                f"A price (`{holder['id']}`) already uses that lookup key.",
            )
        with d.watch(holder):
            holder["lookup_key"] = None
    return key


@route(
    "POST",
    "/v1/prices",
    ":PriceCreateParams",
    "currency unit_amount unit_amount_decimal recurring product product_data lookup_key transfer_lookup_key metadata nickname active",
)
def create_price(d: StripeDouble, p: Params) -> Obj:
    currency = p.str("currency", required=True).lower()
    if p.str("unit_amount_decimal") and p.int("unit_amount") is None:
        try:
            unit_amount = int(float(p.str("unit_amount_decimal")))
        except ValueError:
            raise invalid("unit_amount_decimal", "Invalid decimal.") from None
    else:
        unit_amount = p.int("unit_amount", minimum=0)
        if unit_amount is None:
            raise missing("unit_amount")
    recurring_params = p.dict("recurring")
    recurring = None
    if recurring_params.data:
        interval = recurring_params.str(
            "interval", required=True, choices=("day", "week", "month", "year")
        )
        recurring = {
            "interval": interval,
            "interval_count": recurring_params.int("interval_count", minimum=1) or 1,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        }
    if p.str("product"):
        product_id = d.get("prod", p.str("product"), "product")["id"]
    elif p.dict("product_data").data:
        data = p.dict("product_data")
        product_id = _new_product(d, data.str("name", required=True), metadata=data.metadata())[
            "id"
        ]
    else:
        raise missing("product")
    lookup_key = _claim_lookup_key(d, p, None)
    price: Obj = {
        "id": new_id("price"),
        "object": "price",
        "active": p.bool("active") is not False,
        "billing_scheme": "per_unit",
        "created": d.now(),
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": p.metadata() or {},
        "nickname": p.str("nickname"),
        "product": product_id,
        "recurring": recurring,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }
    d.db["prices"][price["id"]] = price
    d.emit("price.created", price)
    return snapshot(price)


@route(
    "GET",
    "/v1/prices",
    ":PriceListParams",
    "active currency lookup_keys product type recurring created " + _PAGING,
)
def list_prices(d: StripeDouble, p: Params) -> Obj:
    active, currency, product, kind = (
        p.bool("active"),
        p.str("currency"),
        p.str("product"),
        p.str("type"),
    )
    keys = p.strings("lookup_keys")
    interval = p.dict("recurring").str("interval")
    created = created_filter(p)
    found = [
        pr
        for pr in d.db["prices"].values()
        if (active is None or pr["active"] == active)
        and (currency is None or pr["currency"] == currency.lower())
        and (product is None or pr["product"] == product)
        and (kind is None or pr["type"] == kind)
        and (not keys or pr["lookup_key"] in keys)
        and (interval is None or (pr["recurring"] or {}).get("interval") == interval)
        and created(pr)
    ]
    return page(p, found, "/v1/prices", "price")


@route("GET", "/v1/prices/{id}", ":PriceRetrieveParams")
def retrieve_price(d: StripeDouble, p: Params, price_id: str) -> Obj:
    return snapshot(d.get("price", price_id))


@route(
    "POST",
    "/v1/prices/{id}",
    ":PriceUpdateParams",
    "active metadata nickname lookup_key transfer_lookup_key",
)
def update_price(d: StripeDouble, p: Params, price_id: str) -> Obj:
    price = d.get("price", price_id)
    lookup_key = _claim_lookup_key(d, p, price_id)
    with d.watch(price):
        if p.bool("active") is not None:
            price["active"] = p.bool("active")
        if "nickname" in p:
            price["nickname"] = p.str("nickname") or None
        if "lookup_key" in p:
            price["lookup_key"] = lookup_key
        price["metadata"] = merge_metadata(price["metadata"], p.metadata())
    return snapshot(price)


# -- checkout ---------------------------------------------------------------------------------


@route(
    "POST",
    "/v1/checkout/sessions",
    ".checkout:SessionCreateParams",
    "mode customer customer_email line_items subscription_data client_reference_id metadata "
    "success_url cancel_url payment_method_collection expires_at",
)
def create_checkout_session(d: StripeDouble, p: Params) -> Obj:
    mode = p.str("mode", required=True, choices=("payment", "setup", "subscription"))
    if mode != "subscription":
        raise invalid("mode", "The Stripe test double supports Checkout in mode=subscription only.")
    customer_id = p.str("customer")
    if customer_id:
        d.get("cus", customer_id, "customer")
    items = p.list("line_items")
    if not items:
        raise missing("line_items")
    if len(items) > 1:
        raise invalid(
            "line_items",
            "The Stripe test double supports one line item (one price) per subscription.",
        )
    line = Params(items[0], ("line_items", 0))
    price = recurring_price(d, line.str("price", required=True), "line_items[0][price]")
    qty = quantity(line)
    success_url = p.str("success_url", required=True)
    collection = p.str("payment_method_collection", choices=("always", "if_required")) or "always"
    data = p.dict("subscription_data")
    trial_days = data.int("trial_period_days", minimum=1, maximum=730)
    trial_end = data.int("trial_end")
    if trial_end is not None and trial_end < d.now() + 2 * DAY:
        raise invalid(
            "subscription_data[trial_end]",
            "The `trial_end` date has to be at least 2 days in the future.",
        )
    missing_pm = (
        data.dict("trial_settings")
        .dict("end_behavior")
        .str("missing_payment_method", choices=("cancel", "create_invoice", "pause"))
        or "create_invoice"
    )
    now = d.now()
    expires_at = p.int("expires_at") or now + CHECKOUT_LIFETIME
    if not now + 1800 <= expires_at <= now + CHECKOUT_LIFETIME:
        raise invalid(
            "expires_at",
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
        )
    session_id = new_id("cs_test", 58)
    has_trial = bool(trial_days or trial_end)
    amount = 0 if has_trial else int(price["unit_amount"] or 0) * qty
    session: Obj = {
        "id": session_id,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount,
        "amount_total": amount,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": p.str("cancel_url"),
        "client_reference_id": p.str("client_reference_id"),
        "created": now,
        "currency": price["currency"],
        "customer": customer_id,
        "customer_creation": None if customer_id else "always",
        "customer_details": None,
        "customer_email": p.str("customer_email"),
        "expires_at": expires_at,
        "invoice": None,
        "livemode": False,
        "locale": None,
        "metadata": p.metadata() or {},
        "mode": mode,
        "payment_intent": None,
        "payment_method_collection": collection,
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "setup_intent": None,
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": success_url,
        "ui_mode": "hosted",
        "url": d.url(f"/checkout/{session_id}"),
    }
    d.db["checkout_sessions"][session_id] = session
    d.meta(session_id).update(
        price=price["id"],
        quantity=qty,
        trial_days=trial_days,
        trial_end=trial_end,
        missing_payment_method=missing_pm,
        subscription_metadata=data.metadata() or {},
        description=data.str("description"),
    )
    d.touch()
    return snapshot(session)


@route(
    "GET",
    "/v1/checkout/sessions",
    ".checkout:SessionListParams",
    "customer subscription status created " + _PAGING,
)
def list_checkout_sessions(d: StripeDouble, p: Params) -> Obj:
    customer, subscription, status = p.str("customer"), p.str("subscription"), p.str("status")
    created = created_filter(p)
    found = [
        s
        for s in d.db["checkout_sessions"].values()
        if (customer is None or s["customer"] == customer)
        and (subscription is None or s["subscription"] == subscription)
        and (status is None or s["status"] == status)
        and created(s)
    ]
    return page(p, found, "/v1/checkout/sessions", "checkout.session")


@route("GET", "/v1/checkout/sessions/{id}", ".checkout:SessionRetrieveParams")
def retrieve_checkout_session(d: StripeDouble, p: Params, session_id: str) -> Obj:
    return snapshot(d.get("cs", session_id))


@route("POST", "/v1/checkout/sessions/{id}/expire", ".checkout:SessionExpireParams")
def expire_checkout_session(d: StripeDouble, p: Params, session_id: str) -> Obj:
    session = d.get("cs", session_id)
    if session["status"] != "open":
        raise StripeError(400, 'Only Checkout Sessions with a status in ["open"] can be expired.')
    session["status"] = "expired"
    d.emit("checkout.session.expired", session)
    return snapshot(session)


# -- billing portal ---------------------------------------------------------------------------


@route(
    "POST",
    "/v1/billing_portal/sessions",
    ".billing_portal:SessionCreateParams",
    "customer return_url locale",
)
def create_portal_session(d: StripeDouble, p: Params) -> Obj:
    customer = d.get("cus", p.str("customer", required=True), "customer")
    session_id = new_id("bps")
    session: Obj = {
        "id": session_id,
        "object": "billing_portal.session",
        "configuration": d.db["portal_configuration"],
        "created": d.now(),
        "customer": customer["id"],
        "customer_account": None,
        "flow": None,
        "livemode": False,
        "locale": p.str("locale"),
        "on_behalf_of": None,
        "return_url": p.str("return_url"),
        "url": d.url(f"/portal/{session_id}"),
    }
    d.db["portal_sessions"][session_id] = session
    d.touch()
    return snapshot(session)


# -- subscriptions ----------------------------------------------------------------------------


def _single_item(d: StripeDouble, p: Params, sub: Obj | None) -> tuple[Obj | None, int | None]:
    """``items[0]``: the price (and quantity) it asks for; one item per subscription."""
    items = p.list("items")
    if not items:
        return None, None
    if len(items) > 1:
        raise invalid(
            "items", "The Stripe test double supports one item (one price) per subscription."
        )
    item = Params(items[0], ("items", 0))
    if item.bool("deleted"):
        raise invalid(
            "items[0][deleted]", "The Stripe test double keeps exactly one item per subscription."
        )
    if sub is not None:
        current = d.item(sub)["id"]
        item_id = item.str("id")
        if item_id is None:
            raise invalid(
                "items[0][id]",
                "The Stripe test double supports one item per subscription: name it (items[0][id]) to change its price.",
            )
        if item_id != current:
            raise no_such("subscription item", item_id, "items[0][id]")
    price_id = item.str("price")
    if price_id is None and sub is None:
        raise missing("items[0][price]")
    price = recurring_price(d, price_id, "items[0][price]") if price_id else None
    qty = item.int("quantity", minimum=1)
    return price, qty


@route(
    "POST",
    "/v1/subscriptions",
    ":SubscriptionCreateParams",
    "customer items collection_method days_until_due trial_period_days trial_end trial_settings "
    "metadata default_payment_method payment_behavior cancel_at_period_end description",
)
def create_subscription(d: StripeDouble, p: Params) -> Obj:
    customer = d.get("cus", p.str("customer", required=True), "customer")
    price, qty = _single_item(d, p, None)
    assert price is not None
    collection = (
        p.str("collection_method", choices=("charge_automatically", "send_invoice"))
        or "charge_automatically"
    )
    days = p.int("days_until_due", minimum=0, maximum=730)
    if collection == "send_invoice" and days is None:
        raise missing("days_until_due")
    if collection == "charge_automatically" and days is not None:
        raise invalid(
            "days_until_due",
            "days_until_due can only be set when collection_method is send_invoice.",
        )
    behavior = (
        p.str(
            "payment_behavior",
            choices=(
                "allow_incomplete",
                "default_incomplete",
                "error_if_incomplete",
                "pending_if_incomplete",
            ),
        )
        or "allow_incomplete"
    )
    trial_days = p.int("trial_period_days", minimum=0, maximum=730)
    trial_end = timestamp_or_now(d, p, "trial_end")
    if trial_days:
        trial_end = d.now() + trial_days * DAY
    missing_pm = (
        p.dict("trial_settings")
        .dict("end_behavior")
        .str("missing_payment_method", choices=("cancel", "create_invoice", "pause"))
        or "create_invoice"
    )
    default_pm = None
    if p.str("default_payment_method"):
        default_pm = d.resolve_payment_method(
            customer, p.str("default_payment_method"), "default_payment_method"
        )["id"]
    in_trial = trial_end is not None and trial_end > d.now()
    amount = int(price["unit_amount"] or 0) * (qty or 1)
    if (
        behavior == "error_if_incomplete"
        and not in_trial
        and amount
        and collection == "charge_automatically"
    ):
        pm_id = default_pm or customer["invoice_settings"]["default_payment_method"]
        if d.declines(d.db["payment_methods"].get(pm_id) if pm_id else None):
            raise StripeError(
                402,
                "Your card was declined."
                if pm_id
                else "This customer has no attached payment source or default payment method.",
                type="card_error" if pm_id else "invalid_request_error",
                code="card_declined" if pm_id else "resource_missing",
                param=None if pm_id else "default_payment_method",
            )
    sub = d.new_subscription(
        customer,
        price,
        quantity=qty or 1,
        collection_method=collection,
        days_until_due=days,
        trial_end=trial_end,
        trial_missing_pm=missing_pm,
        metadata=p.metadata(),
        default_payment_method=default_pm,
        description=p.str("description"),
        cancel_at_period_end=bool(p.bool("cancel_at_period_end")),
    )
    d.start_subscription(sub, collect=behavior != "default_incomplete")
    return snapshot(sub)


@route(
    "GET",
    "/v1/subscriptions",
    ":SubscriptionListParams",
    "customer status price collection_method created current_period_end current_period_start "
    + _PAGING,
)
def list_subscriptions(d: StripeDouble, p: Params) -> Obj:
    customer, price = p.str("customer"), p.str("price")
    status = p.str(
        "status",
        choices=(
            "active",
            "all",
            "canceled",
            "ended",
            "incomplete",
            "incomplete_expired",
            "past_due",
            "paused",
            "trialing",
            "unpaid",
        ),
    )
    collection, created = p.str("collection_method"), created_filter(p)

    def status_ok(sub: Obj) -> bool:
        if status is None:
            return bool(sub["status"] != "canceled")
        if status == "all":
            return True
        if status == "ended":
            return sub["status"] in ("canceled", "incomplete_expired")
        return bool(sub["status"] == status)

    found = [
        s
        for s in d.db["subscriptions"].values()
        if (customer is None or s["customer"] == customer)
        and (price is None or d.item(s)["price"]["id"] == price)
        and (collection is None or s["collection_method"] == collection)
        and status_ok(s)
        and created(s)
    ]
    return page(p, found, "/v1/subscriptions", "subscription")


@route("GET", "/v1/subscriptions/{id}", ":SubscriptionRetrieveParams")
def retrieve_subscription(d: StripeDouble, p: Params, sub_id: str) -> Obj:
    return snapshot(d.get("sub", sub_id))


@route(
    "POST",
    "/v1/subscriptions/{id}",
    ":SubscriptionUpdateParams",
    "items proration_behavior proration_date cancel_at_period_end cancel_at cancellation_details "
    "metadata pause_collection default_payment_method description trial_end trial_settings "
    "payment_behavior collection_method days_until_due",
)
def update_subscription(d: StripeDouble, p: Params, sub_id: str) -> Obj:
    sub = d.get("sub", sub_id)
    customer = d.db["customers"].get(sub["customer"], {})
    metadata = p.metadata()
    details = p.dict("cancellation_details")
    allowed_when_ended = {"metadata", "cancellation_details", "expand"}
    if sub["status"] in ("canceled", "incomplete_expired") and set(p.keys()) - allowed_when_ended:
        raise StripeError(
            400,
            "A canceled subscription can only update its cancellation_details and metadata.",
        )
    price, qty = _single_item(d, p, sub)
    proration = (
        p.str("proration_behavior", choices=("always_invoice", "create_prorations", "none"))
        or "create_prorations"
    )
    proration_date = p.int("proration_date")
    cancel_flag = p.bool("cancel_at_period_end")
    pause: Any = None
    if "pause_collection" in p:
        raw = p.raw("pause_collection")
        if raw == "":
            pause = ""
        else:
            params = p.dict("pause_collection")
            pause = {
                "behavior": params.str(
                    "behavior",
                    required=True,
                    choices=("keep_as_draft", "mark_uncollectible", "void"),
                ),
                "resumes_at": params.int("resumes_at"),
            }
    trial_end = timestamp_or_now(d, p, "trial_end")
    end_trial_now = p.str("trial_end") == "now"
    if trial_end is not None and sub["status"] != "trialing":
        raise invalid(
            "trial_end",
            "The Stripe test double changes trial_end only while the subscription is trialing.",
        )
    if price is not None and sub["status"] in ("incomplete", "paused"):
        raise StripeError(
            400,
            f"A subscription with status {sub['status']} cannot change its price in the Stripe test double.",
            param="items",
        )
    collection = p.str("collection_method", choices=("charge_automatically", "send_invoice"))
    days = p.int("days_until_due", minimum=0, maximum=730)
    if collection == "send_invoice" and days is None and sub["days_until_due"] is None:
        raise missing("days_until_due")
    cancel_at = p.int("cancel_at") if "cancel_at" in p else None
    missing_pm = (
        p.dict("trial_settings")
        .dict("end_behavior")
        .str("missing_payment_method", choices=("cancel", "create_invoice", "pause"))
    )
    default_pm: Any = None
    if "default_payment_method" in p:
        value = p.str("default_payment_method")
        default_pm = (
            d.resolve_payment_method(customer, value, "default_payment_method")["id"]
            if value
            else ""
        )
    with d.watch(sub):
        sub["metadata"] = merge_metadata(sub["metadata"], metadata)
        for key in ("comment", "feedback"):
            if key in details:
                sub["cancellation_details"][key] = details.str(key) or None
        if p.str("description") is not None:
            sub["description"] = p.str("description") or None
        if default_pm is not None:
            sub["default_payment_method"] = default_pm or None
        if collection is not None:
            sub["collection_method"] = collection
            sub["days_until_due"] = days if collection == "send_invoice" else None
        elif days is not None and sub["collection_method"] == "send_invoice":
            sub["days_until_due"] = days
        if pause is not None:
            sub["pause_collection"] = pause or None
        if cancel_flag is not None:
            d.set_cancel_at_period_end(sub, cancel_flag)
        if "cancel_at" in p:
            sub["cancel_at"] = cancel_at
            sub["cancel_at_period_end"] = False
            sub["canceled_at"] = d.now() if cancel_at else None
            sub["cancellation_details"]["reason"] = "cancellation_requested" if cancel_at else None
        if trial_end is not None and not end_trial_now:
            sub["trial_end"] = trial_end
            d.item(sub)["current_period_end"] = trial_end
            sub["billing_cycle_anchor"] = trial_end
            if sub["cancel_at_period_end"]:
                sub["cancel_at"] = trial_end
        if missing_pm:
            sub["trial_settings"]["end_behavior"]["missing_payment_method"] = missing_pm
        current = d.item(sub)
        new_price = price or current["price"]
        new_quantity = qty or current["quantity"]
        if new_price["id"] != current["price"]["id"] or new_quantity != current["quantity"]:
            d.change_price(sub, new_price, new_quantity, proration, proration_date)
            d.sync_status(sub)
    if end_trial_now and sub["status"] == "trialing":
        d.end_trial(sub)
    return snapshot(sub)


@route(
    "DELETE",
    "/v1/subscriptions/{id}",
    ":SubscriptionCancelParams",
    "cancellation_details invoice_now prorate",
)
def cancel_subscription(d: StripeDouble, p: Params, sub_id: str) -> Obj:
    sub = d.get("sub", sub_id)
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise StripeError(400, f"This subscription is already {sub['status']}.")
    details = p.dict("cancellation_details")
    for key in ("comment", "feedback"):
        if details.str(key):
            sub["cancellation_details"][key] = details.str(key)
    sub["canceled_at"] = None
    d.cancel(sub, reason="cancellation_requested")
    return snapshot(sub)


@route(
    "POST",
    "/v1/subscriptions/{id}/resume",
    ":SubscriptionResumeParams",
    "billing_cycle_anchor proration_behavior proration_date",
)
def resume_subscription(d: StripeDouble, p: Params, sub_id: str) -> Obj:
    p.str("billing_cycle_anchor", choices=("now", "unchanged"))
    return snapshot(d.resume(d.get("sub", sub_id)))


# -- invoices ---------------------------------------------------------------------------------


@route(
    "GET",
    "/v1/invoices",
    ":InvoiceListParams",
    "customer subscription status collection_method created due_date " + _PAGING,
)
def list_invoices(d: StripeDouble, p: Params) -> Obj:
    customer, subscription = p.str("customer"), p.str("subscription")
    status = p.str("status", choices=("draft", "open", "paid", "uncollectible", "void"))
    collection = p.str("collection_method", choices=("charge_automatically", "send_invoice"))
    created, due = created_filter(p), created_filter(p, "due_date")
    found = [
        inv
        for inv in d.db["invoices"].values()
        if (customer is None or inv["customer"] == customer)
        and (subscription is None or d.invoice_subscription(inv) == subscription)
        and (status is None or inv["status"] == status)
        and (collection is None or inv["collection_method"] == collection)
        and created(inv)
        and due(inv)
    ]
    return page(p, found, "/v1/invoices", "invoice")


@route("GET", "/v1/invoices/{id}", ":InvoiceRetrieveParams")
def retrieve_invoice(d: StripeDouble, p: Params, invoice_id: str) -> Obj:
    return snapshot(d.get("in", invoice_id))


@route("GET", "/v1/invoices/{id}/lines", ":InvoiceListLinesParams", _PAGING)
def invoice_lines(d: StripeDouble, p: Params, invoice_id: str) -> Obj:
    inv = d.get("in", invoice_id)
    lines = [dict(line, created=-index) for index, line in enumerate(inv["lines"]["data"])]
    listed = page(p, lines, f"/v1/invoices/{invoice_id}/lines", "line item")
    for line in listed["data"]:
        line.pop("created", None)
    return listed


@route(
    "POST",
    "/v1/invoices/{id}/pay",
    ":InvoicePayParams",
    "paid_out_of_band payment_method off_session forgive",
)
def pay_invoice(d: StripeDouble, p: Params, invoice_id: str) -> Obj:
    inv = d.get("in", invoice_id)
    d.check_payable(inv)
    pm_id = p.str("payment_method")
    if pm_id:
        customer = d.get("cus", inv["customer"], "customer")
        pm_id = d.resolve_payment_method(customer, pm_id, "payment_method")["id"]
    return snapshot(
        d.pay_invoice(inv, out_of_band=bool(p.bool("paid_out_of_band")), payment_method=pm_id)
    )


@route("POST", "/v1/invoices/{id}/void", ":InvoiceVoidInvoiceParams")
@route("POST", "/v1/invoices/{id}/void_invoice", ":InvoiceVoidInvoiceParams")
def void_invoice(d: StripeDouble, p: Params, invoice_id: str) -> Obj:
    inv = d.get("in", invoice_id)
    if inv["status"] not in ("open", "uncollectible"):
        raise StripeError(
            400,
            f"You can only void an open or uncollectible invoice; this one is {inv['status']}.",
            code="invoice_not_open",
        )
    sub = d.db["subscriptions"].get(d.invoice_subscription(inv) or "")
    with d.watch(*([sub] if sub else [])):
        d.void(inv)
        if sub is not None:
            d.sync_status(sub)
    return snapshot(inv)


@route("POST", "/v1/invoices/{id}/mark_uncollectible", ":InvoiceMarkUncollectibleParams")
def mark_uncollectible(d: StripeDouble, p: Params, invoice_id: str) -> Obj:
    inv = d.get("in", invoice_id)
    if inv["status"] != "open":
        raise StripeError(
            400,
            f"You can only mark an open invoice uncollectible; this one is {inv['status']}.",
            code="invoice_not_open",
        )
    sub = d.db["subscriptions"].get(d.invoice_subscription(inv) or "")
    with d.watch(*([sub] if sub else [])):
        d.mark_uncollectible(inv)
        if sub is not None:
            d.sync_status(sub)
    return snapshot(inv)


# -- events -----------------------------------------------------------------------------------


def _type_matcher(patterns: list[str]) -> Callable[[str], bool]:
    def matches(kind: str) -> bool:
        for pattern in patterns:
            if pattern.endswith("*") and kind.startswith(pattern[:-1]):
                return True
            if kind == pattern:
                return True
        return not patterns

    return matches


@route("GET", "/v1/events", ":EventListParams", "type types created delivery_success " + _PAGING)
def list_events(d: StripeDouble, p: Params) -> Obj:
    types = p.strings("types")
    if len(types) > 20:
        raise invalid("types", "You may pass at most 20 types.")
    if p.str("type") and types:
        raise invalid("types", "You may not pass both `type` and `types`.")
    matches = _type_matcher([p.str("type")] if p.str("type") else types)
    created = created_filter(p)
    success = p.bool("delivery_success")
    found = [
        evt
        for evt in d.db["events"].values()
        if matches(evt["type"])
        and created(evt)
        and (success is None or (evt["pending_webhooks"] == 0) == success)
    ]
    return page(p, found, "/v1/events", "event")


@route("GET", "/v1/events/{id}", ":EventRetrieveParams")
def retrieve_event(d: StripeDouble, p: Params, event_id: str) -> Obj:
    return snapshot(d.get("evt", event_id))


__all__ = ["CARDS", "ROUTES", "dispatch", "expand", "page"]
