"""Auth benchmark: refresh, JWT-authenticated GET /user and password sign-in over HTTP.

Run: `python bench/auth [--seconds 5] [--concurrency 16]`. Starts an embedded PostgreSQL (or
uses DATABASE_URL) and NEO (uvicorn, one worker) as a child process, then prints req/s for:
refresh-token rotation; `GET /auth/v1/user` next to `GET /neo/v1/whoami`, a bare endpoint doing
the same JWT verification and one transaction; and sign-in (password grant) next to the raw
argon2id hash rate at the same parameters, measured in this process with as many threads as
cores. Issue 3 targets: refresh >= 2,000 req/s on a 2-core machine; sign-in >= 80% of the
hash rate.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import argon2
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: shared helpers
from scratch import scratch_database

from neo.kit.net import free_port

SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"  # noqa: S105 (demo)
ANON = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJl"
    "eHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0"
)
HEADERS = {"apikey": ANON, "X-Supabase-Api-Version": "2024-01-01"}
PASSWORD = "bench password 1"  # noqa: S105


@contextmanager
def neo_server(db_url: str, data_dir: Path) -> Iterator[str]:
    """NEO in a child process, throttles off; its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO_")}
    env |= {"DATABASE_URL": db_url, "JWT_SECRET": SECRET, "NEO_DATA_DIR": str(data_dir)}
    env |= {"NEO_LOG__LEVEL": "warning", "NEO_LOG__ACCESS_LOG": "false"}
    for limit in ("TOKEN_PER_IP", "OTP_PER_IP", "ANONYMOUS_PER_IP", "LOGIN_FAILURES"):
        env[f"NEO_AUTH__RATE_LIMITS__{limit}"] = "0"
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
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def load(seconds: float, workers: list[Callable[[], Awaitable[None]]]) -> float:
    """Run every worker in a loop for `seconds`; completed requests per second."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def loop(step: Callable[[], Awaitable[None]]) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await step()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in workers))
    return done / (time.perf_counter() - started)


async def sign_up(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    email = f"bench-{secrets.token_hex(6)}@example.com"
    res = await client.post("/auth/v1/signup", json={"email": email, "password": PASSWORD})
    res.raise_for_status()
    return email, res.json()


def refresher(client: httpx.AsyncClient, session: dict[str, str]) -> Callable[[], Awaitable[None]]:
    token = session["refresh_token"]

    async def step() -> None:
        nonlocal token
        res = await client.post(
            "/auth/v1/token?grant_type=refresh_token", json={"refresh_token": token}
        )
        res.raise_for_status()
        token = res.json()["refresh_token"]

    return step


def getter(client: httpx.AsyncClient, path: str, access: str) -> Callable[[], Awaitable[None]]:
    headers = {"Authorization": f"Bearer {access}"}

    async def step() -> None:
        (await client.get(path, headers=headers)).raise_for_status()

    return step


def signer(client: httpx.AsyncClient, email: str) -> Callable[[], Awaitable[None]]:
    async def step() -> None:
        body = {"email": email, "password": PASSWORD}
        res = await client.post("/auth/v1/token?grant_type=password", json=body)
        res.raise_for_status()

    return step


def hash_rate(seconds: float) -> float:
    """argon2id hashes per second at NEO's defaults, one thread per core."""
    hasher = argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
    deadline = time.perf_counter() + seconds
    cores = os.cpu_count() or 1

    def work(_: int) -> int:
        count = 0
        while time.perf_counter() < deadline:
            hasher.hash(PASSWORD)
            count += 1
        return count

    started = time.perf_counter()
    with ThreadPoolExecutor(cores) as pool:
        total = sum(pool.map(work, range(cores)))
    return total / (time.perf_counter() - started)


async def run(base: str, seconds: float, concurrency: int) -> list[tuple[str, float]]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=HEADERS, limits=limits) as client:
        users = [await sign_up(client) for _ in range(concurrency)]
        access = users[0][1]["access_token"]

        def same(path: str) -> list[Callable[[], Awaitable[None]]]:
            return [getter(client, path, access)] * concurrency

        return [
            ("GET /health (floor: HTTP only)", await load(seconds, same("/health"))),
            ("refresh_token grant", await load(seconds, [refresher(client, s) for _, s in users])),
            ("GET /auth/v1/user", await load(seconds, same("/auth/v1/user"))),
            (
                "GET /neo/v1/whoami (same JWT check, 1 tx)",
                await load(seconds, same("/neo/v1/whoami")),
            ),
            (
                "password grant (sign-in)",
                await load(seconds, [signer(client, e) for e, _ in users]),
            ),
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each case")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="neo-bench-auth-") as tmp,
        scratch_database(Path(tmp), "neo_bench_auth") as url,
    ):
        data = Path(tmp) / "data"
        data.mkdir()
        with neo_server(url, data) as base:
            rows = asyncio.run(run(base, args.seconds, args.concurrency))
    hashes = hash_rate(args.seconds)
    print(f"{'case':<44} {'req/s':>10}")
    for label, rate in rows:
        print(f"{label:<44} {rate:>10,.0f}")
    print(f"{'argon2id hash rate (m=19 MiB, t=2, p=1)':<44} {hashes:>10,.0f}")
    print(f"{'sign-in / hash rate':<44} {rows[-1][1] / hashes:>10.0%}")


if __name__ == "__main__":
    main()
