"""How the host reaches the agent of a sandbox pod: a Unix socket NEO listens on (host-side,
mode 0600, in the sandbox's directory) whose every connection becomes one call of the
Kubernetes exec API (`pods/exec`, a `v4.channel.k8s.io` websocket through the official client)
running a tiny relay in the pod (`kubernetes_manifests.RELAY`) that connects to the agent's
own socket. Bytes are copied both ways unchanged, so the host side of the agent protocol
(`agent_client`) is the one every runtime uses; closing either end closes the other.

No port is opened on the pod (the NetworkPolicy denies all ingress); the API server's
authentication and RBAC (`pods/exec`) guard the path. The official client is synchronous, so
each connection uses two of the runtime's threads while it lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("neo.sandbox")
STDOUT = 1
POLL = 0.2  # seconds between checks that the host end is still open


class ExecBridge:
    """The host socket of one sandbox, relaying connections through `pods/exec`."""

    def __init__(self, path: Path, open_stream: Callable[[], Any], pool: Executor) -> None:
        self.path = path
        self._open_stream = open_stream  # -> a binary kubernetes.stream.ws_client.WSClient
        self._pool = pool
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Listen on the host socket (replacing a stale one)."""
        self.path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._serve, str(self.path))
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        """Stop listening and hang up every open connection."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        self.path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        self._writers.add(writer)
        try:
            ws = await loop.run_in_executor(self._pool, self._open_stream)
        except Exception as exc:  # the API server refused or is unreachable: hang up
            log.warning("sandbox.exec_bridge_refused", error=type(exc).__name__)
            self._writers.discard(writer)
            writer.close()
            return
        done = threading.Event()
        down = loop.run_in_executor(self._pool, _pump_down, ws, writer, loop, done)
        try:
            while data := await reader.read(65536):
                await loop.run_in_executor(self._pool, ws.write_stdin, data)
        except (OSError, ConnectionError):
            pass
        except Exception as exc:  # the websocket broke while writing
            log.info("sandbox.exec_bridge_closed", error=type(exc).__name__)
        finally:
            done.set()
            with contextlib.suppress(Exception):
                await down
            _close(ws)
            self._writers.discard(writer)
            writer.close()


def _pump_down(
    ws: Any, writer: asyncio.StreamWriter, loop: asyncio.AbstractEventLoop, done: threading.Event
) -> None:
    """Copy the relay's stdout to the host connection until either side ends (a thread)."""
    try:
        while not done.is_set() and ws.is_open():
            ws.update(timeout=POLL)
            data = ws.read_channel(STDOUT)
            if data:
                loop.call_soon_threadsafe(writer.write, data)
    except Exception as exc:  # the websocket broke: the host end is closed below
        log.info("sandbox.exec_bridge_closed", error=type(exc).__name__)
    finally:
        loop.call_soon_threadsafe(writer.close)


def _close(ws: Any) -> None:
    """Close the websocket and its socket (the client leaves the socket open when the server
    closed first)."""
    with contextlib.suppress(Exception):
        ws.close()
    with contextlib.suppress(Exception):
        ws.sock.shutdown()
