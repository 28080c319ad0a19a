"""Data API benchmark: NEO `/rest/v1` reads vs bare Starlette + asyncpg endpoints (issue 5).

Run: `python bench/data [--seconds 5] [--concurrency 16] [--workers 1]`. Starts an embedded
PostgreSQL (or uses DATABASE_URL), creates `bench_rows` (100 rows, RLS: a user reads their own
rows) and `bench_items` (5 per row), runs NEO and a bare Starlette + asyncpg app (uvicorn,
`--workers` processes each, the same for both) as child processes on loopback, and drives
each case from a third process (the load generator) with `concurrency` keep-alive
connections for `seconds`. The bare app runs the very statement NEO builds for the same URL,
in the same transaction (BEGIN with the same `set_config` role/claims/method/path/headers/role
settings, the statement, COMMIT with the same session reset). Prints req/s, p50/p99,
NEO/bare, each server's CPU time per request, the CPU split (server, PostgreSQL, load
generator, whole machine), the load average at start and end, and the issue's targets with
PASS/FAIL (exit 1 when one is missed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import asyncpg
import httpx
import jwt
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: shared helpers
from loadgen import http_request, load
from procs import child, cpu_seconds, postmasters
from scratch import scratch_database

from neo.app import CAPABILITIES
from neo.core.runtime import authenticator_url, ensure_api_login, prepare_database
from neo.data import query
from neo.data.actions import plan_read
from neo.data.request import parse_request
from neo.data.schema_cache import load_schema_cache
from neo.data.service import window
from neo.kit.net import free_port

SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"  # noqa: S105 (demo)
ANON_KEY = jwt.encode({"role": "anon", "iss": "supabase-demo", "exp": 1983812996}, SECRET)
USER = "11111111-1111-4111-8111-111111111111"
SETUP = """
create table if not exists bench_rows (
    id int primary key, owner uuid not null, name text not null, score numeric not null,
    created_at timestamptz not null default now()
);
create table if not exists bench_items (
    id int primary key, row_id int not null references bench_rows(id), label text not null,
    qty int not null
);
create index if not exists bench_items_row_id on bench_items (row_id);
alter table bench_rows enable row level security;
alter table bench_items enable row level security;
drop policy if exists bench_own on bench_rows;
create policy bench_own on bench_rows for select to authenticated using (owner = auth.uid());
drop policy if exists bench_items_read on bench_items;
create policy bench_items_read on bench_items for select to authenticated using (true);
truncate bench_items, bench_rows;
insert into bench_rows select i, $1::uuid, 'row ' || i, i * 1.5 from generate_series(1, 100) i;
insert into bench_items
    select i, (i - 1) / 5 + 1, 'item ' || i, i % 5 from generate_series(1, 500) i;
analyze bench_rows;
analyze bench_items
"""
# case -> (NEO path, bare path); every NEO case sends the same user JWT (RLS applies).
CASES = {
    "one": "/bench_rows?select=id,name,score,created_at&id=eq.42",
    "rows": "/bench_rows?select=id,name,score,created_at",
    "embed": "/bench_rows?select=id,name,bench_items(id,label,qty)&id=lte.10"
    "&bench_items.qty=gte.2&order=id.desc",
}
TABLE = [  # label, which server, case
    ("(a) bare, single row", "bare", "one"),
    ("(b) NEO, single row (JWT + RLS)", "neo", "one"),
    ("(c) bare, 100 rows (SQL-built JSON)", "bare", "rows"),
    ("(c) NEO, 100 rows", "neo", "rows"),
    ("(d) bare, filtered embed", "bare", "embed"),
    ("(d) NEO, filtered embed", "neo", "embed"),
]
BARE_APP = """
import asyncpg, contextlib, json, os, jwt
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

CONF = json.loads(open(os.environ["NEO_BENCH_BARE_CONF"]).read())
RESET = "; select pg_advisory_unlock_all(); close all; unlisten *; reset all"
CLAIMS = {}  # verified tokens, as NEO's gateway caches them

class Conn(asyncpg.Connection):  # the reset runs with COMMIT, as in NEO
    def get_reset_query(self):
        return ""

def literal(value):
    value = value.replace("\\x00", "\\ufffd")
    return "E'" + value.replace("\\\\", "\\\\\\\\").replace("'", "\\\\'") + "'"

def claims_of(request):
    token = request.headers["authorization"].partition(" ")[2]
    claims = CLAIMS.get(token)
    if claims is None:
        claims = CLAIMS[token] = jwt.decode(
            token, CONF["secret"], algorithms=["HS256"], audience="authenticated")
    return claims

