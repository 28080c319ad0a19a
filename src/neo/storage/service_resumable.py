"""Resumable uploads (TUS 1.0) as storage-api serves them under `/upload/resumable`.

Create checks what an upload checks before any byte arrives (bucket, size against the
bucket's and the global limit, MIME type, the caller's RLS rights, an existing object
without `x-upsert`); every PATCH and DELETE checks the caller's rights again, as
storage-api does. When the last byte arrives the part file is written to the backend at
the upload's version and the row is saved as the finishing caller, like any upload; until
then nothing is visible. `Upload-Metadata` carries `bucketName`, `objectName`,
`contentType`, `cacheControl` (seconds) and `metadata` (JSON user metadata).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import structlog

from neo.storage.backends import Location
from neo.storage.caller import Caller
from neo.storage.errors import EntityTooLarge, InvalidRequest
from neo.storage.names import check_header_value, check_key, check_mime
from neo.storage.service_object import (
    bucket_for_write,
    new_row,
    object_metadata,
    probe_write,
    save_object,
    size_limit,
)
from neo.storage.state import StorageState
from neo.storage.tus import (
    PartWriter,
    PendingUpload,
    UploadFiles,
    check_offset,
    parse_upload_id,
)

log = structlog.get_logger("neo.storage")
DEFAULT_TYPE = "application/octet-stream"


def files(state: StorageState) -> UploadFiles:
    """The folder of unfinished uploads."""
    return UploadFiles(state.resumable_dir)


def target(meta: dict[str, str]) -> tuple[str, str]:
    """(bucket, key) named by an upload's metadata."""
    bucket, key = meta.get("bucketName", ""), meta.get("objectName", "")
    if not bucket or not key:
        raise InvalidRequest("Upload-Metadata must name bucketName and objectName")
    return bucket, check_key(key)


async def create_upload(
    state: StorageState,
    caller: Caller,
    meta: dict[str, str],
    *,
    length: int,
    upsert: bool,
    header: str = "",
) -> PendingUpload:
    """Start an upload of `length` bytes, refused now if it could not finish."""
    bucket_id, key = target(meta)
    bucket = await bucket_for_write(state, bucket_id)
    if length > size_limit(state, bucket):
        raise EntityTooLarge()
    content_type = check_header_value(meta.get("contentType") or DEFAULT_TYPE, "contentType")
    check_mime(content_type, bucket["allowed_mime_types"])
    await probe_write(caller, new_row(caller, bucket_id, key), upsert=upsert)
    upload = PendingUpload(
        bucket=bucket_id,
        key=key,
        version=str(uuid.uuid4()),
        length=length,
        content_type=content_type,
        cache_control=_cache_control(meta.get("cacheControl")),
        user_metadata=_user_metadata(meta.get("metadata")),
        upsert=upsert,
        expires=time.time() + state.settings.resumable_expires,
        metadata_header=header,
    )
    await asyncio.to_thread(files(state).create, upload)
    return upload


async def find_upload(state: StorageState, upload_id: str) -> tuple[PendingUpload, int]:
    """An unfinished upload and its offset (HEAD needs no credentials, as in storage-api)."""
    folder = files(state)
    upload = await asyncio.to_thread(folder.load, *parse_upload_id(upload_id))
    return upload, await asyncio.to_thread(folder.offset, upload)


async def append(
    state: StorageState,
    caller: Caller,
    upload: PendingUpload,
    *,
    offset: int,
    chunks: AsyncIterator[bytes],
) -> int:
    """Add a request's bytes at `offset`; the new offset. The last byte finishes the upload."""
    await probe_write(caller, new_row(caller, upload.bucket, upload.key), upsert=upload.upsert)
    writer = await PartWriter.open(files(state).part_path(upload))
    try:
        check_offset(offset, writer.offset)
        async for chunk in chunks:
            await writer.add(chunk, upload.length)
        await writer.flush()
        if writer.offset == upload.length:
            await _finish(state, caller, upload)
    finally:
        await writer.close()
    return writer.offset


async def load_upload(state: StorageState, upload_id: str) -> PendingUpload:
    """The unfinished upload an id names; NoSuchUpload otherwise."""
    return (await find_upload(state, upload_id))[0]


async def terminate(state: StorageState, caller: Caller, upload: PendingUpload) -> None:
    """Drop an unfinished upload (TUS termination)."""
    await probe_write(caller, new_row(caller, upload.bucket, upload.key), upsert=upload.upsert)
    writer = await PartWriter.open(files(state).part_path(upload))  # not while a PATCH runs
    try:
        await asyncio.to_thread(files(state).remove, upload.version)
    finally:
        await writer.close()


async def _finish(state: StorageState, caller: Caller, upload: PendingUpload) -> None:
    """Hand the bytes to the backend (`adopt`: on local disk the part file is linked into
    place, not copied; S3 gets it streamed) and save the row; the part files go only then,
    so a failed finish can be retried with an empty PATCH at the final offset."""
    loc = Location(upload.bucket, upload.key, upload.version)
    path = files(state).part_path(upload)
    written = await state.backend.adopt(loc, path, content_type=upload.content_type)
    row = new_row(caller, upload.bucket, upload.key) | {"version": upload.version}
    row["metadata"] = object_metadata(written, upload.content_type, upload.cache_control)
    row["user_metadata"] = upload.user_metadata
    await save_object(state, caller, row, upsert=upload.upsert)
    await asyncio.to_thread(files(state).remove, upload.version)
    log.info("storage.resumable_finished", bucket=upload.bucket, bytes=written.size)


def _cache_control(value: str | None) -> str:
    """storage-api's rule: a number of seconds becomes `max-age=N`, anything else no-cache."""
    value = (value or "").strip()
    seconds = value.removeprefix("-")
    return f"max-age={value}" if seconds.isascii() and seconds.isdigit() else "no-cache"


def _user_metadata(value: str | None) -> dict[str, Any] | None:
    """The `metadata` entry as a JSON object; storage-api ignores what does not parse."""
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
