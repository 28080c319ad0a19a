"""A new file written front to back without copying it into the page cache (O_DIRECT).

Large uploads are written once and rarely read right away: copying them into the page cache
cost 0.2-2.3 ms of CPU per MiB on the test VM (page allocation, writeback), against ~0.1 for
a copy into one page-aligned buffer written with O_DIRECT. Bytes are gathered in that buffer
and written a whole buffer at a time; the unaligned tail goes through the page cache (the
flag is cleared first). A file system that refuses O_DIRECT (tmpfs, some network file
systems) gets ordinary writes, as does one that refuses a direct write later.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
from pathlib import Path

BLOCK = 4096  # alignment of direct writes: any logical block size up to 4 KiB
_DIRECT = getattr(os, "O_DIRECT", 0)


class DirectFile:
    """A file created at `path` and written in order; `finish` writes what is buffered, then
    the caller syncs (`fileno`) and `close`s."""

    def __init__(self, path: Path, buffer_size: int) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        self._buffer: mmap.mmap | None = None
        self._view = memoryview(b"")
        self._filled = 0
        self.direct = bool(_DIRECT) and buffer_size >= BLOCK and _set_direct(self.fd, on=True)
        if self.direct:
            self._buffer = mmap.mmap(-1, buffer_size - buffer_size % BLOCK)  # page-aligned
            self._view = memoryview(self._buffer)

    def fileno(self) -> int:
        return self.fd

    def write(self, chunks: list[bytes]) -> None:
        """Append `chunks` (buffered, written whenever the buffer is full)."""
        if self._buffer is None:
            write_all(self.fd, chunks)
            return
        for chunk in chunks:
            data = memoryview(chunk)
            while data:
                count = min(len(data), len(self._view) - self._filled)
                self._view[self._filled : self._filled + count] = data[:count]
                self._filled += count
                data = data[count:]
                if self._filled == len(self._view):
                    self._drain()

    def finish(self) -> None:
        """Write what is still buffered (the unaligned tail through the page cache)."""
        if self._buffer is None or not self._filled:
            return
        filled = self._filled
        self._filled = aligned = filled - filled % BLOCK
        self._drain()
        if self.direct:
            self.direct = not _set_direct(self.fd, on=False)
        write_all(self.fd, [self._view[aligned:filled]])

    def _drain(self) -> None:
        """Write the buffer's first `_filled` bytes (a multiple of BLOCK), directly unless
        the file system refuses (then through the page cache, from where it stopped)."""
        view = self._view[: self._filled]
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except OSError as exc:
                if exc.errno != errno.EINVAL or not self.direct:
                    raise
                self.direct = not _set_direct(self.fd, on=False)
                if self.direct:
                    raise
        self._filled = 0

    def close(self) -> None:
        """Release the descriptor and the buffer."""
        self._view.release()
        if self._buffer is not None:
            self._buffer.close()
            self._buffer = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _set_direct(fd: int, *, on: bool) -> bool:
    """Turn O_DIRECT on or off for `fd`; False if the file system refuses."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | _DIRECT if on else flags & ~_DIRECT)
    except OSError:
        return False
    return True


def write_all(fd: int, chunks: list[bytes] | list[memoryview]) -> None:
    """Write every chunk whole (a write may take only part of one)."""
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view) :]
