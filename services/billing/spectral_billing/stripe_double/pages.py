"""The hosted pages (Checkout, customer portal, invoice, invoice PDF) and the ``/_control/`` index.

Plain server-rendered HTML: forms that POST, no JavaScript, no external assets, every value
escaped. Each page says at the top that it is the Spectral Stripe test double and no money moves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from markupsafe import Markup

from spectral_billing.stripe_double.core import CARDS, DAY, Obj, StripeDouble, fmt_date, money

BANNER = (
    "Spectral Stripe test double (test mode): no money moves, no card is charged, "
    "and this page is not Stripe."
)
_STYLE = Markup("""
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1a1f36;background:#f6f9fc}
.banner{background:#ffd54f;color:#3d2c00;padding:10px 20px;font-weight:600;border-bottom:2px solid #c9a21a}
main{max-width:880px;margin:24px auto;padding:0 20px}
.card{background:#fff;border:1px solid #e3e8ee;border-radius:8px;padding:18px 22px;margin:0 0 18px}
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:0 0 10px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e3e8ee;vertical-align:top}
form{display:inline-block;margin:4px 6px 4px 0}
button,.button{font:inherit;padding:7px 14px;border-radius:6px;border:1px solid #635bff;background:#635bff;color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
button.secondary,.button.secondary{background:#fff;color:#635bff}
button.danger{background:#fff;color:#cd3d64;border-color:#cd3d64}
.muted{color:#697386}.status{font-weight:600}.amount{font-size:28px;font-weight:700}
input[type=text],input[type=number]{font:inherit;padding:5px 8px;border:1px solid #c1c9d2;border-radius:5px;width:130px}
code{background:#eef1f5;padding:1px 4px;border-radius:4px}
""")


def layout(title: str, body: Markup) -> str:
    return str(
        Markup(
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>{title} · Spectral Stripe test double</title><style>{style}</style></head>"
            '<body><div class="banner" role="note">{banner}</div><main>{body}</main></body></html>'
        ).format(title=title, style=_STYLE, banner=BANNER, body=body)
    )


def button_form(
    action: str, label: str, fields: dict[str, Any] | None = None, css: str = ""
) -> Markup:
    hidden = Markup("").join(
        Markup('<input type="hidden" name="{}" value="{}">').format(name, value)
        for name, value in (fields or {}).items()
    )
    return Markup(
        '<form method="post" action="{action}">{hidden}<button type="submit" class="{css}">{label}</button></form>'
    ).format(action=action, hidden=hidden, css=css, label=label)


def link(href: str, label: str, css: str = "") -> Markup:
    return Markup('<a href="{}" class="{}">{}</a>').format(href, css, label)


def safe_url(url: Any) -> str | None:
    """Only http(s) URLs become links (a ``javascript:`` return URL stays text)."""
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return url
    return None


def rows(header: Iterable[str], body: Iterable[Iterable[Any]]) -> Markup:
    head = Markup("").join(Markup("<th>{}</th>").format(cell) for cell in header)
    lines = Markup("").join(
        Markup("<tr>{}</tr>").format(
            Markup("").join(Markup("<td>{}</td>").format(cell) for cell in row)
        )
        for row in body
    )
    return Markup("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>").format(head, lines)


def card_text(double: StripeDouble, pm_id: str | None) -> str:
    pm = double.db["payment_methods"].get(pm_id) if pm_id else None
    if pm is None:
        return "No card on file"
    card = pm["card"]
    declining = " (declines every charge)" if double.declines(pm) else ""
    return f"{card['brand'].title()} ending {card['last4']}{declining}"


def plan_text(double: StripeDouble, sub: Obj) -> str:
    item = double.item(sub)
    price = item["price"]
    qty = f"{item['quantity']} x " if item["quantity"] != 1 else ""
    return f"{qty}{double.product_name(price)}: {money(price['unit_amount'] or 0, price['currency'])} / {price['recurring']['interval']}"


# -- Checkout ---------------------------------------------------------------------------------


def checkout_page(double: StripeDouble, session: Obj, root: str) -> str:
    setup = double.meta(session["id"])
    price = double.db["prices"].get(setup.get("price", ""), {})
    customer = double.db["customers"].get(session["customer"] or "", {})
    product = double.product_name(price) if price else "(unknown price)"
    title = f"Subscribe to {product}"
    if session["status"] != "open":
        body = Markup(
            '<div class="card"><h1>{}</h1><p class="status">This Checkout Session is {}.</p>{}</div>'
        ).format(
            title,
            session["status"],
            link(safe_url(session["success_url"]) or "#", "Continue to the merchant", "button")
            if session["status"] == "complete"
            else "",
        )
        return layout(title, body)
    trial_days = setup.get("trial_days")
    trial_end = setup.get("trial_end")
    amount = money(
        int(price.get("unit_amount") or 0) * int(setup.get("quantity") or 1),
        price.get("currency", "usd"),
    )
    interval = (price.get("recurring") or {}).get("interval", "")
    if trial_days or trial_end:
        length = f"{trial_days} days" if trial_days else f"until {fmt_date(trial_end)}"
        terms = f"Free trial for {length}, then {amount} / {interval}. Nothing is charged today."
    else:
        terms = f"{amount} / {interval}, charged today."
    action = f"{root}/checkout/{session['id']}"
    buttons = [
        button_form(f"{action}/pay", "Pay with test card 4242 4242 4242 4242", {"card": "good"}),
        button_form(
            f"{action}/pay",
            "Use test card 4000 0000 0000 0341 (attaches, then declines every charge)",
            {"card": "declining"},
            "secondary",
        ),
    ]
    if (trial_days or trial_end) and session["payment_method_collection"] == "if_required":
        buttons.append(
            button_form(
                f"{action}/pay", "Start the trial without a card", {"card": "none"}, "secondary"
            )
        )
    buttons.append(button_form(f"{action}/cancel", "Cancel", {}, "danger"))
    body = Markup(
        '<div class="card"><h1>{title}</h1><p class="amount">{amount} <span class="muted">/ {interval}</span></p>'
        '<p>{terms}</p><p class="muted">Customer: {who}</p><p class="muted">Session <code>{sid}</code>, '
        'expires {expires}.</p></div><div class="card"><h2>Choose a test card</h2>{buttons}'
        '<p class="muted">These are Stripe\'s test card numbers; nothing is charged anywhere.</p></div>'
    ).format(
        title=title,
        amount=amount,
        interval=interval,
        terms=terms,
        who=customer.get("email")
        or customer.get("name")
        or session.get("customer_email")
        or "a new customer",
        sid=session["id"],
        expires=fmt_date(session["expires_at"]),
        buttons=Markup("").join(buttons),
    )
    return layout(title, body)


# -- customer portal --------------------------------------------------------------------------


def portal_page(double: StripeDouble, session: Obj, root: str) -> str:
    customer = double.db["customers"].get(session["customer"], {})
    title = "Manage your subscription"
    if customer.get("deleted"):
        return layout(
            title,
            Markup('<div class="card"><h1>{}</h1><p>This customer was deleted.</p></div>').format(
                title
            ),
        )
    base = f"{root}/portal/{session['id']}"
    card = card_text(double, customer["invoice_settings"]["default_payment_method"])
    subs = [s for s in double.customer_subscriptions(customer["id"])]
    sub_rows = []
    for sub in reversed(subs):
        item = double.item(sub)
        if sub["status"] in ("canceled", "incomplete_expired"):
            when, actions = f"Ended {fmt_date(sub['ended_at'])}", Markup("")
        elif sub["cancel_at_period_end"]:
            when = f"Cancels {fmt_date(sub['cancel_at'])}"
            actions = button_form(
                f"{base}/subscriptions/{sub['id']}/cancel",
                "Don't cancel",
                {"at_period_end": "false"},
                "secondary",
            )
        else:
            label = "Trial ends" if sub["status"] == "trialing" else "Renews"
            when = f"{label} {fmt_date(item['current_period_end'])}"
            actions = button_form(
                f"{base}/subscriptions/{sub['id']}/cancel",
                "Cancel at period end",
                {"at_period_end": "true"},
                "danger",
            )
        sub_rows.append(
            (
                plan_text(double, sub),
                Markup('<span class="status">{}</span>').format(sub["status"]),
                when,
                actions,
            )
        )
    invoices = sorted(
        (
            i
            for i in double.db["invoices"].values()
            if i["customer"] == customer["id"] and i["status"] != "draft"
        ),
        key=lambda i: i["created"],
        reverse=True,
    )
    invoice_rows = [
        (
            i["number"] or i["id"],
            fmt_date(i["created"]),
            money(i["amount_due"], i["currency"]),
            i["status"],
            Markup("{} · {}").format(
                link(f"{root}/invoices/{i['id']}", "View"),
                link(f"{root}/invoices/{i['id']}/pdf", "PDF"),
            ),
        )
        for i in invoices
    ]
    back = safe_url(session["return_url"])
    body = Markup(
        '<div class="card"><h1>{title}</h1><p>{name} <span class="muted">{email}</span></p>{ret}</div>'
        '<div class="card"><h2>Payment method</h2><p>{card}</p>{good}{bad}</div>'
        '<div class="card"><h2>Subscriptions</h2>{subs}</div>'
        '<div class="card"><h2>Invoices</h2>{invoices}</div>'
    ).format(
        title=title,
        name=customer.get("name") or "",
        email=customer.get("email") or "",
        ret=link(back, "Return to Spectral", "button secondary") if back else "",
        card=card,
        good=button_form(f"{base}/card", "Replace card with test card 4242", {"kind": "good"}),
        bad=button_form(
            f"{base}/card",
            "Replace card with declining test card (0341)",
            {"kind": "declining"},
            "secondary",
        ),
        subs=rows(("Plan", "Status", "When", ""), sub_rows)
        if sub_rows
        else Markup("<p>No subscriptions.</p>"),
        invoices=rows(("Number", "Date", "Amount", "Status", ""), invoice_rows)
        if invoice_rows
        else Markup("<p>No invoices.</p>"),
    )
    return layout(title, body)


# -- invoices ---------------------------------------------------------------------------------


def invoice_page(double: StripeDouble, inv: Obj, root: str, message: str | None = None) -> str:
    title = f"Invoice {inv['number'] or inv['id']}"
    lines = [
        (
            line["description"],
            f"{fmt_date(line['period']['start'])} to {fmt_date(line['period']['end'])}",
            money(line["amount"], inv["currency"]),
        )
        for line in inv["lines"]["data"]
    ]
    pay = Markup("")
    if inv["status"] in ("open", "uncollectible"):
        pay = button_form(f"{root}/invoices/{inv['id']}/pay", "Pay with test card 4242", {})
    last_error = (
        double.meta(inv["id"]).get("last_error")
        if inv["status"] == "open" and inv["attempt_count"]
        else None
    )
    body = Markup(
        '<div class="card"><h1>{title}</h1>{message}<p class="amount">{due}</p><p>Status: <span class="status">{status}</span>'
        '{error}</p><p class="muted">Billed to {who}. Created {created}; due {due_date}. Attempts: {attempts}; next attempt: {next}.</p>'
        '{pay} {pdf}</div><div class="card"><h2>Lines</h2>{lines}<p>Subtotal {subtotal} · Total {total} · '
        "Paid {paid} · Remaining {remaining}</p></div>"
    ).format(
        title=title,
        message=Markup('<p class="status">{}</p>').format(message) if message else "",
        due=money(inv["amount_due"], inv["currency"]),
        status=inv["status"],
        error=Markup(' <span class="muted">(last attempt: {})</span>').format(last_error)
        if last_error
        else "",
        who=inv["customer_name"] or inv["customer_email"] or inv["customer"],
        created=fmt_date(inv["created"]),
        due_date=fmt_date(inv["due_date"]),
        attempts=inv["attempt_count"],
        next=fmt_date(inv["next_payment_attempt"]),
        pay=pay,
        pdf=link(
            f"{root}/invoices/{inv['id']}/pdf",
            "Download the PDF (a test invoice)",
            "button secondary",
        ),
        lines=rows(("Description", "Period", "Amount"), lines),
        subtotal=money(inv["subtotal"], inv["currency"]),
        total=money(inv["total"], inv["currency"]),
        paid=money(inv["amount_paid"], inv["currency"]),
        remaining=money(inv["amount_remaining"], inv["currency"]),
    )
    return layout(title, body)


def _pdf_text(text: str) -> str:
    safe = text.encode("latin-1", "replace").decode("latin-1")
    return safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_document(lines: list[str]) -> bytes:
    """A one-page PDF 1.4 showing ``lines`` in Helvetica (hand-written objects and xref)."""
    text = ["BT", "/F1 11 Tf", "14 TL", "50 760 Td"]
    for index, line in enumerate(lines[:50]):
        if index == 0:
            text[1] = "/F1 15 Tf"
        text.append(f"({_pdf_text(line)}) Tj T*")
        if index == 0:
            text.append("/F1 11 Tf")
    text.append("ET")
    stream = "\n".join(text).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode() + b"0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def invoice_pdf(double: StripeDouble, inv: Obj) -> bytes:
    lines = [
        f"TEST INVOICE {inv['number'] or inv['id']}",
        "Spectral Stripe test double - test mode. No money moves; this is not a real invoice.",
        "",
        f"Billed to: {inv['customer_name'] or ''} {inv['customer_email'] or ''} ({inv['customer']})",
        f"Status: {inv['status']}    Created: {fmt_date(inv['created'])}    Due: {fmt_date(inv['due_date'])}",
        "",
    ]
    for line in inv["lines"]["data"]:
        lines.append(f"{money(line['amount'], inv['currency']):>14}  {line['description']}")
    lines += [
        "",
        f"Total: {money(inv['total'], inv['currency'])}    Amount due: {money(inv['amount_due'], inv['currency'])}"
        f"    Paid: {money(inv['amount_paid'], inv['currency'])}    Remaining: {money(inv['amount_remaining'], inv['currency'])}",
    ]
    return pdf_document(lines)


# -- /_control/ -------------------------------------------------------------------------------


def control_page(double: StripeDouble, root: str) -> str:
    c = f"{root}/_control"
    back = {"next": f"{c}/"}
    now = double.now()
    clock = Markup("").join(
        button_form(f"{c}/advance", f"Advance {label}", {"seconds": seconds, **back}, "secondary")
        for label, seconds in (
            ("1 hour", 3600),
            ("1 day", DAY),
            ("7 days", 7 * DAY),
            ("30 days", 30 * DAY),
        )
    )
    deliveries = double.db["deliveries"]
    delivered = sum(1 for d in deliveries if d["delivered"])
    gave_up = sum(1 for d in deliveries if d["gave_up"])
    pending = len(deliveries) - delivered - gave_up
    auto = double.db["auto_deliver"]
    hooks = Markup("").join(
        [
            button_form(
                f"{c}/webhooks",
                "Pause automatic delivery" if auto else "Deliver automatically",
                {"auto_deliver": "false" if auto else "true", **back},
                "secondary",
            ),
            button_form(f"{c}/webhooks/flush", "Deliver everything pending now", back, "secondary"),
        ]
    )
    customer_rows = []
    for customer in reversed(list(double.db["customers"].values())):
        if customer.get("deleted"):
            continue
        actions = Markup("").join(
            button_form(
                f"{c}/customers/{customer['id']}/card", label, {"kind": kind, **back}, "secondary"
            )
            for kind, label in (
                ("good", "Card 4242"),
                ("declining", "Declining card"),
                ("none", "No card"),
            )
        )
        customer_rows.append(
            (
                Markup("<code>{}</code>").format(customer["id"]),
                customer["name"] or "",
                customer["email"] or "",
                card_text(double, customer["invoice_settings"]["default_payment_method"]),
                actions,
            )
        )
    sub_rows = []
    for sub in reversed(list(double.db["subscriptions"].values())):
        item = double.item(sub)
        target = f"{c}/subscriptions/{sub['id']}/advance"
        buttons: list[Markup] = []
        if sub["status"] == "trialing":
            buttons.append(
                button_form(
                    target, "Advance to trial end", {"moment": "trial_end", **back}, "secondary"
                )
            )
            buttons.append(
                button_form(
                    target,
                    "End trial with a failing card",
                    {"moment": "trial_end", "card": "declining", **back},
                    "secondary",
                )
            )
        if sub["status"] in ("active", "past_due", "unpaid"):
            buttons.append(
                button_form(
                    target, "Advance to the renewal", {"moment": "renewal", **back}, "secondary"
                )
            )
            buttons.append(
                button_form(
                    target,
                    "Renew with a failing card",
                    {"moment": "renewal", "card": "declining", **back},
                    "secondary",
                )
            )
        open_retry = [
            i
            for i in double.db["invoices"].values()
            if double.invoice_subscription(i) == sub["id"]
            and i["status"] == "open"
            and (i["next_payment_attempt"] or i["due_date"])
        ]
        if open_retry:
            buttons.append(
                button_form(
                    target,
                    "Advance to next payment retry / due date",
                    {"moment": "retry", **back},
                    "secondary",
                )
            )
        paid = [
            i
            for i in double.db["invoices"].values()
            if double.invoice_subscription(i) == sub["id"]
            and i["status"] == "paid"
            and i["amount_paid"] > 0
        ]
        if paid:
            buttons.append(
                button_form(
                    f"{c}/charges/dispute",
                    "Dispute the latest paid invoice",
                    {"invoice": paid[-1]["id"], **back},
                    "danger",
                )
            )
        sub_rows.append(
            (
                Markup('<code>{}</code><br><span class="muted">{}</span>').format(
                    sub["id"], sub["customer"]
                ),
                plan_text(double, sub),
                Markup('<span class="status">{}</span>{}').format(
                    sub["status"], " (cancels at period end)" if sub["cancel_at_period_end"] else ""
                ),
                f"{fmt_date(item['current_period_start'])} → {fmt_date(item['current_period_end'])}",
                Markup("").join(buttons),
            )
        )
    invoice_rows = [
        (
            link(f"{root}/invoices/{i['id']}", i["number"] or i["id"]),
            i["customer"],
            money(i["amount_due"], i["currency"]),
            i["status"],
            i["billing_reason"] or "",
            fmt_date(i["next_payment_attempt"] or i["due_date"]),
        )
        for i in list(reversed(list(double.db["invoices"].values())))[:25]
    ]
    events = [
        (
            fmt_date(e["created"]),
            e["type"],
            Markup("<code>{}</code>").format(e["id"]),
            e["pending_webhooks"],
        )
        for e in list(reversed(list(double.db["events"].values())))[:30]
    ]
    body = Markup(
        '<div class="card"><h1>Stripe test double controls</h1><p>Double time: <strong>{now}</strong> '
        '<span class="muted">({stamp}; real time {offset:+.0f} s)</span></p>{clock}'
        '<form method="post" action="{c}/advance"><input type="hidden" name="next" value="{c}/">'
        '<input type="number" name="seconds" min="1" placeholder="seconds"> <button type="submit" class="secondary">Advance</button></form></div>'
        '<div class="card"><h2>Webhooks</h2><p>Endpoints: {endpoints}. Automatic delivery: <strong>{auto}</strong>. '
        "Delivered {delivered}, pending {pending}, given up {gave_up}. "
        '<a href="{c}/deliveries">Deliveries (JSON)</a></p>{hooks}</div>'
        '<div class="card"><h2>Customers</h2>{customers}</div>'
        '<div class="card"><h2>Subscriptions</h2>{subs}</div>'
        '<div class="card"><h2>Recent invoices</h2>{invoices}</div>'
        '<div class="card"><h2>Recent events</h2>{events}</div>'
        '<div class="card"><h2>Control API</h2><p class="muted">POST {c}/advance (seconds | to) · GET {c}/now · '
        "POST {c}/customers/&lt;id&gt;/card (kind=good|declining|none) · POST {c}/charges/dispute (invoice) · "
        "POST {c}/webhooks (auto_deliver) · POST {c}/webhooks/flush · GET {c}/deliveries · POST {c}/reset</p></div>"
    ).format(
        now=fmt_date(now),
        stamp=now,
        offset=double.db["clock_offset"],
        clock=clock,
        c=c,
        endpoints=", ".join(url for url, _ in double.endpoints) or "none",
        auto="on" if auto else "paused",
        delivered=delivered,
        pending=pending,
        gave_up=gave_up,
        hooks=hooks,
        customers=rows(("Id", "Name", "Email", "Card", ""), customer_rows)
        if customer_rows
        else Markup("<p>None yet.</p>"),
        subs=rows(("Id", "Plan", "Status", "Period", ""), sub_rows)
        if sub_rows
        else Markup("<p>None yet.</p>"),
        invoices=rows(
            ("Number", "Customer", "Amount", "Status", "Reason", "Next attempt / due"), invoice_rows
        )
        if invoice_rows
        else Markup("<p>None yet.</p>"),
        events=rows(("When", "Type", "Id", "Pending webhooks"), events)
        if events
        else Markup("<p>None yet.</p>"),
    )
    return layout("Controls", body)


__all__ = [
    "BANNER",
    "CARDS",
    "checkout_page",
    "control_page",
    "invoice_page",
    "invoice_pdf",
    "pdf_document",
    "portal_page",
]
