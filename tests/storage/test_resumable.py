"""Resumable uploads (TUS 1.0) at /storage/v1/upload/resumable, as storage-api serves them:
the tuspy client (6 MiB chunks as supabase's docs prescribe, a paused and resumed upload,
a signed upload URL), and the protocol's answers checked raw with httpx."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from supabase import Client
from tusclient.client import TusClient

from neo.storage import StorageState
from neo.storage.tus import UploadFiles, parse_upload_id
from tests.conftest import DEMO_ANON_KEY, DEMO_SERVICE_KEY
from tests.storage.conftest import user_token

pytestmark = pytest.mark.usefixtures("policies")
CHUNK = 6 * 1024 * 1024
SERVICE = {"Authorization": f"Bearer {DEMO_SERVICE_KEY}"}
TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture(scope="module", autouse=True)
def buckets(service: Client) -> None:
    service.storage.create_bucket("shared")
    opts = {"file_size_limit": 1000, "allowed_mime_types": ["text/*"]}
    service.storage.create_bucket("small", options=opts)


@pytest.fixture(scope="module")
def http(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server_url}/storage/v1", timeout=60) as client:
        yield client


def metadata(**values: str) -> str:
    """An Upload-Metadata header."""
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def create(http: httpx.Client, length: int, headers: dict[str, str], **meta: str) -> httpx.Response:
    head = TUS | headers | {"Upload-Length": str(length), "Upload-Metadata": metadata(**meta)}
    return http.post("/upload/resumable", headers=head)


def patch(
    http: httpx.Client, url: str, offset: int, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    head = TUS | headers | {"Upload-Offset": str(offset)}
    head.setdefault("Content-Type", "application/offset+octet-stream")
    return http.patch(url, content=body, headers=head)


def test_tuspy_uploads_a_large_object_as_a_signed_in_user(server_url: str, service: Client) -> None:
    data = os.urandom(2 * CHUNK + 12345)
    token = user_token(str(uuid.uuid4()))
    client = TusClient(f"{server_url}/storage/v1/upload/resumable", headers={
        "Authorization": f"Bearer {token}", "apikey": DEMO_ANON_KEY})  # fmt: skip
    meta = {"bucketName": "shared", "objectName": "videos/big.bin", "cacheControl": "3600",
            "contentType": "video/mp4", "metadata": json.dumps({"take": 2})}  # fmt: skip
    client.uploader(file_stream=io.BytesIO(data), chunk_size=CHUNK, metadata=meta).upload()
    files = service.storage.from_("shared")
    assert files.download("videos/big.bin") == data
    info = files.info("videos/big.bin")
    assert (info["content_type"], info["size"]) == ("video/mp4", len(data))
    assert info["cache_control"] == "max-age=3600"
    assert info["metadata"] == {"take": 2}


def test_a_paused_upload_resumes_where_head_says(
    server_url: str, http: httpx.Client, service: Client
) -> None:
    data = os.urandom(CHUNK + 1000)
    client = TusClient(f"{server_url}/storage/v1/upload/resumable", headers=SERVICE)
    meta = {"bucketName": "shared", "objectName": "resumed.bin"}
    first = client.uploader(file_stream=io.BytesIO(data), chunk_size=CHUNK, metadata=meta)
    first.upload(stop_at=CHUNK)
    assert first.url is not None
    head = http.head(first.url, headers=TUS)
    assert head.status_code == 200
    assert (head.headers["upload-offset"], head.headers["upload-length"]) == (
        str(CHUNK),
        str(len(data)),
    )
    assert service.storage.from_("shared").exists("resumed.bin") is False
    second = client.uploader(file_stream=io.BytesIO(data), chunk_size=CHUNK, url=first.url)
    assert second.offset == CHUNK
    second.upload()
    assert service.storage.from_("shared").download("resumed.bin") == data
    assert http.head(first.url, headers=TUS).status_code == 404  # finished: gone


def test_signed_upload_url_works_without_credentials(
    server_url: str, service: Client, http: httpx.Client
) -> None:
    signed = service.storage.from_("shared").create_signed_upload_url("signed/tus.txt")
    url = f"{server_url}/storage/v1/upload/resumable/sign"
    client = TusClient(url, headers={"x-signature": signed["token"]})
    meta = {"bucketName": "shared", "objectName": "signed/tus.txt", "contentType": "text/plain"}
    client.uploader(file_stream=io.BytesIO(b"via tus"), metadata=meta).upload()
    assert service.storage.from_("shared").download("signed/tus.txt") == b"via tus"
    other = create(http, 3, {"x-signature": signed["token"]}, bucketName="shared", objectName="x")
    assert other.status_code == 403  # the unsigned route ignores x-signature: anon may not write
    forged = http.post(
        "/upload/resumable/sign",
        headers=TUS | {"Upload-Length": "3", "x-signature": signed["token"],
                       "Upload-Metadata": metadata(bucketName="shared", objectName="other.txt")},
    )  # fmt: skip
    assert forged.status_code == 400


def test_protocol_answers(http: httpx.Client) -> None:
    options = http.options("/upload/resumable")
    assert options.status_code == 204
    assert options.headers["tus-version"] == "1.0.0"
    assert "creation" in options.headers["tus-extension"].split(",")
    res = create(http, 10, SERVICE, bucketName="shared", objectName="proto.txt")
    assert res.status_code == 201, res.text
    url = res.headers["location"]
    assert url.startswith("http://127.0.0.1:")
    assert "/storage/v1/upload/resumable/" in url
    assert res.headers["tus-resumable"] == "1.0.0"
    assert patch(http, url, 3, b"abc", SERVICE).status_code == 409  # wrong offset
    bad_type = patch(http, url, 0, b"abc", SERVICE | {"Content-Type": "text/plain"})
    assert bad_type.status_code == 415
    first = patch(http, url, 0, b"hello", SERVICE)
    assert (first.status_code, first.headers["upload-offset"]) == (204, "5")
    assert patch(http, url, 5, b"world and more", SERVICE).status_code == 413
    last = patch(http, url, 5, b"world", SERVICE)
    assert (last.status_code, last.headers["tus-complete"]) == (204, "1")
    got = http.get("/object/shared/proto.txt", headers=SERVICE)
    assert got.content == b"helloworld"
    assert http.head("/upload/resumable/not-an-id", headers=TUS).status_code == 404


def test_creation_with_upload_and_termination(http: httpx.Client) -> None:
    meta = metadata(bucketName="shared", objectName="one.txt")
    head = TUS | SERVICE | {"Upload-Length": "4", "Upload-Metadata": meta}
    head["Content-Type"] = "application/offset+octet-stream"
    res = http.post("/upload/resumable", headers=head, content=b"four")
    assert (res.status_code, res.headers["upload-offset"]) == (201, "4")
    assert http.get("/object/shared/one.txt", headers=SERVICE).content == b"four"
    started = create(http, 100, SERVICE, bucketName="shared", objectName="dropped.txt")
    url = started.headers["location"]
    assert http.delete(url, headers=TUS | SERVICE).status_code == 204
    assert http.head(url, headers=TUS).status_code == 404


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ({"bucketName": "small", "objectName": "big.txt", "contentType": "text/plain"}, 413),
        ({"bucketName": "small", "objectName": "a.pdf", "contentType": "application/pdf"}, 415),
        ({"bucketName": "nope", "objectName": "a.txt"}, 404),
        ({"bucketName": "shared"}, 400),
    ],
)
def test_create_refuses_what_could_not_finish(
    http: httpx.Client, case: dict[str, str], status: int
) -> None:
    length = 5000 if case.get("objectName") == "big.txt" else 10
    res = create(http, length, SERVICE, **case)
    assert res.status_code == status, res.text
    assert res.headers["tus-resumable"] == "1.0.0"


def test_rls_and_upsert_decide_at_creation(http: httpx.Client, new_id: Callable[[], str]) -> None:
    anon = {"Authorization": f"Bearer {DEMO_ANON_KEY}"}
    assert create(http, 3, anon, bucketName="shared", objectName="a.txt").status_code == 403
    name = f"dup-{new_id()}.txt"
    made = create(http, 1, SERVICE, bucketName="shared", objectName=name)
    assert patch(http, made.headers["location"], 0, b"1", SERVICE).status_code == 204
    assert create(http, 1, SERVICE, bucketName="shared", objectName=name).status_code == 409
    again = create(http, 1, SERVICE | {"x-upsert": "true"}, bucketName="shared", objectName=name)
    assert patch(http, again.headers["location"], 0, b"2", SERVICE).status_code == 204
    assert http.get(f"/object/shared/{name}", headers=SERVICE).content == b"2"


async def test_a_second_writer_is_refused_while_one_holds_the_upload(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    state: StorageState = app.state.storage
    meta = metadata(bucketName="shared", objectName="locked.txt")
    head = TUS | SERVICE | {"Upload-Length": "3", "Upload-Metadata": meta}
    url = (await client.post("/storage/v1/upload/resumable", headers=head)).headers["location"]
    _, _, version = parse_upload_id(url.rsplit("/", 1)[1])
    body = TUS | SERVICE | {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    fd = os.open(state.resumable_dir / f"{version}.part", os.O_WRONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another writer (any process on this machine)
        res = await client.patch(url, content=b"abc", headers=body)
        assert res.status_code == 423
    finally:
        os.close(fd)
    res = await client.patch(url, content=b"abc", headers=body)
    assert (res.status_code, res.headers["tus-complete"]) == (204, "1")


async def test_a_finished_upload_is_linked_into_place_not_copied(
    app: FastAPI, client: httpx.AsyncClient, backend: str
) -> None:
    if backend != "local":
        pytest.skip("local disk only (S3 streams the file to the bucket)")
    state: StorageState = app.state.storage
    meta = metadata(bucketName="shared", objectName="linked.bin")
    head = TUS | SERVICE | {"Upload-Length": "6", "Upload-Metadata": meta}
    url = (await client.post("/storage/v1/upload/resumable", headers=head)).headers["location"]
    _, _, version = parse_upload_id(url.rsplit("/", 1)[1])
    body = TUS | SERVICE | {"Content-Type": "application/offset+octet-stream"}
    assert (
        await client.patch(url, content=b"abc", headers=body | {"Upload-Offset": "0"})
    ).is_success
    part = os.stat(state.resumable_dir / f"{version}.part")
    done = await client.patch(url, content=b"def", headers=body | {"Upload-Offset": "3"})
    assert done.headers["tus-complete"] == "1"
    stored = state.backend.root / "shared" / "linked.bin" / version  # type: ignore[attr-defined]
    assert (os.stat(stored).st_ino, os.stat(stored).st_dev) == (part.st_ino, part.st_dev)
    assert not (state.resumable_dir / f"{version}.part").exists()  # the upload is gone
    got = await client.get("/storage/v1/object/shared/linked.bin", headers=SERVICE)
    assert got.content == b"abcdef"
    info = await client.get("/storage/v1/object/info/shared/linked.bin", headers=SERVICE)
    md5 = hashlib.md5(b"abcdef", usedforsecurity=False).hexdigest()
    assert info.json()["etag"] == f'"{md5}"'


async def test_expired_uploads_are_swept(app: FastAPI, client: httpx.AsyncClient) -> None:
    state: StorageState = app.state.storage
    meta = metadata(bucketName="shared", objectName="old")
    head = TUS | SERVICE | {"Upload-Length": "5", "Upload-Metadata": meta}
    res = await client.post("/storage/v1/upload/resumable", headers=head)
    assert res.status_code == 201, res.text
    url = res.headers["location"]
    assert (await client.head(url, headers=TUS)).status_code == 200
    later = time.time() + state.settings.resumable_expires + 1
    assert UploadFiles(state.resumable_dir).remove_expired(now=time.time()) == 0
    assert UploadFiles(state.resumable_dir).remove_expired(now=later) >= 1
    assert (await client.head(url, headers=TUS)).status_code == 404


def test_other_tus_versions_and_bad_signatures_are_refused(
    http: httpx.Client, service: Client
) -> None:
    res = create(http, 1, SERVICE | {"Tus-Resumable": "0.2.2"}, bucketName="shared", objectName="v")
    assert (res.status_code, res.headers["tus-version"]) == (412, "1.0.0")
    signed = service.storage.from_("shared").create_signed_upload_url("signed/patch.txt")
    meta = metadata(bucketName="shared", objectName="signed/patch.txt")
    head = TUS | {"Upload-Length": "2", "Upload-Metadata": meta, "x-signature": signed["token"]}
    made = http.post("/upload/resumable/sign", headers=head)
    assert made.status_code == 201, made.text
    url = made.headers["location"]
    assert "/upload/resumable/sign/" in url
    assert patch(http, url, 0, b"ok", {"x-signature": "not-a-token"}).status_code == 400
    assert patch(http, url, 0, b"ok", {}).status_code == 400  # missing x-signature
    assert patch(http, url, 0, b"ok", {"x-signature": signed["token"]}).status_code == 204
    assert service.storage.from_("shared").download("signed/patch.txt") == b"ok"


def test_browsers_may_send_and_read_tus_headers(http: httpx.Client) -> None:
    asked = "tus-resumable,upload-length,upload-metadata,upload-offset,x-upsert,x-signature"
    ask = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    ask["Access-Control-Request-Headers"] = asked
    preflight = http.options("/upload/resumable", headers=ask)
    assert preflight.status_code == 200
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert all(h in allowed for h in asked.split(","))
    res = create(http, 1, SERVICE | {"Origin": "https://app.example"}, bucketName="shared",
                 objectName="cors.txt")  # fmt: skip
    exposed = res.headers["access-control-expose-headers"].lower()
    assert {"location", "upload-offset", "tus-resumable"} <= {h.strip() for h in exposed.split(",")}


@pytest.mark.parametrize("length", ["-1", "1.5", "²", "", "ten"])
def test_a_bad_upload_length_is_a_400(http: httpx.Client, length: str) -> None:
    meta = metadata(bucketName="shared", objectName="bad.txt")
    head: dict[str, str | bytes] = {**TUS, **SERVICE, "Upload-Metadata": meta}
    head["Upload-Length"] = length.encode("latin-1")  # as raw bytes on the wire
    res = http.post("/upload/resumable", headers=head)
    assert res.status_code == 400
    assert "Upload-Length" in res.text
