"""Object downloads and uploads on the fast lane, over real HTTP (`neo start`'s protocol,
so local objects past their first chunk leave by sendfile, S3 ones stream): whole objects,
ranges, HEAD, conditional requests, a client that hangs up, no file left open by a
download that fails or is abandoned; and the fast routes never take a request a specific
route serves; read-ahead serves only the version the row names."""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Route

from neo.storage import StorageState
from neo.storage.backends import Location
from tests.conftest import DEMO_ANON_KEY, DEMO_SERVICE_KEY

AUTH = {"authorization": f"Bearer {DEMO_SERVICE_KEY}"}
SIZE = 3 * 1024 * 1024 + 17  # past the 2 MiB the local backend has the kernel read ahead


@pytest.fixture(scope="module")
def http(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, headers=AUTH, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def stored(http: httpx.Client) -> tuple[str, bytes]:
    """A bucket holding `big.bin` (SIZE random bytes) and `small.bin`; (bucket, big bytes)."""
    bucket = uuid.uuid4().hex[:10]
    assert http.post("/storage/v1/bucket", json={"name": bucket}).status_code == 200
    data = os.urandom(SIZE)
    raw = {"content-type": "application/octet-stream"}
    assert http.post(f"/storage/v1/object/{bucket}/big.bin", content=data, headers=raw).is_success
    small = http.post(f"/storage/v1/object/{bucket}/small.bin", content=b"tiny", headers=raw)
    assert small.is_success
    return bucket, data


def test_whole_objects_of_every_size_and_ranges(
    http: httpx.Client, stored: tuple[str, bytes]
) -> None:
    bucket, data = stored
    url = f"/storage/v1/object/{bucket}/big.bin"
    whole = http.get(url)
    assert whole.status_code == 200
    assert whole.content == data
    assert whole.headers["etag"] == f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
    for start, end in [(1048570, 2097160), (0, SIZE - 1), (SIZE - 5, SIZE - 1), (3, 3)]:
        span = http.get(url, headers={"range": f"bytes={start}-{end}"})
        assert span.status_code == 206
        assert span.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
        assert span.content == data[start : end + 1]
    assert http.get(f"/storage/v1/object/{bucket}/small.bin").content == b"tiny"
    raw = {"content-type": "application/octet-stream"}
    edge = os.urandom(64 * 1024 + 1)  # one byte past what is read whole on open
    for name, body in (("empty.bin", b""), ("edge.bin", edge), ("edge-1.bin", edge[:-1])):
        url = f"/storage/v1/object/{bucket}/{name}"
        assert http.post(url, content=body, headers=raw).is_success
        got = http.get(url)
        assert (got.status_code, got.headers["content-length"]) == (200, str(len(body)))
        assert got.content == body


def test_head_and_conditional_requests_send_no_body(
    http: httpx.Client, stored: tuple[str, bytes]
) -> None:
    bucket, _ = stored
    url = f"/storage/v1/object/authenticated/{bucket}/big.bin"
    head = http.head(url)
    assert (head.status_code, head.headers["content-length"], head.content) == (200, str(SIZE), b"")
    again = http.get(url, headers={"if-none-match": head.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")


def test_a_client_hanging_up_mid_object_leaves_the_server_serving(
    server_url: str, http: httpx.Client, stored: tuple[str, bytes]
) -> None:
    bucket, data = stored
    address = urlsplit(server_url)
    for _ in range(3):
        sock = socket.create_connection((address.hostname, address.port), timeout=30)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        request = f"GET /storage/v1/object/{bucket}/big.bin HTTP/1.1\r\nHost: t\r\n"
        sock.sendall(f"{request}Authorization: {AUTH['authorization']}\r\n\r\n".encode())
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200"), head[:300]
        sock.close()
    assert http.get(f"/storage/v1/object/{bucket}/big.bin").content == data


def _open_files() -> int:
    """This process's open descriptors (the live server runs in it) once the count holds
    still for 0.2 s (5 s at most): a download may close its file just after its response."""
    counts = [-1, -2]
    deadline = time.monotonic() + 5
    while len(set(counts[-3:])) > 1 and time.monotonic() < deadline:
        time.sleep(0.1)
        counts.append(len(os.listdir("/proc/self/fd")))
    return counts[-1]


def test_failed_refused_and_abandoned_downloads_leave_no_file_open(
    server_url: str, http: httpx.Client, stored: tuple[str, bytes]
) -> None:
    bucket, _ = stored
    url = f"/storage/v1/object/{bucket}/big.bin"
    address = urlsplit(server_url)
    anon = {"authorization": f"Bearer {DEMO_ANON_KEY}", "apikey": DEMO_ANON_KEY}
    request = f"GET {url} HTTP/1.1\r\nHost: t\r\nAuthorization: {AUTH['authorization']}\r\n\r\n"

    def downloads() -> None:
        refused = http.get(url, headers=anon)  # opened ahead, then no row for anon (RLS)
        assert refused.json()["statusCode"] == "404"
        missing = http.get(f"/storage/v1/object/{bucket}/none.bin")
        assert missing.json()["statusCode"] == "404"
        assert http.get(url, headers={"range": f"bytes={SIZE}-"}).status_code == 416
        for wait_for_bytes in (True, False):  # hang up mid-body, or before any answer
            sock = socket.create_connection((address.hostname, address.port), timeout=30)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            sock.sendall(request.encode())
            if wait_for_bytes:
                assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            sock.close()
        assert http.get(f"/storage/v1/object/{bucket}/small.bin").is_success

    downloads()  # connections of the pools and clients opened once, not counted
    before = _open_files()
    for _ in range(10):
        downloads()
    assert _open_files() <= before + 2  # a leak would leave 10 or more


def test_public_route_serves_public_buckets_only(
    http: httpx.Client, stored: tuple[str, bytes]
) -> None:
    private, _ = stored
    public = uuid.uuid4().hex[:10]
    assert http.post("/storage/v1/bucket", json={"name": public, "public": True}).is_success
    raw = {"content-type": "text/plain"}
    assert http.post(f"/storage/v1/object/{public}/p.txt", content=b"open", headers=raw).is_success
    anyone = httpx.Client(base_url=http.base_url, timeout=60)  # no credentials at all
    with anyone:
        assert anyone.get(f"/storage/v1/object/public/{public}/p.txt").content == b"open"
        cases = [(private, "small.bin", "Bucket not found"), (public, "none", "not_found"),
                 (uuid.uuid4().hex, "p.txt", "Bucket not found")]  # fmt: skip
        for bucket, key, error in cases:
            res = anyone.get(f"/storage/v1/object/public/{bucket}/{key}")
            assert (res.status_code, res.json()["error"]) == (400, error)


def test_upload_routes_keep_their_errors_on_the_fast_lane(
    http: httpx.Client, stored: tuple[str, bytes]
) -> None:
    bucket, _ = stored
    raw = {"content-type": "application/octet-stream"}
    again = http.post(f"/storage/v1/object/{bucket}/small.bin", content=b"x", headers=raw)
    assert again.status_code == 400
    assert again.json()["error"] == "Duplicate"
    replaced = http.put(f"/storage/v1/object/{bucket}/small.bin", content=b"new", headers=raw)
    assert replaced.is_success
    assert http.get(f"/storage/v1/object/{bucket}/small.bin").content == b"new"
    missing = http.post(f"/storage/v1/object/{uuid.uuid4().hex}/a.bin", content=b"x", headers=raw)
    assert missing.status_code == 400
    assert missing.json()["statusCode"] == "404"


# (method, path under /storage/v1, fast endpoint expected or None): the catch-alls refuse
# exactly what a route registered before them serves for that method.
ROUTING = [
    ("GET", "/object/b/k.png", "download"),
    ("GET", "/object/b/dir/k.png", "download"),
    ("HEAD", "/object/b/k.png", "download"),
    ("GET", "/object/authenticated/b/k", "download"),
    ("GET", "/object/public/b/k", "public_download"),
    ("GET", "/object/info/b/k", None),
    ("GET", "/object/info/public/b/k", None),
    ("HEAD", "/object/info/b/k", "download"),  # info is GET only: FastAPI's order downloads
    ("GET", "/object/info/b", "download"),  # one segment is no info route either
    ("GET", "/object/sign/b/k", None),
    ("POST", "/object/b/k", "upload"),
    ("PUT", "/object/b/k", "upload"),
    ("POST", "/object/list/b", None),
    ("POST", "/object/list/b/k", "upload"),
    ("POST", "/object/sign/b", None),
    ("POST", "/object/sign/b/k", None),
    ("PUT", "/object/sign/b/k", "upload"),
    ("POST", "/object/upload/sign/b/k", None),
    ("PUT", "/object/upload/sign/b/k", None),
    ("DELETE", "/object/b/k", None),
    ("GET", "/bucket/b", None),
]


@pytest.mark.parametrize(("method", "path", "endpoint"), ROUTING)
def test_fast_routes_leave_specific_routes_alone(
    app: FastAPI, method: str, path: str, endpoint: str | None
) -> None:
    scope: dict[str, Any] = {"type": "http", "method": method, "path": f"/storage/v1{path}"}
    scope |= {"root_path": "", "headers": []}
    edge = app.edge  # type: ignore[attr-defined]
    route = edge.fast.match(scope)
    assert (route.endpoint.__name__ if isinstance(route, Route) else None) == endpoint


async def test_read_ahead_serves_only_the_version_the_row_names(
    app: FastAPI, client: httpx.AsyncClient, backend: str
) -> None:
    """A key folder holding one file that is not the row's version (which never happens but
    for a moment in an upload) is not served: the row's version is opened, and is missing."""
    if backend != "local":
        pytest.skip("read-ahead is for the local backend")
    state: StorageState = app.state.storage
    bucket = uuid.uuid4().hex[:10]
    assert (await client.post("/storage/v1/bucket", json={"name": bucket}, headers=AUTH)).is_success
    url = f"/storage/v1/object/{bucket}/guess.txt"
    raw = AUTH | {"content-type": "text/plain"}
    assert (await client.post(url, content=b"right", headers=raw)).is_success
    info = await client.get(f"/storage/v1/object/info/{bucket}/guess.txt", headers=AUTH)
    path = state.backend.path(Location(bucket, "guess.txt", info.json()["version"]))
    elsewhere = path.with_name(str(uuid.uuid4()))
    path.rename(elsewhere)
    try:
        missing = await client.get(url, headers=AUTH)
        assert missing.json()["statusCode"] == "404"
    finally:
        elsewhere.rename(path)
    assert (await client.get(url, headers=AUTH)).content == b"right"


async def test_a_key_that_is_also_a_folder_downloads_its_own_bytes(
    client: httpx.AsyncClient,
) -> None:
    bucket = uuid.uuid4().hex[:10]
    assert (await client.post("/storage/v1/bucket", json={"name": bucket}, headers=AUTH)).is_success
    raw = AUTH | {"content-type": "text/plain"}
    for key, body in (("p/q", b"inner"), ("p", b"outer")):
        res = await client.post(f"/storage/v1/object/{bucket}/{key}", content=body, headers=raw)
        assert res.is_success
    assert (await client.get(f"/storage/v1/object/{bucket}/p", headers=AUTH)).content == b"outer"
    assert (await client.get(f"/storage/v1/object/{bucket}/p/q", headers=AUTH)).content == b"inner"
