"""The host-side filtering proxy of sandboxes with an egress allow-list.

The sandbox keeps its own network namespace with no route out. NEO (root on the host) creates
a listening TCP socket *inside* that namespace, on the sandbox's loopback at `PROXY_PORT`, by
entering the namespace from a short-lived thread (`setns`); a socket stays in the namespace it
was made in, so NEO accepts the sandbox's connections while every outgoing connection it makes
leaves from the host's namespace. Nothing in the sandbox can reach anything else: enforcement
is the namespace, and `HTTP_PROXY`/`HTTPS_PROXY` only tell ordinary clients where to go.

Served: `CONNECT host:port` (HTTPS and any TCP) and plain HTTP forwarding of absolute URIs
(`GET http://host/path`), one request per connection (`Connection: close` upstream). Each
destination is checked against the sandbox's `Policy` (`egress.py`): name, port, then the
resolved address, which is the one connected to. Refusals answer 403 with the reason; the log
records sandbox, host, port and reason (never headers).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import socket
import threading
from collections.abc import Mapping
from pathlib import Path

import structlog

from neo.sandbox.runtimes.egress import IPAddress, Policy, Refused, parse_rules

log = structlog.get_logger("neo.sandbox.egress")

PROXY_PORT = 3128  # on each allow-mode sandbox's own loopback
CLONE_NEWNET = 0x40000000
HEAD_LIMIT = 16384  # bytes of request line and headers
HEAD_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0
MAX_CONNECTIONS = 128  # open proxied connections per sandbox
CHUNK = 65536
# Not passed on; Host is set from the checked target instead (no virtual-host switching).
HOP_HEADERS = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization", b"te",
     b"trailer", b"upgrade", b"proxy-authenticate", b"host"}
)  # fmt: skip


def proxy_env() -> dict[str, str]:
    """What tells clients inside an allow-mode sandbox to use the proxy (convenience only)."""
    url = f"http://127.0.0.1:{PROXY_PORT}"
    names = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
    no_proxy = "localhost,127.0.0.1,::1"
    return dict.fromkeys(names, url) | {"NO_PROXY": no_proxy, "no_proxy": no_proxy}


def netns_pid(pids: list[int]) -> int | None:
    """A process among `pids` and their descendants whose network namespace is not NEO's."""
    own = os.stat("/proc/self/ns/net").st_ino
    todo, seen = list(pids), set()
    while todo:
        pid = todo.pop(0)
        if pid in seen:
            continue
        seen.add(pid)
        with contextlib.suppress(OSError):
            if os.stat(f"/proc/{pid}/ns/net").st_ino != own:
                return pid
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return None


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def listen_in_netns(pid: int, port: int = PROXY_PORT) -> socket.socket:
    """A listening socket on 127.0.0.1:`port` of the network namespace of `pid`."""
    result: list[socket.socket | BaseException] = []

    def enter() -> None:  # a thread of its own: setns changes the calling thread only
        libc = _libc()
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(target, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns into the sandbox: {os.strerror(err)}")
            finally:
                os.close(target)
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind(("127.0.0.1", port))
                    sock.listen(128)
                    sock.setblocking(False)
                except BaseException:
                    sock.close()
                    raise
                result.append(sock)
            finally:
                if libc.setns(own, CLONE_NEWNET) != 0:  # the thread ends here either way
                    result.append(OSError(ctypes.get_errno(), "setns back"))
        except BaseException as exc:
            result.append(exc)
        finally:
            os.close(own)

    thread = threading.Thread(target=enter, name="neo-egress-setns")
    thread.start()
    thread.join()
    errors = [r for r in result if isinstance(r, BaseException)]
    socks = [r for r in result if isinstance(r, socket.socket)]
    if errors:
        for sock in socks:
            sock.close()
        raise errors[0]
    return socks[0]


class EgressProxy:
    """Filtering proxies of running allow-mode sandboxes, one listener each."""

    def __init__(self, hosts: Mapping[str, str] | None = None) -> None:
        self.hosts = dict(hosts or {})  # static name table consulted before DNS
        self._servers: dict[str, asyncio.Server] = {}
        self._clients: dict[str, set[asyncio.Task[None]]] = {}

    def serving(self, sandbox_id: str) -> bool:
        """Whether the sandbox's proxy listens."""
        return sandbox_id in self._servers

    async def open(self, sandbox_id: str, pids: list[int], allow: tuple[str, ...]) -> None:
        """Serve the proxy inside the namespace of the sandbox whose processes are `pids`."""
        await self.close(sandbox_id)
        pid = netns_pid(pids)
        if pid is None:
            raise OSError(f"no process of sandbox {sandbox_id} in its own network namespace")
        sock = await asyncio.to_thread(listen_in_netns, pid)
        policy = Policy(parse_rules(allow), self.hosts)
        clients: set[asyncio.Task[None]] = set()
        self._clients[sandbox_id] = clients

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if len(clients) >= MAX_CONNECTIONS:
                writer.close()
                return
            task = asyncio.current_task()
            assert task is not None
            clients.add(task)
            try:
                await _serve(sandbox_id, policy, reader, writer)
            finally:
                clients.discard(task)

        self._servers[sandbox_id] = await asyncio.start_server(handle, sock=sock, limit=HEAD_LIMIT)

    async def close(self, sandbox_id: str) -> None:
        """Stop the sandbox's proxy (its namespace is freed with the listener)."""
        server = self._servers.pop(sandbox_id, None)
        for task in self._clients.pop(sandbox_id, set()):
            task.cancel()  # open relays end, their upstream connections closed
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)

    async def close_all(self) -> None:
        """Stop every proxy."""
        for sandbox_id in list(self._servers):
            await self.close(sandbox_id)


