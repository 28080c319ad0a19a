"""Opening a local object's file while its row is read: a download's file lookup and its
database round trips overlap instead of following each other.

A key's folder on local disk holds its versions; almost always exactly one, the current
one. For a plain GET (no range, no condition) `ReadAhead` opens that one version in a
worker thread while the row is read; the row then says which version the caller may read
(RLS decides), and the guess is used only if it names the same version, otherwise it is
closed and the object opened as usual. Nothing is sent before the row is read, so the
guess grants nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request

from neo.storage.backends.local import LocalBackend, LocalStream
from neo.storage.state import StorageState

_CONDITIONS = ("range", "if-none-match", "if-modified-since")
Guess = tuple[str, LocalStream] | None


class ReadAhead:
    """One download's guess at its object's bytes (none for S3 or conditional requests)."""

    def __init__(self, state: StorageState, request: Request, bucket_id: str, key: str) -> None:
        self._task: asyncio.Future[Guess] | None = None
        backend, headers = state.backend, request.headers
        plain = request.method == "GET" and not any(name in headers for name in _CONDITIONS)
        if plain and isinstance(backend, LocalBackend):
            self._task = asyncio.ensure_future(backend.open_only_version(bucket_id, key))

    async def take(self, version: str, size: int) -> LocalStream | None:
        """The opened bytes if they are `version`'s, whole (`size` bytes); else None."""
        task, self._task = self._task, None
        if task is None:
            return None
        guess = await task
        if guess is None:
            return None
        found, stream = guess
        if found == version and stream.left == size:
            return stream
        stream.close()
        return None

    def drop(self) -> None:
        """Close the guess if it was not taken (now, or when its thread finishes)."""
        task, self._task = self._task, None
        if task is not None:
            task.add_done_callback(_close_guess)


def _close_guess(task: asyncio.Future[Guess]) -> None:
    if task.cancelled() or task.exception() is not None:
        return
    guess: Any = task.result()
    if guess is not None:
        guess[1].close()
