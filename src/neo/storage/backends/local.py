"""The local-disk backend: `<root>/<bucket>/<key>/<version>`, written via a temp file + rename.

A write streams into `<root>/#tmp/<uuid>` (MD5 computed on the way, fsync at the end), then
renames into place, so a reader sees all of a version or none. `#` is not allowed in bucket
ids, so the temp folder can never collide with a bucket. Keys are validated before they get
here (no `.`/`..`/empty segments) and every path is checked to stay under the root anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import shutil
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import IO

from neo.storage.backends import Location, Written

TMP_DIR = "#tmp"
WRITE_BUFFER = 8 * 1024 * 1024
READ_CHUNK = 1024 * 1024  # the first read (small objects: the whole object)
STREAM_CHUNK = 4 * 1024 * 1024  # later reads: fewer thread hops for large objects (+25% MB/s)


class LocalStream:
    """An open file read in chunks from `start` to `end` (inclusive) off the event loop; the
    first chunk is read by `open`, in the same thread hop that opened the file."""

    def __init__(self, handle: IO[bytes], start: int, end: int, first: bytes = b"") -> None:
        self._handle = handle
        self._first = first
        self._left = end - start + 1 - len(first)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            if self._first:
                yield self._first
            while self._left > 0:
                chunk = await asyncio.to_thread(self._handle.read, min(STREAM_CHUNK, self._left))
                if not chunk:
                    break
                self._left -= len(chunk)
                yield chunk
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        self._handle.close()


class LocalBackend:
    """Object bytes in a folder on this machine."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root.resolve()
        self.fsync = fsync

    async def start(self) -> None:
        (self.root / TMP_DIR).mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        return None

    def path(self, loc: Location) -> Path:
        """The file of one version; ValueError if it would leave the root."""
        path = (self.root / loc.bucket / loc.key / loc.version).resolve()
        if not path.is_relative_to(self.root) or loc.bucket == TMP_DIR:
            raise ValueError(f"path outside the storage root: {loc}")
        return path

    async def write(
        self, loc: Location, chunks: AsyncIterable[bytes], *, content_type: str
    ) -> Written:
        writer = _Writer(self.root / TMP_DIR / uuid.uuid4().hex, self.path(loc), fsync=self.fsync)
        try:
            async for chunk in chunks:
                await writer.add(chunk)
            await writer.finish()
        except BaseException:
            await writer.abandon()
            raise
        return Written(size=writer.size, etag=f'"{writer.md5.hexdigest()}"')

    async def stage(self, loc: Location, data: bytes, *, content_type: str) -> _StagedFile:
        staged = _StagedFile(self.root, self.path(loc), fsync=self.fsync)
        # Hashing and the disk write release the GIL: run side by side, not one after the other.
        digest, _ = await asyncio.gather(
            asyncio.to_thread(hashlib.md5, data, usedforsecurity=False),
            asyncio.to_thread(staged.write, data),
        )
        staged.written = Written(size=len(data), etag=f'"{digest.hexdigest()}"')
        return staged

    async def open(self, loc: Location, start: int = 0, end: int | None = None) -> LocalStream:
        return await asyncio.to_thread(_open_stream, self.path(loc), start, end)

    async def copy(self, src: Location, dst: Location) -> None:
        await asyncio.to_thread(_link_or_copy, self.path(src), self.path(dst), self.root)

    async def delete(self, locs: Sequence[Location]) -> None:
        paths = [self.path(loc) for loc in locs]
        await asyncio.to_thread(_unlink_all, paths, self.root)

    async def scan(self, *, older_than: float) -> AsyncIterator[Location]:
        walk = _walk(self.root, older_than)
        while batch := await asyncio.to_thread(lambda: list(itertools.islice(walk, 500))):
            for loc in batch:
                yield loc

    async def abort_incomplete(self, *, older_than: float) -> int:
        def clean() -> int:
            removed = 0
            for tmp in (self.root / TMP_DIR).iterdir():
                if tmp.stat().st_mtime < older_than:
                    tmp.unlink(missing_ok=True)
                    removed += 1
            return removed

        return await asyncio.to_thread(clean)


def _open_stream(path: Path, start: int, end: int | None) -> LocalStream:
    handle = open(path, "rb")  # noqa: SIM115 (closed by the stream)
    try:
        size = os.fstat(handle.fileno()).st_size
        last = size - 1 if end is None else min(end, size - 1)
        handle.seek(start)
        first = handle.read(min(READ_CHUNK, max(0, last - start + 1)))
    except BaseException:
        handle.close()
        raise
    return LocalStream(handle, start, last, first)


