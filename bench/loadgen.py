"""Shared by the benchmarks: a minimal keep-alive HTTP/1.1 load generator.

Run it in a process of its own (`ProcessPoolExecutor`), so that it does not take the
server's event loop; on a 2-core machine an HTTP client library (httpx) spends more CPU per
request than the server it measures, so this one does no more than write the request bytes
and read the head and the `content-length` bytes of the answer. With `follow`, each
connection carries a chain: the value of the JSON member `follow` in an answer replaces the
previous value in the next request (a refresh token, say); values keep their length.
"""

from __future__ import annotations

import asyncio
import json
import time


def http_request(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> bytes:
    """The bytes of one HTTP/1.1 request to 127.0.0.1:`port`."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _worker(
    port: int, request: bytes, stop: float, lat: list[float], follow: str | None, last: str
) -> tuple[bytes, str]:
    """One connection sending `request` until `stop`; where its chain ended."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 2"):
                raise RuntimeError(head.decode(errors="replace"))
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            body = await reader.readexactly(length)
            lat.append(time.perf_counter() - start)
            if follow is not None:
                value = str(json.loads(body)[follow])
                request = request.replace(last.encode(), value.encode())
                last = value
    finally:
        writer.close()
    return request, last


async def _measure(
    port: int,
    requests: list[bytes],
    seconds: float,
    follow: str | None,
    firsts: list[str],
    warmup: float,
) -> list[float]:
    """A warm-up (the server opens its pool connections, prepares its statements), then the
    measured run on the same chains."""
    stop = time.perf_counter() + warmup
    ends = await asyncio.gather(
        *(_worker(port, r, stop, [], follow, f) for r, f in zip(requests, firsts, strict=True))
    )
    lat: list[float] = []
    start = time.perf_counter()
    await asyncio.gather(*(_worker(port, r, start + seconds, lat, follow, f) for r, f in ends))
    return [time.perf_counter() - start, *lat]


def load(
    port: int,
    requests: list[bytes],
    seconds: float,
    *,
    follow: str | None = None,
    firsts: list[str] | None = None,
    warmup: float = 0.0,
) -> list[float]:
    """[elapsed, latencies…]: one connection per request of `requests`, for `seconds` after
    `warmup` seconds not measured. With `follow`, `firsts[i]` is the value request i carries
    at the start.
    """
    values = firsts if firsts is not None else [""] * len(requests)
    try:
        import uvloop  # optional: a cheaper client loop

        return uvloop.run(_measure(port, requests, seconds, follow, values, warmup))
    except ImportError:
        return asyncio.run(_measure(port, requests, seconds, follow, values, warmup))
