"""Both byte backends through the API: large objects (S3 multipart), ranges on them, copies,
and the orphan sweep (bytes no row points at are removed, live ones kept)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from neo.storage import StorageState, sweep
from neo.storage.backends import Location
from tests.conftest import DEMO_ANON_KEY, DEMO_SERVICE_KEY

AUTH = {"authorization": f"Bearer {DEMO_SERVICE_KEY}"}
LARGE = 11 * 1024 * 1024 + 123  # three 5 MiB parts on S3, the last one short


async def chunked(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 256 * 1024):
        yield data[i : i + 256 * 1024]


async def test_large_object_round_trips_with_ranges(client: httpx.AsyncClient, bucket: str) -> None:
    data = os.urandom(LARGE)
    headers = AUTH | {"content-type": "application/octet-stream"}
    url = f"/storage/v1/object/{bucket}/big/blob.bin"
    res = await client.post(url, content=chunked(data), headers=headers)
    assert res.status_code == 200, res.text
    got = await client.get(url, headers=AUTH)
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
    assert got.headers["etag"] == f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
    span = await client.get(url, headers=AUTH | {"range": "bytes=5242870-5242889"})
    assert span.status_code == 206
    assert span.content == data[5242870:5242890]
    copy = {"bucketId": bucket, "sourceKey": "big/blob.bin", "destinationKey": "copy.bin"}
    assert (await client.post("/storage/v1/object/copy", json=copy, headers=AUTH)).is_success
    copied = await client.get(f"/storage/v1/object/{bucket}/copy.bin", headers=AUTH)
    assert copied.content == data


async def test_sweep_removes_unreferenced_bytes_only(
    app: FastAPI, client: httpx.AsyncClient, bucket: str
) -> None:
    state: StorageState = app.state.storage
    headers = AUTH | {"content-type": "text/plain"}
    res = await client.post(
        f"/storage/v1/object/{bucket}/live.txt", content=b"live", headers=headers
    )
    assert res.is_success
    orphan = Location(bucket, "ghost.txt", str(uuid.uuid4()))
    await state.backend.write(orphan, chunked(b"orphan"), content_type="text/plain")
    now = dataclasses.replace(
        state, settings=state.settings.model_copy(update={"sweep_grace_seconds": 0})
    )
    assert await sweep(now) >= 1
    try:
        stream = await state.backend.open(orphan)
        chunks = [c async for c in stream]
    except FileNotFoundError:
        chunks = []
    assert chunks == []
    live = await client.get(f"/storage/v1/object/{bucket}/live.txt", headers=AUTH)
    assert live.content == b"live"


async def stored_keys(state: StorageState, bucket: str) -> set[str]:
    """Keys that have bytes in the backend, whatever rows say."""
    return {loc.key async for loc in state.backend.scan(older_than=time.time() + 60)
            if loc.bucket == bucket}  # fmt: skip


async def test_a_small_upload_replaces_the_old_version_bytes(
    app: FastAPI, client: httpx.AsyncClient, bucket: str
) -> None:
    state: StorageState = app.state.storage
    url = f"/storage/v1/object/{bucket}/small.bin"
    first, second = os.urandom(3 * 1024 * 1024), os.urandom(1000)
    headers = AUTH | {"content-type": "application/octet-stream"}
    assert (await client.post(url, content=first, headers=headers)).is_success
    res = await client.post(url, content=second, headers=headers | {"x-upsert": "true"})
    assert res.is_success, res.text
    got = await client.get(url, headers=AUTH)
    assert got.content == second
    assert got.headers["etag"] == f'"{hashlib.md5(second, usedforsecurity=False).hexdigest()}"'
    versions = [loc async for loc in state.backend.scan(older_than=time.time() + 60)]
    assert [v.key for v in versions if v.bucket == bucket].count("small.bin") == 1


async def test_a_refused_small_upload_leaves_no_bytes_anywhere(
    app: FastAPI, client: httpx.AsyncClient, bucket: str
) -> None:
    state: StorageState = app.state.storage
    anon = {"authorization": f"Bearer {DEMO_ANON_KEY}", "content-type": "text/plain"}
    res = await client.post(f"/storage/v1/object/{bucket}/refused.txt", content=b"x", headers=anon)
    assert res.json()["statusCode"] == "403"
    assert "refused.txt" not in await stored_keys(state, bucket)
    assert await state.backend.abort_incomplete(older_than=time.time() + 60) == 0
