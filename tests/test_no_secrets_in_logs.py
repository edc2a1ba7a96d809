"""No secret, token, e-mail address or PHI in the logs or in dead-letter headers (issue 18).

One run of the whole platform, its logs configured as a deployed process configures them (the
same processors, at DEBUG so that nothing is filtered away), sends known canaries through every
entry point: passwords right and wrong, verification, invitation and reset tokens, MFA secrets
and codes, API keys created and used, bearer and refresh tokens, e-mail addresses, a Slack
webhook URL, webhook secrets and signatures, PHI in telemetry and in webhook payloads, a
Stripe-like payload for billing's webhook route, bodies that are not JSON, query strings and
headers. Messages carrying PHI are forced to the bus's dead-letter queues. Then neither the
captured log lines (and anything else written to stdout or stderr) nor the dead letters'
headers may hold any canary, as given or in its obvious encodings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import requests
import sqlalchemy as sa
import structlog
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from kombu import Connection
from live_orgs import (
    LivePlatform,
    ai_system,
    call,
    join,
    module_settings,
    ok,
    onboard,
    serve_platform,
    settled_audit_size,
    token_in_mail,
)

from spectral_shared.bus import Actor, Envelope
from spectral_shared.bus.publisher import Publisher
from spectral_shared.logging import configure_logging
from spectral_shared.testing import read_emails, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


class _Lines(io.TextIOBase):
    """A stream the log handler writes to from every thread of the platform."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
        return len(text)

    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)


@contextmanager
def platform_logs() -> Iterator[_Lines]:
    """Logging as ``configure_logging`` sets it up in every process, into a buffer; the test
    session's own logging is put back afterwards."""
    root = logging.getLogger()
    noisy = ("werkzeug", "waitress.queue", "amqp", "kombu", "botocore", "urllib3")
    saved = (root.handlers[:], root.level, {n: logging.getLogger(n).level for n in noisy})
    saved_structlog = structlog.get_config()
    stream = _Lines()
    configure_logging("DEBUG", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:], level, levels = saved
        root.setLevel(level)
        for name, value in levels.items():
            logging.getLogger(name).setLevel(value)
        structlog.configure(**saved_structlog)


@dataclass
class Canaries:
    """Values that must never be logged, by what they are."""

    values: dict[str, str] = field(default_factory=dict)
    short: dict[str, str] = field(default_factory=dict)  # codes too short to search as text

    def new(self, label: str, template: str = "{}") -> str:
        value = template.format(f"canary{secrets.token_hex(6)}")
        self.values[label] = value
        return value

    def keep(self, label: str, value: str | None) -> str:
        assert value, f"no {label} to watch for"
        if len(value) < 10:
            self.short[label] = value
        else:
            self.values[label] = value
        return value

    def found_in(self, text: str) -> list[str]:
        leaks = []
        for label, value in self.values.items():
            for form in encodings(value):
                if form in text:
                    leaks.append(f"{label} ({form!r})")
                    break
        for label, code in self.short.items():
            # Digits also occur in timestamps, durations and hex ids: only a code standing alone.
            if re.search(rf"(?<![\w.:-]){re.escape(code)}(?![\w])", text):
                leaks.append(f"{label} ({code!r})")
        return leaks


