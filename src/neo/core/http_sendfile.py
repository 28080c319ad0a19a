"""uvicorn's httptools protocol plus ASGI's zero-copy file extensions, served with sendfile(2).

`SendfileProtocol` advertises `http.response.zerocopysend` (an open file, an offset and a
count: what storage's downloads use, ranges included) and `http.response.pathsend` (a path:
what Starlette's `FileResponse` uses) in `scope["extensions"]`, and serves both by copying
from the file to the connection's socket in the kernel, never through Python buffers:

* the transport's own buffer (response headers, a first body chunk) is flushed first, so
  bytes leave in order;
* each `os.sendfile` call runs in a worker thread (a cold file blocks on the disk, which
  must not stall the event loop) on the non-blocking socket; when the socket is full the
  cycle waits for it to become writable (watched by the loop), so a slow reader holds no
  thread and no memory;
* the copy works on its own duplicates of the socket and the file descriptors, closed only
  once no worker thread uses them (`neo.kit.guarded`): a descriptor number closed under a
  running copy (the client left, the response ended) could name another connection's
  socket by then;
* a client that hangs up ends the copy and the connection; HEAD sends no body; a chunked
  response (no Content-Length) gets its bytes read and sent as ordinary body messages;
* TLS connections (uvicorn's own `ssl_*` options) are not offered the extensions.

`neo start` and the test server run uvicorn with it (`http=SendfileProtocol`); apps fall back
to streaming when the extension is absent (another server, an in-process test client).
"""

from __future__ import annotations

import asyncio
import os
from typing import IO, Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.utils import is_ssl

from neo.kit.guarded import Guarded

ZEROCOPY = "http.response.zerocopysend"
PATHSEND = "http.response.pathsend"
_EXTENSIONS: dict[str, dict[object, object]] = {ZEROCOPY: {}, PATHSEND: {}}
_FALLBACK_CHUNK = 1024 * 1024
_SENDFILE_MAX = 0x7FFFF000  # Linux sends at most this much per call


class SendfileProtocol(HttpToolsProtocol):
    """uvicorn's httptools HTTP/1.1 protocol, with zero-copy file responses."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.scheme == "http":  # TLS must see every byte: no sendfile past it
            self.scope["extensions"] = dict(_EXTENSIONS)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if type(self.cycle) is RequestResponseCycle:
            # The cycle's task has not run yet: it will call the `send` of this class.
            self.cycle.__class__ = _SendfileCycle


class _SendfileCycle(RequestResponseCycle):
    """A request/response cycle whose `send` also takes the zero-copy file messages."""

    async def send(self, message: Any) -> None:
        kind = message["type"]
        if kind not in (ZEROCOPY, PATHSEND):
            await super().send(message)
            return
        if self.disconnected:  # uvicorn drops every message once the client has left (even
            return  # the start: the response may not have started)
        if not self.response_started or self.response_complete:
            raise RuntimeError(f"Unexpected ASGI message '{kind}'.")
        if kind == PATHSEND:
            file = await asyncio.to_thread(open, message["path"], "rb")
            try:
                count = os.fstat(file.fileno()).st_size
                await self._send_file(file, 0, count, more_body=False)
            finally:
                file.close()
            return
        file = message["file"]
        offset = int(message.get("offset") or 0)
        count = message.get("count")
        if count is None:
            count = os.fstat(file.fileno()).st_size - offset
        await self._send_file(file, offset, int(count), more_body=bool(message.get("more_body")))

    async def _send_file(
        self, file: IO[bytes], offset: int, count: int, *, more_body: bool
    ) -> None:
        if self.disconnected:
            return
        if self.scope["method"] == "HEAD" or self.chunked_encoding or is_ssl(self.transport):
            await self._send_read(file, offset, count, more_body=more_body)
            return
        if count > self.expected_content_length:
            raise RuntimeError("Response content longer than Content-Length")
        if count:
            sent = (
                await _copy(self.transport, file.fileno(), offset, count)
                if await self._flushed()
                else 0
            )
            self.expected_content_length -= sent
            if sent < count:  # the client left, or the file shrank: the response cannot finish
                self.disconnected = True
                self.transport.close()
                return
        await super().send({"type": "http.response.body", "body": b"", "more_body": more_body})

    async def _send_read(
        self, file: IO[bytes], offset: int, count: int, *, more_body: bool
    ) -> None:
        """The bytes as ordinary body messages (HEAD, chunked responses, TLS)."""
        if self.scope["method"] == "HEAD":
            count = 0
        while count > 0 and not self.disconnected:
            chunk = await asyncio.to_thread(
                os.pread, file.fileno(), min(count, _FALLBACK_CHUNK), offset
            )
            if not chunk:
                raise RuntimeError("Response content shorter than Content-Length")
            offset, count = offset + len(chunk), count - len(chunk)
            await super().send({"type": "http.response.body", "body": chunk, "more_body": True})
        await super().send({"type": "http.response.body", "body": b"", "more_body": more_body})

    async def _flushed(self) -> bool:
        """Wait until the transport's buffer is empty; False if the client left meanwhile."""
        transport = self.transport
        if transport.get_write_buffer_size():
            low, high = transport.get_write_buffer_limits()
            transport.set_write_buffer_limits(high=0)  # pauses the protocol until it is empty
            try:
                await self.flow.drain()
            finally:
                if not transport.is_closing():
                    transport.set_write_buffer_limits(high=high, low=low)
        return not self.disconnected and not transport.is_closing()


async def _copy(transport: asyncio.Transport, fd: int, offset: int, count: int) -> int:
    """sendfile(2) `count` bytes of `fd` from `offset` to the transport's socket; how many
    were sent (fewer when the peer went away, the transport closed or the file ended early).

    The copy works on its own duplicates of the socket and the file descriptors (`Guarded`:
    closed only once no worker thread uses them). The transport closes its socket when the
    client leaves, and the caller its file when the response ends, also while a sendfile(2)
    call is still queued or running in a worker thread; a number closed under it could by
    then name another connection's socket, which would get the rest of this object."""
    sock = Guarded(os.dup(cast(Any, transport.get_extra_info("socket")).fileno()), os.close)
    src = Guarded(os.dup(fd), os.close)
    loop = asyncio.get_running_loop()
    sent = 0

    def send(at: int, size: int) -> int:
        return sock.use(lambda out: src.use(lambda source: os.sendfile(out, source, at, size)))

    try:
        while sent < count and not transport.is_closing():
            size = min(count - sent, _SENDFILE_MAX)
            try:
                n = await loop.run_in_executor(None, send, offset + sent, size)
            except BlockingIOError:
                await _writable(loop, sock.resource)
                continue
            except OSError:  # reset, broken pipe: the client hung up
                return sent
            if n == 0:
                return sent
            sent += n
    finally:
        sock.close()
        src.close()
    return sent


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    """Wait until `fd` (a socket) can take more bytes, or has failed."""
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_writer(fd)


__all__ = ["PATHSEND", "ZEROCOPY", "SendfileProtocol"]
