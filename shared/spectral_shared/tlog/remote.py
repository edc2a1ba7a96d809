"""Checking a Spectral audit log through its HTTP API, trusting nothing the server says that its
signing key and the Merkle proofs do not prove.

:func:`verify_remote_log` fetches the latest signed checkpoint, checks its signature against a
pinned verifier key, proves it consistent with the last checkpoint this client trusted (kept in a
local file), optionally checks chosen entries' inclusion or recomputes the whole tree from an
export, and only then moves its trust forward.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import requests

from spectral_shared.tlog.audit_entries import (
    BrokenEntry,
    StoredEntry,
    check_entries,
    parse_export_head,
    parse_export_line,
)
from spectral_shared.tlog.client import (
    LogRefused,
    TrustedState,
    check_inclusion,
    extend_trust,
    open_checkpoint,
)
from spectral_shared.tlog.merkle import CompactRange
from spectral_shared.tlog.note import Checkpoint, InvalidNote, NoteVerifier, parse_checkpoint

__all__ = ["AuditLogApi", "RemoteReport", "verify_remote_log"]

API = "/api/v1/audit"


class AuditLogApi:
    """The audit API's read endpoints, as bytes and hashes."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        ca_bundle: str | bool = True,
        timeout: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.verify = ca_bundle
        if token:  # an access token or an API key with audit_log:read
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def _get(self, path: str, **params: int) -> requests.Response:
        response = self.session.get(
            f"{self.base_url}{API}{path}", params=params, timeout=self.timeout
        )
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail") or response.json().get("title")
            except ValueError:
                detail = response.text[:200]
            raise LogRefused(f"GET {API}{path}: {response.status_code} {detail}")
        return response

    def checkpoint(self) -> str:
        return self._get("/checkpoint").text

    def consistency(self, first: int, second: int) -> list[bytes]:
        body = self._get("/proof/consistency", **{"from": first, "to": second}).json()
        return [base64.b64decode(h) for h in body["hashes"]]

    def inclusion(self, index: int, tree_size: int) -> list[bytes]:
        body = self._get("/proof/inclusion", index=index, tree_size=tree_size).json()
        return [base64.b64decode(h) for h in body["hashes"]]

    def entry(self, index: int) -> bytes | None:
        canonical = self._get(f"/entries/{index}").json()["canonical"]
        return None if canonical is None else canonical.encode()

    def export(self, tree_size: int) -> Iterator[bytes]:
        """The export's lines, from index 0 up to ``tree_size``."""
        response = self.session.get(
            f"{self.base_url}{API}/export",
            params={"format": "jsonl", "from": "0", "to": str(tree_size)},
            timeout=self.timeout,
            stream=True,
        )
        if response.status_code >= 400:
            raise LogRefused(f"GET {API}/export: {response.status_code}")
        with response:
            yield from response.iter_lines(chunk_size=1 << 16)


@dataclass
class RemoteReport:
    checkpoint: Checkpoint
    previous: Checkpoint | None
    entries_checked: list[int] = field(default_factory=list)
    recomputed: bool = False


def _entries(lines: Iterator[bytes]) -> Iterator[StoredEntry]:
    for line in lines:
        if not line:
            continue
        try:
            yield parse_export_line(line)
        except ValueError as exc:
            raise LogRefused(str(exc)) from None


def recompute(
    lines: Iterable[bytes], checkpoint: Checkpoint, progress: Callable[[int, int], None]
) -> None:
    """Rebuild the checkpoint's tree from an export: every entry must be what the log holds at
    its index (the same check as the server's ``/verify``: in its place, hashing to its leaf,
    its payload present above the purge watermark, its stored columns those of its hashed
    bytes), and the root must be the signed one."""
    lines = iter(lines)
    try:
        _, purged_below = parse_export_head(next(lines, b""))
    except ValueError as exc:
        raise LogRefused(str(exc)) from None
    log_id = checkpoint.origin.rsplit("/", 1)[-1]
    tree = CompactRange()
    try:
        for leaf in check_entries(
            _entries(lines),
            checkpoint.size,
            log_id=log_id,
            purged_below=purged_below,
            progress=lambda done: progress(done, checkpoint.size),
        ):
            tree.append(leaf)
    except BrokenEntry as broken:
        raise LogRefused(f"the log is broken at entry {broken.index}: {broken.reason}") from None
    if tree.root() != checkpoint.root:
        raise LogRefused("the exported entries do not add up to the signed checkpoint")


def verify_remote_log(
    api: AuditLogApi,
    verifier: NoteVerifier,
    state: TrustedState,
    *,
    origin: str | None = None,
    entries: Sequence[int] = (),
    full: bool = False,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> RemoteReport:
    """Everything checks out, and the trusted state now holds the new checkpoint; or
    :class:`LogRefused` says what did not, and the trusted state is as it was."""
    note = api.checkpoint()
    if origin is None:  # any of this key's logs; the trusted state keeps each apart
        try:
            claimed = parse_checkpoint(note.split("\n\n", 1)[0] + "\n").origin
        except InvalidNote as exc:
            raise LogRefused(f"the checkpoint is malformed: {exc}") from None
        if not claimed.startswith(verifier.name + "/"):
            raise LogRefused(f"the checkpoint's log {claimed!r} is not one of {verifier.name!r}")
        origin = claimed
    checkpoint = open_checkpoint(note, verifier, origin)
    trusted = state.get(origin)
    proof: list[bytes] = []
    if trusted is not None and trusted.size < checkpoint.size and trusted.size > 0:
        proof = api.consistency(trusted.size, checkpoint.size)
    checkpoint = extend_trust(trusted, checkpoint, proof)
    report = RemoteReport(checkpoint, trusted)
    for index in entries:
        if not 0 <= index < checkpoint.size:
            raise LogRefused(f"entry {index} is not in the checkpointed log of {checkpoint.size}")
        body = api.entry(index)
        inclusion = api.inclusion(index, checkpoint.size)
        if body is None:
            raise LogRefused(f"entry {index} was purged; only its leaf hash is kept")
        check_inclusion(checkpoint, index, hashlib.sha256(b"\x00" + body).digest(), inclusion)
        report.entries_checked.append(index)
    if full and checkpoint.size:
        recompute(api.export(checkpoint.size), checkpoint, progress)
        report.recomputed = True
    state.put(checkpoint)
    return report
