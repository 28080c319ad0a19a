"""Auth benchmark: refresh, JWT-authenticated GET /user and password sign-in over HTTP.

Run: `python bench/auth [--seconds 5] [--concurrency 16]`. Starts an embedded PostgreSQL (or
uses DATABASE_URL), NEO (uvicorn, one worker) and the bare app as child processes, and drives
each case from a separate load-generator process (`bench/loadgen.py`, raw keep-alive
HTTP/1.1; `drivers.py` for token chains and paced probes). Prints req/s, p50/p99 and the CPU
split (server, PostgreSQL, load generator) for: refresh-token rotation (each connection
follows its own token chain) next to `bare.py`, Starlette + asyncpg running the same refresh
statement with no NEO layers; `GET /auth/v1/user` next to `GET /neo/v1/whoami`, a bare
endpoint doing the same JWT verification and one transaction; the password grant next to
the raw argon2id hash rate at the same parameters (in this process, one thread per core);
and `GET /health` latency, sampled every 10 ms, idle and while sign-ins saturate the hash
pool (hashing must not block other requests). Issue 3 targets: refresh >= 2,000 req/s on a
2-core machine; sign-in >= 80% of the hash rate.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import argon2
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: shared helpers
from drivers import chains, paced
from loadgen import http_request, load
from procs import child, cpu_seconds, postmasters
from scratch import scratch_database

from neo.kit.net import free_port

SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"  # noqa: S105 (demo)
ANON = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJl"
    "eHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0"
)
HEADERS = {"apikey": ANON, "X-Supabase-Api-Version": "2024-01-01"}
JSON = {**HEADERS, "Content-Type": "application/json"}
PASSWORD = "bench password 1"  # noqa: S105


@contextmanager
def neo_server(db_url: str, data_dir: Path, tokens: int = 2) -> Iterator[tuple[int, int]]:
    """NEO in a child process, throttles off, refresh tokens of kind `tokens` (decision
    0012's session-signed ones, or 1: decision 0005's hashed rows); (port, pid)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO_")}
    env |= {"DATABASE_URL": db_url, "JWT_SECRET": SECRET, "NEO_DATA_DIR": str(data_dir)}
    env |= {"NEO_LOG__LEVEL": "warning", "NEO_LOG__ACCESS_LOG": "false"}
    env["NEO_AUTH__REFRESH_TOKEN_ALGORITHM_VERSION"] = str(tokens)
    for limit in ("TOKEN_PER_IP", "OTP_PER_IP", "ANONYMOUS_PER_IP", "LOGIN_FAILURES"):
        env[f"NEO_AUTH__RATE_LIMITS__{limit}"] = "0"
    cmd = [sys.executable, "-m", "uvicorn", "neo.app:app_from_env", "--factory", "--port"]
    cmd += [str(port), "--log-level", "warning", "--no-access-log"]
    with child(cmd, env, data_dir, f"http://127.0.0.1:{port}/health") as pid:
        yield port, pid


@contextmanager
def bare_server(db_url: str, data_dir: Path) -> Iterator[tuple[int, int]]:
    """The bare refresh app (`bare.py`) in a child process; (port, pid)."""
    port = free_port()
    cmd = [sys.executable, str(Path(__file__).with_name("bare.py")), str(port), db_url, SECRET]
    with child(cmd, dict(os.environ), data_dir, f"http://127.0.0.1:{port}/health") as pid:
        yield port, pid


def sign_up(port: int, n: int) -> list[tuple[str, dict[str, str]]]:
    """`n` new users: (email, session)."""
    users = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=HEADERS) as client:
        for _ in range(n):
            email = f"bench-{secrets.token_hex(6)}@example.com"
            res = client.post("/auth/v1/signup", json={"email": email, "password": PASSWORD})
            res.raise_for_status()
            users.append((email, res.json()))
    return users


