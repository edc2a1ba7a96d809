"""The double's state, clock, event log, billing lifecycle and webhook sender.

Everything lives in one JSON-shaped dict (``StripeDouble.db``) behind one re-entrant lock and is
written to the state file, when there is one, after every change. Objects are stored in Stripe's
own shapes, so an API answer or an event snapshot is a copy of what is stored.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import logging
import os
import secrets
import string
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spectral_billing.stripe_double import webhooks
from spectral_billing.stripe_double.errors import StripeError, card_declined, no_such

Obj = dict[str, Any]
log = logging.getLogger(__name__)

API_VERSION = "2026-10-28.endive"
DAY = 86400
# Smart Retries stand-in: retry a failed renewal 3, 5 and 7 days after its first failure.
RETRY_DAYS = (3, 5, 7)
TRIAL_WILL_END_NOTICE = 3 * DAY
INCOMPLETE_EXPIRY = 23 * 3600
CHECKOUT_LIFETIME = DAY
IDEMPOTENCY_TTL = DAY
DEFAULT_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0)
DEFAULT_MAX_ATTEMPTS = 10
STATE_VERSION = 1

# The test cards: kind -> (brand, last4, number as printed on the hosted pages).
CARDS: dict[str, tuple[str, str, str]] = {
    "good": ("visa", "4242", "4242 4242 4242 4242"),
    "declining": ("visa", "0341", "4000 0000 0000 0341"),
}
# Stripe's test PaymentMethod tokens, accepted wherever a payment method id is.
CARD_TOKENS = {"pm_card_visa": "good", "pm_card_chargeCustomerFail": "declining"}

# id prefix -> (collection in the state, the name Stripe's "No such ..." error uses)
COLLECTIONS = {
    "cus": ("customers", "customer"),
    "prod": ("products", "product"),
    "price": ("prices", "price"),
    "cs": ("checkout_sessions", "checkout.session"),
    "bps": ("portal_sessions", "billing_portal.session"),
    "sub": ("subscriptions", "subscription"),
    "in": ("invoices", "invoice"),
    "pm": ("payment_methods", "PaymentMethod"),
    "pi": ("payment_intents", "payment_intent"),
    "ch": ("charges", "charge"),
    "dp": ("disputes", "dispute"),
    "inpay": ("invoice_payments", "invoice_payment"),
    "evt": ("events", "event"),
}
_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def snapshot(value: Any) -> Any:
    """A deep, JSON-clean copy (what an answer or an event carries)."""
    return json.loads(json.dumps(value))


def diff(before: Any, after: Any) -> Any:
    """Stripe's ``previous_attributes``: for each changed key its old value (nested for hashes)."""
    changed: Obj = {}
    for key in set(before) | set(after):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and key != "metadata":
            changed[key] = diff(old, new)
        else:
            changed[key] = old
    return changed


def add_interval(ts: int, interval: str, count: int) -> int:
    """``ts`` plus ``count`` intervals, months clamped to the month's last day as Stripe does."""
    if interval == "day":
        return ts + count * DAY
    if interval == "week":
        return ts + count * 7 * DAY
    months = count * (12 if interval == "year" else 1)
    moment = datetime.fromtimestamp(ts, UTC)
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def period_end_after(anchor: int, interval: str, count: int, after: int) -> int:
    """The first anchor-aligned boundary strictly after ``after``."""
    step = 0
    while (boundary := add_interval(anchor, interval, step * count)) <= after:
        step += 1
    return boundary


def prorate(amount: int, remaining: int, length: int) -> int:
    """``amount * remaining / length`` in whole cents, half away from zero."""
    if length <= 0:
        return 0
    sign = -1 if amount < 0 else 1
    return sign * ((2 * abs(amount) * remaining + length) // (2 * length))


def money(cents: int, currency: str = "usd") -> str:
    sign = "-" if cents < 0 else ""
    symbol = "$" if currency == "usd" else currency.upper() + " "
    return f"{sign}{symbol}{abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def fmt_date(ts: int | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%d %b %Y %H:%M UTC")


def _empty_db() -> Obj:
    db: Obj = {name: {} for name, _ in COLLECTIONS.values()}
    db.update(
        version=STATE_VERSION,
        clock_offset=0.0,
        auto_deliver=True,
        deliveries=[],
        idempotency={},
        meta={},
        pending_items={},
        portal_configuration=new_id("bpc"),
    )
    return db


