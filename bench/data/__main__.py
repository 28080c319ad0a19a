"""Data API benchmark: GET of a 100-row table through NEO over HTTP vs the same SQL direct.

Run: `python bench/rest [--seconds 5] [--concurrency 16]`. Starts an embedded PostgreSQL (or
uses DATABASE_URL), creates a 100-row table, runs NEO (uvicorn, one worker) and a bare
Starlette + asyncpg endpoint as child processes on loopback, and for each case drives
`concurrency` keep-alive connections for `seconds`; prints req/s, p50/p99 latency and the
ratio to the direct asyncpg baseline (the very statement NEO builds, run on a pool).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import jwt

from neo.app import CAPABILITIES
from neo.core.postgres import EmbeddedPostgres
from neo.core.runtime import prepare_database
from neo.kit.net import free_port

SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"  # noqa: S105 (demo)
ANON_KEY = jwt.encode({"role": "anon", "iss": "supabase-demo", "exp": 1983812996}, SECRET)
USER = "11111111-1111-4111-8111-111111111111"
PATH = "/rest/v1/bench_rows?select=id,name,score,created_at"
SETUP = """
create table if not exists bench_rows (
    id int primary key, owner uuid not null, name text not null, score numeric not null,
    created_at timestamptz not null default now()
);
alter table bench_rows enable row level security;
drop policy if exists bench_read on bench_rows;
create policy bench_read on bench_rows for select using (true);
truncate bench_rows;
insert into bench_rows select i, $1::uuid, 'row ' || i, i * 1.5 from generate_series(1, 100) i;
"""
# The statement NEO builds for PATH (see neo.data.query.read_statement).
SQL = (
    "SELECT NULL::int8 AS total, count(*) AS page, convert_to((coalesce(json_agg(pgrst_t), "
    "'[]'))::text, 'UTF8') AS body, NULL::text AS location FROM (SELECT \"t0\".\"id\" AS "
    '"id", "t0"."name" AS "name", "t0"."score" AS "score", "t0"."created_at" AS "created_at" '
    'FROM "public"."bench_rows" AS "t0" ) AS pgrst_t'
)
BARE_APP = """
import asyncpg, contextlib, sys
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
SQL, URL = sys.argv[1], sys.argv[2]
async def rows(request):
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        body = await conn.fetchval(SQL)
    return Response(body, media_type="application/json")
@contextlib.asynccontextmanager
async def lifespan(app):
    app.state.pool = await asyncpg.create_pool(URL, min_size=4, max_size=20)
    yield
    await app.state.pool.close()
app = Starlette(routes=[Route("/rows", rows)], lifespan=lifespan)
"""


@contextmanager
def database(tmp: Path) -> Iterator[str]:
    """DATABASE_URL, or a fresh embedded server's database."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    server = EmbeddedPostgres(tmp / "pg", host="127.0.0.1", port=free_port())
    server.ensure_initialized()
    server.start()
    try:
        asyncio.run(_create_db(server.socket_url()))
        yield server.socket_url(database="neo_bench_rest")
    finally:
        server.stop()


async def _create_db(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("drop database if exists neo_bench_rest")
        await conn.execute("create database neo_bench_rest")
    finally:
        await conn.close()


async def prepare(url: str) -> None:
    """Migrate and create the 100-row table."""
    conn = await asyncpg.connect(url)
    try:
        await prepare_database(conn, [c.migrations for c in CAPABILITIES if c.migrations])
        await conn.execute("select 1")
        for statement in SETUP.split(";\n"):
            if statement.strip():
                args = [USER] if "$1" in statement else []
                await conn.execute(statement, *args)
    finally:
        await conn.close()


@contextmanager
def child(cmd: list[str], env: dict[str, str], cwd: Path, probe: str) -> Iterator[None]:
    """A server child process, ready when `probe` answers."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd)
    try:
        for _ in range(600):
            try:
                if httpx.get(probe, headers={"apikey": ANON_KEY}).status_code < 500:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def neo_server(db_url: str, data_dir: Path, port: int, **extra: str) -> Iterator[None]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO_")}
    env |= {"DATABASE_URL": db_url, "JWT_SECRET": SECRET, "NEO_DATA_DIR": str(data_dir)} | extra
    env |= {"NEO_LOG__LEVEL": "warning", "NEO_LOG__ACCESS_LOG": "false"}
    cmd = [sys.executable, "-m", "uvicorn", "neo.app:app_from_env", "--factory", "--port",
           str(port), "--log-level", "warning", "--no-access-log"]  # fmt: skip
    return child(cmd, env, data_dir, f"http://127.0.0.1:{port}/rest/v1/bench_rows?limit=1")


def bare_server(db_url: str, data_dir: Path, port: int) -> Iterator[None]:
    script = data_dir / "bare_app.py"
    script.write_text(BARE_APP)
    code = (
        f"import runpy, sys; sys.argv = ['bare', {SQL!r}, {db_url!r}];"
        f"import uvicorn; ns = runpy.run_path({str(script)!r});"
        f"uvicorn.run(ns['app'], port={port}, log_level='warning', access_log=False)"
    )
    cmd = [sys.executable, "-c", code]
    return child(cmd, dict(os.environ), data_dir, f"http://127.0.0.1:{port}/rows")


async def http_worker(port: int, request: bytes, stop: float, lat: list[float]) -> None:
    """One keep-alive connection sending `request` until `stop` (a minimal HTTP/1.1 client)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode(errors="replace"))
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            lat.append(time.perf_counter() - start)
    finally:
        writer.close()


