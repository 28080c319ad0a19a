"""`SendfileProtocol` behind a real uvicorn on loopback, driven over raw sockets: whole files,
ranges after a first body chunk, HEAD, keep-alive, chunked responses, Starlette's
`FileResponse` (pathsend), slow readers, clients that hang up mid-file or before the
response starts, and TLS (no extensions offered, the bytes read and encrypted as usual)."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.responses import FileResponse

from neo.core.http_sendfile import PATHSEND, ZEROCOPY, SendfileProtocol
from neo.kit.net import free_port

MIB = 1024 * 1024


class FileApp:
    """Serves `path` by zero-copy send: `GET /whole`, `GET /range?start&end` (a first body
    chunk of 10 bytes, then the rest of the range), `GET /chunked` (no Content-Length),
    `GET /pathsend` (Starlette's FileResponse), `GET /ping`, `GET /late` (the whole file
    once the client has hung up)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.finished: list[str] = []
        self.extensions: dict[str, Any] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.extensions = scope.get("extensions", {})
        route = scope["path"]
        if route == "/pathsend":
            await FileResponse(self.path)(scope, receive, send)
        elif route == "/late":
            while (await receive())["type"] != "http.disconnect":
                pass
            await self._file(scope, send, route)
        elif route == "/ping":
            await send({"type": "http.response.start", "status": 200, "headers": _length(4)})
            await send({"type": "http.response.body", "body": b"pong"})
        else:
            await self._file(scope, send, route)
        self.finished.append(route)

    async def _file(self, scope: dict[str, Any], send: Any, route: str) -> None:
        size = self.path.stat().st_size
        query = dict(p.split("=") for p in scope["query_string"].decode().split("&") if p)
        start, end = int(query.get("start", 0)), int(query.get("end", size - 1))
        headers = [] if route == "/chunked" else _length(end - start + 1)
        with open(self.path, "rb") as file:  # noqa: ASYNC230 (a test app, a local file)
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            if route == "/range":
                first = os.pread(file.fileno(), 10, start)
                await send({"type": "http.response.body", "body": first, "more_body": True})
                start += 10
            message = {"type": ZEROCOPY, "file": file, "offset": start, "count": end - start + 1}
            await send(message)


def _length(n: int) -> list[tuple[bytes, bytes]]:
    return [(b"content-length", str(n).encode())]


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sendfile") / "payload.bin"
    path.write_bytes(os.urandom(24 * MIB + 123))
    return path


@contextmanager
def _serving(app: FileApp, **options: Any) -> Iterator[tuple[str, int]]:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=SendfileProtocol, log_config=None, lifespan="off",
        **options,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive()
        time.sleep(0.02)
    try:
        yield ("127.0.0.1", port)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="module")
def served(payload: Path) -> Iterator[tuple[FileApp, tuple[str, int]]]:
    app = FileApp(payload)
    with _serving(app) as address:
        yield app, address


def _request(sock: socket.socket, target: str, method: str = "GET") -> None:
    sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())


