"""The host side of the agent protocol (`agent.py`), shared by every runtime: a ping, one
command's events streamed back over a Unix-socket connection, and interactive terminals
(binary frames both ways).

When the sandbox itself created the socket (container runtimes), `peer_uid` is the uid the
agent must run as: the connection is dropped before anything is sent when the listener is
someone else (a socket or symlink the sandbox put in its place must not reach a host service).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from neo.sandbox.runtimes.base import (
    AgentUnavailable,
    ExecEvent,
    ExecRequest,
    PortUnavailable,
    PtyRequest,
)

EXEC_GRACE = 10.0  # seconds past a command's timeout before the host gives up on the agent
_UCRED = struct.Struct("3i")  # pid, uid, gid
_FRAME = struct.Struct(">cI")  # terminal frames: type, payload length
_SIZE = struct.Struct(">HH")


async def _connect(
    path: Path, peer_uid: int | None, limit: int = 1 << 16
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_unix_connection(str(path), limit=limit)
    if peer_uid is not None:
        sock: socket.socket = writer.get_extra_info("socket")
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        if _UCRED.unpack(raw)[1] != peer_uid:
            writer.close()
            raise ConnectionRefusedError(f"{path}: the listener is not the sandbox's agent")
    return reader, writer


async def answers(path: Path, *, peer_uid: int | None = None, wait: float = 2.0) -> bool:
    """Whether an agent listens at `path` and answers a ping within `wait` seconds."""
    try:
        reader, writer = await _connect(path, peer_uid)
    except OSError:
        return False
    try:
        writer.write(b'{"op":"ping"}\n')
        line = await asyncio.wait_for(reader.readline(), wait)
        return b"pong" in line
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()


async def wait_ready(path: Path, *, peer_uid: int | None, seconds: float) -> bool:
    """Poll until the agent answers (it creates its socket itself), at most `seconds`."""
    deadline = time.monotonic() + seconds
    delay = 0.002
    while time.monotonic() < deadline:
        if await answers(path, peer_uid=peer_uid, wait=max(deadline - time.monotonic(), 0.01)):
            return True
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
    return False


async def call(
    path: Path, sandbox_id: str, body: Mapping[str, object], *, peer_uid: int | None = None
) -> dict[str, Any]:
    """One request, one JSON answer (background commands)."""
    try:
        reader, writer = await _connect(path, peer_uid, limit=1 << 23)
    except OSError as exc:
        raise AgentUnavailable(sandbox_id) from exc
    try:
        writer.write(json.dumps(dict(body)).encode() + b"\n")
        line = await asyncio.wait_for(reader.readline(), 30)
        if not line:
            raise AgentUnavailable(f"{sandbox_id}: the agent hung up")
        answer: dict[str, Any] = json.loads(line)
        return answer
    except (OSError, TimeoutError, ValueError) as exc:
        raise AgentUnavailable(f"{sandbox_id}: the agent did not answer") from exc
    finally:
        writer.close()


async def open_tunnel(
    path: Path, sandbox_id: str, port: int, *, peer_uid: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A byte stream to TCP `port` on the sandbox's loopback, relayed by the agent."""
    try:
        reader, writer = await _connect(path, peer_uid, limit=1 << 20)
    except OSError as exc:
        raise AgentUnavailable(sandbox_id) from exc
    try:
        writer.write(json.dumps({"op": "connect", "port": port}).encode() + b"\n")
        line = await asyncio.wait_for(reader.readline(), 10)
        answer = json.loads(line) if line else {"message": "the agent hung up"}
    except (OSError, TimeoutError, ValueError) as exc:
        writer.close()
        raise AgentUnavailable(f"{sandbox_id}: the agent did not answer") from exc
    if not answer.get("ok"):
        writer.close()
        raise PortUnavailable(f"port {port}: {answer.get('message') or answer.get('error')}")
    return reader, writer