async def direct_worker(pool: asyncpg.Pool, stop: float, lat: list[float]) -> None:
    """The same statement on an asyncpg pool, in a transaction like NEO's."""
    while time.perf_counter() < stop:
        start = time.perf_counter()
        async with pool.acquire() as conn, conn.transaction():
            await conn.fetchrow(SQL)
        lat.append(time.perf_counter() - start)


async def measure(make: Callable[[float, list[float]], Awaitable[None]], n: int,
                  seconds: float) -> tuple[float, float, float]:  # fmt: skip
    """(req/s, p50 ms, p99 ms) of `n` concurrent workers for `seconds` (after a warm-up)."""
    warm: list[float] = []
    await asyncio.gather(*(make(time.perf_counter() + 0.5, warm) for _ in range(n)))
    lat: list[float] = []
    start = time.perf_counter()
    await asyncio.gather(*(make(start + seconds, lat) for _ in range(n)))
    elapsed = time.perf_counter() - start
    q = statistics.quantiles(lat, n=100)
    return len(lat) / elapsed, q[49] * 1000, q[98] * 1000


def request(port: int, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def run(db_url: str, ports: dict[str, int], seconds: float, n: int) -> list[list[str]]:
    """Every case in turn: rows of the result table."""
    neo_port, bare_port, lean_port = ports["neo"], ports["bare"], ports["lean"]
    pool = await asyncpg.create_pool(db_url, min_size=n, max_size=n)
    user = jwt.encode({"sub": USER, "role": "authenticated", "aud": "authenticated",
                       "exp": int(time.time()) + 3600}, SECRET)  # fmt: skip
    cases: list[tuple[str, Callable[[float, list[float]], Awaitable[None]]]] = [
        ("asyncpg direct (baseline)", lambda stop, lat: direct_worker(pool, stop, lat)),
        ("bare Starlette + asyncpg", lambda stop, lat: http_worker(
            bare_port, request(bare_port, "/rows", {}), stop, lat)),
        ("NEO /rest/v1 anon key", lambda stop, lat: http_worker(
            neo_port, request(neo_port, PATH, {"apikey": ANON_KEY}), stop, lat)),
        ("NEO /rest/v1 user JWT + RLS", lambda stop, lat: http_worker(
            neo_port, request(neo_port, PATH, {"apikey": ANON_KEY,
                                               "Authorization": f"Bearer {user}"}), stop, lat)),
        ("NEO anon, role settings off", lambda stop, lat: http_worker(
            lean_port, request(lean_port, PATH, {"apikey": ANON_KEY}), stop, lat)),
    ]  # fmt: skip
    rows, base = [], 0.0
    try:
        for label, make in cases:
            rps, p50, p99 = await measure(make, n, seconds)
            base = base or rps
            rows.append([label, f"{rps:,.0f}", f"{p50:.2f}", f"{p99:.2f}", f"{rps / base:.2f}"])
    finally:
        await pool.close()
    return rows


def table(rows: list[list[str]]) -> str:
    head = ["case (GET 100 rows)", "req/s", "p50 ms", "p99 ms", "vs direct"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def fmt(row: list[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells))

    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each case")
    parser.add_argument("--concurrency", type=int, default=16, help="connections per case")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="neo-bench-rest-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)  # noqa: S103 - the embedded server's user must traverse it
        with database(tmp) as url:
            asyncio.run(prepare(url))
            ports = {"neo": free_port(), "bare": free_port(), "lean": free_port()}
            lean = neo_server(url, tmp, ports["lean"], NEO_DATA__ROLE_SETTINGS="false")
            with neo_server(url, tmp, ports["neo"]), bare_server(url, tmp, ports["bare"]), lean:
                rows = asyncio.run(run(url, ports, args.seconds, args.concurrency))
    print(f"{os.cpu_count()} CPUs, {args.concurrency} connections, {args.seconds:g} s per case")
    print(table(rows))


if __name__ == "__main__":
    main()
