"""Crash consistency: a NEO process killed mid-upload (SIGKILL) leaves nothing visible, and
the next start sweeps the half-written bytes and orphaned versions away; a killed resumable
(TUS) upload is resumed from the offset that reached the disk."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from neo.kit.net import free_port
from tests.conftest import DEMO_JWT_SECRET, DEMO_SERVICE_KEY

pytestmark = pytest.mark.slow
AUTH = {"authorization": f"Bearer {DEMO_SERVICE_KEY}"}


def storage_env(section: dict[str, Any]) -> dict[str, str]:
    """The storage settings section as NEO_STORAGE__* variables."""
    env = {}
    for key, value in section.items():
        if isinstance(value, dict):
            env |= {f"NEO_STORAGE__{key.upper()}__{k.upper()}": str(v) for k, v in value.items()}
        else:
            env[f"NEO_STORAGE__{key.upper()}"] = str(value)
    return env


@contextmanager
def neo_process(
    database_url: str, data_dir: Path, port: int, storage: dict[str, Any]
) -> Iterator[subprocess.Popen[bytes]]:
    """`uvicorn neo.app:app_from_env` as a child process, ready to serve."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("NEO_")}
    env = (
        keep
        | storage_env(storage)
        | {
            "DATABASE_URL": database_url,
            "JWT_SECRET": DEMO_JWT_SECRET,
            "NEO_DATA_DIR": str(data_dir),
            "NEO_API__PORT": str(port),
            "NEO_LOG__LEVEL": "warning",
            "NEO_STORAGE__SWEEP_GRACE_SECONDS": "0",
            "NEO_STORAGE__FILE_SIZE_LIMIT": str(64 << 20),
        }
    )
    cmd = [sys.executable, "-m", "uvicorn", "neo.app:app_from_env", "--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, cwd=data_dir, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("neo did not start")
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=20)


def start_slow_upload(port: int, path: str, total: int, sent: int) -> socket.socket:
    """Send the headers and `sent` of `total` body bytes, and leave the request hanging."""
    sock = socket.create_connection(("127.0.0.1", port))
    head = (
        f"POST /storage/v1/object/{path} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {DEMO_SERVICE_KEY}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {total}\r\n\r\n"
    )
    sock.sendall(head.encode() + b"a" * sent)
    return sock