class StripeDouble:
    """Stripe's billing subset in memory: state, a movable clock and a webhook sender.

    ``state_path``: JSON file the state is written to (atomically) after each change and read
    back at construction. ``webhook_endpoints``: ``(url, secret)`` pairs every event is POSTed
    to, signed. ``auto_deliver``: whether a background thread delivers them (else they wait
    for :meth:`flush_webhooks`). ``public_url``: where browsers reach the hosted pages (learnt
    from the first request when not given). ``retry_delays`` and ``max_attempts``: the
    delivery backoff, in real seconds.
    """

    api_version = API_VERSION

    def __init__(
        self,
        *,
        state_path: str | os.PathLike[str] | None = None,
        webhook_endpoints: Iterable[tuple[str, str]] = (),
        auto_deliver: bool = True,
        public_url: str | None = None,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        after_retries: str = "past_due",
        webhook_timeout: float = 10.0,
    ) -> None:
        self.lock = threading.RLock()
        self.state_path = Path(state_path) if state_path is not None else None
        self.db: Obj = _empty_db()
        self.public_url = public_url.rstrip("/") if public_url else None
        self.retry_delays = tuple(retry_delays) or (1.0,)
        self.max_attempts = max_attempts
        self.webhook_timeout = webhook_timeout
        # What happens when the last retry of a renewal fails, as Stripe's "Manage failed
        # payments" setting says: "past_due" (leave it past due, what Spectral asks for: billing
        # applies its own 30 days of grace), "unpaid", or "cancel".
        if after_retries not in ("past_due", "unpaid", "cancel"):
            raise ValueError("after_retries is past_due, unpaid or cancel")
        self.after_retries = after_retries
        self.endpoints: list[tuple[str, str]] = []
        self._frozen: int | None = None
        self._request: Obj = {"id": None, "idempotency_key": None}
        self._depth = 0
        self._dirty = False
        self._in_flight: set[str] = set()
        self._delivered = threading.Condition(threading.Lock())
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._sender: threading.Thread | None = None
        self._broken: set[tuple[int, str, str]] = set()
        if self.state_path is not None and self.state_path.exists():
            self._load()
        self.db["auto_deliver"] = auto_deliver
        for url, secret in webhook_endpoints:
            self.add_webhook_endpoint(url, secret)
        configured = {url for url, _ in self.endpoints}
        for delivery in self.db["deliveries"]:
            if not delivery["delivered"] and delivery["endpoint"] not in configured:
                delivery["gave_up"] = True
                delivery["last_error"] = "the endpoint is no longer configured"

    # -- clock -------------------------------------------------------------------------------

    def now(self) -> int:
        """The double's time: real time plus the offset ``advance`` has added."""
        if self._frozen is not None:
            return self._frozen
        return int(time.time() + self.db["clock_offset"])

    def advance(self, seconds: float | None = None, to: int | None = None) -> list[str]:
        """Move the clock forward and run, in time order, every billing event falling due."""
        with self.transaction():
            start = self.now()
            if to is None:
                if seconds is None:
                    raise StripeError(400, "Give seconds or to.", param="seconds")
                to = start + int(seconds)
            if to < start:
                raise StripeError(
                    400, f"The clock only moves forward (now is {start}).", param="to"
                )
            ran = self.run_due(to)
            self.db["clock_offset"] = to - time.time()
            self._dirty = True
            return ran

    def run_due(self, until: int) -> list[str]:
        """Run every scheduled billing event due at or before ``until``, each at its own time."""
        ran: list[str] = []
        floor = self.now()
        for _ in range(100_000):
            due = min(
                (d for d in self._due() if (d[0], d[2], d[3]) not in self._broken), default=None
            )
            if due is None or due[0] > until:
                break
            at, _priority, kind, object_id = due
            self._frozen = max(at, floor)
            try:
                getattr(self, f"_due_{kind}")(object_id)
            except Exception:
                # A bug must not wedge every later request on the same due event.
                log.exception("Stripe test double: %s %s at %s failed", kind, object_id, at)
                self._broken.add((at, kind, object_id))
            finally:
                self._frozen = None
            ran.append(f"{fmt_date(at)} {kind} {object_id}")
            self._dirty = True
        return ran

    def _due(self) -> Iterator[tuple[int, int, str, str]]:
        meta = self.db["meta"]
        for sub in self.db["subscriptions"].values():
            status, sid = sub["status"], sub["id"]
            if status in ("canceled", "incomplete_expired"):
                continue
            if status == "incomplete":
                yield sub["created"] + INCOMPLETE_EXPIRY, 3, "expire_incomplete", sid
                continue
            if sub["cancel_at"] is not None:
                yield sub["cancel_at"], 0, "cancel_at", sid
            if status == "trialing":
                yield sub["trial_end"], 1, "trial_end", sid
                if meta.get(sid, {}).get("trial_will_end_sent") != sub["trial_end"]:
                    notice = max(sub["trial_end"] - TRIAL_WILL_END_NOTICE, sub["trial_start"])
                    yield notice, 2, "trial_will_end", sid
            elif status in ("active", "past_due", "unpaid"):
                yield self.item(sub)["current_period_end"], 1, "renew", sid
            pause = sub["pause_collection"]
            if pause and pause.get("resumes_at"):
                yield pause["resumes_at"], 3, "unpause_collection", sid
        for inv in self.db["invoices"].values():
            if inv["status"] != "open":
                continue
            if inv["collection_method"] == "charge_automatically":
                if inv["next_payment_attempt"] is not None:
                    yield inv["next_payment_attempt"], 4, "retry", inv["id"]
            elif inv["due_date"] is not None and not meta.get(inv["id"], {}).get("overdue"):
                yield inv["due_date"], 4, "overdue", inv["id"]
        for session in self.db["checkout_sessions"].values():
            if session["status"] == "open":
                yield session["expires_at"], 5, "expire_session", session["id"]

    # -- transactions, persistence -----------------------------------------------------------

    @contextlib.contextmanager
    def transaction(
        self, request_id: str | None = None, idempotency_key: str | None = None
    ) -> Iterator[None]:
        """Hold the state lock for one operation: first run whatever fell due in real time,
        then the operation (its events name ``request_id``), then save and wake the sender."""
        with self.lock:
            outer = self._depth == 0
            self._depth += 1
            try:
                if outer:
                    self.run_due(self.now())
                    self._request = {"id": request_id, "idempotency_key": idempotency_key}
                yield
            finally:
                self._depth -= 1
                if outer:
                    self._request = {"id": None, "idempotency_key": None}
                    if self._dirty:
                        self._save()
                        self._dirty = False
        if outer:
            self._wake.set()

    def touch(self) -> None:
        self._dirty = True

    def _save(self) -> None:
        if self.state_path is None:
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(self.db, separators=(",", ":"))
        fd, tmp = tempfile.mkstemp(prefix=".stripe-double-", dir=self.state_path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.state_path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _load(self) -> None:
        assert self.state_path is not None
        loaded = json.loads(self.state_path.read_text(encoding="utf-8"))
        if loaded.get("version") != STATE_VERSION:
            raise ValueError(f"{self.state_path}: not a Stripe double state file (version)")
        fresh = _empty_db()
        fresh.update(loaded)
        self.db = fresh

    def reset(self) -> None:
        """Forget everything (customers, subscriptions, events, deliveries, clock offset)."""
        with self.transaction():
            auto = self.db["auto_deliver"]
            self.db = _empty_db()
            self.db["auto_deliver"] = auto
            self._broken.clear()
            self._dirty = True

    # -- lookups -----------------------------------------------------------------------------

    def collection(self, prefix: str) -> dict[str, Obj]:
        result: dict[str, Obj] = self.db[COLLECTIONS[prefix][0]]
        return result

    def find(self, object_id: Any) -> Obj | None:
        """Any stored object by id (``cs_test_...`` included), or ``None``."""
        if not isinstance(object_id, str) or "_" not in object_id:
            return None
        prefix = object_id.split("_", 1)[0]
        if prefix not in COLLECTIONS:
            return None
        return self.collection(prefix).get(object_id)

    def get(self, prefix: str, object_id: Any, param: str = "id") -> Obj:
        """The object or Stripe's 404 ``No such <kind>``."""
        obj = self.collection(prefix).get(object_id) if isinstance(object_id, str) else None
        if obj is None or obj.get("deleted"):
            raise no_such(COLLECTIONS[prefix][1], str(object_id), param)
        return obj

    def meta(self, object_id: str) -> Obj:
        result: Obj = self.db["meta"].setdefault(object_id, {})
        return result

    @staticmethod
    def item(sub: Obj) -> Obj:
        result: Obj = sub["items"]["data"][0]
        return result

    def url(self, path: str) -> str:
        return (self.public_url or "http://127.0.0.1:12111") + path

    # -- events and webhooks -----------------------------------------------------------------

    def emit(self, type: str, obj: Obj, previous: Obj | None = None) -> Obj:
        """Record an event with a snapshot of ``obj`` and queue it for every endpoint."""
        data: Obj = {"object": snapshot(obj)}
        if previous is not None:
            data["previous_attributes"] = snapshot(previous)
        event: Obj = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": len(self.endpoints),
            "request": dict(self._request),
            "type": type,
        }
        self.db["events"][event["id"]] = event
        for url, _secret in self.endpoints:
            self.db["deliveries"].append(
                {
                    "id": new_id("whd", 16),
                    "event": event["id"],
                    "type": type,
                    "endpoint": url,
                    "attempts": 0,
                    "last_status": None,
                    "last_error": None,
                    "delivered": False,
                    "gave_up": False,
                    "created": time.time(),
                    "next_at": 0.0,
                }
            )
        self._dirty = True
        return event

    @contextlib.contextmanager
    def watch(self, *objects: Obj) -> Iterator[None]:
        """Emit ``<kind>.updated`` with ``previous_attributes`` for each of ``objects`` the block
        changed (a subscription the block canceled has had its ``.deleted`` event instead)."""
        before = [(obj, snapshot(obj)) for obj in objects]
        yield
        for obj, old in before:
            if obj.get("deleted"):
                continue
            if obj["object"] == "subscription" and obj["status"] == "canceled" != old["status"]:
                continue
            previous = diff(old, obj)
            if previous:
                kind = "customer.subscription" if obj["object"] == "subscription" else obj["object"]
                self.emit(f"{kind}.updated", obj, previous)

    @staticmethod
    def sign(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
        """The ``Stripe-Signature`` header Stripe would send for ``payload``."""
        return webhooks.sign(payload, secret, timestamp)

    def add_webhook_endpoint(self, url: str, secret: str) -> None:
        """Send every event recorded from now on to ``url``, signed with ``secret``."""
        if not url.startswith(("http://", "https://")):
            raise ValueError("webhook URLs must be http or https")
        with self.lock:
            if (url, secret) not in self.endpoints:
                self.endpoints.append((url, secret))
            if self._sender is None:
                self._stop.clear()
                self._sender = threading.Thread(
                    target=self._send_forever, name="stripe-double-webhooks", daemon=True
                )
                self._sender.start()
        self._wake.set()

    def set_auto_deliver(self, enabled: bool) -> None:
        with self.transaction():
            self.db["auto_deliver"] = bool(enabled)
            self._dirty = True

    def deliveries(self) -> list[Obj]:
        with self.lock:
            return [
                {k: v for k, v in item.items() if k != "next_at"}
                | {"in_flight": item["id"] in self._in_flight}
                for item in self.db["deliveries"]
            ]

    def _next_job(self, now: float, skip: set[str], ignore_schedule: bool) -> tuple[Obj, float]:
        """The next delivery to attempt (and its body), or ``({}, seconds until one is due)``."""
        wait = 3600.0
        secrets_by_url = dict(self.endpoints)
        for delivery in self.db["deliveries"]:
            if delivery["delivered"] or delivery["gave_up"] or delivery["id"] in self._in_flight:
                continue
            if delivery["id"] in skip or delivery["endpoint"] not in secrets_by_url:
                continue
            if not ignore_schedule and delivery["next_at"] > now:
                wait = min(wait, delivery["next_at"] - now)
                continue
            event = self.db["events"].get(delivery["event"])
            if event is None:
                delivery["gave_up"] = True
                continue
            self._in_flight.add(delivery["id"])
            job = {
                "id": delivery["id"],
                "url": delivery["endpoint"],
                "secret": secrets_by_url[delivery["endpoint"]],
                "body": json.dumps(event, indent=2).encode(),
            }
            return job, 0.0
        return {}, wait

    def _attempt_delivery(self, job: Obj) -> bool:
        status, error = webhooks.post(job["url"], job["body"], job["secret"], self.webhook_timeout)
        ok = status is not None and 200 <= status < 300
        with self.lock:
            self._in_flight.discard(job["id"])
            for delivery in self.db["deliveries"]:
                if delivery["id"] != job["id"]:
                    continue
                delivery["attempts"] += 1
                delivery["last_status"] = status
                delivery["last_error"] = error
                delivery["last_attempt_at"] = time.time()
                if ok:
                    delivery["delivered"] = True
                    event = self.db["events"].get(delivery["event"])
                    if event is not None and event["pending_webhooks"] > 0:
                        event["pending_webhooks"] -= 1
                elif delivery["attempts"] >= self.max_attempts:
                    delivery["gave_up"] = True
                else:
                    step = min(delivery["attempts"] - 1, len(self.retry_delays) - 1)
                    delivery["next_at"] = time.time() + self.retry_delays[step]
            self._save()
        with self._delivered:
            self._delivered.notify_all()
        return ok

    def _send_forever(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            with self.lock:
                if self.db["auto_deliver"]:
                    job, wait = self._next_job(time.time(), set(), ignore_schedule=False)
                else:
                    job, wait = {}, 3600.0
            if job:
                self._attempt_delivery(job)
                continue
            self._wake.wait(timeout=max(0.01, min(wait, 3600.0)))

    def flush_webhooks(self, timeout: float = 60.0) -> Obj:
        """Attempt every undelivered event once now, whatever its backoff, and wait for the
        attempts the sender thread has in flight; answers the counts."""
        tried: set[str] = set()
        delivered = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                job, _wait = self._next_job(time.time(), tried, ignore_schedule=True)
            if not job:
                break
            tried.add(job["id"])
            delivered += self._attempt_delivery(job)
        with self._delivered:
            while self._in_flight and time.monotonic() < deadline:
                self._delivered.wait(timeout=0.05)
        with self.lock:
            pending = sum(
                1 for d in self.db["deliveries"] if not d["delivered"] and not d["gave_up"]
            )
        return {"attempted": len(tried), "delivered": delivered, "pending": pending}

    def close(self) -> None:
        """Stop the webhook sender (undelivered events stay queued, and saved)."""
        self._stop.set()
        self._wake.set()
        if self._sender is not None:
            self._sender.join(timeout=self.webhook_timeout + 1)
            self._sender = None

    # -- customers and cards -----------------------------------------------------------------

    def new_customer(
        self,
        *,
        name: str | None = None,
        email: str | None = None,
        description: str | None = None,
        phone: str | None = None,
        metadata: dict[str, str] | None = None,
        balance: int = 0,
        invoice_prefix: str | None = None,
        emit: bool = True,
    ) -> Obj:
        customer: Obj = {
            "id": new_id("cus", 14),
            "object": "customer",
            "address": None,
            "balance": balance,
            "created": self.now(),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": description,
            "discount": None,
            "email": email,
            "invoice_prefix": invoice_prefix
            or "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8)),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": metadata or {},
            "name": name,
            "next_invoice_sequence": 1,
            "phone": phone,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }
        self.db["customers"][customer["id"]] = customer
        if emit:
            self.emit("customer.created", customer)
        return customer

    def new_payment_method(self, customer: Obj | None, kind: str, *, emit: bool = True) -> Obj:
        brand, last4, _printed = CARDS[kind]
        pm: Obj = {
            "id": new_id("pm"),
            "object": "payment_method",
            "allow_redisplay": "always",
            "billing_details": {
                "address": {
                    "city": None,
                    "country": "US",
                    "line1": None,
                    "line2": None,
                    "postal_code": "94103",
                    "state": None,
                },
                "email": customer["email"] if customer else None,
                "name": customer["name"] if customer else None,
                "phone": None,
                "tax_id": None,
            },
            "card": {
                "brand": brand,
                "checks": {
                    "address_line1_check": None,
                    "address_postal_code_check": "pass",
                    "cvc_check": "pass",
                },
                "country": "US",
                "display_brand": brand,
                "exp_month": 12,
                "exp_year": datetime.fromtimestamp(self.now(), UTC).year + 3,
                "fingerprint": "test" + last4 + "fingerprnt",
                "funding": "credit",
                "generated_from": None,
                "last4": last4,
                "networks": {"available": [brand], "preferred": None},
                "regulated_status": "unregulated",
                "three_d_secure_usage": {"supported": True},
                "wallet": None,
            },
            "created": self.now(),
            "customer": None,
            "livemode": False,
            "metadata": {},
            "type": "card",
        }
        self.db["payment_methods"][pm["id"]] = pm
        if customer is not None:
            self.attach(pm, customer, emit=emit)
        return pm

    def attach(self, pm: Obj, customer: Obj, *, emit: bool = True) -> None:
        pm["customer"] = customer["id"]
        pm["billing_details"]["email"] = customer["email"]
        pm["billing_details"]["name"] = customer["name"]
        if emit:
            self.emit("payment_method.attached", pm)

    def detach(self, pm: Obj) -> None:
        previous = {"customer": pm["customer"]}
        pm["customer"] = None
        self.emit("payment_method.detached", pm, previous)

    def resolve_payment_method(
        self, customer: Obj, value: str, param: str, *, emit: bool = True
    ) -> Obj:
        """``value`` as a payment method of ``customer``; a test token attaches a new card."""
        if value in CARD_TOKENS:
            return self.new_payment_method(customer, CARD_TOKENS[value], emit=emit)
        pm = self.get("pm", value, param)
        if pm["customer"] is None:
            self.attach(pm, customer, emit=emit)
        elif pm["customer"] != customer["id"]:
            raise StripeError(
                400,
                f"The payment method {value} belongs to another customer.",
                param=param,
                code="payment_method_invalid_parameter",
            )
        return pm

    def set_card(self, customer_id: str, kind: str, *, retry_open: bool = False) -> Obj:
        """Give the customer a new default card (``good``/``declining``) or none (``none``):
        the old default is detached and subscriptions paying with it switch to the new one;
        with ``retry_open`` their open invoices are then charged again (the portal does)."""
        if kind not in (*CARDS, "none"):
            raise StripeError(400, "kind must be good, declining or none", param="kind")
        with self.transaction():
            customer = self.get("cus", customer_id)
            old_id = customer["invoice_settings"]["default_payment_method"]
            subs = [
                s for s in self.customer_subscriptions(customer["id"]) if s["status"] != "canceled"
            ]
            with self.watch(customer):
                new = self.new_payment_method(customer, kind) if kind != "none" else None
                customer["invoice_settings"]["default_payment_method"] = new["id"] if new else None
            old = self.db["payment_methods"].get(old_id) if old_id else None
            if old is not None and old["customer"] == customer["id"]:
                self.detach(old)
            for sub in subs:
                if old_id and sub["default_payment_method"] == old_id:
                    with self.watch(sub):
                        sub["default_payment_method"] = new["id"] if new else None
            if retry_open and new is not None:
                self.retry_open_invoices(customer)
            return customer

    def customer_subscriptions(self, customer_id: str) -> list[Obj]:
        return [s for s in self.db["subscriptions"].values() if s["customer"] == customer_id]

    def payment_method_for(self, inv: Obj, explicit: str | None = None) -> Obj | None:
        if explicit:
            return self.db["payment_methods"].get(explicit)
        sub = self.db["subscriptions"].get(self.invoice_subscription(inv) or "")
        customer = self.db["customers"].get(inv["customer"], {})
        candidates = [
            sub["default_payment_method"] if sub else None,
            inv.get("default_payment_method"),
            customer.get("invoice_settings", {}).get("default_payment_method"),
        ]
        for pm_id in candidates:
            pm = self.db["payment_methods"].get(pm_id) if pm_id else None
            if pm is not None and pm["customer"] == inv["customer"]:
                return pm
        return None

    @staticmethod
    def declines(pm: Obj | None) -> bool:
        return pm is None or pm["card"]["last4"] == CARDS["declining"][1]

    def delete_customer(self, customer_id: str) -> Obj:
        with self.transaction():
            customer = self.get("cus", customer_id)
            for sub in self.customer_subscriptions(customer_id):
                if sub["status"] not in ("canceled", "incomplete_expired"):
                    self.cancel(sub, reason="cancellation_requested")
            self.emit("customer.deleted", customer)
            self.meta(customer_id)["deleted_customer"] = snapshot(customer)
            tombstone = {"id": customer_id, "object": "customer", "deleted": True}
            self.db["customers"][customer_id] = tombstone
            return tombstone

    # -- prices ------------------------------------------------------------------------------

    def price_amount(self, item: Obj) -> int:
        return int(item["price"]["unit_amount"] or 0) * int(item["quantity"] or 1)

    def product_name(self, price: Obj) -> str:
        product = self.db["products"].get(price["product"])
        return str(product["name"]) if product else str(price["product"])

    @staticmethod
    def plan_of(price: Obj) -> Obj:
        recurring = price["recurring"] or {}
        return {
            "id": price["id"],
            "object": "plan",
            "active": price["active"],
            "amount": price["unit_amount"],
            "amount_decimal": price["unit_amount_decimal"],
            "billing_scheme": "per_unit",
            "created": price["created"],
            "currency": price["currency"],
            "interval": recurring.get("interval"),
            "interval_count": recurring.get("interval_count", 1),
            "livemode": False,
            "metadata": price["metadata"],
            "meter": None,
            "nickname": price["nickname"],
            "product": price["product"],
            "tiers_mode": None,
            "transform_usage": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        }

    # -- subscriptions -----------------------------------------------------------------------

    def new_subscription(
        self,
        customer: Obj,
        price: Obj,
        *,
        quantity: int = 1,
        collection_method: str = "charge_automatically",
        days_until_due: int | None = None,
        trial_end: int | None = None,
        trial_missing_pm: str = "create_invoice",
        metadata: dict[str, str] | None = None,
        default_payment_method: str | None = None,
        description: str | None = None,
        cancel_at_period_end: bool = False,
    ) -> Obj:
        """A subscription as Stripe creates it, before its first invoice: ``trialing`` with a
        trial, ``active`` for ``send_invoice``, else ``incomplete`` until that invoice is paid."""
        now = self.now()
        sub_id = new_id("sub")
        recurring = price["recurring"]
        if trial_end is not None and trial_end > now:
            status, period_end, anchor = "trialing", trial_end, trial_end
        else:
            trial_end = None
            period_end = add_interval(now, recurring["interval"], recurring["interval_count"])
            anchor = now
            status = "active" if collection_method == "send_invoice" else "incomplete"
        item = {
            "id": new_id("si", 14),
            "object": "subscription_item",
            "billing_thresholds": None,
            "created": now,
            "current_period_end": period_end,
            "current_period_start": now,
            "discounts": [],
            "metadata": {},
            "plan": self.plan_of(price),
            "price": snapshot(price),
            "quantity": quantity,
            "subscription": sub_id,
            "tax_rates": [],
        }
        sub: Obj = {
            "id": sub_id,
            "object": "subscription",
            "application": None,
            "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": anchor,
            "billing_cycle_anchor_config": None,
            "billing_mode": {"flexible": None, "type": "classic"},
            "billing_thresholds": None,
            "cancel_at": period_end if cancel_at_period_end else None,
            "cancel_at_period_end": cancel_at_period_end,
            "canceled_at": now if cancel_at_period_end else None,
            "cancellation_details": {
                "comment": None,
                "feedback": None,
                "reason": "cancellation_requested" if cancel_at_period_end else None,
            },
            "collection_method": collection_method,
            "created": now,
            "currency": price["currency"],
            "customer": customer["id"],
            "days_until_due": days_until_due,
            "default_payment_method": default_payment_method,
            "default_source": None,
            "default_tax_rates": [],
            "description": description,
            "discounts": [],
            "ended_at": None,
            "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
            "items": {
                "object": "list",
                "data": [item],
                "has_more": False,
                "total_count": 1,
                "url": f"/v1/subscription_items?subscription={sub_id}",
            },
            "latest_invoice": None,
            "livemode": False,
            "metadata": metadata or {},
            "next_pending_invoice_item_invoice": None,
            "on_behalf_of": None,
            "pause_collection": None,
            "payment_settings": {
                "payment_method_options": None,
                "payment_method_types": None,
                "save_default_payment_method": "off",
            },
            "pending_invoice_item_interval": None,
            "pending_setup_intent": None,
            "pending_update": None,
            "schedule": None,
            "start_date": now,
            "status": status,
            "test_clock": None,
            "transfer_data": None,
            "trial_end": trial_end,
            "trial_settings": {"end_behavior": {"missing_payment_method": trial_missing_pm}},
            "trial_start": now if trial_end else None,
        }
        self.db["subscriptions"][sub_id] = sub
        return sub

    def start_subscription(self, sub: Obj, *, collect: bool = True) -> Obj:
        """Emit ``customer.subscription.created`` and raise, finalize and (unless ``collect`` is
        false: ``payment_behavior=default_incomplete``) collect the first invoice."""
        invoice_id = new_id("in")
        sub["latest_invoice"] = invoice_id
        self.emit("customer.subscription.created", sub)
        with self.watch(sub):
            item = self.item(sub)
            product = self.product_name(item["price"])
            if sub["status"] == "trialing":
                lines = [
                    self.line(
                        sub,
                        f"Trial period for {product}",
                        0,
                        item["current_period_start"],
                        item["current_period_end"],
                    )
                ]
            else:
                lines = [
                    self.period_line(sub, item["current_period_start"], item["current_period_end"])
                ]
            inv = self.new_invoice(
                sub["customer"],
                sub,
                "subscription_create",
                lines,
                sub["created"],
                sub["created"],
                invoice_id,
            )
            self.finalize(inv)
            if collect or inv["amount_due"] == 0 or sub["collection_method"] == "send_invoice":
                self.collect(inv)
            self.sync_status(sub)
        return sub

    def cancel(self, sub: Obj, *, reason: str = "cancellation_requested") -> None:
        """Cancel now: ``customer.subscription.deleted``; its open invoices stop retrying."""
        now = self.now()
        sub["status"] = "canceled"
        if sub["canceled_at"] is None:
            sub["canceled_at"] = now
        sub["ended_at"] = now
        if sub["cancellation_details"]["reason"] is None or reason != "cancellation_requested":
            sub["cancellation_details"]["reason"] = reason
        for inv in self.db["invoices"].values():
            if self.invoice_subscription(inv) == sub["id"] and inv["status"] == "open":
                inv["next_payment_attempt"] = None
                inv["auto_advance"] = False
        self.db["pending_items"].pop(sub["id"], None)
        self.emit("customer.subscription.deleted", sub)

    def set_cancel_at_period_end(self, sub: Obj, flag: bool) -> None:
        if flag == sub["cancel_at_period_end"]:
            return
        item = self.item(sub)
        sub["cancel_at_period_end"] = flag
        sub["cancel_at"] = item["current_period_end"] if flag else None
        sub["canceled_at"] = self.now() if flag else None
        sub["cancellation_details"]["reason"] = "cancellation_requested" if flag else None

    def sync_status(self, sub: Obj) -> None:
        """Recompute a live subscription's status from its invoices, as Stripe does after a
        payment succeeds or fails: paid first invoice -> active (or trialing); an open invoice
        that failed a charge, or a ``send_invoice`` one past its due date -> past_due; none ->
        active again."""
        status = sub["status"]
        if status in ("canceled", "incomplete_expired", "paused"):
            return
        now = self.now()
        in_trial = sub["trial_end"] is not None and sub["trial_end"] > now
        invoices = [
            i for i in self.db["invoices"].values() if self.invoice_subscription(i) == sub["id"]
        ]
        if status == "incomplete":
            first = next(
                (i for i in invoices if i["billing_reason"] == "subscription_create"), None
            )
            if first is not None and first["status"] == "paid":
                sub["status"] = "trialing" if in_trial else "active"
            return
        delinquent = any(
            i["status"] == "open"
            and (
                (i["collection_method"] == "charge_automatically" and i["attempt_count"] > 0)
                or (
                    i["collection_method"] == "send_invoice"
                    and i["due_date"] is not None
                    and i["due_date"] <= now
                )
            )
            for i in invoices
        )
        if delinquent and status in ("active", "trialing"):
            sub["status"] = "past_due"
        elif not delinquent and status in ("past_due", "unpaid"):
            sub["status"] = "trialing" if in_trial else "active"
        customer = self.db["customers"].get(sub["customer"])
        if customer is not None and not customer.get("deleted"):
            customer["delinquent"] = any(
                s["status"] in ("past_due", "unpaid")
                for s in self.customer_subscriptions(customer["id"])
            )

    def start_new_period(self, sub: Obj, start: int, *, reset_anchor: bool) -> tuple[int, int]:
        item = self.item(sub)
        recurring = item["price"]["recurring"]
        old = (item["current_period_start"], item["current_period_end"])
        if reset_anchor:
            sub["billing_cycle_anchor"] = start
        end = period_end_after(
            sub["billing_cycle_anchor"], recurring["interval"], recurring["interval_count"], start
        )
        item["current_period_start"], item["current_period_end"] = start, end
        if sub["cancel_at_period_end"]:
            sub["cancel_at"] = end
        return old

    def cycle_invoice(self, sub: Obj, reason: str, period: tuple[int, int]) -> Obj:
        """Invoice the subscription's current period (plus any pending prorations)."""
        item = self.item(sub)
        lines = self.db["pending_items"].pop(sub["id"], [])
        lines.append(
            self.period_line(sub, item["current_period_start"], item["current_period_end"])
        )
        inv = self.new_invoice(sub["customer"], sub, reason, lines, *period)
        sub["latest_invoice"] = inv["id"]
        pause = sub["pause_collection"]
        if pause:
            behavior = pause.get("behavior")
            if behavior == "keep_as_draft":
                inv["auto_advance"] = False
                return inv
            self.finalize(inv)
            if behavior == "void":
                self.void(inv)
            else:
                self.mark_uncollectible(inv)
            return inv
        self.finalize(inv)
        self.collect(inv)
        return inv

    # -- scheduled billing events ------------------------------------------------------------

    def _due_trial_will_end(self, sub_id: str) -> None:
        sub = self.db["subscriptions"][sub_id]
        self.meta(sub_id)["trial_will_end_sent"] = sub["trial_end"]
        self.emit("customer.subscription.trial_will_end", sub)

    def _due_trial_end(self, sub_id: str) -> None:
        self.end_trial(self.db["subscriptions"][sub_id])

    def end_trial(self, sub: Obj) -> None:
        """The trial is over (at ``trial_end``, or now for ``trial_end=now``): invoice and charge
        the first paid period, or pause or cancel when there is no card and the trial settings
        say so."""
        now = self.now()
        customer = self.db["customers"].get(sub["customer"], {})
        pm_id = sub["default_payment_method"] or customer.get("invoice_settings", {}).get(
            "default_payment_method"
        )
        behavior = sub["trial_settings"]["end_behavior"]["missing_payment_method"]
        charge_auto = sub["collection_method"] == "charge_automatically"
        if sub["cancel_at_period_end"]:
            # Canceled at the period's end during a trial: the trial's end is that end, and
            # nothing is invoiced (Stripe's behaviour).
            sub["trial_end"] = min(sub["trial_end"], now)
            self.cancel(sub, reason="cancellation_requested")
            return
        with self.watch(sub):
            sub["trial_end"] = min(sub["trial_end"], now)
            if pm_id is None and charge_auto and behavior == "cancel":
                self.cancel(sub, reason="cancellation_requested")
                return
            if pm_id is None and charge_auto and behavior == "pause":
                sub["status"] = "paused"
                self.emit("customer.subscription.paused", sub)
                return
            sub["status"] = "active"
            period = self.start_new_period(sub, now, reset_anchor=True)
            self.cycle_invoice(sub, "subscription_cycle", period)
            self.sync_status(sub)

    def _due_renew(self, sub_id: str) -> None:
        sub = self.db["subscriptions"][sub_id]
        with self.watch(sub):
            period = self.start_new_period(
                sub, self.item(sub)["current_period_end"], reset_anchor=False
            )
            self.cycle_invoice(sub, "subscription_cycle", period)
            self.sync_status(sub)

    def _due_cancel_at(self, sub_id: str) -> None:
        self.cancel(self.db["subscriptions"][sub_id])

    def _due_expire_incomplete(self, sub_id: str) -> None:
        sub = self.db["subscriptions"][sub_id]
        with self.watch(sub):
            for inv in list(self.db["invoices"].values()):
                if self.invoice_subscription(inv) == sub_id and inv["status"] == "open":
                    self.void(inv)
            sub["status"] = "incomplete_expired"
            sub["ended_at"] = self.now()

    def _due_unpause_collection(self, sub_id: str) -> None:
        sub = self.db["subscriptions"][sub_id]
        with self.watch(sub):
            sub["pause_collection"] = None

    def _due_retry(self, invoice_id: str) -> None:
        inv = self.db["invoices"][invoice_id]
        sub = self.db["subscriptions"].get(self.invoice_subscription(inv) or "")
        with self.watch(*([sub] if sub else [])):
            self.attempt(inv, scheduled=True)
            if sub is not None:
                self.sync_status(sub)

    def _due_overdue(self, invoice_id: str) -> None:
        inv = self.db["invoices"][invoice_id]
        self.meta(invoice_id)["overdue"] = True
        sub = self.db["subscriptions"].get(self.invoice_subscription(inv) or "")
        self.emit("invoice.overdue", inv)
        if sub is not None:
            with self.watch(sub):
                self.sync_status(sub)

    def _due_expire_session(self, session_id: str) -> None:
        session = self.db["checkout_sessions"][session_id]
        session["status"] = "expired"
        self.emit("checkout.session.expired", session)

    # -- invoices ----------------------------------------------------------------------------

    @staticmethod
    def invoice_subscription(inv: Obj) -> str | None:
        parent = inv.get("parent") or {}
        details = parent.get("subscription_details") or {}
        value = details.get("subscription")
        return value if isinstance(value, str) else None

    def line(
        self,
        sub: Obj,
        description: str,
        amount: int,
        start: int,
        end: int,
        *,
        proration: bool = False,
        price: Obj | None = None,
        quantity: int | None = None,
    ) -> Obj:
        item = self.item(sub)
        price = price or item["price"]
        return {
            "id": new_id("il"),
            "object": "line_item",
            "amount": amount,
            "currency": price["currency"],
            "description": description,
            "discount_amounts": [],
            "discountable": True,
            "discounts": [],
            "invoice": None,
            "livemode": False,
            "metadata": {},
            "parent": {
                "invoice_item_details": None,
                "subscription_item_details": {
                    "invoice_item": None,
                    "proration": proration,
                    "proration_details": {"credited_items": None},
                    "subscription": sub["id"],
                    "subscription_item": item["id"],
                },
                "type": "subscription_item_details",
            },
            "period": {"end": end, "start": start},
            "pretax_credit_amounts": [],
            "pricing": {
                "price_details": {"price": price["id"], "product": price["product"]},
                "type": "price_details",
                "unit_amount_decimal": price["unit_amount_decimal"],
            },
            "proration": proration,
            "quantity": quantity if quantity is not None else item["quantity"],
            "subscription": sub["id"],
            "taxes": [],
        }

    def period_line(self, sub: Obj, start: int, end: int) -> Obj:
        item = self.item(sub)
        price = item["price"]
        recurring = price["recurring"]
        unit = money(price["unit_amount"] or 0, price["currency"])
        description = (
            f"{item['quantity']} × {self.product_name(price)} (at {unit} / {recurring['interval']})"  # noqa: RUF001
        )
        return self.line(sub, description, self.price_amount(item), start, end)

    def new_invoice(
        self,
        customer_id: str,
        sub: Obj | None,
        billing_reason: str,
        lines: list[Obj],
        period_start: int,
        period_end: int,
        invoice_id: str | None = None,
    ) -> Obj:
        """A draft invoice (``invoice.created``)."""
        now = self.now()
        customer = self.db["customers"].get(customer_id) or self.meta(customer_id).get(
            "deleted_customer", {}
        )
        inv_id = invoice_id or new_id("in")
        for line in lines:
            line["invoice"] = inv_id
        total = sum(int(line["amount"]) for line in lines)
        collection = sub["collection_method"] if sub else "charge_automatically"
        inv: Obj = {
            "id": inv_id,
            "object": "invoice",
            "account_country": "US",
            "account_name": "Spectral (Stripe test double)",
            "account_tax_ids": None,
            "amount_due": total,
            "amount_overpaid": 0,
            "amount_paid": 0,
            "amount_paid_off_stripe": 0,
            "amount_remaining": total,
            "amount_shipping": 0,
            "application": None,
            "attempt_count": 0,
            "attempted": False,
            "auto_advance": True,
            "automatic_tax": {
                "disabled_reason": None,
                "enabled": False,
                "liability": None,
                "provider": None,
                "status": None,
            },
            "automatically_finalizes_at": None,
            "billing_reason": billing_reason,
            "collection_method": collection,
            "confirmation_secret": None,
            "created": now,
            "currency": lines[0]["currency"] if lines else "usd",
            "custom_fields": None,
            "customer": customer_id,
            "customer_account": None,
            "customer_address": None,
            "customer_email": customer.get("email"),
            "customer_name": customer.get("name"),
            "customer_phone": None,
            "customer_shipping": None,
            "customer_tax_exempt": "none",
            "customer_tax_ids": [],
            "default_payment_method": None,
            "default_source": None,
            "default_tax_rates": [],
            "description": None,
            "discounts": [],
            "due_date": None,
            "effective_at": None,
            "ending_balance": None,
            "footer": None,
            "from_invoice": None,
            "hosted_invoice_url": None,
            "invoice_pdf": None,
            "issuer": {"type": "self"},
            "last_finalization_error": None,
            "latest_revision": None,
            "lines": {
                "object": "list",
                "data": lines,
                "has_more": False,
                "total_count": len(lines),
                "url": f"/v1/invoices/{inv_id}/lines",
            },
            "livemode": False,
            "metadata": {},
            "next_payment_attempt": None,
            "number": None,
            "on_behalf_of": None,
            "parent": None,
            "payment_settings": {
                "default_mandate": None,
                "payment_method_options": None,
                "payment_method_types": None,
            },
            "payments": {
                "object": "list",
                "data": [],
                "has_more": False,
                "url": "/v1/invoice_payments",
            },
            "period_end": period_end,
            "period_start": period_start,
            "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0,
            "receipt_number": None,
            "rendering": None,
            "shipping_cost": None,
            "shipping_details": None,
            "starting_balance": 0,
            "statement_descriptor": None,
            "status": "draft",
            "status_transitions": {
                "finalized_at": None,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
            "subtotal": total,
            "subtotal_excluding_tax": total,
            "test_clock": None,
            "total": total,
            "total_discount_amounts": [],
            "total_excluding_tax": total,
            "total_pretax_credit_amounts": [],
            "total_taxes": [],
            "webhooks_delivered_at": None,
        }
        if sub is not None:
            inv["parent"] = {
                "quote_details": None,
                "subscription_details": {
                    "metadata": snapshot(sub["metadata"]),
                    "subscription": sub["id"],
                },
                "type": "subscription_details",
            }
        self.db["invoices"][inv_id] = inv
        self.emit("invoice.created", inv)
        return inv

    def finalize(self, inv: Obj) -> None:
        """Draft -> open: number, hosted URLs, due date, customer balance applied
        (``invoice.finalized``)."""
        now = self.now()
        customer = self.db["customers"].get(inv["customer"], {})
        if customer and not customer.get("deleted"):
            inv["number"] = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
            customer["next_invoice_sequence"] += 1
            balance = int(customer.get("balance") or 0)
            applied = inv["total"] + balance
            inv["starting_balance"] = balance
            inv["amount_due"] = max(applied, 0)
            inv["ending_balance"] = min(applied, 0)
            customer["balance"] = inv["ending_balance"]
        else:
            inv["number"] = f"DELETED-{secrets.randbelow(10000):04d}"
            inv["ending_balance"] = 0
        inv["amount_remaining"] = inv["amount_due"]
        inv["status"] = "open"
        inv["effective_at"] = now
        inv["status_transitions"]["finalized_at"] = now
        inv["hosted_invoice_url"] = self.url(f"/invoices/{inv['id']}")
        inv["invoice_pdf"] = self.url(f"/invoices/{inv['id']}/pdf")
        if inv["collection_method"] == "send_invoice":
            sub = self.db["subscriptions"].get(self.invoice_subscription(inv) or "")
            days = (sub or {}).get("days_until_due") or 30
            inv["due_date"] = now + int(days) * DAY
        self.emit("invoice.finalized", inv)

    def collect(self, inv: Obj) -> bool | None:
        """Settle a finalized invoice: nothing due -> paid; ``send_invoice`` -> sent to the
        customer; else charged now. ``None`` when the answer waits for the customer."""
        if inv["amount_due"] == 0:
            self.mark_paid(inv, None, out_of_band=False)
            return True
        if inv["collection_method"] == "send_invoice":
            self.emit("invoice.sent", inv)
            return None
        return self.attempt(inv, scheduled=True)

    def attempt(self, inv: Obj, *, scheduled: bool, payment_method: str | None = None) -> bool:
        """Charge the invoice's payment method: ``invoice.paid`` or ``invoice.payment_failed``.
        A failed automatic attempt schedules the next retry; after the last one the subscription
        stays past due, becomes unpaid, or is canceled with the invoice marked uncollectible
        (``after_retries``)."""
        now = self.now()
        pm = self.payment_method_for(inv, payment_method)
        inv["attempt_count"] += 1
        inv["attempted"] = True
        ok = not self.declines(pm)
        pi = self.new_charge(inv, pm, ok)
        if ok:
            self.mark_paid(inv, pi, out_of_band=False)
            return True
        meta = self.meta(inv["id"])
        meta["last_error"] = (
            "Your card was declined." if pm else "The customer has no payment method."
        )
        exhausted = False
        if scheduled:
            sub = self.db["subscriptions"].get(self.invoice_subscription(inv) or "")
            first_invoice = (
                inv["billing_reason"] == "subscription_create"
                and sub is not None
                and sub["status"] == "incomplete"
            )
            if first_invoice or not inv["auto_advance"]:
                inv["next_payment_attempt"] = None
            else:
                failures = meta["automatic_failures"] = meta.get("automatic_failures", 0) + 1
                first_failed = meta.setdefault("first_failed_at", now)
                if failures <= len(RETRY_DAYS):
                    inv["next_payment_attempt"] = first_failed + RETRY_DAYS[failures - 1] * DAY
                else:
                    inv["next_payment_attempt"] = None
                    exhausted = True
        self.emit("invoice.payment_failed", inv)
        if exhausted:
            sub = self.db["subscriptions"].get(self.invoice_subscription(inv) or "")
            live = sub is not None and sub["status"] not in ("canceled", "incomplete_expired")
            if self.after_retries == "cancel":
                if live and sub is not None:
                    self.cancel(sub, reason="payment_failed")
                self.mark_uncollectible(inv)
            elif self.after_retries == "unpaid" and live and sub is not None:
                with self.watch(sub):
                    sub["status"] = "unpaid"
        return False

    def new_charge(self, inv: Obj, pm: Obj | None, ok: bool) -> Obj:
        """A PaymentIntent (and, when there was a card, its Charge) for one attempt."""
        now = self.now()
        pi: Obj = {
            "id": new_id("pi"),
            "object": "payment_intent",
            "amount": inv["amount_remaining"],
            "amount_received": inv["amount_remaining"] if ok else 0,
            "canceled_at": None,
            "created": now,
            "currency": inv["currency"],
            "customer": inv["customer"],
            "description": f"Invoice {inv['number']}",
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": {},
            "payment_method": pm["id"] if pm else None,
            "payment_method_types": ["card"],
            "status": "succeeded" if ok else "requires_payment_method",
        }
        if pm is not None:
            charge: Obj = {
                "id": new_id("ch"),
                "object": "charge",
                "amount": pi["amount"],
                "amount_captured": pi["amount"] if ok else 0,
                "amount_refunded": 0,
                "billing_details": pm["billing_details"],
                "captured": ok,
                "created": now,
                "currency": inv["currency"],
                "customer": inv["customer"],
                "description": pi["description"],
                "disputed": False,
                "failure_code": None if ok else "card_declined",
                "failure_message": None if ok else "Your card was declined.",
                "livemode": False,
                "metadata": {},
                "outcome": {
                    "network_status": "approved_by_network" if ok else "declined_by_network",
                    "reason": None if ok else "generic_decline",
                    "risk_level": "normal",
                    "seller_message": "Payment complete."
                    if ok
                    else "The bank did not return any further details with this decline.",
                    "type": "authorized" if ok else "issuer_declined",
                },
                "paid": ok,
                "payment_intent": pi["id"],
                "payment_method": pm["id"],
                "payment_method_details": {
                    "card": {
                        k: pm["card"][k]
                        for k in (
                            "brand",
                            "country",
                            "exp_month",
                            "exp_year",
                            "fingerprint",
                            "funding",
                            "last4",
                        )
                    },
                    "type": "card",
                },
                "receipt_url": None,
                "refunded": False,
                "status": "succeeded" if ok else "failed",
            }
            self.db["charges"][charge["id"]] = charge
            pi["latest_charge"] = charge["id"]
            if not ok:
                pi["last_payment_error"] = card_declined(charge["id"]).body()["error"]
        elif not ok:
            pi["last_payment_error"] = {
                "type": "invalid_request_error",
                "code": "payment_intent_payment_attempt_failed",
                "message": "The customer has no default payment method.",
            }
        self.db["payment_intents"][pi["id"]] = pi
        self.meta(inv["id"]).setdefault("payment_intents", []).append(pi["id"])
        return pi

    def mark_paid(self, inv: Obj, pi: Obj | None, *, out_of_band: bool) -> None:
        now = self.now()
        amount = inv["amount_remaining"]
        inv["status"] = "paid"
        inv["amount_paid"] += amount
        inv["amount_remaining"] = 0
        inv["next_payment_attempt"] = None
        inv["status_transitions"]["paid_at"] = now
        if out_of_band:
            inv["amount_paid_off_stripe"] += amount
        if pi is not None:
            payment = {
                "id": new_id("inpay"),
                "object": "invoice_payment",
                "amount_paid": amount,
                "amount_requested": amount,
                "created": now,
                "currency": inv["currency"],
                "invoice": inv["id"],
                "is_default": True,
                "livemode": False,
                "payment": {"payment_intent": pi["id"], "type": "payment_intent"},
                "status": "paid",
                "status_transitions": {"canceled_at": None, "paid_at": now},
            }
            self.db["invoice_payments"][payment["id"]] = payment
            inv["payments"]["data"].append(payment)
        self.emit("invoice.paid", inv)
        if not out_of_band:
            self.emit("invoice.payment_succeeded", inv)

    def void(self, inv: Obj) -> None:
        inv["status"] = "void"
        inv["amount_remaining"] = 0
        inv["next_payment_attempt"] = None
        inv["status_transitions"]["voided_at"] = self.now()
        self.emit("invoice.voided", inv)

    def mark_uncollectible(self, inv: Obj) -> None:
        inv["status"] = "uncollectible"
        inv["next_payment_attempt"] = None
        inv["status_transitions"]["marked_uncollectible_at"] = self.now()
        self.emit("invoice.marked_uncollectible", inv)

    def retry_open_invoices(self, customer: Obj) -> None:
        """Charge the customer's open, automatically collected invoices again, oldest first
        (what the portal does when a card is replaced)."""
        open_invoices = [
            inv
            for inv in self.db["invoices"].values()
            if inv["customer"] == customer["id"]
            and inv["status"] == "open"
            and inv["collection_method"] == "charge_automatically"
        ]
        for inv in open_invoices:
            sub = self.db["subscriptions"].get(self.invoice_subscription(inv) or "")
            if sub is not None and sub["status"] in ("canceled", "incomplete_expired"):
                continue
            with self.watch(*([sub] if sub else [])):
                paid = self.attempt(inv, scheduled=False)
                if sub is not None:
                    self.sync_status(sub)
            if not paid:
                break

    @staticmethod
    def check_payable(inv: Obj) -> None:
        if inv["status"] == "paid":
            raise StripeError(400, "Invoice is already paid", code="invoice_already_paid")
        if inv["status"] not in ("open", "uncollectible"):
            raise StripeError(
                400,
                f"You can only pay an invoice that is open or uncollectible; this one is {inv['status']}.",
                code="invoice_not_open",
            )

    def pay_invoice(
        self, inv: Obj, *, out_of_band: bool = False, payment_method: str | None = None
    ) -> Obj:
        """``POST /v1/invoices/{id}/pay``: out of band, or a charge now (402 on decline)."""
        self.check_payable(inv)
        sub = self.db["subscriptions"].get(self.invoice_subscription(inv) or "")
        with self.watch(*([sub] if sub else [])):
            if out_of_band:
                self.mark_paid(inv, None, out_of_band=True)
                ok = True
            else:
                ok = self.attempt(inv, scheduled=False, payment_method=payment_method)
            if sub is not None:
                self.sync_status(sub)
        if not ok:
            pis = self.meta(inv["id"]).get("payment_intents", [])
            pi = self.db["payment_intents"].get(pis[-1]) if pis else None
            self.touch()
            raise card_declined(pi["latest_charge"] if pi else None, pi["id"] if pi else None)
        return inv

    # -- disputes ----------------------------------------------------------------------------

    def dispute(self, invoice_id: str, reason: str = "fraudulent") -> Obj:
        """Open a dispute on the charge that paid the invoice (``charge.dispute.created``)."""
        with self.transaction():
            inv = self.get("in", invoice_id, "invoice")
            charges = [
                self.db["charges"][pi["latest_charge"]]
                for pi in (
                    self.db["payment_intents"].get(p)
                    for p in self.meta(inv["id"]).get("payment_intents", [])
                )
                if pi and pi["latest_charge"] and self.db["charges"][pi["latest_charge"]]["paid"]
            ]
            if not charges:
                raise StripeError(
                    400,
                    f"Invoice {invoice_id} has no successful charge to dispute.",
                    param="invoice",
                )
            charge = charges[-1]
            now = self.now()
            dispute: Obj = {
                "id": new_id("dp"),
                "object": "dispute",
                "amount": charge["amount"],
                "balance_transactions": [],
                "charge": charge["id"],
                "created": now,
                "currency": charge["currency"],
                "enhanced_eligibility_types": [],
                "evidence": {},
                "evidence_details": {
                    "due_by": now + 7 * DAY,
                    "enhanced_eligibility": {},
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
                "is_charge_refundable": False,
                "livemode": False,
                "metadata": {},
                "payment_intent": charge["payment_intent"],
                "payment_method_details": {
                    "card": {
                        "brand": "visa",
                        "case_type": "chargeback",
                        "network_reason_code": "10.4",
                    },
                    "type": "card",
                },
                "reason": reason,
                "status": "needs_response",
            }
            charge["disputed"] = True
            self.db["disputes"][dispute["id"]] = dispute
            self.emit("charge.dispute.created", dispute)
            return dispute

    # -- checkout ----------------------------------------------------------------------------

    def complete_checkout(self, session_id: str, card: str) -> Obj:
        """The hosted page's Pay button: attach the card, create the subscription and its first
        invoice, complete the session, in Stripe's event order. ``card`` is ``good``,
        ``declining`` or ``none`` (a trial with ``payment_method_collection=if_required``)."""
        with self.transaction():
            session = self.get("cs", session_id)
            if session["status"] != "open":
                raise StripeError(400, f"This Checkout Session is {session['status']}.")
            setup = self.meta(session_id)
            trial_end = setup.get("trial_end")
            if setup.get("trial_days"):
                trial_end = self.now() + int(setup["trial_days"]) * DAY
            if card == "none" and not (
                trial_end and session["payment_method_collection"] == "if_required"
            ):
                raise StripeError(400, "A card is required for this Checkout Session.")
            if card not in (*CARDS, "none"):
                raise StripeError(400, "Unknown test card.")
            price = self.get("price", setup["price"])
            if session["customer"]:
                customer = self.get("cus", session["customer"])
            else:
                customer = self.new_customer(email=session["customer_email"] or "test@example.com")
                session["customer"] = customer["id"]
            if card != "none":
                with self.watch(customer):
                    pm = self.new_payment_method(customer, card)
                    customer["invoice_settings"]["default_payment_method"] = pm["id"]
            sub = self.new_subscription(
                customer,
                price,
                quantity=setup.get("quantity", 1),
                trial_end=trial_end,
                trial_missing_pm=setup.get("missing_payment_method", "create_invoice"),
                metadata=setup.get("subscription_metadata") or {},
                description=setup.get("description"),
            )
            self.start_subscription(sub)
            inv = self.db["invoices"][sub["latest_invoice"]]
            session["status"] = "complete"
            session["subscription"] = sub["id"]
            session["customer_details"] = {
                "address": None,
                "email": customer["email"],
                "name": customer["name"],
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            }
            if inv["amount_due"] == 0:
                session["payment_status"] = "no_payment_required"
            else:
                session["payment_status"] = "paid" if inv["status"] == "paid" else "unpaid"
            self.emit("checkout.session.completed", session)
            return session

    # -- plan changes ------------------------------------------------------------------------

    def change_price(
        self,
        sub: Obj,
        price: Obj,
        quantity: int,
        proration_behavior: str,
        proration_date: int | None = None,
    ) -> Obj | None:
        """Replace the item's price (and quantity). Outside a trial the unused time on the old
        price is credited and the remaining time on the new one charged, each
        ``round(amount x remaining / period)``: invoiced now with ``always_invoice``, left
        pending for the next invoice with ``create_prorations``, not at all with ``none``. A
        change of interval restarts the billing cycle now and invoices at once, as Stripe does.
        Answers the invoice raised now, if any."""
        item = self.item(sub)
        old_price, old_quantity = item["price"], item["quantity"]
        old_amount = self.price_amount(item)
        old_cycle = (old_price["recurring"]["interval"], old_price["recurring"]["interval_count"])
        new_cycle = (price["recurring"]["interval"], price["recurring"]["interval_count"])
        item["price"] = snapshot(price)
        item["plan"] = self.plan_of(price)
        item["quantity"] = quantity
        if sub["status"] in ("trialing", "paused", "incomplete", "incomplete_expired"):
            return None
        now = proration_date or self.now()
        start, end = item["current_period_start"], item["current_period_end"]
        when = datetime.fromtimestamp(now, UTC).strftime("%d %b %Y")
        lines: list[Obj] = []
        if proration_behavior != "none" and start <= now < end:
            remaining, length = end - now, end - start
            if old_amount:
                lines.append(
                    self.line(
                        sub,
                        f"Unused time on {self.product_name(old_price)} after {when}",
                        -prorate(old_amount, remaining, length),
                        now,
                        end,
                        proration=True,
                        price=old_price,
                        quantity=old_quantity,
                    )
                )
            new_amount = int(price["unit_amount"] or 0) * quantity
            if new_amount and old_cycle == new_cycle:
                lines.append(
                    self.line(
                        sub,
                        f"Remaining time on {self.product_name(price)} after {when}",
                        prorate(new_amount, remaining, length),
                        now,
                        end,
                        proration=True,
                        price=price,
                        quantity=quantity,
                    )
                )
        pending = self.db["pending_items"]
        if old_cycle != new_cycle:
            pending.setdefault(sub["id"], []).extend(lines)
            self.start_new_period(sub, self.now(), reset_anchor=True)
            return self.cycle_invoice(sub, "subscription_update", (self.now(), self.now()))
        if not lines:
            return None
        if proration_behavior == "always_invoice":
            lines = pending.pop(sub["id"], []) + lines
            inv = self.new_invoice(
                sub["customer"], sub, "subscription_update", lines, self.now(), self.now()
            )
            sub["latest_invoice"] = inv["id"]
            self.finalize(inv)
            self.collect(inv)
            return inv
        pending.setdefault(sub["id"], []).extend(lines)
        return None

    def resume(self, sub: Obj) -> Obj:
        """A paused subscription starts a new period now and invoices it."""
        if sub["status"] != "paused":
            raise StripeError(
                400,
                "Only subscriptions with status `paused` can be resumed.",
                code="subscription_not_paused",
            )
        with self.watch(sub):
            sub["status"] = "active"
            period = self.start_new_period(sub, self.now(), reset_anchor=True)
            self.cycle_invoice(sub, "subscription_cycle", period)
            self.sync_status(sub)
            self.emit("customer.subscription.resumed", sub)
        return sub
