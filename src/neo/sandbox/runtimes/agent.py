"""The in-sandbox agent: a standalone script (standard library only, no NEO imports) that
every runtime starts inside the sandbox, serving exec requests over a Unix socket.

The local runtime creates the listening socket and hands it over as an inherited descriptor
(`argv[1]` is a number), so the sandbox never controls the socket's path; a container runtime,
which cannot pass descriptors, gives a path instead (`argv[1]` in a directory bound from the
host) and checks the peer's uid on every connection. Protocol, one connection per request: the
client sends one JSON line `{"op": "exec", "command", "cwd", "env", "timeout"}` (or
`{"op": "ping"}`); the agent answers with JSON lines `{"stdout": "..."}`, `{"stderr": "..."}`
and finally `{"exit": code, "timed_out": bool}`. A client that hangs up kills its command.

`{"op": "pty", "command", "cwd", "env", "cols", "rows"}` runs the command on a new pseudo-
terminal and turns the connection into binary frames (one type byte, a 4-byte big-endian
length, the payload): the agent sends `o` (opened: the pid) once, then `d` (terminal output)
and finally `x` (the exit code as text); the client sends `d` (input) and `r` (resize: two
big-endian 16-bit numbers, columns then rows). A client that hangs up kills the terminal's
process group.

Background commands outlive their connection: `{"op": "start", "command", "cwd", "env"}`
answers `{"id", "pid"}` at once; `{"op": "status" | "kill", "id"}`, `{"op": "logs", "id",
"stdout_offset", "stderr_offset"}` and `{"op": "list"}` answer one JSON line each. Their output
is kept in memory up to `KEEP` bytes per stream (the rest is counted, not kept).

`{"op": "connect", "port"}` connects to that TCP port on the sandbox's own loopback, answers
`{"ok": true}` (or `{"error"}`), then relays raw bytes both ways until either side closes
(preview URLs; sandboxes whose seccomp filter refuses IP sockets answer an error).

`agent_c/` is the same protocol in C, the default of the local and docker runtimes
(`agent_build.py`); it answers a request it cannot parse with `{"error": "bad_request",
"message"}` where this agent hangs up.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from typing import Any

CHUNK = 65536
KEEP = 1 << 20  # bytes of output kept per stream of a background command
MAX_COMMANDS = 64  # background commands remembered; the oldest finished ones are forgotten
FRAME = struct.Struct(">cI")
SIZE = struct.Struct(">HH")


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
                tail = decoders[key.data].decode(b"", final=True)  # a sequence cut short
                if tail and client is not None:
                    send(client, {key.data: tail})
            elif client is not None:
                send(client, {key.data: decoders[key.data].decode(data)})
    sel.close()
    return timed_out


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    """One binary frame of the terminal protocol."""
    return FRAME.pack(kind, len(payload)) + payload


def set_size(fd: int, cols: int, rows: int) -> None:
    """Tell the terminal (and its foreground processes, by SIGWINCH) its size."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def spawn_pty(request: dict[str, Any]) -> tuple[int, int]:
    """Start the command as a session leader on a new terminal; (pid, the master's fd)."""
    env = dict(os.environ) | {str(k): str(v) for k, v in request.get("env", {}).items()}
    env.setdefault("TERM", "xterm-256color")
    argv = ["/bin/sh", "-c", str(request["command"])] if request.get("command") else ["/bin/sh"]
    cwd = str(request.get("cwd") or ".")
    pid, master = os.forkpty()  # the child: setsid, the terminal as stdin/out/err and ctty
    if pid == 0:
        try:
            os.chdir(cwd)
            os.execve(argv[0], argv, env)  # noqa: S606 - argv[0] is /bin/sh
        finally:
            os._exit(127)
    set_size(master, int(request.get("cols", 80)), int(request.get("rows", 24)))
    return pid, master


def pump_pty(conn: socket.socket, pid: int, master: int) -> None:
    """Move bytes between the client and the terminal until the terminal closes."""
    sel = selectors.DefaultSelector()
    sel.register(master, selectors.EVENT_READ, "terminal")
    sel.register(conn, selectors.EVENT_READ, "client")
    pending = b""
    while True:
        for key, _ in sel.select():
            if key.data == "terminal":
                try:
                    data = os.read(master, CHUNK)
                except OSError:  # EIO: every process left the terminal
                    data = b""
                if not data:
                    sel.close()
                    return
                conn.sendall(frame(b"d", data))
                continue
            chunk = conn.recv(CHUNK)
            if not chunk:  # the client hung up
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                sel.unregister(conn)
                continue
            pending += chunk
            while len(pending) >= FRAME.size:
                kind, size = FRAME.unpack_from(pending)
                if len(pending) < FRAME.size + size:
                    break
                payload = pending[FRAME.size : FRAME.size + size]
                pending = pending[FRAME.size + size :]
                if kind == b"d":
                    os.write(master, payload)
                elif kind == b"r" and size == SIZE.size:
                    set_size(master, *SIZE.unpack(payload))


def serve_pty(conn: socket.socket, request: dict[str, Any]) -> None:
    """Run a terminal for one client."""
    try:
        pid, master = spawn_pty(request)
    except OSError as exc:
        conn.sendall(frame(b"x", f"127 {exc}".encode()))
        return
    try:
        conn.sendall(frame(b"o", str(pid).encode()))
        pump_pty(conn, pid, master)
    except OSError:
        pass  # the client is gone
    finally:
        os.close(master)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # what is left of the session goes with it
        _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with contextlib.suppress(OSError):
        conn.sendall(frame(b"x", str(code if code >= 0 else 128 - code).encode()))


