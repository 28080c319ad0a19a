"""Object use cases: upload, read, info, list, move, copy, remove.

Consistency (DESIGN §5, issue 6): bytes are written to a fresh version location first, the
metadata row is written in one transaction as the caller (RLS decides), and only after it
commits is the replaced version deleted. A failure before the commit deletes the new bytes;
a crash leaves at worst unreferenced bytes, which the start-up sweep removes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog

from neo.core.db import Connection, savepoint
from neo.storage import store
from neo.storage.backends import Location, Staged, Written
from neo.storage.caller import Caller
from neo.storage.errors import AccessDenied, NoSuchBucket, NoSuchKey, ResourceAlreadyExists
from neo.storage.names import check_key
from neo.storage.state import StorageState, discard
from neo.storage.uploads import UploadBody

log = structlog.get_logger("neo.storage")
UPSERT_TRIES = 3  # an upsert racing other uploads and removals of its key: lock or insert
T = TypeVar("T")


class _Rollback(Exception):
    """Raised to roll a permission probe back."""


async def bucket_for_write(state: StorageState, bucket_id: str) -> dict[str, Any]:
    """The bucket's limits, read as storage itself (callers rarely see `storage.buckets`):
    one statement, so no transaction around it (one round trip rather than three)."""
    async with state.core.db.admin.acquire() as conn:
        bucket = await store.select_bucket(conn, bucket_id)
    if bucket is None:
        raise NoSuchBucket()
    return bucket


def size_limit(state: StorageState, bucket: dict[str, Any]) -> int:
    """The smaller of the global and the bucket's limit."""
    limit = state.settings.file_size_limit
    return min(limit, bucket["file_size_limit"]) if bucket["file_size_limit"] else limit


async def upload_object(
    state: StorageState, caller: Caller, bucket_id: str, key: str, body: UploadBody, *, upsert: bool
) -> dict[str, str]:
    """Store an object's bytes and row; `{"Id", "Key"}`."""
    check_key(key)
    if body.is_small():
        return await _upload_small(state, caller, bucket_id, key, body, upsert=upsert)
    bucket = await bucket_for_write(state, bucket_id)
    body.limit, body.allowed = size_limit(state, bucket), bucket["allowed_mime_types"]
    row = new_row(caller, bucket_id, key)
    await probe_write(caller, row, upsert=upsert)
    loc = Location(bucket_id, key, row["version"])
    chunks = body.chunks()
    written = await state.backend.write(loc, chunks, content_type=body.content_type)
    row["metadata"] = object_metadata(written, body.content_type, body.cache_control)
    row["user_metadata"] = body.user_metadata
    return await save_object(state, caller, row, upsert=upsert)


async def save_object(
    state: StorageState, caller: Caller, row: dict[str, Any], *, upsert: bool
) -> dict[str, str]:
    """Write the row of bytes already stored at its version, as the caller (RLS decides);
    `{"Id", "Key"}`. When the row cannot be written, the bytes are deleted."""
    loc = Location(row["bucket_id"], row["name"], row["version"])
    try:
        async with caller.tx() as conn:
            old = await save_row(conn, row, upsert=upsert)
    except BaseException:
        await state.backend.delete([loc])
        raise
    return await _uploaded(state, row, old, size=row["metadata"]["size"])


async def _upload_small(
    state: StorageState, caller: Caller, bucket_id: str, key: str, body: UploadBody, *, upsert: bool
) -> dict[str, str]:
    """A body read whole, stored with one transaction as the caller.

    The bucket is looked up while the body arrives; the bytes are hashed while their write
    starts (on local disk: written and synced while the key's folder is made, then renamed)
    and the transaction begins; the row is written while the disk works (RLS decides;
    refused bytes are deleted); once the bytes are durable (`place`), the transaction
    commits.
    """
    bucket, data = await _bucket_and_body(state, bucket_id, body)
    body.check(size_limit(state, bucket), bucket["allowed_mime_types"])
    row = new_row(caller, bucket_id, key)
    loc = Location(bucket_id, key, row["version"])
    staging = asyncio.ensure_future(state.backend.stage(loc, data, content_type=body.content_type))
    staged: Staged | None = None
    try:
        async with caller.tx() as conn:
            staged = await staging
            row["metadata"] = object_metadata(staged.written, body.content_type, body.cache_control)
            row["user_metadata"] = body.user_metadata
            old = await save_row(conn, row, upsert=upsert)
            await staged.place()
    except BaseException:
        staged = staged or await _settled(staging)
        if staged is not None:
            await staged.discard()
        raise
    return await _uploaded(state, row, old, size=len(data))


async def _bucket_and_body(
    state: StorageState, bucket_id: str, body: UploadBody
) -> tuple[dict[str, Any], bytes]:
    """The bucket (looked up while the body is read) and the body; a missing bucket wins."""
    lookup = asyncio.ensure_future(bucket_for_write(state, bucket_id))
    try:
        data = await body.read_all()
    except BaseException:
        await asyncio.wait([lookup])
        if not lookup.cancelled() and isinstance(lookup.exception(), NoSuchBucket):
            raise NoSuchBucket() from None
        raise
    return await lookup, data


