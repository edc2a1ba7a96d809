"""Serving the double: :func:`serve` for tests and ``make run``, :func:`main` for a terminal."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from spectral_billing.stripe_double.app import create_app
from spectral_billing.stripe_double.core import StripeDouble

log = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    """Request lines at DEBUG, not on stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s %s", self.command, self.path, code)

    def log(self, type: str, message: str, *args: Any) -> None:
        getattr(log, "info" if type == "info" else "warning")(message, *args)


def serve(
    double: StripeDouble, host: str = "127.0.0.1", port: int = 0
) -> tuple[BaseWSGIServer, threading.Thread, str]:
    """Serve the double on a threaded werkzeug server in a daemon thread (port 0: any free
    port). Answers ``(server, thread, base_url)``; stop with ``server.shutdown()``,
    ``server.server_close()``, ``thread.join()`` and ``double.close()``."""
    server = make_server(
        host, port, create_app(double), threaded=True, request_handler=_QuietHandler
    )
    shown = f"[{host}]" if ":" in host else host
    base_url = f"http://{shown}:{server.server_port}"
    if double.public_url is None:
        double.public_url = base_url
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="stripe-double-http",
        daemon=True,
    )
    thread.start()
    return server, thread, base_url


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m spectral_billing.stripe_double --port 12111 --webhook-url URL
    --webhook-secret whsec_... --state FILE``."""
    parser = argparse.ArgumentParser(
        prog="python -m spectral_billing.stripe_double",
        description="Spectral's local Stripe test double (test mode; no money moves).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", action="append", default=[], help="repeatable")
    parser.add_argument(
        "--webhook-secret", action="append", default=[], help="one, or one per --webhook-url"
    )
    parser.add_argument("--state", help="JSON file the state is kept in across restarts")
    parser.add_argument("--public-url", help="the URL browsers reach the double at")
    parser.add_argument(
        "--no-auto-deliver", action="store_true", help="queue webhooks until flushed"
    )
    args = parser.parse_args(argv)
    secrets = args.webhook_secret
    if args.webhook_url and len(secrets) not in (1, len(args.webhook_url)):
        parser.error("give one --webhook-secret, or one per --webhook-url")
    pairs = [
        (url, secrets[0] if len(secrets) == 1 else secrets[i])
        for i, url in enumerate(args.webhook_url)
    ]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    double = StripeDouble(
        state_path=args.state,
        webhook_endpoints=pairs,
        auto_deliver=not args.no_auto_deliver,
        public_url=args.public_url,
    )
    server, thread, base_url = serve(double, args.host, args.port)
    print(f"Stripe test double on {base_url} (controls: {base_url}/_control/)", file=sys.stderr)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop.wait()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    double.close()
    return 0
