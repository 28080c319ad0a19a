"""Where object bytes live: one Protocol, a local-disk implementation (default) and S3.

Every stored object version has its own location `(bucket, key, version)`, written once and
never overwritten: an upload writes a new version, the metadata row then points at it, and
the old version is deleted after the row commits. Bytes no row points at are orphans that
`sweep` removes, so a crash at any moment leaves no visible half-object.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Location:
    """One stored version of one object."""

    bucket: str
    key: str
    version: str


@dataclass(frozen=True)
class Written:
    """What a completed write stored."""

    size: int
    etag: str  # quoted MD5 hex, like S3's ETag, or `mtime_etag`'s form


def mtime_etag(mtime_ns: int, size: int) -> str:
    """storage-api's `mtime` ETag of a file: `"<mtime in ms, hex>-<size, hex>"`."""
    return f'"{mtime_ns // 1_000_000:x}-{size:x}"'


class Staged(Protocol):
    """A small object's bytes, hashed and stored or held back until `place`; either way not
    visible, since no row points at them yet."""

    written: Written

    async def place(self) -> None:
        """Make the bytes durable at their location (all of them, or nothing)."""

    async def discard(self) -> None:
        """Remove what was staged or placed; safe to call at any point, more than once."""


class ByteStream(Protocol):
    """An opened object (or range of it), read in chunks; `aclose` releases it."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class Backend(Protocol):
    """The operations storage needs from a byte store."""

    async def start(self) -> None:
        """Prepare (create folders or the S3 bucket)."""

    async def close(self) -> None:
        """Release clients and handles."""

    async def write(
        self, loc: Location, chunks: AsyncIterable[bytes], *, content_type: str
    ) -> Written:
        """Store `chunks` at `loc` atomically: all of it becomes visible, or nothing."""

    async def adopt(self, loc: Location, path: Path, *, content_type: str) -> Written:
        """Store the complete file at `path` as `loc`'s bytes, as `write` would (all or
        nothing); `path` itself stays where it is."""

    async def stage(self, loc: Location, data: bytes, *, content_type: str) -> Staged:
        """Hash `data` and store it for `loc` (or hold it until `place`): small bodies."""

    async def open(self, loc: Location, start: int = 0, end: int | None = None) -> ByteStream:
        """Bytes `start..end` (inclusive) of `loc`; FileNotFoundError when missing."""

    async def copy(self, src: Location, dst: Location) -> None:
        """Duplicate `src`'s bytes at `dst`."""

    async def delete(self, locs: Sequence[Location]) -> None:
        """Remove `locs`; missing ones are ignored."""

    def scan(self, *, older_than: float) -> AsyncIterator[Location]:
        """Every stored version last written before the unix time `older_than`."""

    async def abort_incomplete(self, *, older_than: float) -> int:
        """Remove unfinished writes (temp files, multipart uploads); how many."""


async def file_chunks(path: Path, chunk_size: int = 8 * 1024 * 1024) -> AsyncIterator[bytes]:
    """A file's bytes, read off the event loop in chunks."""
    handle = await asyncio.to_thread(open, path, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, chunk_size):
            yield chunk
    finally:
        handle.close()


__all__ = ["Backend", "ByteStream", "Location", "Staged", "Written", "file_chunks", "mtime_etag"]
