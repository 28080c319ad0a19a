"""The local-disk backend: `<root>/<bucket>/<key>/<version>`, written via a temp file + rename.

A write streams into `<root>/#tmp/<uuid>` (MD5 computed on the way, fsync at the end), then
renames into place, so a reader sees all of a version or none. `#` is not allowed in bucket
ids, so the temp folder can never collide with a bucket. Keys are validated before they get
here (no `.`/`..`/empty segments) and every path is checked to stay under the root anyway.

Large objects are written around the page cache (`direct_io`); a small one is written,
synced and renamed in one worker-thread call (`_StagedFile`). With the `mtime` ETag algorithm
no MD5 is computed: the ETag is `"<mtime ms hex>-<size hex>"` (`mtime_etag`), the mtime read
from the clock and set on the file (a file system's own timestamps advance only every few
ms, so two versions written close together would share one).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import itertools
import os
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Literal

from neo.kit.guarded import Guarded
from neo.storage.backends import Location, Written, mtime_etag
from neo.storage.backends.direct_io import DirectFile

TMP_DIR = "#tmp"
WRITE_BUFFER = 8 * 1024 * 1024
READ_CHUNK = 1024 * 1024  # the first read when streamed (small objects: the whole object)
SMALL_BODY = 64 * 1024  # spans up to this are read by `open`, in its thread hop
STREAM_CHUNK = 4 * 1024 * 1024  # later reads: fewer thread hops for large objects (+25% MB/s)
PLACE_TRIES = 5  # renames into a key folder that a concurrent removal pruned meanwhile
HASH_INLINE = 64 * 1024  # smaller objects are hashed on the event loop (~0.1 ms at most)
DIRECT_MIN = 4 * 1024 * 1024  # objects written in one go below this go through the page cache


class LocalStream:
    """An open file to send from `offset`, `left` bytes: by the server's zero-copy send
    (`neo.core.http_sendfile`, from `handle`), or read in chunks off the event loop.

    `open` reads a span of at most `SMALL_BODY` bytes whole (`body`, the file then closed):
    sent as a plain body, it costs no further thread hop. It reads no byte of a larger one:
    a zero-copy send never has them pass through Python. (Asking the kernel to read ahead
    on open, `posix_fadvise(WILLNEED)`, cost more CPU per download than it saved time:
    bench/README.md.)"""

    def __init__(self, handle: IO[bytes], start: int, end: int, body: bytes | None = None) -> None:
        self._handle = handle
        self.offset = start
        self._left = end - start + 1
        self.body = body  # the whole span, read by `open` (a small one), else None

    @property
    def handle(self) -> IO[bytes]:
        """The open file (closed by `aclose`)."""
        return self._handle

    @property
    def left(self) -> int:
        """How many bytes to send, from `offset`."""
        return self._left

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.body is not None:
            yield self.body
            return
        try:
            size = READ_CHUNK  # the first read: a small object whole
            while self._left > 0:
                chunk = await asyncio.to_thread(self._handle.read, min(size, self._left))
                if not chunk:
                    break
                self._left -= len(chunk)
                size = STREAM_CHUNK
                yield chunk
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        """Release the file (no I/O: callable on the event loop)."""
        self._handle.close()


class LocalBackend:
    """Object bytes in a folder on this machine."""

    def __init__(
        self, root: Path, *, fsync: bool = True, etag: Literal["md5", "mtime"] = "md5"
    ) -> None:
        self.root = root.resolve()
        self.fsync = fsync
        self.md5 = etag == "md5"

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
        tmp = self.root / TMP_DIR / uuid.uuid4().hex
        writer = _Writer(tmp, self.path(loc), fsync=self.fsync, md5=self.md5)
        try:
            async for chunk in chunks:
                await writer.add(chunk)
            await writer.finish()
        except BaseException:
            await writer.abandon()
            raise
        return Written(size=writer.size, etag=writer.etag())

    async def adopt(self, loc: Location, path: Path, *, content_type: str) -> Written:
        """A finished file (a resumable upload's bytes) linked into place rather than copied
        (copied only from another file system), then hashed (MD5 ETags: one read, no write)
        or stamped (mtime ETags), synced and renamed as any write."""
        return await asyncio.to_thread(self._adopt, loc, path)

    def _adopt(self, loc: Location, path: Path) -> Written:
        final = self.path(loc)
        tmp = self.root / TMP_DIR / uuid.uuid4().hex
        try:
            os.link(path, tmp)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
            shutil.copyfile(path, tmp)
        try:
            with open(tmp, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if self.md5:
                    digest = hashlib.file_digest(handle, lambda: hashlib.md5(usedforsecurity=False))
                    etag = f'"{digest.hexdigest()}"'
                else:
                    etag = mtime_etag(_stamp(handle.fileno()), size)
                if self.fsync:
                    os.fsync(handle.fileno())
            _place(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Written(size=size, etag=etag)

    async def stage(self, loc: Location, data: bytes, *, content_type: str) -> _StagedFile:
        """Start writing `data` (written and synced, then renamed into place: `_StagedFile`)
        and return once it is hashed, so the row can be written while the disk works; `place`
        waits for the write. With `mtime` ETags nothing is hashed: the mtime is set now."""
        mtime = None if self.md5 else time.time_ns()
        staged = _StagedFile(self.root, lambda: self.path(loc), fsync=self.fsync, mtime_ns=mtime)
        staged.start(data)
        if mtime is not None:
            staged.written = Written(size=len(data), etag=mtime_etag(mtime, len(data)))
            return staged
        try:
            if len(data) <= HASH_INLINE:  # cheaper than a thread hop
                digest = _md5_hex(data)
            else:  # MD5 releases the GIL: beside the write, not after it
                digest = await asyncio.to_thread(_md5_hex, data)
        except BaseException:
            await staged.discard()
            raise
        staged.written = Written(size=len(data), etag=f'"{digest}"')
        return staged

    async def open(self, loc: Location, start: int = 0, end: int | None = None) -> LocalStream:
        return await asyncio.to_thread(_open_stream, self.path(loc), start, end)

    async def open_only_version(self, bucket: str, key: str) -> tuple[str, LocalStream] | None:
        """The version of `key` and its file opened when exactly one version is stored, else
        None: a guess made before the row naming the version is read."""
        return await asyncio.to_thread(self._open_only_version, Location(bucket, key, "v"))

    def _open_only_version(self, loc: Location) -> tuple[str, LocalStream] | None:
        try:
            folder = self.path(loc).parent  # resolving a path reads the disk: not on the loop
        except ValueError:
            return None
        return _open_only_version(folder)

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
    handle = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by the stream)
    try:
        size = os.fstat(handle.fileno()).st_size
        last = size - 1 if end is None else min(end, size - 1)
        span = max(0, last - start + 1)
        if span > SMALL_BODY:
            handle.seek(start)
            return LocalStream(handle, start, last)
        body = os.pread(handle.fileno(), span, start) if span else b""
    except BaseException:
        handle.close()
        raise
    handle.close()
    return LocalStream(handle, start, last, body)


def _open_only_version(folder: Path) -> tuple[str, LocalStream] | None:
    try:
        with os.scandir(folder) as entries:  # two entries at most: the folder may be huge
            names = [entry.name for entry in itertools.islice(entries, 2)]
        if len(names) != 1:  # none, a version being replaced, or a folder of longer keys
            return None
        return names[0], _open_stream(folder / names[0], 0, None)
    except OSError:  # no such key, or the one entry is a folder
        return None


class _Writer:
    """One write into a temp file, renamed into place at the end.

    Each full buffer is hashed in one thread and written in another while the next one is
    received (one hash and one write in flight, in order), so receiving, hashing and disk
    writes overlap and at most a few buffers are held. An object smaller than one buffer is
    written, synced and renamed in a single thread hop. Without `md5` nothing is hashed and
    the file's mtime, set before the sync, makes the ETag. Bytes bypass the page cache
    (`DirectFile`) unless the object is smaller than `DIRECT_MIN` or `fsync` is off (then
    the kernel may keep them in memory for a while, which is what turning it off asks for)."""

    def __init__(self, tmp: Path, final: Path, *, fsync: bool, md5: bool = True) -> None:
        self.tmp, self.final, self.fsync = tmp, final, fsync
        self.md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self.mtime_ns = 0
        self.size = 0
        self.handle: Guarded[DirectFile] | None = None
        self._opening = threading.Lock()  # the handle is made in a worker thread
        self._abandoned = False
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
        if self.md5 is not None:
            self._hashing = asyncio.ensure_future(asyncio.to_thread(self._hash, chunks))
        if self._writing is not None:
            await self._writing
        self._writing = asyncio.ensure_future(asyncio.to_thread(self._write, chunks))

    def _hash(self, chunks: list[bytes]) -> None:
        if self.md5 is not None:
            for chunk in chunks:
                self.md5.update(chunk)

    def etag(self) -> str:
        """The written bytes' ETag (once `finish` has returned)."""
        if self.md5 is not None:
            return f'"{self.md5.hexdigest()}"'
        return mtime_etag(self.mtime_ns, self.size)

    def _write(self, chunks: list[bytes], *, whole: int | None = None) -> None:
        with self._opening:
            if self._abandoned:
                raise OSError(errno.EBADF, "the write was abandoned")
            if self.handle is None:  # `whole`: the object's size, when written in one go
                direct = WRITE_BUFFER if whole is None else whole if whole >= DIRECT_MIN else 0
                direct = direct if self.fsync else 0
                self.handle = Guarded(DirectFile(self.tmp, direct), DirectFile.close)
            handle = self.handle
        handle.use(lambda file: file.write(chunks))

    def _close(self) -> None:
        if self.handle is not None:
            self.handle.use(self._seal)
            self.handle.close()

    def _seal(self, file: DirectFile) -> None:
        """The last bytes written, the mtime stamped (mtime ETags), the file synced."""
        file.finish()
        if self.md5 is None:
            self.mtime_ns = _stamp(file.fileno())
        if self.fsync:
            os.fsync(file.fileno())

    def _whole(self, chunks: list[bytes]) -> None:
        self._hash(chunks)
        self._write(chunks, whole=self.size)
        self._close_and_place()

    async def finish(self) -> None:
        """Write what is left, sync, and rename into place."""
        if self._writing is None:
            await asyncio.to_thread(self._whole, self._take())
            return
        await self._flush()
        await self._settle()
        await asyncio.to_thread(self._close_and_place)

    def _close_and_place(self) -> None:
        self._close()
        _place(self.tmp, self.final)

    async def _settle(self) -> None:
        for future in (self._hashing, self._writing):
            if future is not None:
                await future

    async def abandon(self) -> None:
        """Stop and remove the temp file. A write still running in a worker thread (a
        cancelled await does not stop it) keeps the file open until it returns (`Guarded`);
        later ones are refused."""
        with contextlib.suppress(BaseException):
            await self._settle()
        with self._opening:
            self._abandoned = True
            handle = self.handle
        if handle is not None:
            handle.close()
        await asyncio.to_thread(self.tmp.unlink, missing_ok=True)


class _StagedFile:
    """A small object written and synced into a temp file, then renamed into place (its key's
    folder made on the way), all in one worker-thread call: each thread hop costs the event
    loop more CPU than the work it moves. No row points at it yet, so it is not visible until
    the row commits; `place` waits for it."""

    def __init__(
        self, root: Path, final: Callable[[], Path], *, fsync: bool, mtime_ns: int | None
    ) -> None:
        self.root, self.fsync, self.mtime_ns = root, fsync, mtime_ns
        self._resolve = final  # resolving reads the disk: done in the thread
        self.final: Path | None = None
        self.written = Written(size=0, etag="")
        self._writing: asyncio.Future[None] | None = None

    def start(self, data: bytes) -> None:
        """Begin the write in a worker thread."""
        self._writing = asyncio.ensure_future(asyncio.to_thread(self._put, data))

    def _put(self, data: bytes) -> None:
        self.final = self._resolve()
        tmp = self.root / TMP_DIR / uuid.uuid4().hex
        try:
            with open(tmp, "xb") as handle:
                handle.write(data)
                handle.flush()
                if self.mtime_ns is not None:  # the ETag's mtime
                    os.utime(handle.fileno(), ns=(self.mtime_ns, self.mtime_ns))
                if self.fsync:
                    os.fsync(handle.fileno())
            _place(tmp, self.final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    async def place(self) -> None:
        if self._writing is not None:
            await self._writing

    async def discard(self) -> None:
        if self._writing is not None:
            await _finished(self._writing)  # done (or failed) before the unlink
        if self.final is not None:
            await asyncio.to_thread(_unlink_all, [self.final], self.root)


async def _finished(future: asyncio.Future[None]) -> None:
    """Wait for `future` to end, whatever its outcome (an error is seen, not raised)."""
    await asyncio.wait([future])
    if not future.cancelled():
        future.exception()


def _stamp(fd: int) -> int:
    """Set the file's mtime (and atime) to now, from the clock; that mtime in ns."""
    now = time.time_ns()
    os.utime(fd, ns=(now, now))
    return now


def _md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _make_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)


def _place(tmp: Path, final: Path) -> None:
    """Rename `tmp` to `final`, its folder made first. Another request removing a version of
    a key prunes folders left empty, so the folder may vanish while it is made (mkdir finds
    it, then it is gone) or before the rename: made again."""
    for _ in range(PLACE_TRIES):
        try:
            _make_folder(final.parent)
            os.replace(tmp, final)
            return
        except (FileNotFoundError, FileExistsError):
            if not tmp.exists():
                raise
    raise FileNotFoundError(final.parent)


def _link_or_copy(src: Path, dst: Path, root: Path) -> None:
    """`src`'s bytes at `dst` (FileNotFoundError when `src` is gone)."""
    tmp = root / TMP_DIR / uuid.uuid4().hex
    try:
        os.link(src, tmp)  # versions are immutable, so sharing the inode is safe
        os.utime(tmp)  # young again: the sweep's grace period protects it until its row exists
    except FileNotFoundError:
        raise
    except OSError:
        shutil.copyfile(src, tmp)
    try:
        _place(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
