"""Object storage: a directory, and S3 against a real local S3-compatible HTTP server (moto)."""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from spectral_shared.storage import LocalObjectStore, ObjectNotFound, S3ObjectStore

UNSAFE_KEYS = ["../x", "a/../../x", "a/../b", "/abs", "/etc/passwd", ""]
CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing", "region": "us-east-1"}


# ---- local directory ------------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects")


def test_local_round_trip(local: LocalObjectStore, tmp_path: Path) -> None:
    local.put("reports/org-1/summary.pdf", b"%PDF-1.7 bytes", "application/pdf")
    assert local.get("reports/org-1/summary.pdf") == b"%PDF-1.7 bytes"
    assert (
        tmp_path / "objects" / "reports" / "org-1" / "summary.pdf"
    ).read_bytes() == b"%PDF-1.7 bytes"
    assert not list((tmp_path / "objects").rglob("*.tmp"))
    local.put("reports/org-1/summary.pdf", b"v2")
    assert local.get("reports/org-1/summary.pdf") == b"v2"


def test_local_missing_object(local: LocalObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        local.get("nope.txt")
    assert issubclass(ObjectNotFound, KeyError)


def test_local_delete(local: LocalObjectStore) -> None:
    local.put("a.txt", b"x")
    local.delete("a.txt")
    with pytest.raises(ObjectNotFound):
        local.get("a.txt")
    local.delete("a.txt")  # idempotent


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_local_rejects_unsafe_keys(local: LocalObjectStore, tmp_path: Path, key: str) -> None:
    (tmp_path / "x").write_bytes(b"outside")
    for operation in (
        lambda: local.put(key, b"evil"),
        lambda: local.get(key),
        lambda: local.delete(key),
    ):
        with pytest.raises(ValueError, match="unsafe object key"):
            operation()
    assert (tmp_path / "x").read_bytes() == b"outside"


@pytest.mark.parametrize("key", [".", "./"])
def test_keys_naming_the_root_are_unsafe(local: LocalObjectStore, tmp_path: Path, key: str) -> None:
    try:
        with pytest.raises(ValueError, match="unsafe object key"):
            local.put(key, b"data")
    finally:
        # Today put('.') writes <root>.tmp beside the root, outside the store.
        assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["objects"])


def test_local_ping_creates_the_root(local: LocalObjectStore, tmp_path: Path) -> None:
    assert local.ping() is True
    assert (tmp_path / "objects").is_dir()


# ---- S3 against a local S3-compatible server ------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> Iterator[tuple[str, Any]]:
    bucket = f"spectral-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=bucket)
    yield bucket, client
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)
    client.close()


@pytest.fixture
def s3(s3_endpoint: str, s3_bucket: tuple[str, Any]) -> Iterator[S3ObjectStore]:
    store = S3ObjectStore(s3_bucket[0], endpoint_url=s3_endpoint, **CREDENTIALS)
    yield store
    store.client.close()


def test_s3_round_trip(s3: S3ObjectStore, s3_bucket: tuple[str, Any]) -> None:
    bucket, client = s3_bucket
    s3.put("evidence/org-1/package.zip", b"PK\x03\x04 zip bytes", "application/zip")
    assert s3.get("evidence/org-1/package.zip") == b"PK\x03\x04 zip bytes"
    head = client.head_object(Bucket=bucket, Key="evidence/org-1/package.zip")
    assert head["ContentType"] == "application/zip"
    assert head["ServerSideEncryption"] == "AES256"


def test_s3_missing_object(s3: S3ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        s3.get("never/written.txt")


def test_s3_delete(s3: S3ObjectStore) -> None:
    s3.put("a.txt", b"x")
    s3.delete("a.txt")
    with pytest.raises(ObjectNotFound):
        s3.get("a.txt")
    s3.delete("a.txt")  # S3 deletes are idempotent


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_s3_rejects_unsafe_keys(s3: S3ObjectStore, key: str) -> None:
    with pytest.raises(ValueError, match="unsafe object key"):
        s3.put(key, b"evil")
    with pytest.raises(ValueError, match="unsafe object key"):
        s3.presigned_url(key)


def test_s3_presigned_url_downloads_the_object(s3: S3ObjectStore, s3_endpoint: str) -> None:
    s3.put("reports/r-1.pdf", b"%PDF report", "application/pdf")
    url = s3.presigned_url("reports/r-1.pdf", expires_seconds=120)
    assert url.startswith(s3_endpoint + "/")
    assert "Signature" in url
    with urllib.request.urlopen(url, timeout=5) as response:  # a plain HTTP client, no credentials
        assert response.status == 200
        assert response.read() == b"%PDF report"


def test_s3_ping(s3: S3ObjectStore, s3_endpoint: str) -> None:
    assert s3.ping() is True
    missing = S3ObjectStore(
        f"no-such-bucket-{uuid.uuid4().hex[:8]}", endpoint_url=s3_endpoint, **CREDENTIALS
    )
    try:
        assert missing.ping() is False
    finally:
        missing.client.close()


def test_s3_ping_is_false_when_the_server_is_unreachable() -> None:
    store = S3ObjectStore("bucket", endpoint_url="http://127.0.0.1:1", **CREDENTIALS)
    try:
        assert store.ping() is False
    finally:
        store.client.close()
