"""Outbound requests: the one policy for every URL a tenant can set (ADR 0036), and the one rule
for every network call Spectral makes: never with a database transaction open.

**Where a tenant's URL may point** (:class:`OutboundPolicy`). A purpose with a known destination
has an allow-list of hosts (Slack: exactly ``hooks.slack.com``, port 443); any other purpose
(outbound webhooks, later vendor model endpoints) may point at any host, over ``https://``, whose
every address is public. The policy is applied twice:

- when the URL is set (:meth:`OutboundPolicy.check_url`, no DNS): ``https://``, no credentials
  in the URL, a host on the purpose's allow-list, and no IP literal outside public address space
  (dotted, decimal, hex and octal forms alike);
- when the request is made (:meth:`OutboundPolicy.session`): the transport resolves the host
  itself, refuses the request unless every address it resolved to is public (not loopback,
  private, link-local with the cloud metadata address, unique-local, CGNAT, multicast,
  unspecified or reserved, nor an IPv6 form wrapping one), and connects to the address it checked,
  so a DNS answer that changes between the check and the connection (rebinding) cannot move the
  request. TLS still verifies the certificate for the host name (SNI and ``Host`` are the name).
  Redirects are never followed, and no proxy from the environment is used.

A refusal is :class:`OutboundRefused`; its message never repeats the URL (which may be a secret).

**Operators, not tenants, may relax it**: ``OUTBOUND_ALLOW_PRIVATE`` lists networks (CIDR or a
single address) and host names whose private addresses may be reached, over ``http://`` too and
whatever the purpose's host allow-list says: local fakes in tests and development listen on
127.0.0.1. Production refuses to start with it set.

**No network call under a transaction** (:func:`no_transaction_open`): a call made while the
calling thread holds an open database transaction keeps that transaction (and on SQLite the
database's one write lock) for as long as the other side takes. Every outbound call site asks
first; under tests (``STRICT``) such a call fails, elsewhere it is logged as
``network.call_in_transaction`` at error level.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from spectral_shared.logging import get_logger

log = get_logger(__name__)

Purpose = Literal["slack", "webhook"]

# Purposes whose destination is known: their hosts. A purpose not listed may use any public host.
ALLOWED_HOSTS: Mapping[str, frozenset[str]] = {"slack": frozenset({"hooks.slack.com"})}
WHAT: Mapping[str, str] = {"slack": "a Slack incoming webhook", "webhook": "a webhook target"}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Not public, whatever ``is_global`` says in a given Python version (224/4 counts as global in
# 3.11, CGNAT and 0/8 are spelled out for the reader).
_NOT_PUBLIC: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, with the cloud metadata service at 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "fc00::/7",  # unique-local, fd00::/8 among them
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundRefused(ValueError):
    """The URL may not be requested; the message says why and never repeats the URL."""


class NetworkCallInTransaction(AssertionError):
    """A network call was about to be made with a database transaction open on this thread."""


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is in public address space (an IPv6 form wrapping an IPv4 address,
    IPv4-mapped, 6to4 or NAT64, is judged by the address it wraps; Teredo never is)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address.sixtofour is not None:
            return is_public(address.sixtofour)
        if address.teredo is not None:
            return False
        if address in _NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if any(address in network for network in _NOT_PUBLIC if network.version == address.version):
        return False
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
    )


_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")


def ip_literal(host: str) -> IPAddress | None:
    """The address a URL's host spells, in any form a resolver would accept (``127.1``,
    ``2130706433``, ``0x7f.0.0.1``); None for a host name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _host(hostname: str) -> str:
    return hostname.lower().rstrip(".")


