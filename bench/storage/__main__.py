"""Storage benchmark: NEO over HTTP vs the same bytes written/read directly on the backend dir.

Run: `python bench/storage [--count 200] [--streams 8] [--rounds 3] [--large-mib 256 | --gib]`.
Starts an embedded PostgreSQL (or uses DATABASE_URL), runs NEO (uvicorn, one worker) as a
child process with the local backend and the HTTP protocol `neo start` serves with (zero-copy
file responses), and prints MB/s for upload and download of `count` x 1 MiB objects (one
stream, then `streams` concurrent ones on both sides) and of one large object, the ratio to
direct disk I/O (same chunk size, fsync after each write like the backend), the CPU each
side spent per MiB moved (the direct side's own; NEO's server process; PostgreSQL's, embedded
server only: on a shared machine these are steadier than the MB/s), and the server's peak RSS
growth over its idle RSS. Each case runs `rounds` times, the two sides taking turns at going
first, and each side's median round is shown. Before the downloads, both sides' files are
dropped from the page cache (`--warm` keeps them), so both read the disk.
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
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: shared helpers
from procs import child, cpu_seconds, postmasters
from scratch import scratch_database

from neo.kit.net import free_port

MIB = 1024 * 1024
SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"  # noqa: S105 (demo)
SERVICE_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vf"
    "cm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU"
)
AUTH = {"authorization": f"Bearer {SERVICE_KEY}"}
HTTP = "neo.core.http_sendfile:SendfileProtocol"  # the protocol `neo start` serves with
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
def neo_server(
    db_url: str,
    data_dir: Path,
    *,
    fsync: bool,
    http: str = HTTP,
    extra: dict[str, str] | None = None,
) -> Iterator[tuple[str, int]]:
    """NEO in a child process; (base URL, pid)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO_")}
    env |= {"DATABASE_URL": db_url, "JWT_SECRET": SECRET, "NEO_DATA_DIR": str(data_dir)}
    env |= {"NEO_LOG__LEVEL": "warning", "NEO_LOG__ACCESS_LOG": "false"}
    env |= {"NEO_STORAGE__FILE_SIZE_LIMIT": str(2 << 30), "NEO_STORAGE__FSYNC": str(fsync)}
    env |= extra or {}
    cmd = [sys.executable, "-m", "uvicorn", "neo.app:app_from_env", "--factory", "--port"]
    cmd += [str(port), "--log-level", "warning", "--http", http]
    proc = subprocess.Popen(cmd, env=env, cwd=data_dir)
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


@contextmanager
def bare_server(root: Path, *, http: str = HTTP) -> Iterator[tuple[str, int]]:
    """The bare HTTP baseline (`bare.py`) in a child process; (base URL, pid)."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "BARE_ROOT": str(root)}
    cmd = [sys.executable, "-m", "uvicorn", "bare:app", "--app-dir", str(Path(__file__).parent)]
    cmd += ["--port", str(port), "--log-level", "warning", "--http", http, "--no-access-log"]
    with child(cmd, env, root, f"http://127.0.0.1:{port}/health") as pid:
        yield f"http://127.0.0.1:{port}", pid


def direct_write(folder: Path, names: list[str], size: int, *, fsync: bool) -> None:
    """Write each file as the local backend does (1 MiB writes, fsync)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        with open(folder / name, "wb") as f:
            for block in chunks(size):
                f.write(block)
            f.flush()
            if fsync:
                os.fsync(f.fileno())


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


def direct_read(folder: Path, names: list[str]) -> None:
    """Read each file back in 1 MiB reads."""
    for name in names:
        with open(folder / name, "rb") as f:
            while f.read(MIB):
                pass


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


def neo_upload(client: RawHttp, bucket: str, names: list[str], size: int) -> None:
    """Upload each object over HTTP (streamed, raw body)."""
    for name in names:
        status = client.request("POST", f"/storage/v1/object/{bucket}/{name}", size)
        assert status == 200, status


