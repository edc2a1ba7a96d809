"""A local S3-compatible server for `make stack` (moto), with the bucket from AWS_S3_BUCKET created."""

from __future__ import annotations

import argparse
import os
import signal
import threading

import boto3
from moto.server import ThreadedMotoServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port)
    server.start()
    bucket = os.environ.get("AWS_S3_BUCKET", "spectral-dev")
    boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{args.port}", region_name="us-east-1"
    ).create_bucket(Bucket=bucket)
    print(f"S3-compatible server on http://127.0.0.1:{args.port}, bucket {bucket}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
