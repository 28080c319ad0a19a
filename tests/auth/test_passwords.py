"""Password hashing and policy: argon2id at OWASP parameters, bcrypt imports rehashed on
login, no 72-byte truncation, a cheap 400 for oversized passwords, a dummy hash for
unknown users."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from statistics import median

import asyncpg
import bcrypt
import httpx
import pytest_asyncio
from fastapi import FastAPI

from neo.settings import Settings
from tests.auth.conftest import ANON, SERVICE, V2, auth_settings, password_login, random_email
from tests.support.servers import asgi_client, running_app

# The real defaults (argon2id m=19 MiB, t=2, p=1), unlike the other modules.
REAL_COST = auth_settings(argon2_memory_kib=19456, argon2_time_cost=2)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(make_settings: Callable[..., Settings]) -> AsyncIterator[FastAPI]:
    async with running_app(make_settings(auth=REAL_COST)) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client


async def stored_hash(database_url: str, email: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        value: str = await conn.fetchval(
            "select encrypted_password from auth.users where email = $1", email
        )
    finally:
        await conn.close()
    return value


async def signup(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    body = {"email": email, "password": password}
    return await client.post("/auth/v1/signup", json=body, headers=ANON | V2)


async def test_new_hashes_are_argon2id_at_owasp_parameters(
    client: httpx.AsyncClient, database_url: str
) -> None:
    email = random_email()
    assert (await signup(client, email, "correct horse 1")).status_code == 200
    stored = await stored_hash(database_url, email)
    assert stored.startswith("$argon2id$v=19$")
    params = dict(p.split("=") for p in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 19456
    assert int(params["t"]) >= 2
    assert int(params["p"]) == 1


async def test_bcrypt_import_is_rehashed_on_login(
    client: httpx.AsyncClient, database_url: str
) -> None:
    email = random_email()
    hashed = bcrypt.hashpw(b"imported pw 1", bcrypt.gensalt(rounds=10)).decode()
    body = {"email": email, "password_hash": hashed, "email_confirm": True}
    assert (
        await client.post("/auth/v1/admin/users", json=body, headers=SERVICE)
    ).status_code == 200
    assert (await stored_hash(database_url, email)).startswith("$2b$10$")
    assert (await password_login(client, email, "imported pw 1")).status_code == 200
    assert (await stored_hash(database_url, email)).startswith("$argon2id$")
    assert (await password_login(client, email, "imported pw 1")).status_code == 200


async def test_no_72_byte_truncation(client: httpx.AsyncClient) -> None:
    email = random_email()
    assert (await signup(client, email, "a" * 72 + "X")).status_code == 200
    assert (await password_login(client, email, "a" * 72 + "Y")).status_code == 400
    assert (await password_login(client, email, "a" * 72 + "X")).status_code == 200


async def test_no_truncation_for_imported_bcrypt_hashes(client: httpx.AsyncClient) -> None:
    email = random_email()
    hashed = bcrypt.hashpw(b"b" * 72, bcrypt.gensalt(rounds=4)).decode()
    body = {"email": email, "password_hash": hashed, "email_confirm": True}
    await client.post("/auth/v1/admin/users", json=body, headers=SERVICE)
    assert (await password_login(client, email, "b" * 72 + "extra")).status_code == 400


async def test_long_and_multibyte_passwords_are_accepted(client: httpx.AsyncClient) -> None:
    for password in ("x" * 64, "\U0001f600" * 64):
        email = random_email()
        assert (await signup(client, email, password)).status_code == 200
        assert (await password_login(client, email, password)).status_code == 200


async def test_megabyte_password_is_a_fast_400(client: httpx.AsyncClient) -> None:
    started = time.perf_counter()
    response = await signup(client, random_email(), "p" * 1_000_000)
    assert response.status_code == 400
    assert response.json()["code"] == "validation_failed"
    login = await password_login(client, random_email(), "p" * 1_000_000)
    assert login.status_code == 400
    assert time.perf_counter() - started < 1.0


async def test_unknown_user_costs_a_hash_like_a_wrong_password(client: httpx.AsyncClient) -> None:
    email = random_email()
    await signup(client, email, "correct horse 1")
    known: list[float] = []
    unknown: list[float] = []
    for i in range(10):
        target, sink = (email, known) if i % 2 else (random_email(), unknown)
        started = time.perf_counter()
        response = await password_login(client, target, f"wrong password {i}")
        sink.append(time.perf_counter() - started)
        assert response.status_code in (400, 429)
    ratio = median(unknown) / median(known)
    assert 0.5 < ratio < 2.0, (known, unknown)
