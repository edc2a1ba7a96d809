"""A container's health check: ``python -m spectral_shared.probe [--path /health] [--port N]``.

Exit 0 when the target answers 200 on ``http://127.0.0.1:$PORT/health``, 1 otherwise. Standard
library only, so it starts in a few milliseconds and needs no curl in the image. Every target
of every image serves the path on its port (a web target its API's, a worker or relay its
``METRICS_PORT``, which the images set to the same 8000).
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request


def probe(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback http)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spectral_shared.probe", description=__doc__)
    parser.add_argument("--path", default="/health", help="default: /health")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT") or os.environ.get("METRICS_PORT") or 8000),
        help="default: PORT, else METRICS_PORT, else 8000",
    )
    parser.add_argument("--timeout", type=float, default=4.0, help="seconds (default: 4)")
    args = parser.parse_args(argv)
    ok = probe(f"http://127.0.0.1:{args.port}{args.path}", args.timeout)
    if not ok:
        print(f"unhealthy: 127.0.0.1:{args.port}{args.path}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
