"""Refusals more than one of auth's service modules raise."""

from __future__ import annotations

__all__ = ["NotFound"]


class NotFound(Exception):
    """No such resource in the caller's organization (answered 404, never 403)."""