async def _settled(task: asyncio.Future[Any]) -> Any:
    """A task's result once it is done, or None if it failed or was cancelled."""
    try:
        return await task
    except (Exception, asyncio.CancelledError):
        return None


async def _uploaded(
    state: StorageState, row: dict[str, Any], old: dict[str, Any] | None, *, size: int
) -> dict[str, str]:
    """After the commit: drop the replaced version's bytes; the upload's answer."""
    bucket_id, key = row["bucket_id"], row["name"]
    if old is not None and old.get("version"):
        await discard(state, [Location(bucket_id, key, old["version"])])
    log.info("storage.object_uploaded", bucket=bucket_id, bytes=size)
    return {"Id": row["id"], "Key": f"{bucket_id}/{key}"}


def new_row(caller: Caller, bucket_id: str, key: str) -> dict[str, Any]:
    """A fresh object row (new id and version) owned by the caller."""
    return {
        "id": str(uuid.uuid4()),
        "bucket_id": bucket_id,
        "name": key,
        "owner": caller.owner_uuid,
        "owner_id": caller.sub,
        "version": str(uuid.uuid4()),
        "metadata": None,
        "user_metadata": None,
    }


def object_metadata(written: Written, mime: str, cache_control: str) -> dict[str, Any]:
    """storage-api's `metadata` column for stored bytes."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {
        "eTag": written.etag,
        "size": written.size,
        "mimetype": mime,
        "cacheControl": cache_control,
        "lastModified": now,
        "contentLength": written.size,
        "httpStatusCode": 200,
    }


async def probe_write(caller: Caller, row: dict[str, Any], *, upsert: bool) -> None:
    """Refuse before any byte is stored: a duplicate, or what RLS would refuse at the end.

    The probe's transaction is rolled back, not committed: nothing is kept, and committing
    a transaction that wrote would wait for a WAL flush."""
    try:
        async with caller.tx() as conn:
            await save_row(conn, dict(row), upsert=upsert)
            raise _Rollback()
    except _Rollback:
        pass


async def save_row(conn: Connection, row: dict[str, Any], *, upsert: bool) -> dict[str, Any] | None:
    """Insert the row, or with `upsert` replace an existing one; the replaced row's lock."""
    if not upsert:
        await store.insert_object(conn, row)
        return None
    for _ in range(UPSERT_TRIES):
        old = await store.lock_object(conn, row["bucket_id"], row["name"])
        if old is not None:
            break
        try:
            async with savepoint(conn):  # a concurrent upload may insert first
                await store.insert_object(conn, row)
            return None
        except ResourceAlreadyExists:
            continue  # then lock its row (unless another request removed it meanwhile)
    else:
        raise ResourceAlreadyExists()  # there, but not visible to the caller (RLS)
    row["id"] = str(old["id"])
    if await store.update_object(conn, row) is None:
        raise AccessDenied()
    return old


async def find_object(caller: Caller, bucket_id: str, key: str) -> dict[str, Any]:
    """An object's row as the caller may see it; NoSuchKey otherwise."""
    async with caller.reader() as conn:
        row = await store.select_object(conn, bucket_id, key)
    if row is None or not row.get("version"):
        raise NoSuchKey()
    return row


async def read_object(
    caller: Caller,
    bucket_id: str,
    key: str,
    use: Callable[[dict[str, Any]], Coroutine[Any, Any, T]],
) -> T:
    """`use` of the object's row as the caller may see it (NoSuchKey otherwise), started as
    soon as the row is read: a download opens the bytes while the transaction, if any
    (`Caller.reader`), commits."""
    using: asyncio.Future[T] | None = None
    try:
        async with caller.reader() as conn:
            row = await store.select_object(conn, bucket_id, key)
            if row is None or not row.get("version"):
                raise NoSuchKey()
            using = asyncio.ensure_future(use(row))  # runs while the COMMIT is answered
    except BaseException:
        if using is not None:
            using.cancel()
        raise
    return await using


async def find_public_object(state: StorageState, bucket_id: str, key: str) -> dict[str, Any]:
    """An object of a public bucket, for anyone: one statement as storage itself."""
    async with state.core.db.admin.acquire() as conn:
        row = await store.select_public_object(conn, bucket_id, key)
    if row is None or not row["public"]:
        raise NoSuchBucket()
    if not row.get("version"):
        raise NoSuchKey()
    return row


def render_info(row: dict[str, Any]) -> dict[str, Any]:
    """GET /object/info: storage-api's info document."""
    meta = row.get("metadata") or {}
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "version": row["version"],
        "bucket_id": row["bucket_id"],
        "size": meta.get("size"),
        "content_type": meta.get("mimetype"),
        "cache_control": meta.get("cacheControl"),
        "etag": meta.get("eTag"),
        "metadata": row.get("user_metadata") or {},
        "last_modified": meta.get("lastModified") or _iso(row.get("updated_at")),
        "created_at": _iso(row.get("created_at")),
    }


def render_row(row: dict[str, Any]) -> dict[str, Any]:
    """An object row as JSON (remove returns these)."""
    out = dict(row)
    for name in ("id", "owner"):
        out[name] = str(out[name]) if out.get(name) is not None else None
    for name in ("created_at", "updated_at", "last_accessed_at"):
        out[name] = _iso(out.get(name))
    return out


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
