"""The in-sandbox agent: a standalone script (standard library only, no NEO imports) that
every runtime starts inside the sandbox, serving exec requests over a Unix socket.

The host creates the listening socket and hands it over as an inherited descriptor (`argv[1]`),
so the sandbox never controls the socket's path. Protocol, one connection per request: the
client sends one JSON line `{"op": "exec", "command", "cwd", "env", "timeout"}` (or
`{"op": "ping"}`); the agent answers with JSON lines `{"stdout": "..."}`, `{"stderr": "..."}`
and finally `{"exit": code, "timed_out": bool}`. A client that hangs up kills its command.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

CHUNK = 65536


def send(conn: socket.socket, event: dict[str, Any]) -> None:
    """Write one JSON line."""
    conn.sendall(json.dumps(event, separators=(",", ":")).encode() + b"\n")


def read_request(conn: socket.socket) -> dict[str, Any]:
    """Read the request line."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(CHUNK)
        if not chunk:
            break
        data += chunk
    request: dict[str, Any] = json.loads(data or b"{}")
    return request


def spawn(request: dict[str, Any]) -> subprocess.Popen[bytes]:
    """Start the command in its own process group."""
    env = dict(os.environ) | {str(k): str(v) for k, v in request.get("env", {}).items()}
    return subprocess.Popen(
        ["/bin/sh", "-c", str(request["command"])],
        cwd=str(request.get("cwd") or "."),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the command and everything it started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def pump(conn: socket.socket, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Forward output until both pipes close; True when the timeout killed the command."""
    sel = selectors.DefaultSelector()
    decoders = {}
    for name, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        assert pipe is not None
        sel.register(pipe, selectors.EVENT_READ, name)
        decoders[name] = codecs.getincrementaldecoder("utf-8")("replace")
    sel.register(conn, selectors.EVENT_READ, "client")
    client: socket.socket | None = conn
    open_pipes, timed_out = 2, False
    deadline = time.monotonic() + timeout
    while open_pipes:
        left = deadline - time.monotonic()
        if left <= 0 and not timed_out:
            timed_out = True
            kill_group(proc)
        if timed_out and left < -1 and proc.poll() is not None:
            break  # an escaped descendant still holds the pipes: give up on them
        for key, _ in sel.select(max(left, 0.05)):
            if key.data == "client":  # the client sends nothing more: this is a hang-up
                sel.unregister(conn)
                client = None
                kill_group(proc)
                continue
            data = os.read(key.fd, CHUNK)
            if not data:
                sel.unregister(key.fileobj)
                open_pipes -= 1
            elif client is not None:
                send(client, {key.data: decoders[key.data].decode(data)})
    sel.close()
    return timed_out


def serve(conn: socket.socket) -> None:
    """Answer one request."""
    try:
        request = read_request(conn)
        if request.get("op") == "ping":
            send(conn, {"pong": os.getpid()})
            return
        try:
            proc = spawn(request)
        except OSError as exc:
            send(conn, {"stderr": f"{exc}\n"})
            send(conn, {"exit": 127, "timed_out": False})
            return
        timed_out = pump(conn, proc, float(request.get("timeout", 60)))
        code = proc.wait()
        send(conn, {"exit": code if code >= 0 else 128 - code, "timed_out": timed_out})
    except (OSError, ValueError):
        pass
    finally:
        conn.close()


def main() -> None:
    """Accept connections on the inherited listening socket, one thread per request."""
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    listener = socket.socket(fileno=int(sys.argv[1]))
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