def encodings(value: str) -> set[str]:
    raw = value.encode()
    forms = {
        value,
        quote(value, safe=""),
        quote_plus(value),
        json.dumps(value)[1:-1],
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    if "@" in value:
        forms.add(value.lower())
    return {f for f in forms if len(f) >= 8}


def totp(secret_b32: str, at: float | None = None) -> str:
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    code = TOTP(key, 6, SHA1(), 30, enforce_key_length=False).generate(at or time.time())
    return code.decode()


def mail_token(live: LivePlatform, to: str, after: int = 0) -> str:
    """The token in the newest e-mail to ``to`` beyond the first ``after`` of them."""

    def newest() -> str | None:
        messages = [m for m in read_emails(live.client.mail_dir) if m["To"] == to]
        if len(messages) <= after:
            return None
        return token_in_mail(live.client.mail_dir, to)

    return wait_until(newest, timeout=20, what=f"an e-mail with a token to {to}")


def raw(live: LivePlatform, method: str, path: str, data: bytes | str, **headers: str) -> Any:
    return requests.request(
        method,
        live.client.base_url + path,
        data=data,
        headers={"Content-Type": "application/json", **headers},
        timeout=30,
    )


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def phi_text(canaries: Canaries, where: str) -> str:
    name = canaries.new(f"patient name ({where})", "Jane {}son")
    ssn = canaries.keep(
        f"SSN ({where})",
        f"{secrets.randbelow(899) + 100}-{secrets.randbelow(89) + 10}-"
        f"{secrets.randbelow(8999) + 1000}",
    )
    mrn = canaries.keep(f"MRN ({where})", f"MRN{secrets.randbelow(10**9):09d}")
    dob = canaries.keep(
        f"DOB ({where})",
        f"19{secrets.randbelow(90) + 10}-0{secrets.randbelow(9) + 1}-1{secrets.randbelow(9)}",
    )
    phone = canaries.keep(
        f"phone ({where})", f"(555) {secrets.randbelow(899) + 100}-{secrets.randbelow(8999) + 1000}"
    )
    return f"Patient {name}, SSN {ssn}, {mrn}, DOB {dob}, call {phone}"


def drive_the_auth_entry_points(live: LivePlatform, canaries: Canaries) -> dict[str, Any]:
    """Every auth entry point, each given canaries."""
    client = live.client
    admin_email = canaries.new("admin e-mail", "{}@mercy.example")
    org = onboard(client, admin_email, "Mercy General")
    canaries.keep("admin access token", org.admin.token)
    password = org.admin.password
    client.login(admin_email, password)

    wrong = canaries.new("wrong password", "{} wrong horse")
    assert (
        client.post("/api/v1/auth/login", {"email": admin_email, "password": wrong}).status_code
        == 401
    )
    nobody = canaries.new("unknown e-mail", "{}@nowhere.example").lower()
    client.post("/api/v1/auth/login", {"email": nobody, "password": wrong})
    client.post("/api/v1/auth/password/forgot", {"email": nobody})
    client.post("/api/v1/auth/verify-email/resend", {"email": nobody})

    # Registration of another organization, with its own password.
    other_email = canaries.new("second admin e-mail", "{}@county.example").lower()
    other_password = canaries.new("registration password", "{} staple battery horse")
    registered = client.post(
        "/api/v1/auth/register",
        {
            "organization_name": "County Health",
            "organization_type": "health_system",
            "name": canaries.new("registrant name", "Bo {}"),
            "email": other_email,
            "password": other_password,
        },
    )
    assert registered.status_code < 300, registered.text
    verify = canaries.keep("verification token", mail_token(live, other_email))
    ok(client.get(f"/api/v1/auth/verify-email?token={verify}"))
    client.get(f"/api/v1/auth/verify-email?token={canaries.new('bogus verification token')}")
    login = ok(
        client.post("/api/v1/auth/login", {"email": other_email, "password": other_password})
    )
    canaries.keep("access token", login["access_token"])
    refresh = canaries.keep("refresh token", login["refresh_token"])
    refreshed = ok(client.post("/api/v1/auth/token/refresh", {"refresh_token": refresh}))
    canaries.keep("refreshed access token", refreshed["access_token"])
    canaries.keep("refreshed refresh token", refreshed["refresh_token"])
    client.post("/api/v1/auth/token/refresh", {"refresh_token": canaries.new("bogus refresh")})
    client.post("/api/v1/auth/logout", {"refresh_token": refreshed["refresh_token"]})

    # Password reset.
    before = len([m for m in read_emails(client.mail_dir) if m["To"] == other_email])
    client.post("/api/v1/auth/password/forgot", {"email": other_email})
    reset = canaries.keep("reset token", mail_token(live, other_email, after=before))
    new_password = canaries.new("reset password", "{} lantern quartz")
    ok(client.post("/api/v1/auth/password/reset", {"token": reset, "password": new_password}))
    client.post(
        "/api/v1/auth/password/reset",
        {"token": canaries.new("bogus reset token"), "password": new_password},
    )
    token = client.login(other_email, new_password)
    changed = canaries.new("changed password", "{} meadow violin")
    ok(
        call(
            client,
            "POST",
            "/api/v1/auth/password/change",
            token,
            {"current_password": new_password, "new_password": changed},
        )
    )
    token = client.login(other_email, changed)

    # MFA: enrolment, confirmation, sign-in with a code and with a backup code, wrong codes.
    enrolled = ok(call(client, "POST", "/api/v1/auth/mfa/enroll", token))
    secret = canaries.keep("MFA secret", enrolled["secret"])
    canaries.keep("otpauth URI", enrolled["otpauth_uri"])
    backup_codes = enrolled.get("backup_codes", [])
    for n, code in enumerate(backup_codes):
        canaries.keep(f"backup code {n}", code)
    confirm_code = canaries.keep("MFA confirmation code", totp(secret))
    ok(call(client, "POST", "/api/v1/auth/mfa/confirm", token, {"code": confirm_code}))
    client.post(
        "/api/v1/auth/login",
        {
            "email": other_email,
            "password": changed,
            "mfa_code": canaries.keep("wrong MFA code", "913377"),
        },
    )
    login_code = canaries.keep("MFA sign-in code", totp(secret, time.time() + 30))
    client.post(
        "/api/v1/auth/login", {"email": other_email, "password": changed, "mfa_code": login_code}
    )
    if backup_codes:
        signed = client.post(
            "/api/v1/auth/login",
            {"email": other_email, "password": changed, "backup_code": backup_codes[0]},
        )
        assert signed.status_code == 200, signed.text

    # A browser session: the cookie and the CSRF token.
    browser = requests.Session()
    session = browser.post(
        client.base_url + "/api/v1/auth/session",
        json={"email": admin_email, "password": password},
        timeout=30,
    )
    assert session.status_code == 201, session.text
    for name, value in browser.cookies.items():
        canaries.keep(f"session cookie {name}", value)
    csrf = session.json().get("csrf_token")
    if csrf:
        canaries.keep("CSRF token", csrf)
    browser.get(client.base_url + "/api/v1/auth/me", timeout=30)
    browser.post(client.base_url + "/api/v1/auth/api-keys", json={}, timeout=30)  # no CSRF: 403
    browser.delete(
        client.base_url + "/api/v1/auth/session", headers={"X-CSRF-Token": csrf or ""}, timeout=30
    )

    # Invitations: the invited address, the token, the new member's password.
    invited = canaries.new("invited e-mail", "{}@mercy.example").lower()
    member = join(client, org, invited, "compliance_officer")
    canaries.keep("invitation token", token_in_mail(client.mail_dir, invited))
    client.post(
        "/api/v1/auth/invitations/accept",
        {"token": canaries.new("bogus invitation token"), "name": "X", "password": wrong},
    )

    # API keys: created, used, and a made-up one.
    key = ok(
        call(
            client,
            "POST",
            "/api/v1/auth/api-keys",
            org.admin.token,
            {"name": "pusher", "scopes": ["telemetry:write", "ai_systems:read"]},
        )
    )
    api_key = canaries.keep("API key", key["secret"])
    ok(client.get("/api/v1/ai-systems", api_key))
    client.get("/api/v1/ai-systems", canaries.new("made-up API key", "sk_live_{}"))
    client.get("/api/v1/auth/me", canaries.new("made-up bearer token", "eyJ{0}.eyJ{0}.sig"))

    # Query strings, headers, cookies and bodies that are not JSON.
    client.get(
        "/api/v1/ai-systems",
        org.admin.token,
        params={"search": canaries.new("search text"), "cursor": canaries.new("bogus cursor")},
    )
    client.get(f"/api/v1/nowhere?ssn={canaries.new('query canary on an unknown route')}")
    client.get(
        "/api/v1/auth/me",
        org.admin.token,
        headers={
            "X-Patient-Name": canaries.new("custom header"),
            "Cookie": f"spectral_session={canaries.new('forged session cookie')}",
            "User-Agent": canaries.new("user agent"),
        },
    )
    raw(
        live,
        "POST",
        "/api/v1/auth/login",
        f'{{"email": "{nobody}", "password": "{canaries.new("password in broken JSON")}"',
    )
    raw(live, "POST", "/api/v1/auth/register", b"\xff\xfe" + canaries.new("binary body").encode())
    return {"org": org, "member": member, "api_key": api_key, "token": token}


def drive_the_governance_entry_points(
    live: LivePlatform, canaries: Canaries, admin: str, api_key: str
) -> None:
    client = live.client
    system = ai_system(client, admin, "Sepsis Watch")
    system_id = system["id"]
    ok(
        call(
            client,
            "PATCH",
            f"/api/v1/ai-systems/{system_id}",
            admin,
            {"description": phi_text(canaries, "system description")},
        )
    )
    events = [
        {
            "ai_system_id": system_id,
            "event_type": "phi_exposure",
            "severity": "critical",
            "payload": {
                "note": phi_text(canaries, "telemetry payload"),
                "patient_email": canaries.new("patient e-mail", "{}@gmail.example").lower(),
                "ssn": canaries.new("payload ssn field"),
            },
        },
        {
            "ai_system_id": system_id,
            "event_type": "model_drift",
            "payload": {"accuracy_drop": 0.3, "text": phi_text(canaries, "drift payload")},
        },
        {"ai_system_id": system_id, "event_type": phi_text(canaries, "event type")},
        {"ai_system_id": str(uuid.uuid4()), "event_type": "model_drift", "run_id": "r-1"},
    ]
    ok(call(client, "POST", "/api/v1/telemetry/events", admin, {"events": events}), 202)
    call(client, "POST", "/api/v1/telemetry/events", api_key, {"events": events[:1]})
    raw(
        live,
        "POST",
        "/api/v1/telemetry/events",
        '{"events": [{"note": "' + phi_text(canaries, "broken telemetry JSON") + '"',
        Authorization=f"Bearer {admin}",
    )
    secret = ok(call(client, "POST", f"/api/v1/ai-systems/{system_id}/webhook-secret", admin))
    webhook_secret = canaries.keep("webhook secret", secret["secret"])
    body = json.dumps(
        {
            "alert_type": "drift",
            "alert_id": "a-1",
            "drift_value": 0.3,
            "message": phi_text(canaries, "webhook payload"),
        }
    ).encode()
    signature = canaries.keep("webhook signature", sign(webhook_secret, body))
    assert (
        raw(
            live,
            "POST",
            f"/api/v1/webhooks/arize/{system_id}",
            body,
            **{"X-Arize-Signature": signature},
        ).status_code
        == 202
    )
    forged = canaries.keep("forged signature", sign(canaries.new("forging secret"), body))
    raw(live, "POST", f"/api/v1/webhooks/arize/{system_id}", body, **{"X-Arize-Signature": forged})
    raw(
        live,
        "POST",
        f"/api/v1/webhooks/langsmith/{system_id}",
        b'{"run": "' + phi_text(canaries, "broken webhook JSON").encode(),
        **{"X-Langsmith-Signature": forged},
    )
    # Billing's webhook route: Stripe's payload shape, its signature header.
    stripe_body = json.dumps(
        {
            "type": "customer.subscription.updated",
            "data": {
                "object": {
                    "customer_email": canaries.new(
                        "Stripe customer e-mail", "{}@billing.example"
                    ).lower(),
                    "customer": canaries.new("Stripe customer id", "cus_{}"),
                }
            },
        }
    )
    raw(
        live,
        "POST",
        "/api/v1/billing/webhooks/stripe",
        stripe_body,
        **{"Stripe-Signature": f"t=1,v1={canaries.new('Stripe signature')}"},
    )

    def violations() -> list[Any] | None:
        page = ok(client.get("/api/v1/violations", admin, params={"ai_system_id": system_id}))
        return page["data"] or None

    for violation in wait_until(violations, timeout=20, what="the telemetry's violations")[:1]:
        call(
            client,
            "POST",
            f"/api/v1/violations/{violation['id']}/resolve",
            admin,
            {"note": phi_text(canaries, "resolution note")},
        )
    event = ok(client.get("/api/v1/telemetry/events", admin, params={"limit": 5}))["data"][0]
    ok(client.get(f"/api/v1/telemetry/events/{event['id']}/payload", admin))
    slack = canaries.new("Slack webhook URL", "https://hooks.slack.com/services/T{}/B0/x")
    ok(call(client, "PUT", "/api/v1/alerts/settings", admin, {"slack_webhook_url": slack}))
    call(
        client,
        "PUT",
        "/api/v1/alerts/settings",
        admin,
        {"slack_webhook_url": "http://" + slack[8:]},
    )
    ok(call(client, "PUT", "/api/v1/alerts/settings", admin, {"slack_webhook_url": None}))
    call(
        client,
        "PUT",
        "/api/v1/audit/legal-hold",
        admin,
        {"active": True, "reason": phi_text(canaries, "legal hold reason")[:400]},
    )


def dead_letter_canaries(live: LivePlatform, canaries: Canaries) -> int:
    """Messages carrying PHI straight onto every consumer's queue: not JSON, an envelope that
    is not one, a payload that breaks its type's contract; returns how many must be parked."""
    sent = 0
    for runtime in live.platform.runtimes.values():
        for subscription in runtime.subscriptions:
            queue = runtime.topology.queue_name(subscription)
            handled: list[str] = []
            bodies = [
                '{"patient": "' + phi_text(canaries, f"non-JSON dead letter to {queue}"),
                json.dumps(
                    {
                        "id": str(uuid.uuid4()),
                        "occurred_at": phi_text(canaries, f"bad envelope date to {queue}"),
                        "data": {"ssn": canaries.new(f"envelope field to {queue}")},
                    }
                ),
            ]
            if "auth.user.registered" in subscription.bindings:
                # Valid by its contract but for no organization: handled (as nothing), not
                # parked; its values pass through the handler all the same.
                handled.append(
                    Envelope(
                        type="auth.user.registered",
                        organization_id=None,
                        actor=Actor.system("test"),
                        data={
                            "user_id": str(uuid.uuid4()),
                            "email": canaries.new("directory e-mail", "{}@y.example").lower(),
                            "name": canaries.new("directory name", "Al {}"),
                            "role": "viewer",
                        },
                    ).model_dump_json()
                )
            for binding in subscription.bindings[:1]:
                event_type = binding if "*" not in binding and "#" not in binding else None
                if event_type:
                    envelope = Envelope(
                        type=event_type,
                        organization_id=None,
                        actor=Actor.system("test"),
                        data={
                            "user_id": phi_text(canaries, f"contract field {event_type}"),
                            "email": canaries.new(
                                f"contract e-mail {event_type}", "{}@x.example"
                            ).lower(),
                            "name": canaries.new(f"contract name {event_type}", "Jo {}"),
                            "role": 7,
                        },
                    )
                    bodies.append(envelope.model_dump_json())
            publisher = Publisher(live.settings.broker_url, runtime.topology)
            try:
                for body in handled:
                    publisher.send_to_queue(
                        queue, body, message_id=f"canary-{uuid.uuid4()}", headers={}
                    )
                for body in bodies:
                    publisher.send_to_queue(
                        queue, body, message_id=f"canary-{uuid.uuid4()}", headers={}
                    )
                    sent += 1
            finally:
                publisher.close()
    return sent


def dead_letters(live: LivePlatform) -> list[Any]:
    """Every message parked in any dead-letter queue (removed from it)."""
    parked = []
    with Connection(live.settings.broker_url) as connection, connection.channel() as channel:
        for runtime in live.platform.runtimes.values():
            for subscription in runtime.subscriptions:
                queue = runtime.topology.dead_letter_queue_name(subscription)
                while (message := channel.basic_get(queue=queue, no_ack=True)) is not None:
                    parked.append(message)
    return parked


def test_no_canary_reaches_the_logs_or_dead_letter_headers(
    tmp_path: Path,
    pg_template: tuple[sa.Engine, str],
    broker_url: str,
    redis_url: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    canaries = Canaries()
    with (
        platform_logs() as logs,
        module_settings(tmp_path / "var", pg_template, broker_url, redis_url) as settings,
        serve_platform(settings) as live,
    ):
        auth = drive_the_auth_entry_points(live, canaries)
        org = auth["org"]
        drive_the_governance_entry_points(live, canaries, org.admin.token, auth["api_key"])
        sent = dead_letter_canaries(live, canaries)
        parked: list[Any] = []

        def all_parked() -> bool:
            parked.extend(dead_letters(live))
            return len(parked) >= sent

        wait_until(all_parked, timeout=20, interval=0.2, what=f"{sent} dead letters")
        settled_audit_size(live.client, org.admin.token)

    printed = capfd.readouterr()
    text = logs.text() + printed.out + printed.err
    lines = [line for line in logs.text().splitlines() if line.strip()]
    # The capture saw the platform at work: its requests, its workers, every dead letter.
    events = Counter(json.loads(line).get("event") for line in lines)
    assert events["http.request"] >= 80, events
    assert events["worker.consuming"] >= 1 and events["relay.started"] >= 1, events
    assert events["worker.dead_lettered"] == sent == len(parked), events

    leaks = canaries.found_in(text)
    assert not leaks, f"in the logs: {leaks}"
    headers = json.dumps([m.headers for m in parked], default=str)
    assert '"x-error"' in headers  # the headers that keep the failure are there to be read
    leaks = canaries.found_in(headers)
    assert not leaks, f"in dead-letter headers: {leaks}"
    assert len(canaries.values) + len(canaries.short) > 60
