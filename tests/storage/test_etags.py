"""ETags under both `storage.etag_algorithm` values, on both byte backends: `md5` (the quoted
MD5 of the bytes) and `mtime` (`"<mtime ms hex>-<size hex>"`, the stored file's mtime, no
hash; the S3 backend keeps MD5). Small and streamed uploads, TUS, S3-protocol multipart,
copies; If-None-Match answers 304 and a replaced object gets a new ETag."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from fastapi import FastAPI
from pydantic import ValidationError

from neo.settings import Settings
from neo.storage import StorageState
from neo.storage.backends import Location
from neo.storage.backends.local import LocalBackend
from neo.storage.settings import StorageSettings
from tests.conftest import DEMO_SERVICE_KEY
from tests.support.servers import live_server

AUTH = {"authorization": f"Bearer {DEMO_SERVICE_KEY}"}
KEYS = {"access_key_id": "neo-etag-key", "secret_access_key": "neo-etag-secret-0123456789"}
MTIME = re.compile(r'^"([0-9a-f]+)-([0-9a-f]+)"$')


@pytest.fixture(scope="module", params=["md5", "mtime"])
def algorithm(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def storage_section(storage_section: dict[str, Any], algorithm: str) -> dict[str, Any]:
    return storage_section | {"etag_algorithm": algorithm}


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'


def uses_mtime(app: FastAPI, algorithm: str) -> bool:
    """Whether objects get mtime ETags here (the local backend with `mtime`)."""
    return algorithm == "mtime" and isinstance(app.state.storage.backend, LocalBackend)


async def check_etag(
    app: FastAPI, client: httpx.AsyncClient, path: str, data: bytes, algorithm: str, since: int
) -> str:
    """The stored object's ETag, checked against the algorithm; it is returned."""
    got = await client.get(f"/storage/v1/object/{path}", headers=AUTH)
    assert got.content == data
    etag = got.headers["etag"]
    if not uses_mtime(app, algorithm):
        assert etag == md5_etag(data)
        return etag
    match = MTIME.match(etag)
    assert match, etag
    ms, size = int(match[1], 16), int(match[2], 16)
    assert size == len(data)
    assert since // 1_000_000 <= ms <= time.time_ns() // 1_000_000
    state: StorageState = app.state.storage
    bucket, key = path.split("/", 1)
    info = await client.get(f"/storage/v1/object/info/{bucket}/{key}", headers=AUTH)
    assert info.json()["etag"] == etag
    file = state.backend.path(Location(bucket, key, info.json()["version"]))  # type: ignore[attr-defined]
    assert os.stat(file).st_mtime_ns // 1_000_000 == ms  # the ETag is the file's mtime
    return etag


@pytest.mark.parametrize("size", [1024, 200 * 1024, 9 * 1024 * 1024 + 7])
async def test_uploads_get_the_configured_etag(
    app: FastAPI, client: httpx.AsyncClient, bucket: str, algorithm: str, size: int
) -> None:
    data = os.urandom(size)  # small bodies are staged, > 4 MiB ones streamed (two buffers)
    since = time.time_ns()
    headers = AUTH | {"content-type": "application/octet-stream"}
    res = await client.post(f"/storage/v1/object/{bucket}/up.bin", content=data, headers=headers)
    assert res.status_code == 200, res.text
    await check_etag(app, client, f"{bucket}/up.bin", data, algorithm, since)


async def test_if_none_match_and_a_replaced_object_gets_a_new_etag(
    app: FastAPI, client: httpx.AsyncClient, bucket: str, algorithm: str
) -> None:
    url, headers = f"/storage/v1/object/{bucket}/same.bin", AUTH | {"content-type": "text/plain"}
    first, second = b"a" * 100, b"b" * 100  # same size: only the mtime tells them apart
    assert (await client.post(url, content=first, headers=headers)).is_success
    old = await check_etag(app, client, f"{bucket}/same.bin", first, algorithm, 0)
    assert (await client.get(url, headers=AUTH | {"if-none-match": old})).status_code == 304
    res = await client.put(url, content=second, headers=headers)
    assert res.is_success, res.text
    new = await check_etag(app, client, f"{bucket}/same.bin", second, algorithm, 0)
    assert new != old
    stale = await client.get(url, headers=AUTH | {"if-none-match": old})
    assert (stale.status_code, stale.content) == (200, second)
    assert (await client.get(url, headers=AUTH | {"if-none-match": new})).status_code == 304


