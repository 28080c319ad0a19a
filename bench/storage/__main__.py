"""Storage benchmark: NEO over HTTP vs the same bytes written/read directly on the backend dir.

Run: `python bench/storage [--count 200] [--large-mib 256 | --gib]`. Starts an embedded
PostgreSQL (or uses DATABASE_URL), runs NEO (uvicorn, one worker) as a child process with the
local backend, and prints MB/s for upload and download of `count` x 1 MiB objects and of one
large object, the ratio to direct disk I/O (same chunk size, fsync after each write like the
backend), and the server's peak RSS growth over its idle RSS. Before the downloads, both
sides' files are dropped from the page cache (`--warm` keeps them), so both read the disk.
Issue 6 targets: ratio >= 0.7, >= 300 MB/s for the 1 GiB object, RSS growth < 50 MB.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: shared helpers
from scratch import scratch_database

from neo.kit.net import free_port

MIB = 1024 * 1024
SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"  # noqa: S105 (demo)
SERVICE_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vf"
    "cm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU"
)
AUTH = {"authorization": f"Bearer {SERVICE_KEY}"}
BLOCK = os.urandom(MIB)


def chunks(size: int) -> Iterator[bytes]:
    """`size` bytes as 1 MiB blocks (the last one shorter)."""
    sent = 0
    while sent < size:
        block = BLOCK[: min(MIB, size - sent)]
        sent += len(block)
        yield block


class PeakRss:
    """Samples a process's RSS every 20 ms; `peak` is the highest seen."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def neo_server(db_url: str, data_dir: Path, *, fsync: bool) -> Iterator[tuple[str, int]]:
    """NEO in a child process; (base URL, pid)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO_")}
    env |= {"DATABASE_URL": db_url, "JWT_SECRET": SECRET, "NEO_DATA_DIR": str(data_dir)}
    env |= {"NEO_LOG__LEVEL": "warning", "NEO_LOG__ACCESS_LOG": "false"}
    env |= {"NEO_STORAGE__FILE_SIZE_LIMIT": str(2 << 30), "NEO_STORAGE__FSYNC": str(fsync)}
    cmd = [sys.executable, "-m", "uvicorn", "neo.app:app_from_env", "--factory", "--port"]
    proc = subprocess.Popen([*cmd, str(port), "--log-level", "warning"], env=env, cwd=data_dir)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/health").status_code < 500:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def direct_write(folder: Path, names: list[str], size: int, *, fsync: bool) -> float:
    """Seconds to write each file as the local backend does (1 MiB writes, fsync)."""
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for name in names:
        with open(folder / name, "wb") as f:
            for block in chunks(size):
                f.write(block)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
    return time.perf_counter() - start


def evict(folder: Path) -> None:
    """Drop every file under `folder` from the page cache (written back first)."""
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fdatasync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def direct_read(folder: Path, names: list[str]) -> float:
    """Seconds to read each file back in 1 MiB reads."""
    start = time.perf_counter()
    for name in names:
        with open(folder / name, "rb") as f:
            while f.read(MIB):
                pass
    return time.perf_counter() - start


class RawHttp:
    """A minimal keep-alive HTTP/1.1 client on one socket: fast enough not to be what is
    measured (httpx tops out well below NEO on loopback). Bodies are streamed, responses
    read into one reused buffer and discarded."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.address = (host, int(port))
        self.buf = bytearray(MIB)
        self.sock = self._connect()

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def reconnect(self) -> None:
        """A fresh connection: uvicorn closes keep-alive ones idle for 5 s (the direct
        side's fsyncs and page-cache evictions can take longer)."""
        self.sock.close()
        self.sock = self._connect()

    def close(self) -> None:
        self.sock.close()

    def request(self, method: str, path: str, size: int = 0) -> int:
        """Send a request (a body of `size` bytes), read the whole response; the status."""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: {AUTH['authorization']}\r\n"
        )
        if size:
            head += f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n"
        self.sock.sendall(head.encode() + b"\r\n")
        try:
            for block in chunks(size):
                self.sock.sendall(block)
        except (BrokenPipeError, ConnectionResetError):  # the server answered early
            self.sock.settimeout(5)
            raise ConnectionError(f"{method} {path}: {self.sock.recv(4096)!r}") from None
        return self._response()

    def _response(self) -> int:
        data = b""
        while b"\r\n\r\n" not in data:
            data += self.sock.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields = dict(line.lower().split(": ", 1) for line in lines[1:])
        left = int(fields.get("content-length", "0")) - len(rest)
        view = memoryview(self.buf)
        while left > 0:
            got = self.sock.recv_into(view, min(left, MIB))
            if not got:
                raise ConnectionError("server closed the connection")
            left -= got
        return int(lines[0].split()[1])


