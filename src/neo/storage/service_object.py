"""Object use cases: upload, read, info, list, move, copy, remove.

Consistency (DESIGN §5, issue 6): bytes are written to a fresh version location first, the
metadata row is written in one transaction as the caller (RLS decides), and only after it
commits is the replaced version deleted. A failure before the commit deletes the new bytes;
a crash leaves at worst unreferenced bytes, which the start-up sweep removes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import structlog

from neo.core.db import Connection, savepoint
from neo.storage import store
from neo.storage.backends import Location, Written
from neo.storage.caller import Caller
from neo.storage.errors import AccessDenied, NoSuchBucket, NoSuchKey, ResourceAlreadyExists
from neo.storage.names import check_key
from neo.storage.state import StorageState, discard
from neo.storage.uploads import UploadBody

log = structlog.get_logger("neo.storage")


class _Rollback(Exception):
    """Raised to roll a permission probe back."""


async def bucket_for_write(state: StorageState, bucket_id: str) -> dict[str, Any]:
    """The bucket's limits, read as storage itself (callers rarely see `storage.buckets`)."""
    async with state.core.db.transaction() as conn:
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
    bucket = await bucket_for_write(state, bucket_id)
    body.limit, body.allowed = size_limit(state, bucket), bucket["allowed_mime_types"]
    row = new_row(caller, bucket_id, key)
    await probe_write(caller, row, upsert=upsert)
    loc = Location(bucket_id, key, row["version"])
    chunks = body.chunks()
    written = await state.backend.write(loc, chunks, content_type=body.content_type)
    row["metadata"] = object_metadata(written, body.content_type, body.cache_control)
    row["user_metadata"] = body.user_metadata
    try:
        async with caller.tx() as conn:
            old = await _save_row(conn, row, upsert=upsert)
    except BaseException:
        await state.backend.delete([loc])
        raise
    if old is not None and old.get("version"):
        await discard(state, [Location(bucket_id, key, old["version"])])
    log.info("storage.object_uploaded", bucket=bucket_id, bytes=written.size)
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
            await _save_row(conn, dict(row), upsert=upsert)
            raise _Rollback()
    except _Rollback:
        pass


async def _save_row(
    conn: Connection, row: dict[str, Any], *, upsert: bool
) -> dict[str, Any] | None:
    """Insert the row, or with `upsert` replace an existing one; the replaced row's lock."""
    if not upsert:
        await store.insert_object(conn, row)
        return None
    old = await store.lock_object(conn, row["bucket_id"], row["name"])
    if old is None:
        try:
            async with savepoint(conn):  # a concurrent upload may insert first
                await store.insert_object(conn, row)
            return None
        except ResourceAlreadyExists:
            old = await store.lock_object(conn, row["bucket_id"], row["name"])
            if old is None:
                raise
    row["id"] = str(old["id"])
    if await store.update_object(conn, row) is None:
        raise AccessDenied()
    return old


async def find_object(caller: Caller, bucket_id: str, key: str) -> dict[str, Any]:
    """An object's row as the caller may see it; NoSuchKey otherwise."""
    async with caller.tx() as conn:
        row = await store.select_object(conn, bucket_id, key)
    if row is None or not row.get("version"):
        raise NoSuchKey()
    return row


async def find_public_object(state: StorageState, bucket_id: str, key: str) -> dict[str, Any]:
    """An object of a public bucket, for anyone."""
    async with state.core.db.transaction() as conn:
        bucket = await store.select_bucket(conn, bucket_id)
        if bucket is None or not bucket["public"]:
            raise NoSuchBucket()
        row = await store.select_object(conn, bucket_id, key)
    if row is None or not row.get("version"):
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
