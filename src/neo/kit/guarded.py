"""Resources that worker threads use and the event loop closes.

A file descriptor is a number. When the event loop closes one (a client left, a request was
cancelled) while a worker thread is about to use it (`asyncio.to_thread` cannot stop a
thread once its call is queued or running), the number may already name another file or
connection by the time the thread's system call runs: whatever the thread writes lands
there. `Guarded` closes such a resource only once no call through `use` is running, and
refuses calls made after `close` with EBADF instead of letting them reach the number.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Guarded(Generic[T]):
    """`resource`, released by `release` once `close` was called and no `use` is running."""

    def __init__(self, resource: T, release: Callable[[T], None]) -> None:
        self.resource = resource
        self._release = release
        self._lock = threading.Lock()
        self._users = 0
        self._closing = False
        self._released = False

    def use(self, call: Callable[[T], R]) -> R:
        """`call(resource)` (in any thread); OSError(EBADF) once `close` was called."""
        with self._lock:
            if self._closing:
                raise OSError(errno.EBADF, os.strerror(errno.EBADF))
            self._users += 1
        try:
            return call(self.resource)
        finally:
            with self._lock:
                self._users -= 1
                last = self._closing and self._users == 0 and not self._released
                self._released = self._released or last
            if last:
                self._release(self.resource)

    def close(self) -> None:
        """Release now, or when the running `use` calls return (in their thread); no wait."""
        with self._lock:
            self._closing = True
            now = self._users == 0 and not self._released
            self._released = self._released or now
        if now:
            self._release(self.resource)

    @property
    def closed(self) -> bool:
        """True once `close` was called (the release may still be pending)."""
        return self._closing