async def exec_events(
    path: Path, sandbox_id: str, request: ExecRequest, *, peer_uid: int | None = None
) -> AsyncIterator[ExecEvent]:
    """Run `request` through the agent at `path`, yielding output as it comes."""
    try:
        reader, writer = await _connect(path, peer_uid, limit=1 << 22)
    except OSError as exc:
        raise AgentUnavailable(sandbox_id) from exc
    body: dict[str, object] = {"op": "exec", "command": request.command}
    body |= {"cwd": request.cwd, "env": dict(request.env), "timeout": request.timeout}
    try:
        writer.write(json.dumps(body).encode() + b"\n")
        deadline = time.monotonic() + request.timeout + EXEC_GRACE
        while line := await asyncio.wait_for(reader.readline(), deadline - time.monotonic()):
            event = json.loads(line)
            if "exit" in event:
                yield ExecEvent("exit", exit_code=event["exit"], timed_out=event["timed_out"])
                return
            if "stdout" in event:
                yield ExecEvent("stdout", data=event["stdout"])
            elif "stderr" in event:
                yield ExecEvent("stderr", data=event["stderr"])
            else:  # the agent refused the request ({"error", "message"})
                raise AgentUnavailable(f"{sandbox_id}: {event.get('message') or event}")
        raise AgentUnavailable(sandbox_id)  # the agent died mid-command
    except TimeoutError:
        raise AgentUnavailable(f"{sandbox_id}: the agent stopped answering") from None
    finally:
        writer.close()


class AgentTerminal:
    """A terminal the agent runs (the `Terminal` of every runtime)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self.pid = 0
        self.exit_code: int | None = None

    async def _frame(self) -> tuple[bytes, bytes]:
        try:
            kind, size = _FRAME.unpack(await self._reader.readexactly(_FRAME.size))
            return kind, await self._reader.readexactly(size)
        except asyncio.IncompleteReadError:
            return b"x", b"-1"  # the agent went away mid-terminal

    async def opened(self, sandbox_id: str) -> None:
        """Wait for the agent's `opened` frame."""
        kind, payload = await self._frame()
        if kind != b"o":
            self.close_now()
            reason = payload.decode(errors="replace")
            raise AgentUnavailable(f"{sandbox_id}: the terminal did not start ({reason})")
        self.pid = int(payload)

    async def read(self) -> bytes | int:
        """The next output bytes, or the exit code once the command has ended."""
        if self.exit_code is not None:
            return self.exit_code
        kind, payload = await self._frame()
        if kind == b"d":
            return payload
        self.exit_code = int(payload.split()[0]) if payload.split() else -1
        return self.exit_code

    async def write(self, data: bytes) -> None:
        """Type `data` into the terminal."""
        self._writer.write(_FRAME.pack(b"d", len(data)) + data)
        await self._writer.drain()

    async def resize(self, cols: int, rows: int) -> None:
        """Change the terminal's size."""
        self._writer.write(_FRAME.pack(b"r", _SIZE.size) + _SIZE.pack(cols, rows))
        await self._writer.drain()

    def close_now(self) -> None:
        """Hang up (the agent kills the terminal's processes)."""
        self._writer.close()

    async def close(self) -> None:
        """Hang up and wait for the connection to close."""
        self.close_now()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


async def open_terminal(
    path: Path, sandbox_id: str, request: PtyRequest, *, peer_uid: int | None = None
) -> AgentTerminal:
    """Start a terminal through the agent at `path`."""
    try:
        reader, writer = await _connect(path, peer_uid, limit=1 << 20)
    except OSError as exc:
        raise AgentUnavailable(sandbox_id) from exc
    body: dict[str, object] = {"op": "pty", "command": request.command, "cwd": request.cwd}
    body["env"] = dict(request.env)
    body |= {"cols": request.cols, "rows": request.rows}
    terminal = AgentTerminal(reader, writer)
    try:
        writer.write(json.dumps(body).encode() + b"\n")
        await asyncio.wait_for(terminal.opened(sandbox_id), 10)
    except (OSError, TimeoutError) as exc:
        terminal.close_now()
        raise AgentUnavailable(f"{sandbox_id}: the terminal did not start") from exc
    return terminal
