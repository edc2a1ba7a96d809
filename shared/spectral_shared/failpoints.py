"""Named failure points for crash tests, off unless ``SPECTRAL_FAILPOINTS`` names them.

``SPECTRAL_FAILPOINTS="relay.after_publish=exit"`` makes the process die (``os._exit``) the
first time it reaches that point, as a kill -9 would: no cleanup, no commit. Tests use this to
prove crash safety of the real binaries; in production the variable is unset and each call is
one dictionary lookup.
"""

from __future__ import annotations

import os

_ACTIONS = {"exit", "raise"}


class FailpointError(RuntimeError):
    pass


def _configured() -> dict[str, str]:
    spec = os.environ.get("SPECTRAL_FAILPOINTS", "")
    points: dict[str, str] = {}
    for item in spec.split(";"):
        if "=" in item:
            name, action = item.split("=", 1)
            if action.strip() in _ACTIONS:
                points[name.strip()] = action.strip()
    return points


def failpoint(name: str) -> None:
    action = _configured().get(name)
    if action == "exit":
        os._exit(137)
    if action == "raise":
        raise FailpointError(name)
