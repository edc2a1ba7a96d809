"""The nginx gateway, rendered from the route table (``spectral gateway render --out DIR``).

The output is a whole nginx configuration: ``nginx.conf`` plus the snippets it includes from
``spectral/`` (nginx inherits ``add_header`` and ``proxy_set_header`` only into blocks that set
none themselves, so every location includes the complete set it needs). Nothing in it is written
by hand: routes, limits and timeouts come from :mod:`spectral_gateway.routes` (the routes the
installed components declare), problem documents
from :mod:`spectral_gateway.problems`, header names from :mod:`spectral_gateway.contract`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID
from jinja2 import Environment, PackageLoader, StrictUndefined

from spectral_gateway.contract import (
    API_CSP,
    AUTH_REQUEST_HEADER,
    AUTHORIZE_PATH,
    DENIAL_HEADER,
    DOCS_CSP,
    DOCS_PREFIX,
    IDENTITY_HEADERS,
    INTERNAL_TOKEN_HEADER,
    REQUEST_ID_PATTERN,
    SECURITY_HEADERS,
)
from spectral_gateway.problems import GATEWAY_PROBLEMS
from spectral_gateway.routes import PLATFORM_PAGES, Route, route_table, service_names

__all__ = [
    "GatewayConfig",
    "NginxRoute",
    "foreground_command",
    "nginx_version",
    "render",
    "write",
]

# Which named location answers each error nginx itself produces. 494 is nginx's own code for
# headers too large; 500 comes from an auth_request that could not reach auth.
ERROR_PAGES = (
    (400, "bad_request"),
    (401, "unauthenticated"),
    (403, "forbidden"),
    (404, "not_found"),
    (405, "method_not_allowed"),
    (408, "request_timeout"),
    (413, "too_large"),
    (429, "rate_limited"),
    (494, "headers_too_large"),
    (500, "unavailable"),
    (502, "bad_gateway"),
    (503, "unavailable"),
    (504, "timeout"),
)
_SPECIAL = {"forbidden", "rate_limited"}  # their locations branch or add headers of their own


@dataclass(frozen=True)
class NginxRoute:
    prefix: str
    service: str
    public: bool
    abuse_prone: bool
    max_body: str
    timeout_seconds: int
    locations: tuple[str, ...]

    @classmethod
    def of(cls, route: Route) -> NginxRoute:
        # The prefix itself, and (unless it names a file) everything below it: the same matching
        # as Route.matches, and nginx's longest-prefix rule is route_for's.
        locations = (
            (f"= {route.prefix}",) if route.exact else (f"= {route.prefix}", f"{route.prefix}/")
        )
        return cls(
            route.prefix,
            route.service,
            route.public,
            route.abuse_prone,
            route.max_body,
            route.timeout_seconds,
            locations,
        )


@dataclass
class GatewayConfig:
    """Everything the rendered config depends on besides the route table."""

    out_dir: Path
    runtime_dir: Path  # pid file, temp files, and (by default) the logs
    tls_cert: Path
    tls_key: Path
    upstreams: dict[str, str]  # service -> host:port
    platform_upstream: str | None = None  # host:port of the health and API-docs pages
    server_name: str = "_"
    https_port: int = 443
    http_port: int = 80
    public_https_port: int | None = None  # what redirects name, if not https_port
    listen_address: str = ""  # e.g. 127.0.0.1 for a development stack
    tls_trusted_chain: Path | None = None
    ocsp_stapling: bool | None = None  # None: on when the certificate names an OCSP responder
    acme_root: Path | None = None
    access_log: str | None = None
    error_log: str | None = None
    worker_processes: str = "auto"
    # The workers' account when nginx starts as root (nginx's default is nobody, which cannot
    # read a root-only tree). None: the master's own account, or nginx's default under root.
    user: str | None = None
    upstream_keepalive: int = 32
    abuse_rate_per_minute: int = 30
    abuse_burst: int = 20
    nginx_version: tuple[int, int, int] = (1, 22, 1)
    routes: tuple[Route, ...] = field(default_factory=route_table)

    # ---- what the template reads ---------------------------------------------------------------

    @property
    def listen_prefix(self) -> str:
        return f"{self.listen_address}:" if self.listen_address else ""

    @property
    def https_port_suffix(self) -> str:
        port = self.public_https_port or self.https_port
        return "" if port == 443 else f":{port}"

    @property
    def http2_listen_parameter(self) -> bool:
        """nginx before 1.25.1 turns HTTP/2 on with ``listen ... http2``; later, ``http2 on``."""
        return self.nginx_version < (1, 25, 1)

    @property
    def stapling(self) -> bool:
        if self.ocsp_stapling is not None:
            return self.ocsp_stapling
        return certificate_names_ocsp_responder(self.tls_cert)

    @property
    def abuse_retry_after(self) -> int:
        return max(1, -(-60 // self.abuse_rate_per_minute))

    def problem_json(self, key: str) -> str:
        """The problem document as an nginx single-quoted string's content."""
        text = GATEWAY_PROBLEMS[key].json("__REQUEST_ID__")
        if "\\" in text or "$" in text:
            raise ValueError(f"problem {key!r} would not survive nginx quoting: {text}")
        return text.replace("'", "\\'").replace("__REQUEST_ID__", "$spectral_request_id")

    def problem_headers(self, key: str) -> tuple[tuple[str, str], ...]:
        # auth_request passes auth's own WWW-Authenticate on with a 401; adding it would double it.
        return tuple(h for h in GATEWAY_PROBLEMS[key].headers if h[0] != "WWW-Authenticate")

    def context(self) -> dict[str, object]:
        """What the template reads: this config as ``c``, and what is derived from it."""
        missing = sorted({route.service for route in self.routes} - set(self.upstreams))
        if missing:
            raise ValueError(
                f"no upstream for {', '.join(missing)}: every routed service needs one"
            )
        upstreams = dict(self.upstreams)
        if self.platform_upstream:
            upstreams["platform"] = self.platform_upstream
        named = dict.fromkeys(key for _, key in ERROR_PAGES if key not in _SPECIAL)
        return {
            "c": self,
            "upstreams": upstreams,
            "routes": [NginxRoute.of(r) for r in self.routes if not r.internal],
            "error_pages": ERROR_PAGES,
            "problem_locations": [(key, GATEWAY_PROBLEMS[key].status) for key in named],
            "ocsp_stapling": self.stapling,
            "platform_paths": PLATFORM_PAGES,
            "csp": {"api": API_CSP, "docs": DOCS_CSP, "docs_prefix": DOCS_PREFIX},
            "request_id_pattern": REQUEST_ID_PATTERN,
            "authorize_path": AUTHORIZE_PATH,
            "auth_request_header": AUTH_REQUEST_HEADER,
            "access_log": self.access_log or str(self.runtime_dir / "access.log"),
            "error_log": self.error_log or str(self.runtime_dir / "error.log"),
            "acme_root": str(self.acme_root or self.runtime_dir / "acme"),
        }


