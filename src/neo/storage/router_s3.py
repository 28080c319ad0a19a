"""The S3 protocol endpoint (`/storage/v1/s3`, path-style), a subset of Amazon S3's REST API
for S3 clients (boto3, the AWS CLI, rclone) over the same buckets and objects.

Every request is checked by SigV4 (`s3_auth`) and runs as storage itself (the keys are the
service role's, as in storage-api). Served: ListBuckets, HeadBucket, CreateBucket,
DeleteBucket, ListObjectsV2 (delimiter `/`), HeadObject, GetObject (with Range and
conditional headers), PutObject, CopyObject, DeleteObject, DeleteObjects and multipart
uploads (`s3_multipart`). Errors are S3's XML `<Error>` documents with the real status (see
`errors.render_storage_error`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Request
from starlette.responses import Response

from neo.storage import s3_multipart as multipart
from neo.storage import service_bucket, service_list, service_move
from neo.storage import service_object as objects
from neo.storage.caller import Caller
from neo.storage.deps import StateDep
from neo.storage.download import object_response
from neo.storage.errors import InvalidRequest, xml_safe
from neo.storage.models import BucketIn, ListV2In, MoveIn
from neo.storage.names import check_bucket_name
from neo.storage.s3_auth import verified_receive, verify
from neo.storage.state import StorageState
from neo.storage.uploads import UploadBody

router = APIRouter()
XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE"]
MAX_XML = 1024 * 1024


def _xml(root: ET.Element, status: int = 200) -> Response:
    body = ET.tostring(root, encoding="unicode", xml_declaration=True)
    return Response(body, status_code=status, media_type="application/xml")


def _el(parent: ET.Element, tag: str, text: object = None) -> ET.Element:
    child = ET.SubElement(parent, tag)
    if text is not None:
        child.text = xml_safe(text if isinstance(text, str) else str(text))
    return child


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value or "")


@router.api_route("/s3", methods=METHODS)
@router.api_route("/s3/{bucket}", methods=METHODS)
@router.api_route("/s3/{bucket}/{key:path}", methods=METHODS)
async def s3(request: Request, state: StateDep) -> Response:
    """One S3 operation, chosen by method, path and query."""
    bucket, key = request.path_params.get("bucket", ""), request.path_params.get("key", "")
    scope = request.scope
    raw_path = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
    raw_query = scope.get("query_string", b"").decode("latin-1")
    payload = verify(
        state.settings.s3_protocol, request.method, raw_path, raw_query, request.headers
    )
    request = Request(scope, verified_receive(request.receive, payload))
    caller = Caller.superuser(state.core.db)
    if not bucket:
        if request.method != "GET":
            raise InvalidRequest("Only ListBuckets is served at the service level")
        return await _list_buckets(caller)
    if key:
        return await _object(request, state, caller, bucket, key)
    return await _bucket(request, state, caller, bucket)


async def _list_buckets(caller: Caller) -> Response:
    async with caller.tx() as conn:
        rows = await service_bucket.list_buckets(conn, {})
    root = ET.Element("ListAllMyBucketsResult", xmlns=XMLNS)
    _el(_el(root, "Owner"), "ID", "neo")
    listed = _el(root, "Buckets")
    for row in rows:
        entry = _el(listed, "Bucket")
        _el(entry, "Name", row["id"])
        _el(entry, "CreationDate", row["created_at"] or "")
    return _xml(root)


async def _bucket(request: Request, state: StorageState, caller: Caller, bucket: str) -> Response:
    method, query = request.method, request.query_params
    if method == "PUT":
        body = BucketIn(name=check_bucket_name(bucket))
        async with caller.tx() as conn:
            await service_bucket.create_bucket(conn, caller.actor_or_anon, body)
        return Response(status_code=200, headers={"location": f"/{bucket}"})
    if method == "DELETE":
        async with caller.tx() as conn:
            await service_bucket.delete_bucket(conn, bucket)
        return Response(status_code=204)
    await objects.bucket_for_write(state, bucket)  # NoSuchBucket first, as S3 answers
    if method == "HEAD":
        return Response(status_code=200)
    if method == "POST" and "delete" in query:
        return await _delete_many(request, state, caller, bucket)
    if method == "GET":
        return await _list_objects(request, caller, bucket)
    raise InvalidRequest(f"{method} on a bucket is not served")


async def _list_objects(request: Request, caller: Caller, bucket: str) -> Response:
    query = request.query_params
    delimiter = query.get("delimiter", "")
    if delimiter not in {"", "/"}:
        raise InvalidRequest("Only the delimiter '/' is supported")
    try:
        limit = max(1, min(1000, int(query.get("max-keys", "1000"))))
    except ValueError:
        raise InvalidRequest("max-keys must be an integer") from None
    token = query.get("continuation-token") or None
    spec = ListV2In(prefix=query.get("prefix", ""), limit=limit, cursor=token,
                    with_delimiter=bool(delimiter))  # fmt: skip
    page = await service_list.list_objects_v2(caller, bucket, spec)
    root = ET.Element("ListBucketResult", xmlns=XMLNS)
    for tag, value in (("Name", bucket), ("Prefix", spec.prefix), ("MaxKeys", limit)):
        _el(root, tag, value)
    if delimiter:
        _el(root, "Delimiter", delimiter)
    _el(root, "KeyCount", len(page["objects"]) + len(page["folders"]))
    _el(root, "IsTruncated", "true" if page["hasNext"] else "false")
    if token:
        _el(root, "ContinuationToken", token)
    if page.get("nextCursor"):
        _el(root, "NextContinuationToken", page["nextCursor"])
    for obj in page["objects"]:
        meta = obj.get("metadata") or {}
        entry = _el(root, "Contents")
        _el(entry, "Key", obj["key"])
        _el(entry, "LastModified", meta.get("lastModified") or obj["updated_at"] or "")
        _el(entry, "ETag", meta.get("eTag", ""))
        _el(entry, "Size", meta.get("size", 0))
        _el(entry, "StorageClass", "STANDARD")
    for folder in page["folders"]:
        _el(_el(root, "CommonPrefixes"), "Prefix", folder["key"])
    return _xml(root)


async def _delete_many(
    request: Request, state: StorageState, caller: Caller, bucket: str
) -> Response:
    doc = await _xml_body(request)
    keys, quiet = _texts(doc, "Key"), "true" in _texts(doc, "Quiet")
    await service_move.remove_objects(state, caller, bucket, keys)
    root = ET.Element("DeleteResult", xmlns=XMLNS)
    for key in [] if quiet else keys:
        _el(_el(root, "Deleted"), "Key", key)
    return _xml(root)


async def _object(
    request: Request, state: StorageState, caller: Caller, bucket: str, key: str
) -> Response:
    method, query = request.method, request.query_params
    if "uploads" in query or "uploadId" in query:
        return await _multipart(request, state, bucket, key)
    if method in {"GET", "HEAD"}:
        row = await objects.find_object(caller, bucket, key)
        return await object_response(state, request, row, download=None)
    if method == "PUT" and "x-amz-copy-source" in request.headers:
        return await _copy(request, state, caller, bucket, key)
    if method == "PUT":
        body = UploadBody(request, limit=state.settings.file_size_limit, allowed=None)
        body.content_type = "binary/octet-stream"  # S3's type when the client sends none
        await objects.upload_object(state, caller, bucket, key, body, upsert=True)
        row = await objects.find_object(caller, bucket, key)
        return Response(status_code=200, headers={"etag": row["metadata"]["eTag"]})
    if method == "DELETE":
        await service_move.remove_objects(state, caller, bucket, [key])
        return Response(status_code=204)
    raise InvalidRequest(f"{method} on an object is not served")


async def _copy(
    request: Request, state: StorageState, caller: Caller, bucket: str, key: str
) -> Response:
    source = unquote(request.headers["x-amz-copy-source"].split("?", 1)[0]).lstrip("/")
    src_bucket, _, src_key = source.partition("/")
    move = MoveIn(bucketId=src_bucket, sourceKey=src_key, destinationKey=key,
                  destinationBucket=bucket)  # fmt: skip
    row = await service_move.copied_object(state, caller, move, upsert=True)
    root = ET.Element("CopyObjectResult", xmlns=XMLNS)
    _el(root, "LastModified", row["metadata"].get("lastModified", ""))
    _el(root, "ETag", row["metadata"]["eTag"])
    return _xml(root)


async def _multipart(request: Request, state: StorageState, bucket: str, key: str) -> Response:
    method, query = request.method, request.query_params
    if method == "POST" and "uploads" in query:
        mime = request.headers.get("content-type") or "application/octet-stream"
        upload_id = await multipart.create(state, bucket, key, mime)
        root = ET.Element("InitiateMultipartUploadResult", xmlns=XMLNS)
        for tag, value in (("Bucket", bucket), ("Key", key), ("UploadId", upload_id)):
            _el(root, tag, value)
        return _xml(root)
    upload_id = query.get("uploadId", "")
    if method == "PUT":
        try:
            number = int(query.get("partNumber", ""))
        except ValueError:
            raise InvalidRequest("partNumber must be an integer") from None
        chunks = request.stream()
        etag = await multipart.put_part(state, upload_id, bucket, key, number, chunks)
        return Response(status_code=200, headers={"etag": etag})
    if method == "POST":
        etag = await multipart.complete(state, upload_id, bucket, key, await _parts(request))
        root = ET.Element("CompleteMultipartUploadResult", xmlns=XMLNS)
        for tag, value in (("Bucket", bucket), ("Key", key), ("ETag", etag)):
            _el(root, tag, value)
        return _xml(root)
    if method == "DELETE":
        await multipart.abort(state, upload_id, bucket, key)
        return Response(status_code=204)
    raise InvalidRequest(f"{method} on a multipart upload is not served")


async def _xml_body(request: Request) -> ET.Element:
    """A request's XML body: bounded and without a DTD, so no entity expansion."""
    raw = await request.body()
    if len(raw) > MAX_XML or b"<!" in raw:
        raise InvalidRequest("The body must be plain XML of at most 1 MiB")
    try:
        return ET.fromstring(raw)  # noqa: S314 (bounded and DTD-free, checked above)
    except ET.ParseError:
        raise InvalidRequest("The body is not well-formed XML") from None


def _texts(doc: ET.Element, tag: str) -> list[str]:
    """The text of every element named `tag` (any namespace)."""
    return [el.text or "" for el in doc.iter() if el.tag.rsplit("}", 1)[-1] == tag]


async def _parts(request: Request) -> list[tuple[int, str]]:
    doc = await _xml_body(request)
    numbers, etags = _texts(doc, "PartNumber"), _texts(doc, "ETag")
    try:
        return [(int(n), e) for n, e in zip(numbers, etags, strict=True)]
    except ValueError:
        raise InvalidRequest("Each Part needs a PartNumber and an ETag") from None