async def test_a_copy_keeps_the_source_etag(client: httpx.AsyncClient, bucket: str) -> None:
    data = os.urandom(5000)
    headers = AUTH | {"content-type": "application/octet-stream"}
    url = f"/storage/v1/object/{bucket}/src.bin"
    assert (await client.post(url, content=data, headers=headers)).is_success
    copy = {"bucketId": bucket, "sourceKey": "src.bin", "destinationKey": "dst.bin"}
    assert (await client.post("/storage/v1/object/copy", json=copy, headers=AUTH)).is_success
    source = await client.get(url, headers=AUTH)
    copied = await client.get(f"/storage/v1/object/{bucket}/dst.bin", headers=AUTH)
    assert (copied.content, copied.headers["etag"]) == (data, source.headers["etag"])


async def test_a_resumable_upload_gets_the_configured_etag(
    app: FastAPI, client: httpx.AsyncClient, bucket: str, algorithm: str
) -> None:
    data = os.urandom(3000)
    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in {"bucketName": bucket, "objectName": "tus.bin"}.items()
    )
    tus = {"tus-resumable": "1.0.0"}
    head = AUTH | tus | {"upload-length": str(len(data)), "upload-metadata": meta}
    since = time.time_ns()
    made = await client.post("/storage/v1/upload/resumable", headers=head)
    assert made.status_code == 201, made.text
    body = AUTH | tus | {"upload-offset": "0", "content-type": "application/offset+octet-stream"}
    res = await client.patch(made.headers["location"], content=data, headers=body)
    assert res.status_code == 204, res.text
    await check_etag(app, client, f"{bucket}/tus.bin", data, algorithm, since)


def test_an_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValidationError, match="etag_algorithm"):
        StorageSettings(etag_algorithm="sha1")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def s3(make_settings: Callable[..., Settings], storage_section: dict[str, Any]) -> Iterator[Any]:
    """boto3 against a live NEO's S3 protocol endpoint."""
    with live_server(make_settings(storage=storage_section | {"s3_protocol": KEYS})) as url:
        config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
        yield boto3.client(
            "s3", endpoint_url=f"{url}/storage/v1/s3", region_name="us-east-1", config=config,
            aws_access_key_id=KEYS["access_key_id"],
            aws_secret_access_key=KEYS["secret_access_key"],
        )  # fmt: skip


async def test_s3_multipart_parts_and_object_get_the_configured_etag(
    app: FastAPI, client: httpx.AsyncClient, s3: Any, bucket: str, algorithm: str
) -> None:
    parts_data = [os.urandom(5 * 1024 * 1024), os.urandom(1000)]
    since = time.time_ns()
    upload = s3.create_multipart_upload(Bucket=bucket, Key="multi.bin")["UploadId"]
    parts = []
    for number, data in enumerate(parts_data, start=1):
        part = s3.upload_part(
            Bucket=bucket, Key="multi.bin", UploadId=upload, PartNumber=number, Body=data
        )
        if algorithm == "md5":
            assert part["ETag"] == md5_etag(data)
        else:  # parts are kept on local disk whatever the backend
            match = MTIME.match(part["ETag"])
            assert match, part["ETag"]
            assert int(match[2], 16) == len(data)
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="multi.bin", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    etag = await check_etag(
        app, client, f"{bucket}/multi.bin", b"".join(parts_data), algorithm, since
    )
    assert done["ETag"] == etag