def certificate_names_ocsp_responder(path: Path) -> bool:
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
        access = certificate.extensions.get_extension_for_class(
            x509.AuthorityInformationAccess
        ).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    return any(d.access_method == AuthorityInformationAccessOID.OCSP for d in access)


def _security_headers() -> str:
    lines = [
        "# Security headers on every answer, errors included (always).",
        *(f'add_header {name} "{value}" always;' for name, value in SECURITY_HEADERS),
        "add_header Content-Security-Policy $spectral_csp always;",
        "add_header X-Request-ID $spectral_request_id always;",
    ]
    return "\n".join(lines) + "\n"


def _proxy() -> str:
    lines = [
        "# How every request goes to its service.",
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $spectral_connection;",
        "proxy_set_header Host $host;",
        "proxy_set_header X-Real-IP $remote_addr;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Request-ID $spectral_request_id;",
        "proxy_connect_timeout 5s;",
        "proxy_buffering on;",
        "# The service echoes the request id; the client gets the gateway's one copy.",
        "proxy_hide_header X-Request-ID;",
        "# Identity and gateway headers from a client never reach a service.",
        *(f'proxy_set_header {name} "";' for name in IDENTITY_HEADERS),
    ]
    return "\n".join(lines) + "\n"


def _quota_headers() -> str:
    return (
        "# Auth's quota figures, passed on to the client.\n"
        "add_header X-RateLimit-Limit $spectral_ratelimit_limit always;\n"
        "add_header X-RateLimit-Remaining $spectral_ratelimit_remaining always;\n"
        "add_header X-RateLimit-Reset $spectral_ratelimit_reset always;\n"
        "add_header Retry-After $spectral_retry_after always;\n"
    )


