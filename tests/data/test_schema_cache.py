"""The schema cache: what it loads, and reloads on DDL or NOTIFY without failing requests."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
from fastapi import FastAPI

from neo.data import DataState
from neo.data.schema_cache import MEMO_SIZE, SchemaCache, load_schema_cache
from neo.data.store import QUERIES


def state_of(app: FastAPI) -> DataState:
    state: DataState = app.state.data
    return state


async def wait_for(condition: object, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_every_named_query_prepares(schema: str) -> None:
    conn = await asyncpg.connect(schema)
    try:
        for sql in QUERIES.values():
            await conn.prepare(sql)
    finally:
        await conn.close()


async def test_cache_holds_relations_keys_and_functions(schema: str) -> None:
    conn = await asyncpg.connect(schema)
    try:
        async with conn.transaction():
            cache = await load_schema_cache(conn, ["public", "api", "missing"])
    finally:
        await conn.close()
    assert cache.schemas == ["public", "api"]
    books = cache.relation("public", "books")
    assert books is not None
    assert books.pk == ("id",)
    assert books.kind == "r"
    assert books.columns["tags"].type == "text[]"
    assert books.columns["tags"].default == "'{}'::text[]"
    assert cache.relation("public", "book_titles") is not None
    assert cache.relation("public", "book_genres").pk == ("book_id", "genre_id")  # type: ignore[union-attr]
    fks = {fk.name for fk in cache.foreign_keys}
    assert {"books_author_id_fkey", "books_editor_id_fkey", "reviews_book_id_fkey"} <= fks
    (add,) = cache.functions[("public", "add")]
    assert [(p.name, p.type, p.has_default) for p in add.params] == [
        ("a", "integer", False),
        ("b", "integer", True),
    ]
    (stats,) = cache.functions[("public", "book_stats")]
    assert stats.returns_set
    assert list(stats.result_columns or {}) == ["author", "total"]


async def test_ddl_reloads_the_cache(app: FastAPI, client: httpx.AsyncClient, schema: str) -> None:
    assert (await client.get("/rest/v1/planets")).status_code == 404
    conn = await asyncpg.connect(schema)
    try:
        await conn.execute("create table planets (id int primary key, name text)")
        await conn.execute("insert into planets values (1, 'Anarres')")
    finally:
        await conn.close()

    async def visible() -> bool:
        return (await client.get("/rest/v1/planets")).status_code == 200

    await wait_for(visible)
    assert (await client.get("/rest/v1/planets")).json() == [{"id": 1, "name": "Anarres"}]


async def test_notify_reloads_and_requests_never_fail(
    app: FastAPI, client: httpx.AsyncClient, schema: str
) -> None:
    state = state_of(app)
    before = state.version
    conn = await asyncpg.connect(schema)
    statuses: list[int] = []

    async def reader() -> None:
        for _ in range(40):
            statuses.append((await client.get("/rest/v1/genres?select=id&limit=1")).status_code)

    async def notifier() -> None:
        for _ in range(10):
            await conn.execute("NOTIFY pgrst, 'reload schema'")
            await asyncio.sleep(0.02)

    try:
        await asyncio.gather(reader(), reader(), notifier())

        async def reloaded() -> bool:
            return state.version > before

        await wait_for(reloaded)
    finally:
        await conn.close()
    assert set(statuses) == {200}


def test_the_memo_of_a_snapshot_is_bounded() -> None:
    cache = SchemaCache(["public"])
    for i in range(MEMO_SIZE + 5):
        assert cache.remember(i, str(i)) == str(i)
    assert len(cache.memo) == MEMO_SIZE
    assert 4 not in cache.memo
    assert cache.memo[MEMO_SIZE + 4] == str(MEMO_SIZE + 4)
    assert cache == SchemaCache(["public"])  # derived values are not part of the snapshot


async def test_the_listener_stops_when_cancelled_as_a_notice_arrives(app: FastAPI) -> None:
    # Python 3.11's wait_for swallowed a cancel that raced the wake event: the listener
    # went on forever and the app's shutdown hung.
    state = state_of(app)
    for turns in range(6):
        task = asyncio.create_task(state.follow())
        await asyncio.sleep(0.3)  # connected, listening, waiting for the event
        state.request_reload("reload schema")
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done == {task}, f"listener still running after cancel ({turns} loop turns)"