def endpoint(spec):
    sql, params, path = spec["sql"], spec["params"], spec["path"]
    async def run(request):
        claims = claims_of(request)
        headers = {k: v for k, v in request.headers.items() if k != "cookie"}
        pairs = {"role": claims["role"],
                 "request.jwt.claims": json.dumps(claims, separators=(",", ":")),
                 "request.method": request.method, "request.path": path,
                 "request.headers": json.dumps(headers, separators=(",", ":"))}
        pairs.update(CONF["settings"])
        begin = "begin read only; select " + ", ".join(
            f"set_config({literal(k)}, {literal(v)}, true)" for k, v in pairs.items())
        async with request.app.state.pool.acquire() as conn:
            await conn.execute(begin)
            try:
                row = await conn.fetchrow(sql, *params)
            except BaseException:
                await conn.execute("rollback" + RESET)
                raise
            await conn.execute("commit" + RESET)
        return Response(row["body"], media_type="application/json")
    return run

@contextlib.asynccontextmanager
async def lifespan(app):
    app.state.pool = await asyncpg.create_pool(
        CONF["url"], min_size=1, max_size=CONF["pool"], connection_class=Conn)
    yield
    await app.state.pool.close()

app = Starlette(
    routes=[Route("/" + name, endpoint(spec)) for name, spec in CONF["routes"].items()],
    lifespan=lifespan)
"""


async def prepare(url: str) -> dict[str, object]:
    """Migrate, create the tables; the bare app's configuration (NEO's SQL for each case)."""
    conn = await asyncpg.connect(url)
    try:
        password = await prepare_database(
            conn, [c.migrations for c in CAPABILITIES if c.migrations]
        )
        api_url = authenticator_url(url, password)
        await ensure_api_login(conn, api_url, password)
        for statement in SETUP.split(";\n"):
            if statement.strip():
                args = [USER] if "$1" in statement else []
                await conn.execute(statement, *args)
        async with conn.transaction():
            cache = await load_schema_cache(conn, ["public", "graphql_public"])
    finally:
        await conn.close()
    routes = {}
    for name, url_path in CASES.items():  # what neo.data.service.read builds for the URL
        parts = urlsplit(url_path)
        target = parts.path.strip("/")
        req = parse_request("GET", target, parse_qsl(parts.query), {})
        offset, limit = window(req, None)
        plan = plan_read(req, cache, "public")
        sql, params = query.read_statement(
            plan, req.media, count=False, head=False, limit=limit, offset=offset
        )
        routes[name] = {"sql": sql, "params": params, "path": f"/{target}"}
    settings = dict(cache.role_settings.get("authenticated", {}))
    settings["search_path"] = query.search_path("public")
    return {"url": api_url, "routes": routes, "settings": settings, "secret": SECRET}


def uvicorn_cmd(app: str, port: int, workers: int) -> list[str]:
    """The same uvicorn command line for both servers (uvloop + httptools, no access log)."""
    return [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--workers",
            str(workers), "--log-level", "warning", "--no-access-log"]  # fmt: skip


def neo_server(db_url: str, data_dir: Path, port: int, workers: int) -> Iterator[int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO_")}
    env |= {"DATABASE_URL": db_url, "JWT_SECRET": SECRET, "NEO_DATA_DIR": str(data_dir)}
    env |= {"NEO_LOG__LEVEL": "warning", "NEO_LOG__ACCESS_LOG": "false"}
    env |= {"NEO_API__WORKERS": str(workers)}  # pools sized for the worker count
    cmd = [*uvicorn_cmd("neo.app:app_from_env", port, workers), "--factory"]
    probe = f"http://127.0.0.1:{port}/rest/v1/bench_rows?limit=1"
    return child(cmd, env, data_dir, probe, {"apikey": ANON_KEY})


def bare_server(conf: dict[str, object], data_dir: Path, port: int, workers: int) -> Iterator[int]:
    (data_dir / "bare_app.py").write_text(BARE_APP)
    conf_file = data_dir / "bare_app.json"
    conf_file.write_text(json.dumps(conf))
    env = dict(os.environ) | {"NEO_BENCH_BARE_CONF": str(conf_file)}
    cmd = [*uvicorn_cmd("bare_app:app", port, workers), "--app-dir", str(data_dir)]
    return child(cmd, env, data_dir, f"http://127.0.0.1:{port}/health")


# --- the load generator (runs in its own process) -----------------------------------------


# --- orchestration ------------------------------------------------------------------------


def snapshot(groups: dict[str, list[int]]) -> dict[str, dict[int, float]]:
    """Per group, CPU seconds by pid (the roots and their descendants), and the machine's."""
    snap = {k: cpu_seconds(roots) for k, roots in groups.items()}
    t = psutil.cpu_times()
    snap["all"] = {0: sum(t) - t.idle - getattr(t, "iowait", 0.0)}
    return snap


