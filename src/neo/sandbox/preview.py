"""Preview URLs: HTTP to a port inside a sandbox, for whoever holds the URL's token.

A token names one sandbox, one port and an expiry, signed with an HMAC key derived from the
key set's JWT secret (every worker checks it; rotating the secret revokes every preview). It
is not a JWT, so it can never pass for an API credential. The proxy takes it from the
`x-neo-preview-token` header, the `neo_preview_token` query parameter (then sets a cookie
scoped to the preview's path, so the page's own links work) or that cookie. Each request is
one connection through the sandbox's agent to `127.0.0.1:<port>` inside, HTTP/1.1 with
`Connection: close`, the response streamed back (WebSockets: `preview_ws.py`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import h11
from fastapi import Request
from fastapi.responses import StreamingResponse

from neo.sandbox.errors import PreviewDenied, PreviewUnavailable, RequestTooLarge
from neo.sandbox.runtimes.base import AgentUnavailable, PortUnavailable, Runtime

TOKEN_PARAM, TOKEN_HEADER, TOKEN_COOKIE = "neo_preview_token", "x-neo-preview-token", "neo_preview"
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "host", "content-length", TOKEN_HEADER,
    "apikey",  # a NEO key never reaches code in the sandbox
}  # fmt: skip
RESPONSE_TIMEOUT = 60.0


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"neo-sandbox-preview-v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(secret: str, sandbox_id: str, port: int, expires: int) -> str:
    """A preview token for `sandbox_id`:`port` valid until `expires` (Unix time)."""
    body = f"{sandbox_id}.{port}.{expires}"
    mac = hmac.new(_key(secret), body.encode(), hashlib.sha256).digest()
    return f"{expires}.{_b64(mac)}"


def check_token(secret: str, token: str, sandbox_id: str, port: int) -> None:
    """PreviewDenied unless `token` opens `sandbox_id`:`port` now."""
    expires_text, _, _ = token.partition(".")
    if not expires_text.isdigit() or int(expires_text) < time.time():
        raise PreviewDenied("preview token missing, malformed or expired")
    expected = make_token(secret, sandbox_id, port, int(expires_text))
    if not hmac.compare_digest(expected.encode(), token.encode()):
        raise PreviewDenied("preview token not valid for this sandbox and port")


@dataclass(frozen=True)
class Upstream:
    """Where a preview request goes."""

    runtime: Runtime
    sandbox_id: str
    port: int
    max_body: int


def upstream_request(request: Request, path: str, port: int, body: bytes) -> h11.Request:
    """The request as the server inside sees it: its own path, `localhost:<port>`."""
    query = "&".join(
        part
        for part in request.url.query.split("&")
        if part and not part.startswith(f"{TOKEN_PARAM}=")
    )
    target = "/" + path + (f"?{query}" if query else "")
    headers = [(b"host", f"localhost:{port}".encode()), (b"connection", b"close")]
    for name, value in request.headers.raw:
        lower = name.decode("latin-1").lower()
        if lower == "cookie":
            value = _without_preview_cookie(value)
        if lower not in HOP_BY_HOP and value:
            headers.append((name, value))
    headers.append((b"content-length", str(len(body)).encode()))
    return h11.Request(method=request.method, target=target.encode(), headers=headers)


def _without_preview_cookie(value: bytes) -> bytes:
    kept = [c for c in value.split(b";") if not c.strip().startswith(TOKEN_COOKIE.encode() + b"=")]
    return b";".join(kept).strip()


async def proxy(upstream: Upstream, request: Request, path: str) -> StreamingResponse:
    """Send the request to the port inside and stream its answer back."""
    body = await _read_body(request, upstream.max_body)
    try:
        reader, writer = await upstream.runtime.connect_port(upstream.sandbox_id, upstream.port)
    except (AgentUnavailable, PortUnavailable) as exc:
        raise PreviewUnavailable(f"port {upstream.port}: {exc}") from None
    conn = h11.Connection(h11.CLIENT)
    try:
        for event in (upstream_request(request, path, upstream.port, body), h11.Data(data=body)):
            writer.write(conn.send(event) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        response = await asyncio.wait_for(_response(conn, reader), RESPONSE_TIMEOUT)
    except (OSError, TimeoutError, h11.ProtocolError) as exc:
        writer.close()
        raise PreviewUnavailable(f"port {upstream.port}: no HTTP answer ({exc!r})") from None
    answer = StreamingResponse(_body(conn, reader, writer), status_code=response.status_code)
    answer.raw_headers = [
        (k.lower(), v) for k, v in response.headers if k.lower().decode() not in HOP_BY_HOP
    ]
    return answer


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge()
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge()
        parts.append(chunk)
    return b"".join(parts)


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> object:
    while (event := conn.next_event()) is h11.NEED_DATA:
        conn.receive_data(await reader.read(65536))
    return event


async def _response(conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Response:
    while True:
        event = await _next_event(conn, reader)
        if isinstance(event, h11.Response):
            return event
        if isinstance(event, h11.ConnectionClosed):
            raise h11.RemoteProtocolError("closed before a response")


async def _body(
    conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> AsyncIterator[bytes]:
    try:
        while True:
            event = await _next_event(conn, reader)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return
    except (OSError, h11.ProtocolError):
        return  # the server inside went away mid-answer: the client sees a short body
    finally:
        writer.close()
