"""The S3 protocol endpoint (/storage/v1/s3) driven by boto3, the official AWS SDK: buckets,
objects, listings with prefixes, ranges, batch delete; and the SigV4 checks (wrong secret,
unsigned requests, a body that does not match its signed hash)."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from neo.settings import Settings
from tests.support.servers import live_server

KEYS = {"access_key_id": "neo-test-key", "secret_access_key": "neo-test-secret-0123456789"}


@pytest.fixture(scope="module")
def s3_url(
    make_settings: Callable[..., Settings], storage_section: dict[str, Any]
) -> Iterator[str]:
    settings = make_settings(storage=storage_section | {"s3_protocol": KEYS})
    with live_server(settings) as url:
        yield f"{url}/storage/v1/s3"


def client(url: str, secret: str = KEYS["secret_access_key"]) -> Any:
    config = Config(
        s3={"addressing_style": "path"}, retries={"max_attempts": 1}, signature_version="s3v4"
    )
    return boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1", config=config,
        aws_access_key_id=KEYS["access_key_id"], aws_secret_access_key=secret,
    )  # fmt: skip


@pytest.fixture(scope="module")
def s3(s3_url: str) -> Any:
    return client(s3_url)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"s3-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return name


def test_objects_round_trip(s3: Any, bucket: str) -> None:
    data = os.urandom(300_000)
    put = s3.put_object(Bucket=bucket, Key="dir/a b.bin", Body=data, ContentType="image/png")
    assert put["ETag"].startswith('"')
    got = s3.get_object(Bucket=bucket, Key="dir/a b.bin")
    assert got["Body"].read() == data
    assert (got["ContentType"], got["ETag"]) == ("image/png", put["ETag"])
    head = s3.head_object(Bucket=bucket, Key="dir/a b.bin")
    assert head["ContentLength"] == len(data)
    part = s3.get_object(Bucket=bucket, Key="dir/a b.bin", Range="bytes=10-19")
    assert part["Body"].read() == data[10:20]
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.put_object(Bucket=bucket, Key="untyped", Body=b"x")
    assert s3.head_object(Bucket=bucket, Key="untyped")["ContentType"] == "binary/octet-stream"
    s3.delete_object(Bucket=bucket, Key="dir/a b.bin")
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=bucket, Key="dir/a b.bin")
    assert err.value.response["Error"]["Code"] == "404"


def test_listing_with_prefixes_pages_and_batch_delete(s3: Any, bucket: str) -> None:
    keys = ["a.txt", "docs/1.txt", "docs/2.txt", "docs/sub/3.txt", "z.txt"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    flat = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in flat["Contents"]] == keys
    assert flat["Contents"][0]["Size"] == len(b"a.txt")
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["a.txt", "z.txt"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["docs/"]
    docs = s3.list_objects_v2(Bucket=bucket, Prefix="docs/", Delimiter="/")
    assert [o["Key"] for o in docs["Contents"]] == ["docs/1.txt", "docs/2.txt"]
    paged = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={
        "PageSize": 2})  # fmt: skip
    assert [o["Key"] for page in paged for o in page["Contents"]] == keys
    gone = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in gone["Deleted"]) == sorted(keys)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket=bucket)
    assert err.value.response["Error"]["Code"] == "NoSuchBucket"


def test_missing_objects_and_wrong_keys_are_refused(s3_url: str, s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="nope.txt")
    assert err.value.response["Error"]["Code"] == "NoSuchKey"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as err:
        client(s3_url, secret="wrong-secret").list_buckets()
    assert err.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    unsigned = httpx.get(f"{s3_url}/{bucket}")
    assert unsigned.status_code == 400
    assert b"<Code>AuthorizationHeaderMalformed</Code>" in unsigned.content


def test_a_body_that_does_not_match_its_signed_hash_is_not_stored(
    s3_url: str, s3: Any, bucket: str
) -> None:
    url = f"{s3_url}/{bucket}/tampered.txt"
    request = AWSRequest(method="PUT", url=url, data=b"signed body")
    request.headers["x-amz-content-sha256"] = hashlib.sha256(b"signed body").hexdigest()
    creds = Credentials(KEYS["access_key_id"], KEYS["secret_access_key"])
    S3SigV4Auth(creds, "s3", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    res = httpx.put(url, content=b"other body!", headers=headers)
    assert res.status_code == 400
    assert b"XAmzContentSHA256Mismatch" in res.content
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="tampered.txt")
    honest = httpx.put(url, content=b"signed body", headers=headers)
    assert honest.status_code == 200, honest.text


def test_the_endpoint_refuses_everything_without_configured_keys(server_url: str) -> None:
    s3 = client(f"{server_url}/storage/v1/s3")
    with pytest.raises(ClientError) as err:
        s3.list_buckets()
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_multipart_upload_and_copy(s3: Any, bucket: str) -> None:
    data = os.urandom(12 * 1024 * 1024 + 7)
    config = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
    s3.upload_fileobj(io.BytesIO(data), bucket, "big/file.bin", Config=config)
    out = io.BytesIO()
    s3.download_fileobj(bucket, "big/file.bin", out)
    assert out.getvalue() == data
    assert s3.head_object(Bucket=bucket, Key="big/file.bin")["ContentLength"] == len(data)
    copied = s3.copy_object(Bucket=bucket, Key="copy.bin", CopySource=f"{bucket}/big/file.bin")
    assert copied["CopyObjectResult"]["ETag"].startswith('"')
    assert s3.get_object(Bucket=bucket, Key="copy.bin")["Body"].read() == data


def test_multipart_parts_are_checked_and_aborts_drop_them(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="parts.bin")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="parts.bin", UploadId=upload, PartNumber=1, Body=b"x")
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(Bucket=bucket, Key="parts.bin", UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0000"'}]})  # fmt: skip
    assert err.value.response["Error"]["Code"] == "InvalidPart"
    s3.complete_multipart_upload(Bucket=bucket, Key="parts.bin", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})  # fmt: skip
    assert s3.get_object(Bucket=bucket, Key="parts.bin")["Body"].read() == b"x"
    dropped = s3.create_multipart_upload(Bucket=bucket, Key="dropped.bin")["UploadId"]
    s3.abort_multipart_upload(Bucket=bucket, Key="dropped.bin", UploadId=dropped)
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket=bucket, Key="dropped.bin", UploadId=dropped, PartNumber=1, Body=b"x")
    assert err.value.response["Error"]["Code"] == "NoSuchUpload"


def test_a_part_whose_client_hangs_up_leaves_nothing_and_the_upload_goes_on(
    s3: Any, s3_url: str, bucket: str, make_settings: Callable[..., Settings]
) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="cut.bin")["UploadId"]
    url = f"{s3_url}/{bucket}/cut.bin?partNumber=1&uploadId={upload}"
    request = AWSRequest(method="PUT", url=url)
    request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    S3SigV4Auth(Credentials(KEYS["access_key_id"], KEYS["secret_access_key"]), "s3",
                "us-east-1").add_auth(request)  # fmt: skip
    host, port = url.split("/")[2].split(":")
    head = f"PUT {url.split(host + ':' + port, 1)[1]} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
    head += f"Content-Length: {20 << 20}\r\n\r\n"
    with socket.create_connection((host, int(port))) as sock:  # 8 of 20 MiB, then gone
        sock.sendall(head.encode() + os.urandom(8 << 20))
    folder = Path(make_settings().data_dir) / "storage-tus" / "s3" / upload
    for _ in range(100):
        if not list(folder.glob("*.tmp")):
            break
        time.sleep(0.05)
    assert list(folder.glob("*.tmp")) == []
    assert list(folder.glob("*.part")) == []
    part = s3.upload_part(Bucket=bucket, Key="cut.bin", UploadId=upload, PartNumber=1, Body=b"ok")
    s3.complete_multipart_upload(Bucket=bucket, Key="cut.bin", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})  # fmt: skip
    assert s3.get_object(Bucket=bucket, Key="cut.bin")["Body"].read() == b"ok"


def test_presigned_urls_get_and_put_until_they_expire(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared.txt"},
                                    ExpiresIn=60)  # fmt: skip
    assert httpx.get(url).content == b"presigned"
    assert httpx.get(url.replace("shared.txt", "other.txt")).status_code == 403
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.txt"},
                                    ExpiresIn=60)  # fmt: skip
    assert httpx.put(put, content=b"uploaded").status_code == 200
    assert s3.get_object(Bucket=bucket, Key="up.txt")["Body"].read() == b"uploaded"
    expired = s3.generate_presigned_url("get_object", Params={"Bucket": bucket,
                                        "Key": "shared.txt"}, ExpiresIn=-1)  # fmt: skip
    assert httpx.get(expired).status_code == 403