def neo_download(client: RawHttp, bucket: str, names: list[str]) -> None:
    """Download each object over HTTP (streamed, discarded)."""
    for name in names:
        status = client.request("GET", f"/storage/v1/object/{bucket}/{name}")
        assert status == 200, status


@dataclass(frozen=True)
class Server:
    """An HTTP side of the bench: its clients (one per concurrent stream), its process, and
    the folder its objects land in."""

    clients: list[RawHttp]
    pid: int
    folder: Path


@dataclass(frozen=True)
class Bench:
    """NEO, the bare HTTP baseline, the worker threads that drive them and the direct side,
    the scratch folder for direct I/O, and the PostgreSQL processes whose CPU is accounted."""

    neo: Server
    bare: Server
    pool: ThreadPoolExecutor
    work: Path
    fsync: bool
    warm: bool
    pg: list[int]


@dataclass
class Phase:
    """One timed phase: seconds, and CPU seconds of this process, the side's server and
    PostgreSQL."""

    seconds: float = 0.0
    own_cpu: float = 0.0
    server_cpu: float = 0.0
    pg_cpu: float = 0.0


@contextmanager
def phase(bench: Bench, server: Server | None) -> Iterator[Phase]:
    """Time what runs inside, and the CPU each process spent meanwhile. Every dirty page of
    the machine is written back first, so no side pays for another's writes (PostgreSQL's
    WAL and checkpoints after NEO's uploads, the other sides' files)."""
    os.sync()
    result = Phase()
    pids = [server.pid] if server else []
    srv, pg = cpu_seconds(pids), cpu_seconds(bench.pg)
    own, start = time.process_time(), time.perf_counter()
    yield result
    result.seconds = time.perf_counter() - start
    result.own_cpu = time.process_time() - own
    result.server_cpu = _spent(srv, cpu_seconds(pids))
    result.pg_cpu = _spent(pg, cpu_seconds(bench.pg))


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


SIDES = ("direct", "bare", "neo")


def run_round(
    label: str, size: int, names: list[str], streams: int, bench: Bench, *, turn: int
) -> dict[str, Phase]:
    """One round of a case: the three sides write, then (every file dropped from the page
    cache) read the same objects; `turn` rotates which side goes first."""
    folder = bench.work / "direct" / label
    folder.mkdir(parents=True, exist_ok=True)
    shares = [names[i::streams] for i in range(streams)]

    def run(side: str, op: str) -> None:
        server = bench.neo if side == "neo" else bench.bare

        def one(i: int) -> None:
            if side == "direct" and op == "upload":
                direct_write(folder, shares[i], size, fsync=bench.fsync)
            elif side == "direct":
                direct_read(folder, shares[i])
            elif op == "upload":
                neo_upload(server.clients[i], "bench", shares[i], size)
            else:
                neo_download(server.clients[i], "bench", shares[i])

        list(bench.pool.map(one, range(streams)))

    order = SIDES[turn % 3 :] + SIDES[: turn % 3]
    phases: dict[str, Phase] = {}
    for op in ("upload", "download"):
        if op == "download" and not bench.warm:
            for where in (folder, bench.bare.folder, bench.neo.folder):
                evict(where)
        for side in order:
            server = {"neo": bench.neo, "bare": bench.bare}.get(side)
            for client in server.clients[:streams] if server else []:
                client.reconnect()
            with phase(bench, server) as timed:
                run(side, op)
            phases[f"{side} {op}"] = timed
    return phases


