"""Many clients at once on a handful of keys of a live NEO: uploads and upserts (small and
streamed large bodies), deletes, moves, copies and downloads, through the JSON API, the S3
endpoint and TUS resumable uploads, interleaved at random.

Whatever the interleaving: every download is whole (one of the bodies ever uploaded, never a
mix or a truncation), every object listed at the end has the bytes its row describes (size
and MD5 ETag), and no version is left on disk that no row points at.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from neo.settings import Settings
from tests.conftest import DEMO_SERVICE_KEY
from tests.storage.protocols import KEYS as S3_KEYS
from tests.storage.protocols import signed, tus_metadata
from tests.support.servers import live_server

SERVICE = {"Authorization": f"Bearer {DEMO_SERVICE_KEY}"}
KEYS = ["a.bin", "b.bin", "dir/c.bin", "dir/d.bin"]
# Bodies named by their first bytes; large ones (> 4 MiB) take the streamed path.
BODIES = [f"body-{i:02d}-".encode() * (1 + i * 997) for i in range(6)]
BODIES += [f"large-{i}-".encode() * (600_000 + i) for i in range(2)]
KNOWN = {hashlib.md5(b).hexdigest() for b in BODIES}  # noqa: S324 (S3-style ETags)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("storm")


@pytest.fixture(scope="module")
def base(
    make_settings: Callable[..., Settings], storage_section: dict[str, Any], root: Path
) -> Iterator[str]:
    section = storage_section | ({"root": str(root)} if not storage_section else {})
    section |= {"s3_protocol": S3_KEYS}
    with live_server(make_settings(storage=section)) as url:
        yield url + "/storage/v1"


def operation(base: str, bucket: str, rng: random.Random) -> str:
    """One random operation; a problem found, or ''."""
    key, other = rng.choice(KEYS), rng.choice(KEYS)
    kind = rng.choice(["upload", "upsert", "upsert", "download", "download", "delete", "move",
                       "copy", "info", "s3", "s3", "tus"])  # fmt: skip
    with httpx.Client(timeout=60) as http:
        if kind == "s3":
            return s3_operation(http, base, bucket, key, other, rng)
        if kind == "tus":
            return tus_upload(http, base, bucket, key, rng.choice(BODIES))
        if kind in ("upload", "upsert"):
            body = rng.choice(BODIES)
            headers = SERVICE | {"content-type": "application/octet-stream"}
            if kind == "upsert":
                headers["x-upsert"] = "true"
            res = http.post(f"{base}/object/{bucket}/{key}", content=body, headers=headers)
            ok = res.status_code == 200 or (kind == "upload" and "already exists" in res.text)
        elif kind == "download":
            res = http.get(f"{base}/object/{bucket}/{key}", headers=SERVICE)
            if res.status_code == 200 and res.content not in BODIES:
                return f"download of {key}: {len(res.content)} bytes, not an uploaded body"
            ok = res.status_code == 200 or res.json()["statusCode"] == "404"
        elif kind == "delete":
            res = http.delete(f"{base}/object/{bucket}/{key}", headers=SERVICE)
            ok = res.status_code == 200 or res.json()["statusCode"] == "404"
        elif kind == "info":
            res = http.get(f"{base}/object/info/{bucket}/{key}", headers=SERVICE)
            ok = res.status_code == 200 or res.json()["statusCode"] == "404"
        else:
            body = {"bucketId": bucket, "sourceKey": key, "destinationKey": other}
            res = http.post(f"{base}/object/{kind}", json=body, headers=SERVICE)
            ok = res.status_code == 200 or res.json()["statusCode"] in ("400", "404", "409")
    return "" if ok else f"{kind} {key}: {res.status_code} {res.text}"


def s3_operation(
    http: httpx.Client, base: str, bucket: str, key: str, other: str, rng: random.Random
) -> str:
    """A put, get, copy or delete through the S3 endpoint (SigV4); a problem found, or ''."""
    method, url = rng.choice(["PUT", "GET", "DELETE", "COPY"]), f"{base}/s3/{bucket}/{key}"
    body, headers = b"", {}
    if method == "PUT":
        body = rng.choice(BODIES)
    if method == "COPY":
        method, headers = "PUT", {"x-amz-copy-source": f"{bucket}/{other}"}
    res = http.request(method, url, content=body,
                       headers=signed(method, url, body, headers, sign_body=False))  # fmt: skip
    if method == "GET" and res.status_code == 200 and res.content not in BODIES:
        return f"S3 GET of {key}: {len(res.content)} bytes, not an uploaded body"
    ok = res.status_code in (200, 204) or b"<Code>NoSuchKey</Code>" in res.content
    return "" if ok else f"S3 {method} {key} {headers}: {res.status_code} {res.text}"


def tus_upload(http: httpx.Client, base: str, bucket: str, key: str, body: bytes) -> str:
    """A resumable upload (x-upsert) in two PATCHes; a problem found, or ''."""
    tus = {"Tus-Resumable": "1.0.0"} | SERVICE
    start = {"x-upsert": "true", "Upload-Length": str(len(body)),
             "Upload-Metadata": tus_metadata(bucket, key)}  # fmt: skip
    made = http.post(f"{base}/upload/resumable", headers=tus | start)
    if made.status_code != 201:
        return f"TUS create {key}: {made.status_code} {made.text}"
    half = len(body) // 2
    for offset, part in ((0, body[:half]), (half, body[half:])):
        patch = {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
        res = http.patch(made.headers["location"], content=part, headers=tus | patch)
        if res.status_code != 204:
            return f"TUS patch {key} at {offset}: {res.status_code} {res.text}"
    return ""


def test_a_storm_of_operations_leaves_whole_objects_and_no_orphans(
    base: str, root: Path, backend: str
) -> None:
    bucket = f"storm-{uuid.uuid4().hex[:6]}"
    assert httpx.post(f"{base}/bucket", json={"name": bucket}, headers=SERVICE).status_code == 200
    rngs = [random.Random(seed) for seed in range(500)]
    with ThreadPoolExecutor(12) as pool:
        problems = [p for p in pool.map(lambda r: operation(base, bucket, r), rngs) if p]
    assert problems == []
    listed = httpx.post(f"{base}/object/list/{bucket}", json={"prefix": "", "limit": 100},
                        headers=SERVICE).json()  # fmt: skip
    inner = httpx.post(f"{base}/object/list/{bucket}", json={"prefix": "dir", "limit": 100},
                       headers=SERVICE).json()  # fmt: skip
    names = sorted({o["name"] for o in listed if o["id"]} | {f"dir/{o['name']}" for o in inner})
    assert names, listed
    for name in names:
        info = httpx.get(f"{base}/object/info/{bucket}/{name}", headers=SERVICE).json()
        data = httpx.get(f"{base}/object/{bucket}/{name}", headers=SERVICE).content
        assert data in BODIES, name
        assert info["size"] == len(data)
        assert info["etag"].strip('"') == hashlib.md5(data).hexdigest()  # noqa: S324
    if backend == "local":
        versions = [p for p in (root / bucket).rglob("*") if p.is_file()]
        assert sorted(str(p.parent.relative_to(root / bucket)) for p in versions) == names