def _authorized() -> str:
    upstream = INTERNAL_TOKEN_HEADER.lower().replace("-", "_")
    denied = DENIAL_HEADER.lower().replace("-", "_")
    return (
        "# Authorized routes: auth decides (credential, CSRF, quota) before the service sees the\n"
        "# request, which then carries auth's short-lived internal token instead of the client's\n"
        "# credential.\n"
        "auth_request /_spectral/authorize;\n"
        f"auth_request_set $spectral_internal_token $upstream_http_{upstream};\n"
        f"auth_request_set $spectral_denied $upstream_http_{denied};\n"
        "auth_request_set $spectral_ratelimit_limit $upstream_http_x_ratelimit_limit;\n"
        "auth_request_set $spectral_ratelimit_remaining $upstream_http_x_ratelimit_remaining;\n"
        "auth_request_set $spectral_ratelimit_reset $upstream_http_x_ratelimit_reset;\n"
        "auth_request_set $spectral_retry_after $upstream_http_retry_after;\n"
        "include spectral/security_headers.conf;\n"
        "include spectral/quota_headers.conf;\n"
        "include spectral/proxy.conf;\n"
        'proxy_set_header Authorization "Bearer $spectral_internal_token";\n'
    )


def _public() -> str:
    return (
        "# Public routes: no authorization; the client's own headers, identity ones excepted.\n"
        "include spectral/security_headers.conf;\n"
        "include spectral/proxy.conf;\n"
    )


def render(config: GatewayConfig) -> dict[str, str]:
    """File name (relative to the output directory) -> content."""
    environment = Environment(
        loader=PackageLoader("spectral_gateway", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - nginx configuration, not HTML
    )
    main = environment.get_template("nginx.conf.j2").render(config.context())
    return {
        "nginx.conf": re.sub(r"\n{3,}", "\n\n", main),
        "spectral/security_headers.conf": _security_headers(),
        "spectral/proxy.conf": _proxy(),
        "spectral/quota_headers.conf": _quota_headers(),
        "spectral/authorized.conf": _authorized(),
        "spectral/public.conf": _public(),
    }


def write(config: GatewayConfig) -> Path:
    """Render into ``config.out_dir`` and create the runtime directories nginx writes to."""
    for name, content in render(config).items():
        path = config.out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    config.runtime_dir.mkdir(parents=True, exist_ok=True)
    (config.acme_root or config.runtime_dir / "acme").mkdir(parents=True, exist_ok=True)
    return config.out_dir / "nginx.conf"


def foreground_command(binary: str, config: GatewayConfig) -> list[str]:
    """How to run the rendered gateway in the foreground (under a supervisor, tests, bench)."""
    return [
        binary,
        "-p",
        str(config.runtime_dir),
        "-c",
        str(config.out_dir / "nginx.conf"),
        "-g",
        "daemon off;",
    ]


def nginx_version(binary: str = "nginx") -> tuple[int, int, int] | None:
    """The installed nginx's version, or None when there is none."""
    path = shutil.which(binary) or (binary if Path(binary).exists() else None)
    if path is None:
        return None
    result = subprocess.run([path, "-v"], capture_output=True, text=True, check=False)  # noqa: S603
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", result.stderr + result.stdout)
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


def default_upstreams(environ: dict[str, str]) -> dict[str, str]:
    """``<SERVICE>_UPSTREAM`` (a URL or host:port) for every service that has one."""
    found = {}
    for service in service_names():
        value = environ.get(f"{service.upper()}_UPSTREAM")
        if value:
            found[service] = re.sub(r"^https?://", "", value).rstrip("/")
    return found
