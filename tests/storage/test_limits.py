"""Limits and bad input in storage-api's error shape, checked before bytes are stored;
conditional and ranged downloads; the orphan sweep. In-process, with the service key."""

from __future__ import annotations

import asyncio
import base64
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from neo.settings import Settings
from neo.storage import sweep
from neo.storage.backends import Location
from neo.storage.backends.local import LocalBackend
from tests.conftest import DEMO_SERVICE_KEY
from tests.support.servers import running_app

AUTH = {"authorization": f"Bearer {DEMO_SERVICE_KEY}"}
GLOBAL_LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def backend() -> str:
    """These tests look at files on disk: local backend only."""
    return "local"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bytes")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(make_settings: Callable[..., Settings], root: Path) -> AsyncIterator[FastAPI]:
    settings = make_settings(storage={"file_size_limit": GLOBAL_LIMIT, "root": str(root)})
    async with running_app(settings) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="session")
async def bucket(client: httpx.AsyncClient) -> str:
    name = uuid.uuid4().hex[:10]
    body = {"name": name, "file_size_limit": 1000, "allowed_mime_types": ["text/plain"]}
    res = await client.post("/storage/v1/bucket", json=body, headers=AUTH)
    assert res.status_code == 200, res.text
    return name


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def upload(
    client: httpx.AsyncClient, path: str, data: bytes, mime: str = "text/plain"
) -> httpx.Response:
    headers = AUTH | {"content-type": mime}
    return await client.post(f"/storage/v1/object/{path}", content=data, headers=headers)


async def test_upload_over_bucket_limit_is_rejected(
    client: httpx.AsyncClient, bucket: str, root: Path
) -> None:
    before = stored_files(root)
    res = await upload(client, f"{bucket}/big.txt", b"x" * 1001)
    assert res.status_code == 400
    assert res.json() == {
        "statusCode": "413",
        "code": "EntityTooLarge",
        "error": "Payload too large",
        "message": "The object exceeded the maximum allowed size",
    }
    assert stored_files(root) == before


async def test_streamed_upload_over_limit_stores_nothing(
    client: httpx.AsyncClient, bucket: str, root: Path
) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"y" * 100  # no content-length: the limit is enforced while streaming

    headers = AUTH | {"content-type": "text/plain"}
    res = await client.post(f"/storage/v1/object/{bucket}/s.txt", content=body(), headers=headers)
    assert res.json()["statusCode"] == "413"
    assert not [p for p in stored_files(root) if "s.txt" in str(p)]
    assert not list((root / "#tmp").iterdir())


async def test_global_limit_applies_to_buckets_without_one(client: httpx.AsyncClient) -> None:
    name = uuid.uuid4().hex[:10]
    await client.post("/storage/v1/bucket", json={"name": name}, headers=AUTH)
    res = await upload(client, f"{name}/g.bin", b"z" * (GLOBAL_LIMIT + 1))
    assert res.json()["statusCode"] == "413"
    res = await upload(client, f"{name}/g.bin", b"z" * GLOBAL_LIMIT)
    assert res.status_code == 200


async def test_disallowed_mime_type_is_rejected(client: httpx.AsyncClient, bucket: str) -> None:
    res = await upload(client, f"{bucket}/x.pdf", b"%PDF", mime="application/pdf")
    body = res.json()
    assert (res.status_code, body["statusCode"], body["error"]) == (400, "415", "invalid_mime_type")
    assert body["message"] == "mime type application/pdf is not supported"


async def test_multipart_mime_is_checked_from_the_file_part(
    client: httpx.AsyncClient, bucket: str
) -> None:
    files = {"file": ("a.png", b"png", "image/png")}
    res = await client.post(
        f"/storage/v1/object/{bucket}/a.png",
        files=files,
        data={"cacheControl": "3600"},
        headers=AUTH,
    )
    assert res.json()["statusCode"] == "415"


@pytest.mark.parametrize(
    "key", ["..%2Fescape.txt", "a%2F..%2F..%2Fx", "a//b.txt", "a/%2E/b.txt", "bad%01name"]
)
async def test_invalid_keys_are_rejected(
    client: httpx.AsyncClient, bucket: str, key: str, root: Path
) -> None:
    res = await upload(client, f"{bucket}/{key}", b"x")
    assert res.status_code == 400
    assert res.json()["code"] in {"InvalidKey", "NotFound"}
    assert not (root.parent / "escape.txt").exists()


