"""bench/auth's own load shapes, run in the load-generator process like `loadgen.load`.

`chains`: refresh-token chains whose tokens change length (a session-signed token grows by a
character as its counter's varint grows), so each request is built afresh with its body's
length; `paced`: one request every `interval` seconds on one connection, to sample a
route's latency without adding load of its own (a probe running flat out took a core's
worth of the server's CPU from the sign-ins it was meant to watch).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from typing import Any

from loadgen import http_request


def _run(main: Coroutine[Any, Any, list[float]]) -> list[float]:
    try:
        import uvloop  # optional: a cheaper client loop, as loadgen's

        return uvloop.run(main)
    except ImportError:
        return asyncio.run(main)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> bytes:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 2"):
        raise RuntimeError(head.decode(errors="replace"))
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    return await reader.readexactly(length)


async def _chain(
    port: int, path: str, headers: dict[str, str], token: str, stop: float, lat: list[float]
) -> str:
    """One connection refreshing its own chain until `stop`; the token it ends with."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop:
            body = json.dumps({"refresh_token": token}).encode()
            request = http_request(port, "POST", path, headers, body)
            start = time.perf_counter()
            answer = await _exchange(reader, writer, request)
            lat.append(time.perf_counter() - start)
            token = json.loads(answer)["refresh_token"]
    finally:
        writer.close()
    return token


async def _chains(
    port: int, path: str, headers: dict[str, str], firsts: list[str], seconds: float,
    warmup: float,
) -> list[float]:  # fmt: skip
    stop = time.perf_counter() + warmup
    tokens = await asyncio.gather(*(_chain(port, path, headers, t, stop, []) for t in firsts))
    lat: list[float] = []
    start = time.perf_counter()
    stop = start + seconds
    await asyncio.gather(*(_chain(port, path, headers, t, stop, lat) for t in tokens))
    return [time.perf_counter() - start, *lat]


def chains(
    port: int, path: str, headers: dict[str, str], firsts: list[str], seconds: float,
    *, warmup: float = 0.0,
) -> list[float]:  # fmt: skip
    """[elapsed, latencies…]: one connection per first token, each following its chain."""
    return _run(_chains(port, path, headers, firsts, seconds, warmup))


async def _paced(port: int, request: bytes, seconds: float, interval: float) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lat: list[float] = []
    begin = time.perf_counter()
    try:
        while (start := time.perf_counter()) < begin + seconds:
            await _exchange(reader, writer, request)
            lat.append(time.perf_counter() - start)
            await asyncio.sleep(max(0.0, start + interval - time.perf_counter()))
    finally:
        writer.close()
    return [time.perf_counter() - begin, *lat]


def paced(port: int, request: bytes, seconds: float, interval: float = 0.01) -> list[float]:
    """[elapsed, latencies…] of `request` sent every `interval` seconds on one connection."""
    return _run(_paced(port, request, seconds, interval))