class _Writer:
    """One write into a temp file, renamed into place at the end.

    Each full buffer is hashed in one thread and written in another while the next one is
    received (one hash and one write in flight, in order), so receiving, hashing and disk
    writes overlap and at most a few buffers are held. An object smaller than one buffer is
    written, synced and renamed in a single thread hop."""

    def __init__(self, tmp: Path, final: Path, *, fsync: bool) -> None:
        self.tmp, self.final, self.fsync = tmp, final, fsync
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0
        self.handle: IO[bytes] | None = None
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._hashing: asyncio.Future[None] | None = None
        self._writing: asyncio.Future[None] | None = None

    async def add(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered >= WRITE_BUFFER:
            await self._flush()

    def _take(self) -> list[bytes]:
        """The buffered chunks, as received (not joined: no copy)."""
        chunks, self._chunks = self._chunks, []
        self.size += self._buffered
        self._buffered = 0
        return chunks

    async def _flush(self) -> None:
        chunks = self._take()
        if self._hashing is not None:
            await self._hashing
        self._hashing = asyncio.ensure_future(asyncio.to_thread(self._hash, chunks))
        if self._writing is not None:
            await self._writing
        self._writing = asyncio.ensure_future(asyncio.to_thread(self._write, chunks))

    def _hash(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.md5.update(chunk)

    def _write(self, chunks: list[bytes]) -> None:
        if self.handle is None:
            self.handle = open(self.tmp, "xb", buffering=0)  # noqa: SIM115 (closed by _close)
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[self.handle.write(view) or 0 :]

    def _close(self) -> None:
        if self.handle is not None:
            if self.fsync:
                os.fsync(self.handle.fileno())
            self.handle.close()

    def _whole(self, chunks: list[bytes]) -> None:
        self._hash(chunks)
        self._write(chunks)
        self._close()
        _place(self.tmp, self.final)

    async def finish(self) -> None:
        """Write what is left, sync, and rename into place."""
        if self._writing is None:
            await asyncio.to_thread(self._whole, self._take())
            return
        await self._flush()
        await self._settle()
        await asyncio.to_thread(self._close)
        await asyncio.to_thread(_place, self.tmp, self.final)

    async def _settle(self) -> None:
        for future in (self._hashing, self._writing):
            if future is not None:
                await future

    async def abandon(self) -> None:
        """Stop and remove the temp file."""
        with contextlib.suppress(BaseException):
            await self._settle()
        if self.handle is not None:
            self.handle.close()
        await asyncio.to_thread(self.tmp.unlink, missing_ok=True)


class _StagedFile:
    """A small object written, synced and renamed into place in one thread hop (no row
    points at it yet, so it is not visible); `place` has nothing left to do."""

    def __init__(self, root: Path, final: Path, *, fsync: bool) -> None:
        self.root, self.final, self.fsync = root, final, fsync
        self.written = Written(size=0, etag="")

    def write(self, data: bytes) -> None:
        tmp = self.root / TMP_DIR / uuid.uuid4().hex
        try:
            with open(tmp, "xb") as handle:
                handle.write(data)
                handle.flush()
                if self.fsync:
                    os.fsync(handle.fileno())
            _place(tmp, self.final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    async def place(self) -> None:
        return None

    async def discard(self) -> None:
        await asyncio.to_thread(_unlink_all, [self.final], self.root)


def _place(tmp: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)


def _link_or_copy(src: Path, dst: Path, root: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = root / TMP_DIR / uuid.uuid4().hex
    try:
        os.link(src, tmp)  # versions are immutable, so sharing the inode is safe
        os.utime(tmp)  # young again: the sweep's grace period protects it until its row exists
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _unlink_all(paths: list[Path], root: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
        _prune(path.parent, root)


def _prune(folder: Path, root: Path) -> None:
    """Remove folders left empty up to the bucket folder (keeps listings of the root small)."""
    while folder != root and folder.parent != root:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _walk(root: Path, older_than: float) -> Iterator[Location]:
    for bucket in root.iterdir():
        if bucket.name == TMP_DIR or not bucket.is_dir():
            continue
        for folder, _dirs, files in os.walk(bucket):
            for name in files:
                path = Path(folder) / name
                if path.stat().st_mtime >= older_than:
                    continue
                key = str(Path(folder).relative_to(bucket))
                yield Location(bucket=bucket.name, key=key, version=name)
