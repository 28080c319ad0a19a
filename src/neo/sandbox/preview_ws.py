"""WebSocket previews: a client's WebSocket to a preview URL bridged to a WebSocket served on
the port inside the sandbox, through the agent's byte stream.

The upstream side is the `websockets` library's sans-I/O client protocol over that stream
(handshake with `localhost:<port>`, the client's subprotocols offered); messages are copied
whole both ways, and a close on either side closes the other.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import WebSocket, WebSocketDisconnect
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from neo.sandbox.errors import PreviewUnavailable
from neo.sandbox.preview import TOKEN_PARAM, Upstream
from neo.sandbox.runtimes.base import AgentUnavailable, PortUnavailable

HANDSHAKE_TIMEOUT = 30.0


class _Upstream:
    """The sandbox side: a WebSocket client over the agent's stream."""

    def __init__(
        self, protocol: ClientProtocol, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.protocol, self.reader, self.writer = protocol, reader, writer
        self.pending: list[Frame] = []

    def flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.writer.write(data)
            elif self.writer.can_write_eof():
                self.writer.write_eof()

    async def events(self) -> list[object]:
        data = await self.reader.read(65536)
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        self.flush()  # pongs and close answers
        return list(self.protocol.events_received())


def _target(websocket: WebSocket, port: int, path: str) -> str:
    query = "&".join(
        part
        for part in websocket.url.query.split("&")
        if part and not part.startswith(f"{TOKEN_PARAM}=")
    )
    return f"ws://localhost:{port}/{path}" + (f"?{query}" if query else "")


async def open_upstream(upstream: Upstream, websocket: WebSocket, path: str) -> _Upstream:
    """Connect and hand-shake with the server inside; PreviewUnavailable when it refuses."""
    try:
        reader, writer = await upstream.runtime.connect_port(upstream.sandbox_id, upstream.port)
    except (AgentUnavailable, PortUnavailable) as exc:
        raise PreviewUnavailable(f"port {upstream.port}: {exc}") from None
    offered = [Subprotocol(p) for p in websocket.scope.get("subprotocols", [])]
    protocol = ClientProtocol(
        parse_uri(_target(websocket, upstream.port, path)), subprotocols=offered or None
    )
    side = _Upstream(protocol, reader, writer)
    protocol.send_request(protocol.connect())
    side.flush()
    try:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            while True:
                for event in await side.events():
                    if isinstance(event, Response):
                        if protocol.handshake_exc is not None:
                            raise protocol.handshake_exc
                        return side
                if protocol.handshake_exc is not None or reader.at_eof():
                    raise PreviewUnavailable(f"port {upstream.port}: no WebSocket handshake")
    except PreviewUnavailable:
        writer.close()
        raise
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        writer.close()
        raise PreviewUnavailable(f"port {upstream.port}: WebSocket refused ({exc})") from None


async def bridge(websocket: WebSocket, side: _Upstream) -> None:
    """Copy messages both ways until either side closes."""
    inbound = asyncio.create_task(_from_client(websocket, side))
    try:
        await _from_sandbox(websocket, side)
    finally:
        inbound.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await inbound
        side.writer.close()
        with contextlib.suppress(RuntimeError, OSError):
            await websocket.close()


async def _from_sandbox(websocket: WebSocket, side: _Upstream) -> None:
    parts: list[bytes] = []
    kind = Opcode.TEXT
    while not side.reader.at_eof():
        for event in await side.events():
            if not isinstance(event, Frame):
                continue
            if event.opcode == Opcode.CLOSE:
                return
            if event.opcode in (Opcode.TEXT, Opcode.BINARY):
                kind, parts = event.opcode, [bytes(event.data)]
            elif event.opcode == Opcode.CONT:
                parts.append(bytes(event.data))
            else:
                continue  # ping/pong: answered by the protocol
            if event.fin:
                data = b"".join(parts)
                if kind == Opcode.TEXT:
                    await websocket.send_text(data.decode("utf-8", "replace"))
                else:
                    await websocket.send_bytes(data)


async def _from_client(websocket: WebSocket, side: _Upstream) -> None:
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("bytes") is not None:
                side.protocol.send_binary(message["bytes"])
            elif message.get("text") is not None:
                side.protocol.send_text(message["text"].encode())
            side.flush()
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    with contextlib.suppress(Exception):
        side.protocol.send_close(1000)
        side.flush()