def run_case(
    label: str, count: int, size: int, streams: int, rounds: int, bench: Bench
) -> list[list[str]]:
    """Rows (upload, download) of one case: each side's median round (by time)."""
    idle = psutil.Process(bench.neo.pid).memory_info().rss
    results: list[dict[str, Phase]] = []
    with PeakRss(bench.neo.pid) as rss:
        for r in range(rounds):
            names = [f"{label}-{streams}-{r}-{i}.bin" for i in range(count)]
            results.append(run_round(label, size, names, streams, bench, turn=r))
    growth = (rss.peak - idle) / 1e6
    mib = count * size / MIB
    mb = count * size / 1e6
    rows = []
    for op in ("upload", "download"):
        direct, bare, neo = (_median(results, f"{side} {op}") for side in SIDES)
        name = f"{label} x{count}, {streams} stream{'s' if streams > 1 else ''} {op}"
        rows.append([name, f"{mb / direct.seconds:,.0f}", f"{mb / bare.seconds:,.0f}",
                     f"{mb / neo.seconds:,.0f}", f"{direct.seconds / neo.seconds:.2f}",
                     f"{bare.seconds / neo.seconds:.2f}", f"{1e3 * direct.own_cpu / mib:.2f}",
                     f"{1e3 * bare.server_cpu / mib:.2f}", f"{1e3 * neo.server_cpu / mib:.2f}",
                     f"{1e3 * neo.pg_cpu / mib:.2f}", f"{growth:.1f}"])  # fmt: skip
    return rows


def _median(results: list[dict[str, Phase]], key: str) -> Phase:
    """The round whose time for `key` is the median (the lower one of an even count)."""
    ordered = sorted((r[key] for r in results), key=lambda p: p.seconds)
    return ordered[(len(ordered) - 1) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="number of 1 MiB objects")
    parser.add_argument(
        "--streams", type=int, default=8, help="concurrent streams of the 1 MiB case's second row"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per case (median shown)")
    parser.add_argument("--large-mib", type=int, default=256, help="size of the large object")
    parser.add_argument("--gib", action="store_true", help="large object of 1 GiB")
    parser.add_argument(
        "--no-fsync", action="store_true", help="NEO_STORAGE__FSYNC=false, and no fsync direct"
    )
    parser.add_argument(
        "--warm", action="store_true", help="downloads read the page cache (both sides)"
    )
    parser.add_argument(
        "--http", default=HTTP, help="uvicorn's --http for NEO (httptools: no zero-copy sends)"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="extra NEO setting"
    )
    args = parser.parse_args()
    large = (1024 if args.gib else args.large_mib) * MIB
    extra = dict(item.split("=", 1) for item in args.env)
    streams = max(1, args.streams)
    with tempfile.TemporaryDirectory(prefix="neo-bench-") as tmp:
        work = Path(tmp)
        with (
            scratch_database(work, "neo_bench") as db_url,
            neo_server(db_url, work, fsync=not args.no_fsync, http=args.http, extra=extra) as (
                base,
                pid,
            ),
            bare_server(work / "bare", http=args.http) as (bare_base, bare_pid),
            ThreadPoolExecutor(streams) as pool,
        ):
            httpx.post(f"{base}/storage/v1/bucket", json={"name": "bench"}, headers=AUTH)
            clients = [RawHttp(base) for _ in range(streams)]
            bare_clients = [RawHttp(bare_base) for _ in range(streams)]
            try:
                pg = postmasters(str(work)) if not os.environ.get("DATABASE_URL") else []
                neo = Server(clients, pid, work / "storage" / "bench")
                bare = Server(bare_clients, bare_pid, work / "bare")
                bench = Bench(neo, bare, pool, work, not args.no_fsync, args.warm, pg)
                load = os.getloadavg()[0]
                rows = run_case("1MiB", args.count, MIB, 1, args.rounds, bench)
                if streams > 1:
                    rows += run_case("1MiB", args.count, MIB, streams, args.rounds, bench)
                rows += run_case(f"{large // MIB}MiB", 1, large, 1, args.rounds, bench)
            finally:
                for client in clients + bare_clients:
                    client.close()
    header = ["case", "direct MB/s", "bare MB/s", "NEO MB/s", "NEO/direct", "NEO/bare",
              "CPU ms/MiB direct", "bare", "NEO", "PG", "NEO RSS growth MB"]  # fmt: skip
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"{args.rounds} rounds per case (median round shown); settings {extra or 'defaults'}")
    print(f"load average (1 min) {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
