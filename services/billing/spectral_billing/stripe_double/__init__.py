"""A local Stripe test double: the subset of Stripe's API billing uses, its hosted pages, a
movable clock and signed webhooks, so trial -> checkout -> upgrade -> failed payment -> recovery
can be tried on a laptop with no Stripe keys (``make run`` and the tests). It speaks HTTP to the
official ``stripe`` SDK (``base_addresses={"api": URL}``) at API version ``2026-10-28.endive``:
subscription periods on the items (``items.data[].current_period_start/end``), an invoice's
subscription under ``parent.subscription_details``. With keys set, billing talks to real Stripe,
so what is here behaves like Stripe for everything billing relies on.

Python API
----------
``StripeDouble(state_path=None, webhook_endpoints=(), auto_deliver=True, public_url=None,
retry_delays=(1, 2, 4, ... 60), max_attempts=10, after_retries="past_due",
webhook_timeout=10.0)`` holds the state
(one re-entrant lock; written atomically to ``state_path`` after each change and read back at
construction), the clock and the webhook sender. Its methods: ``now()``, ``advance(seconds=None,
to=None)``, ``set_card(customer_id, "good"|"declining"|"none", retry_open=False)``,
``dispute(invoice_id)``, ``add_webhook_endpoint(url, secret)``, ``set_auto_deliver(flag)``,
``deliveries()``, ``flush_webhooks()``, ``reset()``, ``close()`` and ``sign(payload, secret,
timestamp) -> "t=...,v1=..."`` (also :func:`sign`). ``create_app(double)`` is the WSGI app
(servable at any URL root); ``serve(double, host="127.0.0.1", port=0) -> (server, thread,
base_url)`` runs it on a threaded werkzeug server (stop: ``server.shutdown()``,
``server.server_close()``, ``double.close()``); ``main()`` is ``python -m
spectral_billing.stripe_double --port 12111 --webhook-url URL --webhook-secret whsec_...
--state FILE [--public-url URL] [--no-auto-deliver]``.

The API (``/v1``, form-encoded with brackets, ``Authorization: Bearer sk_test_...``)
---------------------------------------------------------------------------------------
- Customers: create, retrieve (a deleted one answers ``{"id", "object", "deleted": true}``),
  update (name, email, description, phone, metadata, balance, ``payment_method``,
  ``invoice_settings[default_payment_method]``), delete (cancels its subscriptions), list
  (``email``, ``created``), ``GET /v1/customers/{id}/payment_methods``.
- Products and prices: ``POST/GET /v1/products[/{id}]``; prices create (``unit_amount``,
  ``currency``, ``recurring[interval|interval_count]``, ``product`` or ``product_data[name]``,
  ``lookup_key`` (unique unless ``transfer_lookup_key``), ``nickname``, ``metadata``), retrieve,
  update, list (``lookup_keys[]``, ``active``, ``product``, ``type``, ``currency``).
- Checkout: ``POST /v1/checkout/sessions`` (``mode=subscription``; one line item;
  ``subscription_data[trial_period_days|trial_end|metadata|trial_settings]``,
  ``payment_method_collection``, ``client_reference_id``, ``customer`` or ``customer_email``,
  ``success_url``, ``cancel_url``, ``expires_at``), retrieve, list, ``/expire``.
- Subscriptions: create (``items[0][price|quantity]``, ``collection_method``,
  ``days_until_due``, ``trial_period_days``, ``trial_end``, ``trial_settings``,
  ``default_payment_method``, ``payment_behavior``, ``cancel_at_period_end``, ``metadata``),
  retrieve, list (``customer``, ``status`` incl. ``all``/``ended``; canceled ones only when
  asked), update (``items[0][id]`` + ``price``/``quantity``, ``proration_behavior``,
  ``proration_date``, ``cancel_at_period_end``, ``cancel_at``, ``pause_collection``,
  ``trial_end`` incl. ``now``, ``default_payment_method``, ``metadata``, ...), ``DELETE``
  (cancel now), ``/resume`` (a paused one).
- Invoices: list (``customer``, ``subscription``, ``status``, ``collection_method``,
  ``created[...]``, ``due_date[...]``), retrieve, ``/lines``, ``/pay`` (``paid_out_of_band`` or
  a charge, 402 ``card_declined`` on decline), ``/void`` (the SDK's path; ``/void_invoice`` too),
  ``/mark_uncollectible``. Also retrieve charges, payment intents, disputes, payment methods
  (``/attach``, ``/detach``), and list ``/v1/invoice_payments`` (``invoice``,
  ``payment[payment_intent]``).
- Billing portal: ``POST /v1/billing_portal/sessions`` (``customer``, ``return_url``).
- Events: list (``type`` with ``*`` wildcards, ``types[]``, ``created[gt|gte|lt|lte]``,
  ``delivery_success``), retrieve. Every state change records one, Stripe-shaped, with a
  snapshot of the object and ``previous_attributes`` on ``*.updated``.
- Lists: ``{"object": "list", "data", "has_more", "url"}``, newest first, ``limit`` 1-100,
  ``starting_after``/``ending_before``. ``expand[]`` replaces ids it can resolve (``customer``,
  ``latest_invoice``, ``subscription``, ``data.*``), ignores the rest.
- Errors: Stripe's ``{"error": {"type", "message", "param", "code", "doc_url"}}`` with 400
  (``parameter_missing``, ``parameter_unknown`` (checked against the SDK's own parameter
  types), ``parameter_invalid_*``), 401 (no ``sk_test_`` key), 402 (``card_error``), 404
  (``resource_missing``; an unknown URL too). A parameter Stripe has but the double does not act
  on is accepted and named in the ``Stripe-Double-Ignored`` response header.
- ``Idempotency-Key`` (POST, DELETE): the same key and parameters replay the first answer
  (``Idempotent-Replayed: true``); other parameters are a 400 ``idempotency_error``; keys live 24
  hours of double time. Answers carry ``Request-Id``; events name it (``request.id``).

Billing lifecycle
-----------------
Test cards: ``good`` (4242 4242 4242 4242) always pays; ``declining`` (4000 0000 0000 0341)
attaches, then every charge is declined. Stripe's test tokens ``pm_card_visa`` and
``pm_card_chargeCustomerFail`` work wherever a payment method id does. Completing Checkout
attaches the card as the customer's default and creates the subscription (``trialing``, with a
$0 first invoice, or charged at once), in Stripe's event order: payment_method.attached,
customer.updated, customer.subscription.created, invoice.created/finalized/paid/
payment_succeeded (or payment_failed: ``incomplete``), [customer.subscription.updated],
checkout.session.completed; then a 303 to ``success_url`` with ``{CHECKOUT_SESSION_ID}`` filled.
The clock runs, in time order: ``customer.subscription.trial_will_end`` 3 days before a trial
ends; the trial's end (a charged ``subscription_cycle`` invoice -> ``active``, or ``past_due``
on failure; with no card and ``trial_settings[end_behavior][missing_payment_method]`` ``pause``
-> ``paused`` + customer.subscription.paused, ``cancel`` -> canceled); renewals at each period
end (anchored like Stripe's billing cycle); failed automatic charges retried 3, 5 and 7 days
after the first failure (``next_payment_attempt``), after which the subscription stays
``past_due`` (what Spectral asks of Stripe's "Manage failed payments": billing applies its own
30 days of grace); with ``after_retries="unpaid"`` it becomes ``unpaid``, with ``"cancel"`` it
is canceled (``cancellation_details.reason=payment_failed``) and the invoice marked uncollectible;
``send_invoice`` invoices are finalized with ``due_date = now + days_until_due`` and
invoice.sent, and past that date invoice.overdue and ``past_due``; ``cancel_at`` (set by
``cancel_at_period_end``) ends the subscription (customer.subscription.deleted, ``ended_at``);
an ``incomplete`` one expires after 23 hours; open Checkout Sessions expire. A plan change
credits the unused time on the old price and charges the remaining time on the new one, each
``round(amount x remaining / period)`` in cents: invoiced and charged now with
``always_invoice`` (``billing_reason=subscription_update``), pending for the next invoice with
``create_prorations``, not at all with ``none``; a change of interval restarts the cycle now.
A paid invoice, or none left failing, brings a ``past_due`` subscription back to ``active``.

Hosted pages (no key; each says it is the Spectral Stripe test double and no money moves)
------------------------------------------------------------------------------------------
``/checkout/{id}`` (pay with the good card, with the declining card, start a trial without a
card when allowed, cancel back to ``cancel_url``), ``/portal/{id}`` (the card, subscriptions,
invoices; replace the card (then open invoices are charged again), cancel at period end or
not, return to ``return_url``), ``/invoices/{id}`` (pay an open invoice with the good card) and
``/invoices/{id}/pdf`` (a one-page test invoice PDF).

Controls (``/_control/``, no key; not Stripe)
---------------------------------------------
``GET /_control/`` an HTML page of customers, subscriptions, invoices and events with buttons
for all of the below; ``GET /_control/now``; ``POST /_control/advance`` (``seconds`` or ``to``,
a unix time; runs everything falling due, each at its own time); ``POST
/_control/subscriptions/{id}/advance`` (``moment=trial_end|renewal|retry``, optional
``card=good|declining|none`` first); ``POST /_control/customers/{id}/card``
(``kind=good|declining|none``, ``retry=true`` to charge open invoices again); ``POST
/_control/charges/dispute`` (``invoice``: charge.dispute.created on its charge); ``GET|POST
/_control/webhooks`` (``auto_deliver=true|false``; ``url`` + ``secret`` add an endpoint); ``GET
/_control/deliveries`` (event, type, endpoint, attempts, last status, delivered, gave_up);
``POST /_control/webhooks/flush`` (attempt everything pending now, synchronously); ``POST
/_control/reset``. A form field ``next=/path`` answers a 303 there instead of JSON.

Webhooks: each event is queued for every endpoint and POSTed as JSON with ``Stripe-Signature:
t=<unix>,v1=<HMAC-SHA256 of "t.body">`` (what ``stripe.Webhook.construct_event`` verifies) by a
background thread, never under the state lock; anything but 2xx is retried after 1, 2, 4 ... 60
seconds, up to 10 attempts. ``auto_deliver=False`` keeps them queued for a flush (or for a test
reading ``GET /v1/events`` and delivering them itself, in any order).

What differs from Stripe
------------------------
One item (one price) per subscription and per Checkout Session; Checkout in subscription mode
only, and a declined card there still completes the session with an ``incomplete``
subscription (``payment_status=unpaid``) so the failure path can be tried (real Checkout keeps
the customer on the page). No Radar, taxes, coupons, discounts, currencies' minimums, 3-D
Secure, SetupIntents or mandates; no Connect, no test clocks (one global clock instead), no
search API. Invoices are finalized as soon as they are created (no one-hour draft window) and
never emailed; the retry schedule is fixed (3, 5, 7 days), and an unpaid ``send_invoice``
invoice stays ``past_due`` without a later cancellation. A plan change during a trial, or on a
paused subscription, just swaps the price. No charge.succeeded/failed or payment_intent.*
events (the objects exist and can be retrieved), no invoice.updated or invoice.upcoming. Portal sessions never
expire. Events are kept forever (Stripe: 30 days). A 401 answers type ``authentication_error``
(Stripe says ``invalid_request_error``; the SDK raises ``stripe.AuthenticationError`` either
way). Ids have Stripe's prefixes but not its lengths or embedded account data.
"""

from spectral_billing.stripe_double.app import create_app
from spectral_billing.stripe_double.core import API_VERSION, StripeDouble
from spectral_billing.stripe_double.server import main, serve
from spectral_billing.stripe_double.webhooks import sign

__all__ = ["API_VERSION", "StripeDouble", "create_app", "main", "serve", "sign"]
