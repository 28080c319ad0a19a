"""A WebSocket echo server in the standard library alone, uploaded into sandboxes by the
preview tests (their images have no `websockets`): `python3 ws_echo.py PORT` answers each
text message `m` with `echo:m` on 127.0.0.1:PORT (small unfragmented messages only)."""

import base64
import contextlib
import hashlib
import socket
import struct
import sys

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def handshake(conn: socket.socket) -> bool:
    """Answer the upgrade request; False when the client left first."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(4096)
        if not chunk:
            return False
        head += chunk
    lines = head.split(b"\r\n")
    key = next(
        x.split(b":", 1)[1].strip() for x in lines if x.lower().startswith(b"sec-websocket-key")
    )
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())  # noqa: S324 - the protocol's
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    return True


def receive(conn: socket.socket) -> tuple[int, bytes]:
    """One client frame: opcode and unmasked payload."""
    header = conn.recv(2)
    if len(header) < 2:
        return 8, b""  # the client left: as a close
    first, second = header
    size = second & 127
    if size == 126:
        size = struct.unpack(">H", conn.recv(2))[0]
    mask = conn.recv(4)
    data = b""
    while len(data) < size:
        data += conn.recv(size - len(data))
    return first & 15, bytes(c ^ mask[i % 4] for i, c in enumerate(data))


def echo(conn: socket.socket) -> None:
    """Answer messages until the client closes."""
    while True:
        opcode, data = receive(conn)
        if opcode == 8:
            conn.sendall(b"\x88\x00")
            return
        reply = b"echo:" + data
        conn.sendall(bytes([0x81, len(reply)]) + reply)


def main() -> None:
    """Serve one client at a time, forever."""
    server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
    while True:
        conn, _ = server.accept()
        with contextlib.suppress(OSError):
            if handshake(conn):
                echo(conn)
        conn.close()


if __name__ == "__main__":
    main()
