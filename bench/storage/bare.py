"""The bench's bare HTTP baseline: the least an HTTP server in Python can do to store and serve
objects on local disk, run on the same uvicorn, loop and HTTP protocol as NEO.

`POST /<anything>/<name>` writes the body to `$BARE_ROOT/<name>` (received chunks gathered to
8 MiB, each batch written in a worker thread, fsync at the end: no hash, no database, no
temp file); `GET /<anything>/<name>` answers with the file, through the zero-copy send
extension when the server offers it (`neo.core.http_sendfile`), else in 1 MiB reads.
No authentication, no checks: a baseline, not a server.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

ROOT = os.environ.get("BARE_ROOT", ".")
BATCH = 8 * 1024 * 1024
ZEROCOPY = "http.response.zerocopysend"


def _write(fd: int, chunks: list[bytes]) -> None:
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view) :]


async def _upload(path: str, receive: Any) -> None:
    fd = await asyncio.to_thread(os.open, path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        batch: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
            batch.append(message.get("body", b""))
            size += len(batch[-1])
            if size >= BATCH or not more:
                await asyncio.to_thread(_write, fd, batch)
                batch, size = [], 0
        await asyncio.to_thread(os.fsync, fd)
    finally:
        os.close(fd)


async def _download(scope: dict[str, Any], path: str, send: Any) -> None:
    file = await asyncio.to_thread(open, path, "rb")
    try:
        size = os.fstat(file.fileno()).st_size
        head = [
            (b"content-length", str(size).encode()),
            (b"content-type", b"application/octet-stream"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        if ZEROCOPY in scope.get("extensions", {}):
            await send({"type": ZEROCOPY, "file": file, "offset": 0, "count": size})
            return
        while chunk := await asyncio.to_thread(file.read, 1024 * 1024):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        file.close()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = os.path.join(ROOT, scope["path"].rsplit("/", 1)[-1])
    if scope["method"] == "POST":
        await _upload(path, receive)
        body = b"{}"
        head = [(b"content-length", b"2"), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        await send({"type": "http.response.body", "body": body})
    else:
        try:
            await _download(scope, path, send)
        except FileNotFoundError:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