def neo_upload(client: RawHttp, bucket: str, names: list[str], size: int) -> float:
    """Seconds to upload each object over HTTP (streamed, raw body)."""
    client.reconnect()
    start = time.perf_counter()
    for name in names:
        status = client.request("POST", f"/storage/v1/object/{bucket}/{name}", size)
        assert status == 200, status
    return time.perf_counter() - start


def neo_download(client: RawHttp, bucket: str, names: list[str]) -> float:
    """Seconds to download each object over HTTP (streamed, discarded)."""
    client.reconnect()
    start = time.perf_counter()
    for name in names:
        status = client.request("GET", f"/storage/v1/object/{bucket}/{name}")
        assert status == 200, status
    return time.perf_counter() - start


@dataclass(frozen=True)
class Bench:
    """A running NEO, a client for it, and the scratch folder for direct I/O."""

    client: RawHttp
    pid: int
    work: Path
    fsync: bool
    warm: bool


def run_case(label: str, count: int, size: int, bench: Bench) -> list[list[str]]:
    """Rows (upload, download) of one case."""
    client, pid, work = bench.client, bench.pid, bench.work
    names = [f"{label}-{i}.bin" for i in range(count)]
    total_mb = count * size / 1e6
    d_up = direct_write(work / "direct" / label, names, size, fsync=bench.fsync)
    if not bench.warm:
        evict(work / "direct" / label)
    d_down = direct_read(work / "direct" / label, names)
    idle = psutil.Process(pid).memory_info().rss
    with PeakRss(pid) as rss:
        n_up = neo_upload(client, "bench", names, size)
        if not bench.warm:
            evict(work / "storage" / "bench")
        n_down = neo_download(client, "bench", names)
    growth = (rss.peak - idle) / 1e6
    rows = []
    for op, direct, neo in (("upload", d_up, n_up), ("download", d_down, n_down)):
        rows.append([f"{label} {op}", f"{total_mb / direct:,.0f}", f"{total_mb / neo:,.0f}",
                     f"{direct / neo:.2f}", f"{growth:.1f}"])  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="number of 1 MiB objects")
    parser.add_argument("--large-mib", type=int, default=256, help="size of the large object")
    parser.add_argument("--gib", action="store_true", help="large object of 1 GiB")
    parser.add_argument(
        "--no-fsync", action="store_true", help="NEO_STORAGE__FSYNC=false, and no fsync direct"
    )
    parser.add_argument(
        "--warm", action="store_true", help="downloads read the page cache (both sides)"
    )
    args = parser.parse_args()
    large = (1024 if args.gib else args.large_mib) * MIB
    with tempfile.TemporaryDirectory(prefix="neo-bench-") as tmp:
        work = Path(tmp)
        with (
            scratch_database(work, "neo_bench") as db_url,
            neo_server(db_url, work, fsync=not args.no_fsync) as (base, pid),
        ):
            httpx.post(f"{base}/storage/v1/bucket", json={"name": "bench"}, headers=AUTH)
            client = RawHttp(base)
            try:
                bench = Bench(client, pid, work, fsync=not args.no_fsync, warm=args.warm)
                rows = run_case("1MiB", args.count, MIB, bench)
                rows += run_case(f"{large // MIB}MiB", 1, large, bench)
            finally:
                client.close()
    header = ["case", "direct MB/s", "NEO MB/s", "ratio", "peak RSS growth MB"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