async def _serve(
    sandbox_id: str, policy: Policy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            return await _answer(writer, 400, "incomplete or oversized request head")
        if len(head) > HEAD_LIMIT:
            return await _answer(writer, 431, "request head too large")
        request = _parse(head)
        if request is None:
            return await _answer(writer, 400, "expected CONNECT host:port or an absolute http URI")
        method, host, port, first, headers = request
        try:
            upstream = await _connect(policy, host, port)
        except Refused as exc:
            log.info("egress_refused", sandbox=sandbox_id, host=host, port=port, reason=str(exc))
            return await _answer(writer, 403, str(exc))
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            return await _answer(writer, 502, f"cannot reach {host}:{port}: {why}")
        up_reader, up_writer = upstream
        if method == b"CONNECT":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            up_writer.write(first + b"".join(headers) + b"Connection: close\r\n\r\n")
        await _relay(reader, writer, up_reader, up_writer)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    except Exception as exc:  # one connection's failure; the proxy goes on serving
        log.warning("egress_error", sandbox=sandbox_id, error=type(exc).__name__)
    finally:
        writer.close()


def _parse(head: bytes) -> tuple[bytes, str, int, bytes, list[bytes]] | None:
    """Method, host, port, the request line to send upstream and the headers to pass on."""
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return None
    method, target, version = parts
    if method == b"CONNECT":
        authority, path = target.decode("latin-1"), b""
    elif target.lower().startswith(b"http://"):
        rest = target[7:].decode("latin-1")
        authority, _, tail = rest.partition("/")
        path = ("/" + tail).encode("latin-1")
    else:
        return None
    hostport = _authority(authority, default=443 if method == b"CONNECT" else 80)
    if hostport is None or (method == b"CONNECT" and ":" not in authority):
        return None
    headers = [b"Host: " + authority.encode("latin-1") + b"\r\n"]
    headers += [
        line + b"\r\n"
        for line in lines[1:]
        if line.split(b":", 1)[0].strip().lower() not in HOP_HEADERS
    ]
    return method, *hostport, method + b" " + path + b" " + version + b"\r\n", headers


def _authority(text: str, *, default: int) -> tuple[str, int] | None:
    if "@" in text or not text:
        return None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return None
    return (host, int(port) if port else default) if host else None


async def _connect(
    policy: Policy, host: str, port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    name, address = policy.target(host, port)
    if address is None:
        address = await _resolve(policy, name, port)
    return await asyncio.wait_for(asyncio.open_connection(str(address), port), CONNECT_TIMEOUT)


async def _resolve(policy: Policy, name: str, port: int) -> IPAddress:
    fixed = policy.static(name)
    if fixed is not None:
        return policy.choose(name, port, [fixed])
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(exc.errno, exc.strerror) from None
    return policy.choose(name, port, [str(info[4][0]) for info in infos])


async def _relay(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    """Bytes both ways; the sandbox's end may half-close, the upstream's end closes both."""

    async def outbound() -> None:
        while data := await reader.read(CHUNK):
            up_writer.write(data)
            await up_writer.drain()
        if up_writer.can_write_eof():
            up_writer.write_eof()

    sending = asyncio.create_task(outbound())
    try:
        while data := await up_reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await sending
        up_writer.close()


async def _answer(writer: asyncio.StreamWriter, status: int, reason: str) -> None:
    phrases = {
        400: "Bad Request",
        403: "Forbidden",
        431: "Request Header Fields Too Large",
        502: "Bad Gateway",
    }
    body = f"neo egress proxy: {reason}\n".encode()
    writer.write(
        f"HTTP/1.1 {status} {phrases.get(status, 'Error')}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    with contextlib.suppress(ConnectionError):
        await writer.drain()