def hash_rate(seconds: float) -> tuple[float, float]:
    """argon2id hashes per second at NEO's defaults, one thread per core, and the CPU time
    of one hash (µs): the figure to hold a sign-in's server CPU against when other work
    shares the cores and rates drift between two moments."""
    hasher = argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
    deadline = time.perf_counter() + seconds
    cores = os.cpu_count() or 1

    def work(_: int) -> int:
        count = 0
        while time.perf_counter() < deadline:
            hasher.hash(PASSWORD)
            count += 1
        return count

    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(cores) as pool:
        total = sum(pool.map(work, range(cores)))
    per_hash = (time.process_time() - cpu) / max(1, total) * 1e6
    return total / (time.perf_counter() - started), per_hash


class Runner:
    """Runs cases from one load-generator process and accounts CPU per group."""

    def __init__(self, pool: ProcessPoolExecutor, pg: list[int], seconds: float) -> None:
        self.pool, self.seconds = pool, seconds
        gen = [p.pid for p in pool._processes.values()]
        self.groups = {"pg": pg, "gen": gen}
        self.rows: list[list[str]] = []
        self.rps: dict[str, float] = {}
        self.cpu: dict[str, float] = {}  # server CPU µs per request

    def case(
        self, label: str, server: tuple[int, int], job: Callable[..., list[float]], *args: Any
    ) -> float:
        """Measure one case on `server` (port, pid): `job(*args, seconds, warmup=1.0)` in the
        load generator (`load` or `chains`), after a warm-up of 1 s on the same connections
        (the server opens its pool connections and prepares its statements)."""
        pid = server[1]
        groups = {"srv": [pid], **self.groups}
        future = self.pool.submit(job, *args, self.seconds, warmup=1.0)
        time.sleep(1.0)
        before = {k: cpu_seconds(v) for k, v in groups.items()}
        result = future.result()
        after = {k: cpu_seconds(v) for k, v in groups.items()}
        self.rps[label] = self._row(label, result, before, after)
        return self.rps[label]

    def _row(
        self,
        label: str,
        result: list[float],
        before: dict[str, dict[int, float]],
        after: dict[str, dict[int, float]],
    ) -> float:
        elapsed, lat = result[0], result[1:]
        q = statistics.quantiles(lat, n=100)
        rps = len(lat) / elapsed
        spent = {k: sum(s - before[k].get(pid, 0.0) for pid, s in after[k].items()) for k in after}
        split = " ".join(f"{k} {v / elapsed * 100:.0f}%" for k, v in spent.items())
        per_req = spent["srv"] / max(1, len(lat)) * 1e6
        self.cpu[label] = per_req
        self.rows.append(
            [label, f"{rps:,.0f}", f"{q[49] * 1e3:.2f}", f"{q[98] * 1e3:.2f}", f"{per_req:.0f}",
             split]
        )  # fmt: skip
        return rps


def p99(latencies: list[float]) -> float:
    """The 99th percentile of `latencies` (seconds), in ms."""
    return statistics.quantiles(latencies, n=100)[98] * 1e3


