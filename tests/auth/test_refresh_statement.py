"""The refresh_token grant's one statement for hashed token rows (`store.refresh_session`,
decision 0005) on a real database: a refresh that waited for a parallel rotation asks for a
second look instead of calling it a reuse; a rotation's commit skips the WAL flush wait only
when configured, a reuse verdict never does; rotation off keeps the token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from neo.auth import store
from neo.auth.sessions import hash_token, next_refresh_token
from tests.auth.conftest import refresh, sign_up

SECRET = b"test-secret"


@pytest.fixture(scope="module")
def auth_overrides() -> dict[str, Any]:
    # Sessions with hashed token rows (decision 0005), the kind this statement serves.
    return {"refresh_token_rotation": False, "refresh_token_algorithm_version": 1}


@pytest.fixture
async def conns(database_url: str) -> AsyncIterator[list[asyncpg.Connection]]:
    opened = [await asyncpg.connect(database_url) for _ in range(2)]
    yield opened
    for conn in opened:
        await conn.close()


async def new_token(client: httpx.AsyncClient, conn: asyncpg.Connection) -> str:
    """A user's session with a refresh token of our own (its hash stored)."""
    session = await sign_up(client)
    token = "t-" + session["refresh_token"]
    await conn.execute(
        "update auth.refresh_tokens set token = $1 where token = $2",
        hash_token(token), hash_token(session["refresh_token"]),
    )  # fmt: skip
    return token


async def judge(
    conn: asyncpg.Connection, token: str, *, final: bool = False, fast: bool = True
) -> dict[str, Any]:
    successors = [next_refresh_token(SECRET, token)]
    for _ in range(2):
        successors.append(next_refresh_token(SECRET, successors[-1]))
    row = await store.refresh_session(
        conn, hash_token(token), [hash_token(s) for s in successors], rotation=True,
        window=10.0, timebox=0.0, idle=0.0, final=final, ip="127.0.0.1", async_commit=fast,
    )  # fmt: skip
    assert row is not None
    return row


async def test_a_refresh_that_waited_for_a_rotation_looks_again(
    client: httpx.AsyncClient, conns: list[asyncpg.Connection]
) -> None:
    first, second = conns
    token = await new_token(client, first)
    async with first.transaction():
        assert (await judge(first, token))["outcome"] == "rotate"
        waiting = asyncio.ensure_future(judge(second, token))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # the token's row is locked
    # Its snapshot predates the rotation: no successor in sight, but no reuse either.
    assert (await waiting)["outcome"] == "retry"
    again = await judge(second, token, final=True)
    assert again["outcome"] == "catch_up"
    assert again["live"] == 1
    assert again["email"]  # the user bundle comes along
    assert await second.fetchval("select count(*) from auth.sessions where id = $1",
                                 again["session_id"]) == 1  # fmt: skip


async def test_only_rotations_skip_the_flush_wait(
    client: httpx.AsyncClient, conns: list[asyncpg.Connection]
) -> None:
    conn = conns[0]
    token = await new_token(client, conn)
    async with conn.transaction():
        assert (await judge(conn, token, fast=False))["async_commit"] is False
        assert await conn.fetchval("show synchronous_commit") == "on"
    successor = next_refresh_token(SECRET, token)
    async with conn.transaction():
        assert (await judge(conn, successor))["async_commit"] is True
        assert await conn.fetchval("show synchronous_commit") == "off"
    assert await conn.fetchval("show synchronous_commit") == "on"  # for that transaction only
    await conn.execute(
        "update auth.refresh_tokens set updated_at = updated_at - interval '1 minute'"
    )
    reused = await judge(conn, token, final=True)
    assert reused["outcome"] == "reuse"
    assert reused["async_commit"] is False


async def test_with_rotation_off_the_token_stays(client: httpx.AsyncClient) -> None:
    session = await sign_up(client)
    for _ in range(2):
        response = await refresh(client, session["refresh_token"])
        assert response.status_code == 200
        assert response.json()["refresh_token"] == session["refresh_token"]
        assert response.json()["user"]["id"] == session["user"]["id"]
