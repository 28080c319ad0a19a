"""Hypothesis throws random requests at a live NEO's `/storage/v1`, as an attacker would:
routes with odd bucket ids and keys (traversal, encoded separators, NUL, very long, unicode),
query strings, headers (ranges, conditionals, upsert flags, content types, base64), bodies
(random JSON, bytes, multipart) and callers (anon, a user, the service role, forged tokens).

Whatever comes in: never a 5xx; an error from the JSON API has storage-api's shape
(`statusCode` as a string, `error`, `message`); nothing lands outside the storage root; and
Bob's private object is never read nor changed by anyone but Bob and the service role.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neo.settings import Settings
from tests.conftest import DEMO_ANON_KEY, DEMO_SERVICE_KEY
from tests.storage.conftest import user_token
from tests.support import fuzz

ALICE, BOB = str(uuid.uuid4()), str(uuid.uuid4())
SECRET_BYTES = b"bob's secret bytes"
BUCKETS = ["private", "open", "shared", "nope", "", "..", "%2e%2e", "a%2Fb", "#tmp", "x" * 300,
           "ünï", "a b", "private%00", "s3"]  # fmt: skip
KEYS = [f"{BOB}/secret.txt", f"{ALICE}/mine.txt", "a.txt", "../../etc/passwd", "..%2F..%2Fx",
        "%2e%2e/%2e%2e/x", "a//b", "./a", "a/./b", "a/../b", "%00", "a%00b", "x" * 1100,
        "dir/", "ü/ñ.png", "a\\b", "a?b", "%25", "folder/deep/k.bin", "*", ""]  # fmt: skip
ROUTES = [
    ("POST", "/bucket"), ("GET", "/bucket"), ("GET", "/bucket/{b}"), ("PUT", "/bucket/{b}"),
    ("POST", "/bucket/{b}/empty"), ("DELETE", "/bucket/{b}"),
    ("POST", "/object/{b}/{k}"), ("PUT", "/object/{b}/{k}"), ("GET", "/object/{b}/{k}"),
    ("HEAD", "/object/{b}/{k}"), ("GET", "/object/authenticated/{b}/{k}"),
    ("GET", "/object/public/{b}/{k}"), ("GET", "/object/info/{b}/{k}"),
    ("GET", "/object/info/public/{b}/{k}"), ("DELETE", "/object/{b}/{k}"),
    ("DELETE", "/object/{b}"), ("POST", "/object/list/{b}"), ("POST", "/object/list-v2/{b}"),
    ("POST", "/object/move"), ("POST", "/object/copy"), ("POST", "/object/sign/{b}"),
    ("POST", "/object/sign/{b}/{k}"), ("GET", "/object/sign/{b}/{k}"),
    ("POST", "/object/upload/sign/{b}/{k}"), ("PUT", "/object/upload/sign/{b}/{k}"),
    ("GET", "/render/image/authenticated/{b}/{k}"), ("GET", "/render/image/public/{b}/{k}"),
    ("GET", "/render/image/sign/{b}/{k}"), ("POST", "/upload/resumable"),
    ("PATCH", "/upload/resumable/{k}"), ("HEAD", "/upload/resumable/{k}"),
    ("DELETE", "/upload/resumable/{k}"), ("GET", "/s3/{b}/{k}"), ("PUT", "/s3/{b}/{k}"),
]  # fmt: skip
# Routes outside storage-api's JSON error shape: TUS answers in its own way, S3 in XML.
NOT_JSON = ("/upload/resumable", "/s3")
QUERY_KEYS = ["download", "token", "width", "height", "resize", "format", "quality",
              "partNumber", "uploadId", "x-id", "prefix"]  # fmt: skip
QUERY_VALUES = ["", "1", "-1", "0", "99999999999999999999", "webp", "origin", "cover", "x",
                "a.txt", "%00", "null", "a\r\nSet-Cookie: x=1", "\x7f", 'a"b']  # fmt: skip
HEADERS = {
    "Content-Type": st.sampled_from([
        "application/json", "text/plain", "image/png", "application/octet-stream",
        "multipart/form-data", "multipart/form-data; boundary=xyz", "x/y; charset=ü",
        "application/offset+octet-stream", "",
    ]),
    "x-upsert": st.sampled_from(["true", "false", "maybe", ""]),
    "Range": st.sampled_from(["bytes=0-1", "bytes=5-2", "bytes=-0", "bytes=0-", "bytes=x",
                              "bytes=1-2,3-4", "items=0-1", "bytes=99999999999999999999-"]),
    "If-None-Match": st.sampled_from(['"x"', "*", "", 'W/"x", "y"']),
    "If-Modified-Since": st.sampled_from(["Mon, 01 Jan 2024 00:00:00 GMT", "yesterday", ""]),
    "cache-control": st.sampled_from(["max-age=3600", "no-store", "max-age=-1"]),
    "x-metadata": st.sampled_from(["e30=", "bm90IGpzb24=", "!!!", "WzFd"]),
    "Content-Transfer-Encoding": st.sampled_from(["base64", "binary", "quoted-printable"]),
    "Upload-Length": st.sampled_from(["10", "-1", "x", "99999999999999999999"]),
    "Upload-Offset": st.sampled_from(["0", "5", "-1", "x"]),
    "Upload-Metadata": st.sampled_from(["bucketName cHJpdmF0ZQ==,objectName YS50eHQ=",
                                        "bucketName !!!", "x", ""]),
    "Tus-Resumable": st.sampled_from(["1.0.0", "0.2", ""]),
}  # fmt: skip
text = fuzz.TEXT
json_values = fuzz.json_values([])
shaped = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(BUCKETS) | text, "id": st.sampled_from(BUCKETS) | text,
        "public": json_values, "file_size_limit": json_values,
        "allowed_mime_types": json_values, "prefix": st.sampled_from(KEYS) | json_values,
        "limit": json_values, "offset": json_values, "sortBy": json_values,
        "search": json_values, "cursor": json_values, "with_delimiter": json_values,
        "bucketId": st.sampled_from(BUCKETS), "sourceKey": st.sampled_from(KEYS),
        "destinationKey": st.sampled_from(KEYS), "destinationBucket": st.sampled_from(BUCKETS),
        "prefixes": st.lists(st.sampled_from(KEYS) | text, max_size=3) | json_values,
        "paths": st.lists(st.sampled_from(KEYS) | text, max_size=3) | json_values,
        "expiresIn": json_values, "transform": json_values,
    },
)  # fmt: skip
bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=64),
    shaped.map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.just(
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nhi\r\n'
        b"--xyz--\r\n"
    ),
    st.just(b"--xyz\r\nContent-Disposition: form-data\r\n\r\n"),
)
NOW = 2_000_000_000
FORGED = [
    jwt.encode({"sub": BOB, "role": "authenticated", "exp": NOW}, "not-the-secret-" * 3),
    jwt.encode({"sub": BOB, "role": "service_role", "exp": NOW}, None, algorithm="none"),
    "e30.e30.", "Bearer", "x" * 5000, user_token(BOB, expires_in=-60),
    jwt.encode({"sub": "not-a-uuid", "role": "authenticated", "exp": NOW},
               "super-secret-jwt-token-with-at-least-32-characters-long"),
]  # fmt: skip


@pytest.fixture(scope="module")
def http(server_url: str, policies: None) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url + "/storage/v1", timeout=30, limits=fuzz.FRESH) as client:
        service = {"Authorization": f"Bearer {DEMO_SERVICE_KEY}", "apikey": DEMO_SERVICE_KEY}
        for name, public in (("private", False), ("open", True), ("shared", False)):
            res = client.post("/bucket", json={"name": name, "public": public}, headers=service)
            assert res.status_code == 200, res.text
        res = client.post(f"/object/private/{BOB}/secret.txt", content=SECRET_BYTES,
                          headers=service | {"content-type": "text/plain"})  # fmt: skip
        assert res.status_code == 200, res.text
        yield client


def caller_headers(kind: str, forged: str) -> dict[str, str]:
    if kind == "service":
        return {"Authorization": f"Bearer {DEMO_SERVICE_KEY}", "apikey": DEMO_SERVICE_KEY}
    if kind == "alice":
        return {"Authorization": f"Bearer {user_token(ALICE)}", "apikey": DEMO_ANON_KEY}
    if kind == "anon":
        return {"apikey": DEMO_ANON_KEY}
    if kind == "forged":
        return {"Authorization": f"Bearer {forged}", "apikey": DEMO_ANON_KEY}
    return {}


requests = st.fixed_dictionaries(
    {
        "route": st.sampled_from(ROUTES),
        "bucket": st.sampled_from(BUCKETS),
        "key": st.sampled_from(KEYS) | text,
        "query": st.lists(
            st.tuples(st.sampled_from(QUERY_KEYS), st.sampled_from(QUERY_VALUES) | text),
            max_size=3,
        ),
        "extra": st.fixed_dictionaries({}, optional=HEADERS),
        "body": bodies,
    }
)


def send(
    http: httpx.Client, request: dict[str, Any], auth: dict[str, str]
) -> httpx.Response | None:
    """Send one generated request; check what any answer must be. None if httpx refused it."""
    method, template = request["route"]
    path = template.replace("{b}", request["bucket"]).replace("{k}", request["key"])
    content = request["body"] if method in ("POST", "PUT", "PATCH") else None
    headers = {k: v.encode() for k, v in (request["extra"] | auth).items()}
    try:
        res = http.request(method, path, params=request["query"], headers=headers,
                           content=content)  # fmt: skip
    except httpx.InvalidURL:
        return None  # the client refused to send it (not the server's concern)
    assert res.status_code < 500, (method, path, res.status_code, res.text)
    ours = res.request.url.path.startswith("/storage/v1/")  # httpx resolves `..` segments
    if res.status_code >= 400 and method != "HEAD" and ours and not template.startswith(NOT_JSON):
        error: Any = res.json()
        assert set(error) >= {"statusCode", "error", "message"}, res.text
        assert isinstance(error["statusCode"], str), res.text
    return res


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=requests, caller=st.sampled_from(["alice", "anon", "forged", "none"]),
       forged=st.sampled_from(FORGED))  # fmt: skip
def test_random_requests_by_others_never_fail_nor_reach_bobs_object(
    http: httpx.Client, request: dict[str, Any], caller: str, forged: str
) -> None:
    res = send(http, request, caller_headers(caller, forged))
    if res is not None and res.status_code < 300:
        assert SECRET_BYTES not in res.content, request


def test_bobs_object_survived_them(http: httpx.Client) -> None:
    service = {"Authorization": f"Bearer {DEMO_SERVICE_KEY}"}
    res = http.get(f"/object/private/{BOB}/secret.txt", headers=service)
    assert res.status_code == 200, res.text
    assert res.content == SECRET_BYTES


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=requests)
def test_random_requests_by_the_service_role_never_fail(
    http: httpx.Client, request: dict[str, Any]
) -> None:
    send(http, request, caller_headers("service", ""))


def test_nothing_landed_outside_the_storage_root(make_settings: Any) -> None:
    settings: Settings = make_settings()
    tmp_root = Path(settings.data_dir).parent
    strays = [p for p in tmp_root.rglob("*") if p.name in ("passwd", "x") and p.is_file()]
    assert strays == []


SERVICE = {"Authorization": f"Bearer {DEMO_SERVICE_KEY}", "apikey": DEMO_SERVICE_KEY}


@pytest.fixture
def own_bucket(http: httpx.Client) -> str:
    """A bucket of the test's own (the service role's fuzzing may have removed any other)."""
    name = f"found-{uuid.uuid4().hex[:8]}"
    assert http.post("/bucket", json={"name": name}, headers=SERVICE).status_code == 200
    return name


def test_a_nul_in_a_bucket_id_or_key_is_the_callers_error(
    http: httpx.Client, own_bucket: str
) -> None:
    """Found by the fuzzing: PostgreSQL refuses a NUL in text, and that was a 500."""
    paths = [f"/object/{own_bucket}/a%00b", f"/bucket/{own_bucket}%00", "/object/info/open/%00"]
    for path in paths:
        res = http.get(path, headers=SERVICE)
        assert res.status_code == 400, (path, res.text)
        assert res.json()["statusCode"] == "400"
        assert "0x00" in res.json()["message"]
    res = http.post(f"/object/list/{own_bucket}", json={"prefix": "a\u0000"}, headers=SERVICE)
    assert res.status_code == 400, res.text


def test_a_malformed_multipart_body_is_the_callers_error(
    http: httpx.Client, own_bucket: str
) -> None:
    """Found by the fuzzing: the multipart parser's error was a 500."""
    res = http.post(
        f"/object/{own_bucket}/other.txt",
        content=b"\x00 not a multipart body",
        headers=SERVICE | {"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert res.status_code == 400, res.text
    assert res.json()["statusCode"] == "400"
    assert "multipart" in res.json()["message"]


def test_a_download_name_cannot_split_the_header(http: httpx.Client, own_bucket: str) -> None:
    """Found by probing `?download=`: a CR LF in the name made an invalid header, and the
    server dropped the connection instead of answering."""
    http.post(f"/object/{own_bucket}/a.txt", content=b"hi", headers=SERVICE)
    res = http.get(f"/object/{own_bucket}/a.txt", headers=SERVICE,
                   params={"download": 'report\r\nSet-Cookie: x=1"\x00.txt'})  # fmt: skip
    assert res.status_code == 200, res.text
    assert "set-cookie" not in res.headers
    assert res.headers["content-disposition"].startswith(
        "attachment; filename=\"reportSet-Cookie: x=1.txt\"; filename*=UTF-8''report%0D%0A"
    )


def test_a_content_type_or_cache_control_a_header_cannot_carry_is_refused(
    http: httpx.Client, own_bucket: str, server_url: str
) -> None:
    """Found by probing uploads: a CR LF or DEL in a multipart `cacheControl` field, a part's
    content type or TUS metadata was stored, and every later download of the object (public
    ones included) lost its connection: the server cannot send such a header."""
    url = f"/object/{own_bucket}/evil.txt"
    field = http.post(url, headers=SERVICE, files={"file": ("a", b"hi", "text/plain")},
                      data={"cacheControl": "3600\r\nX-Evil: 1"})  # fmt: skip
    part = http.post(url, headers=SERVICE, files={"file": ("a", b"hi", "text/plain\x7f")})
    latin = http.post(
        url,
        headers=SERVICE,
        files={"file": ("a", b"hi", "text/plain")},
        data={"cacheControl": "\u0663"},
    )  # an Arabic-Indic 3: a digit, not ASCII
    for res in (field, part, latin):
        assert res.status_code == 400, res.text
        assert "header" in res.json()["message"]
    meta = {"bucketName": own_bucket, "objectName": "evil.txt", "contentType": "a\r\nX-Evil: 1"}
    tus = http.post(f"{server_url}/storage/v1/upload/resumable", headers=SERVICE | {
        "Tus-Resumable": "1.0.0", "Upload-Length": "2",
        "Upload-Metadata": ",".join(f"{k} {base64.b64encode(v.encode()).decode()}"
                                    for k, v in meta.items())})  # fmt: skip
    assert tus.status_code == 400, tus.text
    assert http.get(url, headers=SERVICE).status_code == 400  # nothing was stored


def test_a_stored_value_a_header_cannot_carry_is_dropped_from_downloads(
    http: httpx.Client, own_bucket: str, database_url: str
) -> None:
    """A row from elsewhere (a dump) may hold such values: its downloads still answer."""
    assert http.post(f"/object/{own_bucket}/dump.txt", content=b"hi", headers=SERVICE |
                     {"content-type": "text/plain"}).status_code == 200  # fmt: skip

    async def spoil() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(
                "update storage.objects set metadata = metadata || $1::jsonb "
                "where bucket_id = $2 and name = 'dump.txt'",
                json.dumps({"mimetype": "text/plain\r\nX-Evil: 1", "cacheControl": "\u20acx"}),
                own_bucket,
            )
        finally:
            await conn.close()

    asyncio.run(spoil())
    res = http.get(f"/object/{own_bucket}/dump.txt", headers=SERVICE)
    assert res.status_code == 200, res.text
    assert res.content == b"hi"
    assert res.headers["content-type"].startswith("text/plainX-Evil: 1")
    assert res.headers["cache-control"] == "x"
    assert "x-evil" not in res.headers