def run(
    neo: tuple[int, int], bare: tuple[int, int], marker: str, seconds: float, n: int
) -> tuple[Runner, tuple[float, float], tuple[float, float]]:
    """Every case: the runner (its rows), the raw hash rate and CPU per hash, and the p99
    of `GET /health` sampled every 10 ms with the server idle and during the sign-ins (ms)."""
    port = neo[0]
    users = sign_up(port, 2 * n)  # half for NEO's refresh case, half for bare's
    mine, theirs = [s for _, s in users[:n]], [s for _, s in users[n:]]
    bearer = {**HEADERS, "Authorization": f"Bearer {users[0][1]['access_token']}"}
    sign_in = [
        http_request(port, "POST", "/auth/v1/token?grant_type=password", JSON,
                     json.dumps({"email": e, "password": PASSWORD}).encode())
        for e, _ in users[:n]
    ]  # fmt: skip
    health = http_request(port, "GET", "/health", {})
    with ProcessPoolExecutor(max_workers=2) as pool:
        pool.submit(time.sleep, 0).result()
        runner = Runner(pool, postmasters(marker), seconds)
        runner.case("GET /health (HTTP floor)", neo, load, port, [health] * n)
        path = "/auth/v1/token?grant_type=refresh_token"
        runner.case("refresh_token grant", neo, chains, port, path, JSON,
                    [s["refresh_token"] for s in mine])  # fmt: skip
        runner.case("bare refresh (same statement, Starlette)", bare, chains, bare[0], "/token",
                    JSON, [s["refresh_token"] for s in theirs])  # fmt: skip
        user = http_request(port, "GET", "/auth/v1/user", bearer)
        runner.case("GET /auth/v1/user", neo, load, port, [user] * n)
        whoami = http_request(port, "GET", "/neo/v1/whoami", bearer)
        runner.case("GET /neo/v1/whoami (same JWT check, 1 tx)", neo, load, port, [whoami] * n)
        alone = pool.submit(paced, port, health, seconds).result()[1:]
        hashes, per_hash = hash_rate(seconds)  # just before sign-ins, the servers idle
        probe = pool.submit(paced, port, health, seconds + 1.5)
        runner.case("password grant (sign-in)", neo, load, port, sign_in)
        during = probe.result()[1:]
    return runner, (hashes, per_hash), (p99(alone), p99(during))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each case")
    parser.add_argument("--concurrency", type=int, default=16, help="connections per case")
    parser.add_argument(
        "--refresh-tokens", type=int, choices=(1, 2), default=2,
        help="new sessions' refresh tokens: 2 session-signed (default), 1 hashed rows",
    )  # fmt: skip
    args = parser.parse_args()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="neo-bench-auth-") as tmp:
        os.chmod(tmp, 0o755)  # noqa: S103 - the embedded server's user must traverse it
        with scratch_database(Path(tmp), "neo_bench_auth") as url:
            data = Path(tmp) / "data"
            data.mkdir()
            with neo_server(url, data, args.refresh_tokens) as neo, bare_server(url, data) as bare:
                if os.environ.get("NEO_BENCH_PAUSE"):  # e.g. to attach py-spy to NEO
                    print(f"NEO pid {neo[1]}", flush=True)
                runner, hashing, health = run(neo, bare, tmp, args.seconds, args.concurrency)
    load_end = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, {args.concurrency} connections, {args.seconds:g} s per case, "
          f"refresh tokens {args.refresh_tokens}")  # fmt: skip
    print("load average 1/5/15 min: start " + " ".join(f"{x:.2f}" for x in load_start)
          + ", end " + " ".join(f"{x:.2f}" for x in load_end))  # fmt: skip
    head = ["case", "req/s", "p50 ms", "p99 ms", "srv CPU µs/req", "CPU split (% of a core)"]
    widths = [44, 9, 8, 8, 15, 0]
    for row in [head, *runner.rows]:
        print(" ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in
                       enumerate(zip(row, widths, strict=True))))  # fmt: skip
    sign_in, refresh = runner.rps["password grant (sign-in)"], runner.rps["refresh_token grant"]
    (hashes, per_hash), signin_cpu = hashing, runner.cpu["password grant (sign-in)"]
    print(f"{'argon2id hash rate (m=19 MiB, t=2, p=1)':<44} {hashes:>9,.0f}")
    print(f"{'sign-in / hash rate':<44} {sign_in / hashes:>9.0%}")
    print(f"{'CPU µs: one hash / one sign-in (server)':<44} {per_hash:>9,.0f} "
          f"{signin_cpu:>8,.0f}  ({per_hash / signin_cpu:.0%})")  # fmt: skip
    print(f"{'GET /health p99 every 10 ms: idle / sign-ins':<44} {health[0]:>9.2f} "
          f"{health[1]:>8.2f}")  # fmt: skip
    print(f"{'PASS' if refresh >= 2000 else 'FAIL'}  refresh >= 2,000 req/s")
    print(f"{'PASS' if sign_in >= 0.8 * hashing[0] else 'FAIL'}  sign-in >= 80% of the hash rate")


if __name__ == "__main__":
    main()