def _response(sock: socket.socket, *, head_only: bool = False) -> tuple[dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        got = sock.recv(65536)
        assert got, "connection closed before the headers"
        data += got
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
    fields["status"] = lines[0].split()[1]
    if head_only:
        return fields, body
    if fields.get("transfer-encoding") == "chunked":
        return fields, _dechunk(sock, body)
    chunks = [body]
    left = int(fields["content-length"]) - len(body)
    while left > 0:
        got = sock.recv(min(left, MIB))
        assert got, "connection closed mid-body"
        chunks.append(got)
        left -= len(got)
    return fields, b"".join(chunks)


def _dechunk(sock: socket.socket, data: bytes) -> bytes:
    while not data.endswith(b"0\r\n\r\n"):
        data += sock.recv(MIB)
    out, rest = [], data
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return b"".join(out)
        out.append(rest[:size])
        rest = rest[size + 2 :]


def _connect(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address, timeout=30)


def test_whole_file_then_a_range_on_one_keep_alive_connection(served: Any, payload: Path) -> None:
    app, address = served
    data = payload.read_bytes()
    with _connect(address) as sock:
        _request(sock, "/whole")
        headers, body = _response(sock)
        assert headers["status"] == "200"
        assert body == data
        _request(sock, f"/range?start=1000&end={5 * MIB}")
        _, body = _response(sock)
        assert body == data[1000 : 5 * MIB + 1]
    assert app.extensions.keys() >= {ZEROCOPY, PATHSEND}


def test_head_sends_headers_and_no_body(served: Any, payload: Path) -> None:
    _, address = served
    with _connect(address) as sock:
        _request(sock, "/whole", method="HEAD")
        headers, extra = _response(sock, head_only=True)
        assert headers["content-length"] == str(payload.stat().st_size)
        _request(sock, "/ping")  # nothing of the file was sent: the next response parses
        _, body = _response(sock)
        assert extra == b""
        assert body == b"pong"


def test_chunked_response_gets_the_file_as_body_chunks(served: Any, payload: Path) -> None:
    _, address = served
    with _connect(address) as sock:
        _request(sock, f"/chunked?start=7&end={2 * MIB}")
        headers, body = _response(sock)
        assert headers["transfer-encoding"] == "chunked"
        assert body == payload.read_bytes()[7 : 2 * MIB + 1]


def test_starlette_file_response_uses_pathsend(served: Any, payload: Path) -> None:
    _, address = served
    with _connect(address) as sock:
        _request(sock, "/pathsend")
        _, body = _response(sock)
        assert body == payload.read_bytes()


def test_slow_reader_does_not_hold_up_other_clients(served: Any, payload: Path) -> None:
    _, address = served
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    slow.connect(address)
    with slow, _connect(address) as other:
        _request(slow, "/whole")
        time.sleep(0.3)  # the socket fills; the server waits for it to drain
        started = time.monotonic()
        _request(other, "/ping")
        assert _response(other)[1] == b"pong"
        assert time.monotonic() - started < 2
        _, body = _response(slow)
        assert body == payload.read_bytes()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _leave_mid_file(address: tuple[str, int], *, reset: bool) -> None:
    """Ask for the whole file on a small receive buffer, read a little, hang up (with a
    reset, or a plain close)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect(address)
    _request(sock, "/whole")
    sock.recv(65536)
    if reset:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def test_client_hanging_up_mid_file_ends_the_response_cleanly(served: Any) -> None:
    app, address = served
    before = _open_fds()
    for _ in range(3):
        _leave_mid_file(address, reset=True)  # most of the file unsent
    deadline = time.monotonic() + 10
    while app.finished[-3:] != ["/whole"] * 3 or _open_fds() > before:
        assert time.monotonic() < deadline, (app.finished[-3:], _open_fds(), before)
        time.sleep(0.05)
    with _connect(address) as sock:
        _request(sock, "/ping")
        assert _response(sock)[1] == b"pong"


def test_a_copy_cut_short_never_sends_a_byte_to_another_connection(served: Any) -> None:
    """A client that leaves mid-file while the next one connects: the copy must not go on
    writing to the descriptor number, which by then names the next connection's socket."""
    _, address = served
    for _ in range(10):
        _leave_mid_file(address, reset=False)  # the server learns it from its next sends
        with _connect(address) as sock:
            _request(sock, "/ping")
            headers, body = _response(sock)
            assert (headers["status"], body) == ("200", b"pong")


def test_client_hanging_up_before_the_response_starts_drops_it_quietly(served: Any) -> None:
    app, address = served
    with _connect(address) as sock:
        _request(sock, "/late")
    deadline = time.monotonic() + 10
    while "/late" not in app.finished:  # the app ended without an error
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    here = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(hours=1))
        .add_extension(here, critical=False).sign(key, hashes.SHA256())
    )  # fmt: skip
    key_file, cert_file = folder / "key.pem", folder / "cert.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


def test_tls_connections_get_no_extensions_and_their_bytes_encrypted(
    payload: Path, tmp_path: Path
) -> None:
    key_file, cert_file = _self_signed(tmp_path)
    app = FileApp(payload)
    context = ssl.create_default_context(cafile=str(cert_file))
    with _serving(app, ssl_keyfile=str(key_file), ssl_certfile=str(cert_file)) as address:
        raw = _connect(address)
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            _request(sock, f"/range?start=5&end={3 * MIB}")  # sends a zero-copy message anyway
            _, body = _response(sock)  # type: ignore[arg-type]
    assert body == payload.read_bytes()[5 : 3 * MIB + 1]
    assert ZEROCOPY not in app.extensions
