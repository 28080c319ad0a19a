"""S3 multipart uploads for the S3 protocol endpoint (what boto3 and the AWS CLI use above
8 MiB): parts are kept on local disk under `<resumable_dir>/s3/<uploadId>/` whatever the
byte backend, and CompleteMultipartUpload streams them, in the order the client lists, into
the backend as one new version and saves its row (nothing is visible before). Each part is
written to a temp file and renamed, with its ETag beside it (its MD5, or with the `mtime`
ETag algorithm `"<mtime ms hex>-<size hex>"`, no hash computed). Uploads left
unfinished are removed by the sweep once older than `storage.resumable_expires`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from neo.kit.guarded import Guarded
from neo.storage.backends import Location, file_chunks, mtime_etag
from neo.storage.backends.direct_io import write_all
from neo.storage.caller import Caller
from neo.storage.errors import EntityTooLarge, InvalidRequest, StorageError
from neo.storage.names import check_key
from neo.storage.service_object import (
    bucket_for_write,
    new_row,
    object_metadata,
    save_object,
    size_limit,
)
from neo.storage.state import StorageState
from neo.storage.tus import WRITE_BUFFER

MAX_PARTS = 10000


class NoSuchUpload(StorageError):
    status, code, error = 404, "NoSuchUpload", "NoSuchUpload"
    message = "The specified multipart upload does not exist"


class InvalidPart(StorageError):
    code, error = "InvalidPart", "InvalidPart"
    message = "One or more of the specified parts could not be found or did not match"


def _folder(state: StorageState, upload_id: str) -> Path:
    try:
        return state.resumable_dir / "s3" / uuid.UUID(upload_id).hex
    except ValueError:
        raise NoSuchUpload() from None


async def create(state: StorageState, bucket: str, key: str, content_type: str) -> str:
    """Start a multipart upload; its id."""
    check_key(key)
    await bucket_for_write(state, bucket)
    upload_id = uuid.uuid4().hex
    info = {"bucket": bucket, "key": key, "content_type": content_type}

    def write() -> None:
        folder = _folder(state, upload_id)
        folder.mkdir(parents=True)
        (folder / "upload.json").write_text(json.dumps(info))

    await asyncio.to_thread(write)
    return upload_id


async def _info(state: StorageState, upload_id: str, bucket: str, key: str) -> dict[str, Any]:
    path = _folder(state, upload_id) / "upload.json"
    try:
        info: dict[str, Any] = json.loads(await asyncio.to_thread(path.read_text))
    except FileNotFoundError:
        raise NoSuchUpload() from None
    if (info["bucket"], info["key"]) != (bucket, key):
        raise NoSuchUpload()
    return info


async def put_part(
    state: StorageState, upload_id: str, bucket: str, key: str, number: int,
    chunks: AsyncIterator[bytes],
) -> str:  # fmt: skip
    """Store part `number` (replacing an earlier one); its ETag."""
    if not 1 <= number <= MAX_PARTS:
        raise InvalidRequest("partNumber must be between 1 and 10000")
    await _info(state, upload_id, bucket, key)
    folder, limit = _folder(state, upload_id), state.settings.file_size_limit
    tmp = folder / f"{uuid.uuid4().hex}.tmp"
    md5 = hashlib.md5(usedforsecurity=False) if state.settings.etag_algorithm == "md5" else None
    size, buffered, pending = 0, 0, list[bytes]()
    # Guarded: a request cancelled while a write runs in a worker thread (the client left)
    # closes the descriptor only once that write has returned, never under it.
    file = Guarded(await asyncio.to_thread(_create, tmp), os.close)
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise EntityTooLarge()
            pending.append(chunk)
            buffered += len(chunk)
            if buffered >= WRITE_BUFFER:
                await asyncio.to_thread(file.use, _writer(md5, pending))
                pending, buffered = [], 0
        await asyncio.to_thread(file.use, _writer(md5, pending))
        await asyncio.to_thread(file.use, os.fsync)
    except BaseException:
        file.close()
        tmp.unlink(missing_ok=True)  # not awaited: a cancelled request must not skip it
        raise
    file.close()
    etag = f'"{md5.hexdigest()}"' if md5 is not None else mtime_etag(time.time_ns(), size)
    await asyncio.to_thread(_keep_part, tmp, folder / f"{number:05d}", etag)
    return etag


def _create(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)


def _writer(md5: Any, chunks: list[bytes]) -> Callable[[int], None]:
    """A call that hashes `chunks` (with an MD5) and writes them to a descriptor."""

    def write(fd: int) -> None:
        if md5 is not None:
            for chunk in chunks:
                md5.update(chunk)
        write_all(fd, chunks)

    return write


def _keep_part(tmp: Path, base: Path, etag: str) -> None:
    base.with_suffix(".etag").write_text(etag)
    os.replace(tmp, base.with_suffix(".part"))


async def complete(
    state: StorageState, upload_id: str, bucket: str, key: str, parts: list[tuple[int, str]]
) -> str:
    """Join the listed parts into the object; its ETag (the backend's, as for any upload, not
    S3's MD5 of the parts' MD5s)."""
    info = await _info(state, upload_id, bucket, key)
    folder = _folder(state, upload_id)
    numbers = [n for n, _ in parts]
    if not parts or numbers != sorted(set(numbers)):
        raise InvalidRequest("Parts must be listed in ascending order, each once")
    files = await asyncio.to_thread(_checked_parts, folder, parts)
    total = sum(f.stat().st_size for f in files)
    if total > size_limit(state, await bucket_for_write(state, bucket)):
        raise EntityTooLarge()
    caller = Caller.superuser(state.core.db)
    row = new_row(caller, bucket, key)
    loc = Location(bucket, key, row["version"])
    written = await state.backend.write(loc, _joined(files), content_type=info["content_type"])
    row["metadata"] = object_metadata(written, info["content_type"], "no-cache")
    await save_object(state, caller, row, upsert=True)
    await asyncio.to_thread(shutil.rmtree, folder, True)
    return written.etag


def _checked_parts(folder: Path, parts: list[tuple[int, str]]) -> list[Path]:
    files = []
    for number, etag in parts:
        base = folder / f"{number:05d}"
        try:
            stored = base.with_suffix(".etag").read_text()
        except FileNotFoundError:
            raise InvalidPart() from None
        if stored.strip('"') != etag.strip().strip('"'):
            raise InvalidPart()
        files.append(base.with_suffix(".part"))
    return files


async def _joined(files: list[Path]) -> AsyncIterator[bytes]:
    for path in files:
        async for chunk in file_chunks(path, WRITE_BUFFER):
            yield chunk


async def abort(state: StorageState, upload_id: str, bucket: str, key: str) -> None:
    """Drop an unfinished multipart upload and its parts."""
    await _info(state, upload_id, bucket, key)
    await asyncio.to_thread(shutil.rmtree, _folder(state, upload_id), True)
