"""Warm connections (`core.warm`): a caller transaction that ended cleanly leaves its
connection checked out for the next one; anything else, an idle spell, every `RECYCLE`th
end and closing hand connections back to asyncpg's pool."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from neo.core import warm
from neo.core.actor import Actor
from neo.core.db import ApiConnection, Database
from neo.core.warm import WarmConnections

ANON = Actor.anonymous()


@pytest.fixture
def db(app: FastAPI) -> Database:
    return app.state.core.db


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=3, connection_class=ApiConnection
    )
    yield pool
    await pool.close()


async def backend(db: Database, actor: Actor = ANON) -> int:
    async with db.transaction_as(actor) as conn:
        pid: int = await conn.fetchval("select pg_backend_pid()")
        return pid


async def test_a_clean_transaction_leaves_its_connection_warm_for_the_next(db: Database) -> None:
    first = await backend(db)
    assert len(db.warm) >= 1
    assert await backend(db) == first


async def test_an_error_in_the_block_rolls_back_and_keeps_the_connection(db: Database) -> None:
    first = await backend(db)

    async def fail() -> None:
        async with db.transaction_as(ANON) as conn:
            await conn.execute("create temporary table warm_probe (x int)")
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await fail()
    async with db.transaction_as(ANON) as conn:
        assert await conn.fetchval("select pg_backend_pid()") == first
        assert await conn.fetchval("select to_regclass('pg_temp.warm_probe')") is None


async def test_a_cancelled_block_goes_back_through_the_pool(db: Database) -> None:
    await backend(db)
    warm_before = len(db.warm)
    with pytest.raises(asyncio.CancelledError):
        async with db.transaction_as(ANON):
            raise asyncio.CancelledError
    assert len(db.warm) == warm_before - 1  # taken, and not kept


async def test_session_state_left_by_user_sql_is_reset_before_the_next_caller(
    db: Database,
) -> None:
    async with db.transaction_as(ANON) as conn:
        await conn.execute("select set_config('app.tenant', 'left-behind', false)")
        await conn.execute("select pg_advisory_lock(4242)")
        pid = await conn.fetchval("select pg_backend_pid()")
    async with db.transaction_as(ANON) as conn:
        assert await conn.fetchval("select pg_backend_pid()") == pid  # the same, warm
        assert await conn.fetchval("select current_setting('app.tenant', true)") in (None, "")
        locks = "select count(*) from pg_locks where locktype = 'advisory' and pid = $1"
        assert await conn.fetchval(locks, pid) == 0


async def test_a_broken_warm_connection_is_replaced(db: Database, database_url: str) -> None:
    pid = await backend(db)
    owner = await asyncpg.connect(database_url)
    try:
        await owner.execute("select pg_terminate_backend($1)", pid)
    finally:
        await owner.close()
    await asyncio.sleep(0.2)  # the loop sees the socket close
    assert await backend(db) != pid


async def test_connections_unused_for_a_while_go_back_to_the_pool(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(warm, "IDLE", 0.05)
    stack = WarmConnections(pool, limit=3)
    conn = await stack.take()
    assert stack.keep(conn)
    assert len(stack) == 1
    assert pool.get_idle_size() == 0
    await asyncio.sleep(0.3)
    assert len(stack) == 0
    assert pool.get_idle_size() == 1
    await stack.close()


async def test_every_recycle_th_end_and_ends_past_the_limit_are_refused(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(warm, "RECYCLE", 3)
    stack = WarmConnections(pool, limit=1)
    first, second = await stack.take(), await stack.take()
    assert stack.keep(first)
    assert not stack.keep(second)  # the limit
    await pool.release(second)
    again = await stack.take()
    assert again is first
    assert not stack.keep(again)  # the third end: through the pool
    await pool.release(again)
    await stack.close()


async def test_close_hands_every_warm_connection_back(pool: asyncpg.Pool) -> None:
    stack = WarmConnections(pool, limit=3)
    taken = [await stack.take() for _ in range(3)]
    assert all(stack.keep(c) for c in taken)
    await stack.close()
    assert pool.get_idle_size() == 3
    late = await pool.acquire()
    assert not stack.keep(late)  # closed: nothing is kept any more
    await pool.release(late)
    await asyncio.wait_for(pool.close(), timeout=5)


async def test_metrics_count_warm_connections_as_idle(
    db: Database, client: httpx.AsyncClient
) -> None:
    await backend(db)
    assert len(db.warm) >= 1  # the transaction left its connection warm
    text = (await client.get("/metrics")).text
    size = re.search(r'neo_db_pool_connections\{pool="api"\} (\d+)', text)
    idle = re.search(r'neo_db_pool_idle\{pool="api"\} (\d+)', text)
    assert size, text
    assert idle, text
    assert int(idle.group(1)) == int(size.group(1))  # nothing is in use between requests
