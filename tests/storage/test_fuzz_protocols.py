"""Hypothesis throws random requests at storage's two other protocols, signed or authorised
so that they get past the door: the S3 endpoint (`/storage/v1/s3`, SigV4 with the configured
keys: random operations, query parameters, copy sources, ranges and XML bodies) and TUS
resumable uploads (`/storage/v1/upload/resumable`, the service role: random TUS headers,
offsets and bodies).

Whatever comes in: never a 5xx; an S3 error is S3's XML `<Error>` with a `<Code>`; and an
object the fuzzing never names keeps its bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree as ET

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neo.settings import Settings
from tests.conftest import DEMO_SERVICE_KEY
from tests.storage.protocols import KEYS, signed, tus_metadata
from tests.support import fuzz
from tests.support.servers import live_server

KEPT = b"bytes nobody may change"
BUCKETS = ["fuzz", "nope", "UPPER", "a", "x" * 70, "fuzz%00", "..", "s3"]
OBJECT_KEYS = ["a.txt", "dir/b.bin", "../../etc/x", "a%00b", "", "dir/", "ü/ñ", "x" * 1100,
               "a//b", "%2e%2e/x"]  # fmt: skip
QUERY = {
    "list-type": st.sampled_from(["2", "1", "x"]),
    "prefix": st.sampled_from(["", "dir/", "a", "\x00", "%"]),
    "delimiter": st.sampled_from(["/", "", "x", "//"]),
    "max-keys": st.sampled_from(["0", "1", "1000", "-1", "x", "99999999999999999999"]),
    "continuation-token": st.sampled_from(["", "x", "YQ==", "!!!", "\x00"]),
    "start-after": st.sampled_from(["", "a", "\x00"]),
    "uploads": st.just(""),
    "uploadId": st.sampled_from(["", "x", uuid.uuid4().hex, "../../x", "%00"]),
    "partNumber": st.sampled_from(["1", "0", "10001", "-1", "x", "99999999999999999999"]),
    "delete": st.just(""),
    "location": st.just(""),
    "versioning": st.just(""),
    "x-id": st.sampled_from(["GetObject", "PutObject"]),
}
HEADERS = {
    "range": st.sampled_from(["bytes=0-1", "bytes=5-2", "bytes=-0", "bytes=x", "bytes=1-2,3-4"]),
    "if-none-match": st.sampled_from(['"x"', "*", ""]),
    "if-modified-since": st.sampled_from(["Mon, 01 Jan 2024 00:00:00 GMT", "x"]),
    "x-amz-copy-source": st.sampled_from(["fuzz/a.txt", "/fuzz/dir/b.bin", "nope/x", "fuzz",
                                          "kept/kept.txt", "fuzz/%00", "", "/", "fuzz/../../x"]),
    "content-type": st.sampled_from(["text/plain", "application/xml", "", "x/y"]),
    "content-md5": st.sampled_from(["", "x", "1B2M2Y8AsgTpgAmY7PhCfg=="]),
    "x-amz-meta-a": st.sampled_from(["b", ""]),
    "x-amz-acl": st.sampled_from(["private", "public-read"]),
}  # fmt: skip
XML_BODIES = [
    b"",
    b"<not xml",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><Delete>&c;</Delete>',
    b"<Delete><Object><Key>a.txt</Key></Object><Object><Key>kept.txt</Key></Object></Delete>",
    b"<Delete><Object><Key></Key></Object><Quiet>true</Quiet></Delete>",
    b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>",
    b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part>"
    b"</CompleteMultipartUpload>",
    b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></CompleteMultipartUpload>",
    b"<CompleteMultipartUpload><Part><PartNumber>99999999999999999999</PartNumber><ETag>x"
    b"</ETag></Part></CompleteMultipartUpload>",
    b"<CreateBucketConfiguration><LocationConstraint>eu</LocationConstraint>"
    b"</CreateBucketConfiguration>",
]  # fmt: skip
s3_requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE"]),
        "bucket": st.sampled_from([*BUCKETS, ""]),
        "key": st.sampled_from(OBJECT_KEYS) | st.text(max_size=8),
        "query": st.fixed_dictionaries({}, optional=QUERY),
        "headers": st.fixed_dictionaries({}, optional=HEADERS),
        "body": st.sampled_from(XML_BODIES) | st.binary(max_size=32),
        "signed_body": st.booleans(),
    }
)


@pytest.fixture(scope="module")
def base(make_settings: Callable[..., Settings], storage_section: dict[str, Any]) -> Iterator[str]:
    settings = make_settings(storage=storage_section | {"s3_protocol": KEYS})
    with live_server(settings) as url:
        yield url


@pytest.fixture(scope="module")
def http(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30, limits=fuzz.FRESH) as client:
        service = {"Authorization": f"Bearer {DEMO_SERVICE_KEY}"}
        for name in ("fuzz", "kept"):
            res = client.post(f"{base}/storage/v1/bucket", json={"name": name}, headers=service)
            assert res.status_code == 200, res.text
        res = client.post(f"{base}/storage/v1/object/kept/kept.txt", content=KEPT,
                          headers=service | {"content-type": "text/plain"})  # fmt: skip
        assert res.status_code == 200, res.text
        yield client


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=s3_requests)
def test_random_signed_s3_requests_never_fail(
    http: httpx.Client, base: str, request: dict[str, Any]
) -> None:
    path = "/storage/v1/s3"
    if request["bucket"]:
        path += "/" + request["bucket"]
        if request["key"]:
            path += "/" + quote(request["key"], safe="/%")
    query = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in request["query"].items())
    url = f"{base}{path}" + (f"?{query}" if query else "")
    method, body = request["method"], request["body"]
    content = body if method in ("PUT", "POST") else b""
    try:
        httpx.URL(url)
    except httpx.InvalidURL:
        return
    headers = signed(method, url, content, request["headers"], sign_body=request["signed_body"])
    res = http.request(method, url, headers=headers, content=content)
    assert res.status_code < 500, (method, url, res.status_code, res.text)
    if res.status_code >= 400 and method != "HEAD" and urlsplit(str(res.url)).path == path:
        error = ET.fromstring(res.content)  # noqa: S314 (the server's own document)
        assert error.tag == "Error", res.text
        assert error.findtext("Code"), res.text


TUS = "/storage/v1/upload/resumable"


tus_requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["POST", "HEAD", "PATCH", "DELETE", "OPTIONS"]),
        "target": st.sampled_from(["", "/", "/x", "/%00", "/../../x", "/<id>", "/<id>/more"]),
        "headers": st.fixed_dictionaries(
            {},
            optional={
                "Tus-Resumable": st.sampled_from(["1.0.0", "0.2.2", ""]),
                "Upload-Length": st.sampled_from(["0", "5", "-1", "x", "99999999999999999999"]),
                "Upload-Defer-Length": st.sampled_from(["1", "0", "x"]),
                "Upload-Offset": st.sampled_from(["0", "3", "5", "-1", "x"]),
                "Upload-Metadata": st.sampled_from([
                    tus_metadata("fuzz", "t.txt"), tus_metadata("kept", "kept.txt"),
                    tus_metadata("nope", "t.txt"), tus_metadata("fuzz", "../x"),
                    tus_metadata("fuzz", "a\x00b"), "bucketName !!!", "x", "a b c,,",
                ]),
                "Content-Type": st.sampled_from(["application/offset+octet-stream", "text/plain"]),
                "x-upsert": st.sampled_from(["true", "false"]),
                "Upload-Concat": st.sampled_from(["partial", "final;/a /b"]),
            },
        ),
        "body": st.binary(max_size=16),
    }
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=tus_requests)
def test_random_tus_requests_never_fail(
    http: httpx.Client, base: str, request: dict[str, Any]
) -> None:
    service = {"Authorization": f"Bearer {DEMO_SERVICE_KEY}"}
    target = request["target"]
    if "<id>" in target:  # a real upload, so PATCH and HEAD reach its state
        made = http.post(f"{base}{TUS}", headers=service | {
            "Tus-Resumable": "1.0.0", "Upload-Length": "5",
            "Upload-Metadata": tus_metadata("fuzz", f"t-{uuid.uuid4().hex[:6]}.txt")})  # fmt: skip
        assert made.status_code == 201, made.text
        target = target.replace("/<id>", urlsplit(made.headers["location"]).path[len(TUS) :])
    content = request["body"] if request["method"] in ("POST", "PATCH") else None
    res = http.request(request["method"], f"{base}{TUS}{target}",
                       headers=request["headers"] | service, content=content)  # fmt: skip
    assert res.status_code < 500, (request, res.status_code, res.text)


def test_the_object_nobody_named_kept_its_bytes(http: httpx.Client, base: str) -> None:
    res = http.get(f"{base}/storage/v1/object/kept/kept.txt",
                   headers={"Authorization": f"Bearer {DEMO_SERVICE_KEY}"})  # fmt: skip
    assert res.status_code == 200, res.text
    assert res.content == KEPT


def test_an_s3_error_echoing_a_nul_is_still_xml(http: httpx.Client, base: str) -> None:
    """Found by the fuzzing: a NUL in the path was echoed raw into `<Resource>`, which no XML
    parser reads, and reached PostgreSQL (a 500 before SQLSTATE class 22 became a 400)."""
    url = f"{base}/storage/v1/s3/fuzz%00/a.txt"
    res = http.get(url, headers=signed("GET", url, b"", {}, sign_body=True))
    assert res.status_code == 400, res.text
    error = ET.fromstring(res.content)  # noqa: S314 (the server's own document)
    assert error.findtext("Code") == "InvalidArgument"
    assert error.findtext("Resource") == "/storage/v1/s3/fuzz\ufffd/a.txt"