def test_local_backend_refuses_paths_outside_its_root(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "root")
    with pytest.raises(ValueError, match="outside"):
        backend.path(Location("b", "../../etc", "passwd"))


async def test_unknown_bucket_is_not_found(client: httpx.AsyncClient) -> None:
    res = await upload(client, "no-such-bucket/x.txt", b"x")
    assert res.json()["statusCode"] == "404"
    assert res.json()["error"] == "Bucket not found"


async def test_range_etag_and_conditional_downloads(client: httpx.AsyncClient, bucket: str) -> None:
    assert (await upload(client, f"{bucket}/r.txt", b"0123456789")).status_code == 200
    url = f"/storage/v1/object/{bucket}/r.txt"
    full = await client.get(url, headers=AUTH)
    etag, modified = full.headers["etag"], full.headers["last-modified"]
    assert full.headers["accept-ranges"] == "bytes"
    assert full.headers["content-length"] == "10"
    part = await client.get(url, headers=AUTH | {"range": "bytes=2-5"})
    assert (part.status_code, part.content, part.headers["content-range"]) == (
        206,
        b"2345",
        "bytes 2-5/10",
    )
    tail = await client.get(url, headers=AUTH | {"range": "bytes=-3"})
    assert tail.content == b"789"
    beyond = await client.get(url, headers=AUTH | {"range": "bytes=50-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == "bytes */10"
    assert (await client.get(url, headers=AUTH | {"if-none-match": etag})).status_code == 304
    assert (
        await client.get(url, headers=AUTH | {"if-modified-since": modified})
    ).status_code == 304
    stale = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert (await client.get(url, headers=AUTH | {"if-modified-since": stale})).status_code == 200
    head = await client.head(url, headers=AUTH)
    assert head.status_code == 200
    assert head.headers["content-length"] == "10"
    assert head.content == b""
    missing = await client.head(f"/storage/v1/object/{bucket}/nope.txt", headers=AUTH)
    assert missing.status_code == 400


async def test_sweep_removes_orphans_and_keeps_live_bytes(
    app: FastAPI, client: httpx.AsyncClient, bucket: str, root: Path
) -> None:
    assert (await upload(client, f"{bucket}/live.txt", b"live")).status_code == 200
    orphan = root / bucket / "ghost.txt" / str(uuid.uuid4())
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"half")
    temp = root / "#tmp" / "leftover"
    temp.write_bytes(b"partial")
    old = time.time() - 3600
    for path in [orphan, temp, *stored_files(root)]:
        os.utime(path, (old, old))
    assert await sweep(app.state.storage) >= 2
    assert not orphan.exists()
    assert not temp.exists()
    res = await client.get(f"/storage/v1/object/{bucket}/live.txt", headers=AUTH)
    assert res.content == b"live"


async def test_base64_body_is_decoded_while_streaming(
    client: httpx.AsyncClient, bucket: str
) -> None:
    payload = bytes(range(256)) * 3
    encoded = base64.b64encode(payload)
    headers = AUTH | {"content-type": "text/plain", "content-transfer-encoding": "base64"}

    async def pieces() -> AsyncIterator[bytes]:
        yield b"data:text/plain;base64,"
        for i in range(0, len(encoded), 7):  # boundaries that split base64 quads
            yield encoded[i : i + 7] + b"\n"

    res = await client.post(
        f"/storage/v1/object/{bucket}/b64.txt", content=pieces(), headers=headers
    )
    assert res.status_code == 200, res.text
    got = await client.get(f"/storage/v1/object/{bucket}/b64.txt", headers=AUTH)
    assert got.content == payload
    bad = await client.post(
        f"/storage/v1/object/{bucket}/bad.txt", content=b"@@@@", headers=headers
    )
    assert bad.json()["statusCode"] == "400"


async def test_concurrent_upserts_of_a_new_key_all_succeed(
    client: httpx.AsyncClient, bucket: str, root: Path
) -> None:
    headers = AUTH | {"content-type": "text/plain", "x-upsert": "true"}
    url = f"/storage/v1/object/{bucket}/race.txt"
    bodies = [f"body {i}".encode() for i in range(3)]
    results = await asyncio.gather(*(client.post(url, content=b, headers=headers) for b in bodies))
    assert [r.status_code for r in results] == [200] * 3
    final = (await client.get(url, headers=AUTH)).content
    assert final in bodies
    assert len([p for p in stored_files(root) if p.parent.name == "race.txt"]) == 1