def wait_for(predicate: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_kill_mid_upload_leaves_nothing_visible(
    database_url: str, tmp_path: Path, backend: str, storage_section: dict[str, Any]
) -> None:
    if backend != "local":
        pytest.skip("looks at the local backend's files; S3 has its own test")
    port, root = free_port(), tmp_path / "storage"
    bucket = f"crash-{uuid.uuid4().hex[:6]}"
    base = f"http://127.0.0.1:{port}/storage/v1"
    with neo_process(database_url, tmp_path, port, storage_section) as proc:
        assert httpx.post(f"{base}/bucket", json={"name": bucket}, headers=AUTH).is_success
        ok = httpx.post(f"{base}/object/{bucket}/kept.txt", content=b"kept", headers=AUTH)
        assert ok.is_success
        sock = start_slow_upload(port, f"{bucket}/big.bin", total=24 << 20, sent=8 << 20)
        tmp_dir = root / "#tmp"
        wait_for(lambda: any(p.stat().st_size > 0 for p in tmp_dir.iterdir()))
        # bytes placed, metadata never written: what a crash between the two leaves
        orphan = root / bucket / "ghost.bin" / str(uuid.uuid4())
        orphan.parent.mkdir(parents=True)
        orphan.write_bytes(b"orphan")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        sock.close()
    assert list((root / "#tmp").iterdir()), "the killed upload left its temp file"
    with neo_process(database_url, tmp_path, port, storage_section):
        info = httpx.get(f"{base}/object/info/{bucket}/big.bin", headers=AUTH)
        assert info.json()["statusCode"] == "404"
        listed = httpx.post(f"{base}/object/list/{bucket}", json={"prefix": ""}, headers=AUTH)
        assert [e["name"] for e in listed.json()] == ["kept.txt"]
        kept = httpx.get(f"{base}/object/{bucket}/kept.txt", headers=AUTH)
        assert kept.content == b"kept"
        assert not list((root / "#tmp").iterdir())
        assert not orphan.exists()
        files = [p for p in (root / bucket).rglob("*") if p.is_file()]
        assert [p.parent.name for p in files] == ["kept.txt"]


def test_kill_mid_multipart_upload_on_s3(
    database_url: str, tmp_path: Path, backend: str, storage_section: dict[str, Any]
) -> None:
    if backend != "s3":
        pytest.skip("S3 only")
    s3 = storage_section["s3"]
    client = boto3.client(
        "s3",
        endpoint_url=s3["endpoint"],
        region_name="us-east-1",
        aws_access_key_id=s3["access_key"],
        aws_secret_access_key=s3["secret_key"],
    )
    port, bucket = free_port(), f"crash-{uuid.uuid4().hex[:6]}"
    base = f"http://127.0.0.1:{port}/storage/v1"

    def uploads() -> list[Any]:
        return list(client.list_multipart_uploads(Bucket=s3["bucket"]).get("Uploads", []))

    with neo_process(database_url, tmp_path, port, storage_section) as proc:
        assert httpx.post(f"{base}/bucket", json={"name": bucket}, headers=AUTH).is_success
        sock = start_slow_upload(port, f"{bucket}/big.bin", total=30 << 20, sent=12 << 20)
        wait_for(lambda: bool(uploads()))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        sock.close()
    with neo_process(database_url, tmp_path, port, storage_section):
        info = httpx.get(f"{base}/object/info/{bucket}/big.bin", headers=AUTH)
        assert info.json()["statusCode"] == "404"
        assert uploads() == []
        listed = client.list_objects_v2(Bucket=s3["bucket"]).get("Contents", [])
        assert listed == []


def test_kill_mid_resumable_upload_then_resume(
    database_url: str, tmp_path: Path, storage_section: dict[str, Any]
) -> None:
    port, bucket = free_port(), f"crash-{uuid.uuid4().hex[:6]}"
    base = f"http://127.0.0.1:{port}/storage/v1"
    data = os.urandom(3 << 20)
    tus = {"Tus-Resumable": "1.0.0"}
    with neo_process(database_url, tmp_path, port, storage_section) as proc:
        assert httpx.post(f"{base}/bucket", json={"name": bucket}, headers=AUTH).is_success
        meta = f"bucketName {b64(bucket)},objectName {b64('tus.bin')}"
        head = AUTH | tus | {"Upload-Length": str(len(data)), "Upload-Metadata": meta}
        url = httpx.post(f"{base}/upload/resumable", headers=head).headers["location"]
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(
            f"PATCH {url.removeprefix(f'http://127.0.0.1:{port}')} HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {DEMO_SERVICE_KEY}\r\nTus-Resumable: 1.0.0\r\n"
            f"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data[: 2 << 20]
        )
        parts = tmp_path / "storage-tus"
        wait_for(lambda: any(p.stat().st_size >= 1 << 20 for p in parts.glob("*.part")))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        sock.close()
    with neo_process(database_url, tmp_path, port, storage_section):
        info = httpx.get(f"{base}/object/info/{bucket}/tus.bin", headers=AUTH)
        assert info.json()["statusCode"] == "404"
        offset = int(httpx.head(url, headers=tus).headers["upload-offset"])
        assert 1 << 20 <= offset <= 2 << 20
        rest = AUTH | tus | {"Upload-Offset": str(offset)}
        rest["Content-Type"] = "application/offset+octet-stream"
        done = httpx.patch(url, content=data[offset:], headers=rest, timeout=60)
        assert (done.status_code, done.headers["tus-complete"]) == (204, "1")
        assert httpx.get(f"{base}/object/{bucket}/tus.bin", headers=AUTH).content == data


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