def relay(conn: socket.socket, request: dict[str, Any]) -> None:
    """Connect to a loopback port and copy bytes both ways until one side closes."""
    port = int(request["port"])
    try:
        upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError as exc:
        send(conn, {"error": "connect_failed", "message": exc.strerror or str(exc)})
        return
    upstream.settimeout(None)
    send(conn, {"ok": True})
    sel = selectors.DefaultSelector()
    sel.register(conn, selectors.EVENT_READ, (conn, upstream))
    sel.register(upstream, selectors.EVENT_READ, (upstream, conn))
    try:
        while sel.get_map():  # until both sides have said all they will
            for key, _ in sel.select():
                source, target = key.data
                data = source.recv(CHUNK)
                if data:
                    target.sendall(data)
                    continue
                sel.unregister(source)
                with contextlib.suppress(OSError):
                    target.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # one side went away
    finally:
        sel.close()
        upstream.close()


class Background:
    """A command running (or finished) in the background, and its output so far."""

    def __init__(self, number: int, request: dict[str, Any]) -> None:
        self.id = f"cmd-{number}"
        self.command = str(request["command"])
        self.proc = spawn(request)
        self.output = {"stdout": bytearray(), "stderr": bytearray()}
        self.dropped = {"stdout": 0, "stderr": 0}
        self.started = time.time()
        self.exit_code: int | None = None
        threading.Thread(target=self.collect, daemon=True).start()

    def collect(self) -> None:
        sel = selectors.DefaultSelector()
        for name, pipe in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr)):
            assert pipe is not None
            sel.register(pipe, selectors.EVENT_READ, name)
        open_pipes = 2
        while open_pipes:
            for key, _ in sel.select():
                data = os.read(key.fd, CHUNK)
                if not data:
                    sel.unregister(key.fileobj)
                    open_pipes -= 1
                    continue
                kept = self.output[key.data]
                room = max(KEEP - len(kept), 0)
                kept += data[:room]
                self.dropped[key.data] += max(len(data) - room, 0)
        sel.close()
        code = self.proc.wait()
        self.exit_code = code if code >= 0 else 128 - code

    def status(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "command": self.command,
            "pid": self.proc.pid,
            "started_at": self.started,
            "running": self.exit_code is None,
            "exit_code": self.exit_code,
            "stdout_bytes": len(self.output["stdout"]) + self.dropped["stdout"],
            "stderr_bytes": len(self.output["stderr"]) + self.dropped["stderr"],
        }

    def logs(self, request: dict[str, Any]) -> dict[str, Any]:
        answer = self.status()
        for name in ("stdout", "stderr"):
            offset = max(int(request.get(f"{name}_offset", 0)), 0)
            answer[name] = bytes(self.output[name][offset:]).decode("utf-8", "replace")
        return answer


class Commands:
    """The agent's background commands."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_id: dict[str, Background] = {}
        self.count = 0

    def start(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.count += 1
            number = self.count
            done = [c for c in self.by_id.values() if c.exit_code is not None]
            for old in done[: max(len(self.by_id) - MAX_COMMANDS + 1, 0)]:
                del self.by_id[old.id]
        command = Background(number, request)
        with self.lock:
            self.by_id[command.id] = command
        return {"id": command.id, "pid": command.proc.pid}

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "start":
            return self.start(request)
        if op == "list":
            with self.lock:
                return {"commands": [c.status() for c in self.by_id.values()]}
        with self.lock:
            command = self.by_id.get(str(request.get("id")))
        if command is None:
            return {"error": "not_found"}
        if op == "kill":
            kill_group(command.proc)
            return command.status()
        return command.logs(request) if op == "logs" else command.status()


def serve(conn: socket.socket, commands: Commands) -> None:
    """Answer one request."""
    try:
        request = read_request(conn)
        if request.get("op") == "ping":
            send(conn, {"pong": os.getpid()})
            return
        if request.get("op") == "pty":
            serve_pty(conn, request)
            return
        if request.get("op") == "connect":
            relay(conn, request)
            return
        if request.get("op") in ("start", "status", "logs", "kill", "list"):
            try:
                send(conn, commands.answer(request))
            except OSError as exc:
                send(conn, {"error": "spawn_failed", "message": str(exc)})
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
    except (OSError, ValueError, KeyError, TypeError):  # a bad request: hang up
        pass
    finally:
        conn.close()


def listen(where: str) -> socket.socket:
    """The inherited listening socket (a descriptor number), or a new one bound at a path."""
    if where.isdigit():
        return socket.socket(fileno=int(where))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(where)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(where)
    os.chmod(where, 0o600)
    listener.listen(128)
    return listener


def main() -> None:
    """Accept connections on the inherited listening socket, one thread per request."""
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    listener = listen(sys.argv[1])
    commands = Commands()
    while True:
        conn, _ = listener.accept()
        try:
            threading.Thread(target=serve, args=(conn, commands), daemon=True).start()
        except RuntimeError:  # no thread left (a fork bomb holds the pids limit): refuse this one
            conn.close()


if __name__ == "__main__":
    main()
