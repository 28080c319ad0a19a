"""TUS 1.0 pieces of resumable uploads: upload ids, the `Upload-Metadata` header, and the
files of an unfinished upload on local disk.

An upload id is, as in storage-api, the base64url of `bucket/objectName/version`. While an
upload is unfinished its bytes live in `<dir>/<version>.part` and what it was created with
in `<dir>/<version>.json` (whatever the byte backend: the bytes move to the backend when
the last one arrives). The offset is the part file's size, so it is always what was really
written. A request that writes holds an exclusive `flock` on the part file, which works
across the workers of one machine; a second writer gets `UploadLocked` rather than waiting.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import fcntl
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from neo.kit.guarded import Guarded
from neo.storage.backends.direct_io import write_all
from neo.storage.errors import (
    EntityTooLarge,
    InvalidRequest,
    NoSuchUpload,
    StorageError,
    UploadLocked,
    UploadOffsetMismatch,
)
from neo.storage.names import check_key

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,expiration"
OFFSET_TYPE = "application/offset+octet-stream"
WRITE_BUFFER = 1024 * 1024


@dataclass
class PendingUpload:
    """An unfinished upload: what it was created with."""

    bucket: str
    key: str
    version: str
    length: int
    content_type: str
    cache_control: str
    user_metadata: dict[str, Any] | None
    upsert: bool
    expires: float  # unix time
    metadata_header: str = ""

    @property
    def upload_id(self) -> str:
        """The id in the upload's URL."""
        raw = f"{self.bucket}/{self.key}/{self.version}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_upload_id(upload_id: str) -> tuple[str, str, str]:
    """(bucket, key, version) of an upload id; NoSuchUpload when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(upload_id + "=" * (-len(upload_id) % 4)).decode()
        bucket, rest = raw.split("/", 1)
        key, version = rest.rsplit("/", 1)
        return bucket, check_key(key), str(uuid.UUID(version))
    except (binascii.Error, UnicodeDecodeError, ValueError, StorageError):
        raise NoSuchUpload() from None  # not an id this server made


def parse_metadata(header: str | None) -> dict[str, str]:
    """`Upload-Metadata`: comma-separated `key base64(value)` pairs (the value optional)."""
    out: dict[str, str] = {}
    for pair in (header or "").split(","):
        if not pair.strip():
            continue
        name, _, value = pair.strip().partition(" ")
        try:
            out[name] = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidRequest(f"Upload-Metadata value of {name} is not base64") from None
    return out


def parse_length(value: str | None, name: str) -> int:
    """A non-negative integer header; InvalidRequest otherwise."""
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit()):
        raise InvalidRequest(f"{name} header must be a non-negative integer")
    return int(text)


class UploadFiles:
    """The folder of unfinished uploads."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _paths(self, version: str) -> tuple[Path, Path]:
        return self.folder / f"{version}.part", self.folder / f"{version}.json"

    def create(self, upload: PendingUpload) -> None:
        """Write the upload's description and its empty part file."""
        part, info = self._paths(upload.version)
        part.touch(exist_ok=False)
        tmp = info.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(upload)))
        os.replace(tmp, info)

    def load(self, bucket: str, key: str, version: str) -> PendingUpload:
        """The unfinished upload with this id; NoSuchUpload when missing or expired."""
        _, info = self._paths(version)
        try:
            upload = PendingUpload(**json.loads(info.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            raise NoSuchUpload() from None
        if (upload.bucket, upload.key) != (bucket, key) or upload.expires < time.time():
            raise NoSuchUpload()
        return upload

    def offset(self, upload: PendingUpload) -> int:
        """How many bytes have arrived (and were synced, unless a writer is at work)."""
        try:
            return self._paths(upload.version)[0].stat().st_size
        except FileNotFoundError:
            raise NoSuchUpload() from None

    def part_path(self, upload: PendingUpload) -> Path:
        """The file holding the bytes received so far."""
        return self._paths(upload.version)[0]

    def remove(self, version: str) -> None:
        """Forget an upload (finished, terminated or expired)."""
        for path in self._paths(version):
            path.unlink(missing_ok=True)

    def remove_expired(self, now: float) -> int:
        """Remove uploads past their expiry, and part files without a description; how many."""
        removed = 0
        for info in self.folder.glob("*.json"):
            try:
                expires = float(json.loads(info.read_text())["expires"])
            except (OSError, ValueError, KeyError, TypeError):
                expires = 0.0
            if expires < now:
                self.remove(info.stem)
                removed += 1
        for part in self.folder.glob("*.part"):
            if not part.with_suffix(".json").exists() and part.stat().st_mtime < now - 3600:
                part.unlink(missing_ok=True)
                removed += 1
        return removed


class PartWriter:
    """Appends one request's bytes to a part file it holds locked: buffered, written off the
    event loop, synced when closed (so what a later HEAD reports has reached the disk). The
    descriptor is `Guarded`: a request cancelled while a write runs in a worker thread
    closes it only once that write has returned."""

    def __init__(self, fd: int, offset: int) -> None:
        self.file, self.offset = Guarded(fd, os.close), offset
        self._chunks: list[bytes] = []
        self._buffered = 0

    @classmethod
    async def open(cls, path: Path) -> PartWriter:
        """Open and lock `path`; NoSuchUpload if it is gone, UploadLocked if it is busy."""
        fd = await asyncio.to_thread(_open_locked, path)
        return cls(fd, await asyncio.to_thread(lambda: os.fstat(fd).st_size))

    async def add(self, chunk: bytes, limit: int) -> None:
        """Queue `chunk`; EntityTooLarge if it would go past `limit` bytes in all."""
        if self.offset + self._buffered + len(chunk) > limit:
            raise EntityTooLarge("The upload exceeds its Upload-Length")
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered >= WRITE_BUFFER:
            await self.flush()

    async def flush(self) -> None:
        """Write what is queued."""
        chunks, self._chunks, self._buffered = self._chunks, [], 0
        if chunks:
            await asyncio.to_thread(self.file.use, lambda fd: write_all(fd, chunks))
            self.offset += sum(map(len, chunks))

    async def close(self) -> None:
        """Write what is queued, sync, and release the lock."""
        try:
            await self.flush()
            await asyncio.to_thread(self.file.use, os.fsync)
        finally:
            self.file.close()


def _open_locked(path: Path) -> int:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except FileNotFoundError:
        raise NoSuchUpload() from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UploadLocked() from None
    return fd


def check_offset(declared: int, current: int) -> None:
    """The request's Upload-Offset must be where the upload is."""
    if declared != current:
        raise UploadOffsetMismatch()