@dataclass(frozen=True)
class OutboundPolicy:
    """Where tenant-set URLs may lead. Empty (the default, and production's): public HTTPS only.
    ``allow_private`` and ``allow_private_hosts`` are the operator's exceptions
    (``OUTBOUND_ALLOW_PRIVATE``)."""

    allow_private: tuple[IPNetwork, ...] = ()
    allow_private_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, entries: str | Iterable[str]) -> OutboundPolicy:
        """From ``OUTBOUND_ALLOW_PRIVATE``: comma-separated networks, addresses and host names.
        Raises ValueError for an entry that is none of them."""
        items = entries.split(",") if isinstance(entries, str) else list(entries)
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for raw in items:
            item = raw.strip()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?", item):
                raise ValueError(f"not a network, an address or a host name: {item!r}")
            hosts.add(_host(item))
        return cls(tuple(networks), frozenset(hosts))

    def operator_allows(self, address: IPAddress) -> bool:
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(
            a in network
            for a in candidates
            for network in self.allow_private
            if network.version == a.version
        )

    def _operator_host(self, host: str) -> bool:
        """The URL's host is one the operator listed: by name, or an address in a listed network."""
        if host in self.allow_private_hosts:
            return True
        literal = ip_literal(host)
        return literal is not None and self.operator_allows(literal)

    # ---- when a URL is set --------------------------------------------------------------------

    def check_url(self, url: str, purpose: str) -> None:
        """Raise :class:`OutboundRefused` unless ``url`` may be set for ``purpose`` (no DNS)."""
        what = WHAT.get(purpose, "the URL")
        try:
            parts = urlsplit(url)
            hostname = parts.hostname or ""
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            raise OutboundRefused(f"{what} must be a valid URL") from None
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise OutboundRefused(f"{what} may not carry credentials in the URL")
        host = _host(hostname)
        if host and parts.scheme in ("http", "https") and self._operator_host(host):
            return
        if parts.scheme != "https" or not host:
            raise OutboundRefused(f"{what} must be an https:// URL")
        literal = ip_literal(host)
        if (
            (literal is not None and not is_public(literal))
            or host == "localhost"
            or (host.endswith(".localhost"))
        ):
            raise OutboundRefused(
                f"{what} may not point at a private, loopback or link-local address"
            )
        allowed = ALLOWED_HOSTS.get(purpose)
        if allowed is not None and (host not in allowed or parts.port not in (None, 443)):
            raise OutboundRefused(f"{what} must be on https://{min(allowed)}/")

    # ---- when the request is made ---------------------------------------------------------------

    def check_address(self, host: str, address: IPAddress) -> None:
        """Raise :class:`OutboundRefused` unless ``host`` may be reached at ``address``."""
        if is_public(address) or self.operator_allows(address):
            return
        if _host(host) in self.allow_private_hosts:
            return
        raise OutboundRefused(
            "the destination resolves to a private, loopback or link-local address"
        )

    def resolve(self, host: str, port: int) -> list[tuple[socket.AddressFamily, IPAddress]]:
        """Every address ``host`` resolves to, each checked; refused if any one is not allowed
        (a name that resolves to public and private addresses alike is not a public host)."""
        found: list[tuple[socket.AddressFamily, IPAddress]] = []
        family = urllib3.util.connection.allowed_gai_family()
        for af, _type, _proto, _name, sockaddr in socket.getaddrinfo(
            host, port, family, socket.SOCK_STREAM
        ):
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            self.check_address(host, address)
            if (af, address) not in found:
                found.append((af, address))
        if not found:
            raise OSError("getaddrinfo returned no address")
        return found

    def session(self) -> requests.Session:
        """A requests session whose every connection passes :meth:`resolve` and goes to the
        address checked. It follows no redirects and ignores proxy variables."""
        session = _NoRedirects()
        session.trust_env = False  # HTTPS_PROXY would connect elsewhere than the checked address
        adapter = _CheckedAdapter(self)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def post_json(
        self, url: str, payload: Mapping[str, Any], *, purpose: str, timeout: float
    ) -> requests.Response:
        """POST ``payload`` as JSON to a tenant's URL: the URL checked, then the connection."""
        self.check_url(url, purpose)
        no_transaction_open(f"POST to {WHAT.get(purpose, purpose)}")
        with self.session() as session:
            return session.post(url, json=dict(payload), timeout=timeout, allow_redirects=False)


# ---- the transport --------------------------------------------------------------------------------


class _CheckedConnection(HTTPConnection):
    """Resolves the host itself, checks every address, then connects to a checked one."""

    outbound_policy: OutboundPolicy = OutboundPolicy()

    def _new_conn(self) -> socket.socket:
        try:
            addresses = self.outbound_policy.resolve(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        last: Exception | None = None
        for _family, address in addresses:
            try:
                return urllib3.util.connection.create_connection(
                    (str(address), self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                last = ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                )
                last.__cause__ = exc
            except OSError as exc:
                last = NewConnectionError(self, f"Failed to establish a new connection: {exc}")
                last.__cause__ = exc
        assert last is not None
        raise last


class _CheckedHTTPSConnection(_CheckedConnection, HTTPSConnection):
    """TLS over the checked socket; SNI and certificate verification use the host name."""


class _NoRedirects(requests.Session):
    """A redirect is answered as it is, never followed: it could lead where the policy refused."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        return super().send(request, **kwargs)


class _CheckedAdapter(HTTPAdapter):
    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        policy = self._policy
        plain = type("CheckedConnection", (_CheckedConnection,), {"outbound_policy": policy})
        tls = type(
            "CheckedHTTPSConnection", (_CheckedHTTPSConnection,), {"outbound_policy": policy}
        )
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("CheckedPool", (HTTPConnectionPool,), {"ConnectionCls": plain}),
            "https": type("CheckedTLSPool", (HTTPSConnectionPool,), {"ConnectionCls": tls}),
        }

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        raise OutboundRefused("outbound requests to tenant URLs never go through a proxy")


# ---- no network call under a transaction ------------------------------------------------------

# Tests set this (the test plugin does): a network call under a transaction then fails.
STRICT = False

_local = threading.local()


def _connections() -> weakref.WeakSet[Connection]:
    found: weakref.WeakSet[Connection] | None = getattr(_local, "connections", None)
    if found is None:
        found = _local.connections = weakref.WeakSet()
    return found


@event.listens_for(Engine, "engine_connect")
def _remember(connection: Connection) -> None:
    """Every connection is remembered by the thread that opened it (a weak reference)."""
    _connections().add(connection)


def transaction_open() -> bool:
    """Whether this thread holds a connection with a database transaction open."""
    return any(not c.closed and c.in_transaction() for c in list(_connections()))


def no_transaction_open(call: str) -> None:
    """Say, before a network call, that none may be made with a transaction open on this
    thread: raises :class:`NetworkCallInTransaction` under tests, logs an error elsewhere."""
    if not transaction_open():
        return
    if STRICT:
        raise NetworkCallInTransaction(
            f"{call} with a database transaction open: commit or close the session first"
        )
    log.error("network.call_in_transaction", call=call)
