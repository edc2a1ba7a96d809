"""Reload nginx when what it read at start has changed: the addresses its upstream names resolve
to, or the certificate files.

nginx (before 1.27.3, and Debian's is 1.22) resolves upstream host names once, when it loads its
configuration. Under Docker Compose a name such as ``governance-web`` resolves to one address per
container, so after ``docker compose up --scale governance-web=3`` the new containers got no
traffic, and after scaling down nginx kept sending some to addresses that were gone, until the
gateway restarted. A renewed Let's Encrypt certificate likewise waited for a restart. The gateway
image runs this watcher beside nginx: every few seconds it resolves the names and fingerprints
the files, and when anything changed it checks the configuration (``nginx -t``) and reloads
(``nginx -s reload``: a graceful restart of the workers, no request dropped). A check that fails,
say while a name does not resolve between two containers, leaves nginx as it is and tries again
next round. On Kubernetes upstream names are Services with stable addresses; there the watcher
only matters for certificates.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from spectral_shared.logging import get_logger

log = get_logger(__name__)

Resolver = Callable[[str], frozenset[str]]


def resolve(host: str) -> frozenset[str]:
    """Every address ``host`` resolves to now; none if it does not resolve."""
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return frozenset()
    return frozenset(str(info[4][0]) for info in found)


def host_of(upstream: str) -> str:
    """``auth-web:8000``, ``http://auth-web:8000`` or ``[::1]:8000`` -> the host name."""
    address = upstream.split("://", 1)[-1].rstrip("/")
    if address.startswith("["):
        return address[1 : address.index("]")]
    return address.rsplit(":", 1)[0] if ":" in address else address


def fingerprint(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class Snapshot:
    addresses: dict[str, frozenset[str]]
    files: dict[Path, str | None]

    def changes_since(self, before: Snapshot) -> list[str]:
        changed = [
            f"{host}: {_listed(before.addresses.get(host))} -> {_listed(now)}"
            for host, now in self.addresses.items()
            if before.addresses.get(host) != now
        ]
        changed += [
            f"{path} changed" for path, now in self.files.items() if before.files.get(path) != now
        ]
        return changed


def _listed(addresses: frozenset[str] | None) -> str:
    return ", ".join(sorted(addresses)) if addresses else "unresolved"


class Watcher:
    """One round (:meth:`check`) compares now with what nginx last loaded and reloads it."""

    def __init__(
        self,
        hosts: Iterable[str],
        files: Iterable[Path],
        reload: Callable[[], bool],
        *,
        resolver: Resolver = resolve,
    ) -> None:
        self.hosts = sorted(set(hosts))
        self.files = sorted(set(files))
        self.reload = reload
        self.resolver = resolver
        self.loaded = self.snapshot()  # what nginx read when it started

    def snapshot(self) -> Snapshot:
        return Snapshot(
            {host: self.resolver(host) for host in self.hosts},
            {path: fingerprint(path) for path in self.files},
        )

    def check(self) -> list[str]:
        """Reload nginx if anything changed; the changes (empty if none, or if the reload was
        refused and will be tried again next round)."""
        now = self.snapshot()
        changes = now.changes_since(self.loaded)
        if not changes:
            return []
        log.info("gateway.reloading", changes=changes)
        if not self.reload():
            return []
        self.loaded = now
        return changes

    def run(self, stop: threading.Event, interval: float, *, alive: Callable[[], bool]) -> None:
        """Check every ``interval`` seconds while ``alive()`` (nginx is running), until ``stop``."""
        due = time.monotonic() + interval
        while alive() and not stop.wait(min(1.0, interval)):
            if time.monotonic() >= due:
                due = time.monotonic() + interval
                try:
                    self.check()
                except Exception:
                    log.exception("gateway.watch_failed")


def nginx_reloader(nginx: str, prefix: Path, config: Path) -> Callable[[], bool]:
    """``nginx -t`` then ``nginx -s reload`` for the nginx running with ``-p prefix -c config``."""
    common = [nginx, "-e", "stderr", "-p", str(prefix), "-c", str(config)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        # The operator's own nginx and paths, no shell.
        return subprocess.run([*common, *args], capture_output=True, text=True, check=False)  # noqa: S603

    def reload() -> bool:
        checked = run("-t", "-q")
        if checked.returncode != 0:
            log.warning("gateway.reload_refused", error=checked.stderr.strip()[-1000:])
            return False
        signalled = run("-s", "reload")
        if signalled.returncode != 0:
            log.warning("gateway.reload_failed", error=signalled.stderr.strip()[-1000:])
            return False
        log.info("gateway.reloaded")
        return True

    return reload


def child_of(parent: int) -> Callable[[], bool]:
    """True while this process is ``parent``'s child. The entrypoint starts the watcher and then
    becomes nginx (``exec``, same pid), so once nginx is gone the watcher is reparented and stops;
    and a watcher that only got going after nginx had exited stops at once."""
    return lambda: os.getppid() == parent