def used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two snapshots (processes started in between count fully)."""
    return sum(s - before.get(pid, 0.0) for pid, s in after.items())


def check_bodies(ports: dict[str, int], headers: dict[str, str]) -> None:
    """NEO and the bare app answer each case with the same bytes."""
    for name, path in CASES.items():
        neo = httpx.get(f"http://127.0.0.1:{ports['neo']}/rest/v1{path}", headers=headers)
        bare = httpx.get(f"http://127.0.0.1:{ports['bare']}/{name}", headers=headers)
        if neo.status_code != 200 or neo.content != bare.content or not neo.json():
            raise SystemExit(f"{name}: NEO and bare differ\n{neo.text[:300]}\n{bare.text[:300]}")


def run(
    ports: dict[str, int], pids: dict[str, int], marker: str, seconds: float, n: int
) -> list[list[str]]:
    """Every case in turn: rows of the result table."""
    user = jwt.encode({"sub": USER, "role": "authenticated", "aud": "authenticated",
                       "exp": int(time.time()) + 3600}, SECRET)  # fmt: skip
    headers = {"apikey": ANON_KEY, "Authorization": f"Bearer {user}"}
    check_bodies(ports, headers)
    rows: list[list[str]] = []
    bare_rps: dict[str, float] = {}
    bare_cpu: dict[str, float] = {}
    with ProcessPoolExecutor(max_workers=1) as pool:
        pool.submit(time.sleep, 0).result()  # the load generator process, started once
        loadgen = list(pool._processes)  # its one worker's pid
        pg = postmasters(marker)
        for label, server, case in TABLE:
            port = ports[server]
            path = f"/rest/v1{CASES[case]}" if server == "neo" else f"/{case}"
            groups = {"srv": [pids[server]], "pg": pg, "gen": loadgen}
            requests = [http_request(port, "GET", path, headers)] * n
            future = pool.submit(load, port, requests, seconds, warmup=0.5)
            time.sleep(0.5)  # the warm-up: new backends exist after it
            before = snapshot(groups)
            result = future.result()
            after = snapshot(groups)
            spent = {k: used(before[k], after[k]) for k in after}
            elapsed, lat = result[0], result[1:]
            q = statistics.quantiles(lat, n=100)
            rps = len(lat) / result[0]
            split = " ".join(f"{k} {spent[k] / elapsed * 100:.0f}%" for k in spent)
            per_request = spent["srv"] / len(lat) * 1e6
            if server == "bare":
                bare_rps[case], bare_cpu[case] = rps, per_request
                ratio = cpu_ratio = ""
            else:
                ratio = f"{rps / bare_rps[case]:.2f}"
                cpu_ratio = f"{bare_cpu[case] / per_request:.2f}"
            rows.append([label, f"{rps:,.0f}", f"{q[49] * 1000:.2f}", f"{q[98] * 1000:.2f}",
                         ratio, f"{per_request:.0f}", cpu_ratio, split])  # fmt: skip
    return rows


def verdicts(rows: list[list[str]]) -> list[tuple[str, bool]]:
    rps = {r[0]: float(r[1].replace(",", "")) for r in rows}
    a, b = rps[TABLE[0][0]], rps[TABLE[1][0]]
    c_bare, c_neo = rps[TABLE[2][0]], rps[TABLE[3][0]]
    return [
        (f"(b)/(a) = {b / a:.3f} >= 0.8", b / a >= 0.8),
        (f"(b) = {b:,.0f} req/s >= 5,000", b >= 5000),
        (f"(c) NEO/bare = {c_neo / c_bare:.3f} >= 0.9", c_neo / c_bare >= 0.9),
    ]


def table(rows: list[list[str]]) -> str:
    head = ["case (GET, user JWT)", "req/s", "p50 ms", "p99 ms", "NEO/bare", "srv CPU µs/req",
            "NEO/bare by CPU", "CPU (% of one core)"]  # fmt: skip
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def fmt(row: list[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(
            c.ljust(w) if i in (0, 7) else c.rjust(w) for i, (c, w) in enumerate(cells)
        )

    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each case")
    parser.add_argument("--concurrency", type=int, default=16, help="connections per case")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per server")
    args = parser.parse_args()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="neo-bench-data-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)  # noqa: S103 - the embedded server's user must traverse it
        with scratch_database(tmp, "neo_bench_data") as url:
            conf = asyncio.run(prepare(url))
            conf["pool"] = args.concurrency
            ports = {"neo": free_port(), "bare": free_port()}
            with (
                neo_server(url, tmp, ports["neo"], args.workers) as neo_pid,
                bare_server(conf, tmp, ports["bare"], args.workers) as bare_pid,
            ):
                if os.environ.get("NEO_BENCH_PAUSE"):  # e.g. to attach py-spy to NEO
                    print(f"NEO pids {list(cpu_seconds([neo_pid]))}", flush=True)
                pids = {"neo": neo_pid, "bare": bare_pid}
                rows = run(ports, pids, tmp_name, args.seconds, args.concurrency)
    load_end = os.getloadavg()
    print(
        f"{os.cpu_count()} CPUs, {args.workers} uvicorn worker(s) per server, "
        f"{args.concurrency} connections, {args.seconds:g} s per case"
    )
    print("load average 1/5/15 min: start " + " ".join(f"{x:.2f}" for x in load_start)
          + ", end " + " ".join(f"{x:.2f}" for x in load_end))  # fmt: skip
    print(table(rows))
    results = verdicts(rows)
    for text, ok in results:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    print("req/s ratios move with how the scheduler shares the cores (see the CPU columns);")
    print("'NEO/bare by CPU' is the ratio a server would reach if its own CPU were the limit.")
    if not all(ok for _, ok in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
