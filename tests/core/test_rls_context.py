"""Transactions acting as a caller: RLS policies see the caller exactly as under PostgREST."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest
from fastapi import FastAPI

from neo.core.actor import Actor, RequestContext
from neo.core.db import Database, savepoint
from neo.core.errors import UnknownRole

ALICE = str(uuid.uuid4())
BOB = str(uuid.uuid4())


def user(uid: str) -> Actor:
    return Actor(
        role="authenticated", claims={"sub": uid, "role": "authenticated"}, credential="jwt"
    )


@pytest.fixture(scope="module")
async def db(app: FastAPI, database_url: str) -> Database:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            """
            create table if not exists public.notes (
                id serial primary key, owner uuid not null, body text not null);
            alter table public.notes enable row level security;
            drop policy if exists own_notes on public.notes;
            create policy own_notes on public.notes
                using (auth.uid() = owner) with check (auth.uid() = owner);
            truncate public.notes;
            """
        )
        await conn.execute(
            "insert into public.notes (owner, body)"
            " values ($1, 'alice 1'), ($1, 'alice 2'), ($2, 'bob 1')",
            uuid.UUID(ALICE),
            uuid.UUID(BOB),
        )
    finally:
        await conn.close()
    return app.state.core.db


async def bodies(db: Database, actor: Actor) -> list[str]:
    async with db.transaction_as(actor) as conn:
        return [r["body"] for r in await conn.fetch("select body from public.notes order by id")]


async def test_policy_using_auth_uid_sees_only_the_callers_rows(db: Database) -> None:
    assert await bodies(db, user(ALICE)) == ["alice 1", "alice 2"]
    assert await bodies(db, user(BOB)) == ["bob 1"]


async def test_anon_sees_nothing_and_service_role_bypasses_rls(db: Database) -> None:
    assert await bodies(db, Actor.anonymous()) == []
    service = Actor(role="service_role", claims={"role": "service_role"}, credential="service_key")
    assert await bodies(db, service) == ["alice 1", "alice 2", "bob 1"]


async def test_writes_are_checked_against_the_policy(db: Database) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with db.transaction_as(user(ALICE)) as conn:
            await conn.execute(
                "insert into public.notes (owner, body) values ($1, 'forged')", uuid.UUID(BOB)
            )


async def test_request_settings_are_those_postgrest_sets(db: Database) -> None:
    request = RequestContext(method="PATCH", path="/rest/v1/notes", headers={"x-client-info": "t"})
    async with db.transaction_as(user(ALICE), request) as conn:
        row = await conn.fetchrow(
            "select current_user, current_setting('request.method'),"
            " current_setting('request.path'), current_setting('request.headers'),"
            " current_setting('request.jwt.claims'), current_setting('search_path')"
        )
    assert row[0] == "authenticated"
    assert (row[1], row[2]) == ("PATCH", "/rest/v1/notes")
    assert json.loads(row[3]) == {"x-client-info": "t"}
    assert json.loads(row[4]) == {"sub": ALICE, "role": "authenticated"}
    assert row[5] == '"public", "extensions"'


async def test_settings_do_not_leak_into_the_next_transaction(db: Database) -> None:
    async with db.transaction_as(user(ALICE)):
        pass
    async with db.api.acquire() as conn:
        row = await conn.fetchrow(
            "select current_user, current_setting('request.jwt.claims', true)"
        )
    assert row[0] == "authenticator"
    assert row[1] in (None, "")


async def test_reset_role_falls_back_to_authenticator_not_the_owner(db: Database) -> None:
    async with db.transaction_as(user(ALICE)) as conn:
        await conn.execute("reset role")
        assert await conn.fetchval("select current_user") == "authenticator"
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with savepoint(conn):  # keep the outer transaction usable
                await conn.fetch("select * from neo_core.secrets")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with savepoint(conn):
                await conn.execute("set role postgres")


async def test_unknown_role_is_reported_as_such(db: Database) -> None:
    with pytest.raises(UnknownRole):
        async with db.transaction_as(Actor(role="ghost", claims={"role": "ghost"})):
            pass


async def test_extra_settings_apply_after_the_role_switch_in_the_same_transaction(
    db: Database,
) -> None:
    settings = {"statement_timeout": "1234ms", "search_path": "public"}
    async with db.transaction_as(user(ALICE), settings=settings) as conn:
        row = await conn.fetchrow(
            "select current_user, current_setting('statement_timeout'),"
            " current_setting('search_path')"
        )
    assert tuple(row) == ("authenticated", "1234ms", "public")
    async with db.api.acquire() as conn:
        assert await conn.fetchval("select current_setting('statement_timeout')") != "1234ms"


async def test_session_level_changes_by_user_sql_do_not_reach_the_next_caller(
    db: Database,
) -> None:
    async with db.transaction_as(user(ALICE)) as conn:
        await conn.execute("select set_config('app.tenant', 'alice-tenant', false)")
        await conn.execute("select set_config('statement_timeout', '1ms', false)")
    for _ in range(db.api.get_size() + 1):  # whichever pooled connection comes next
        async with db.transaction_as(user(BOB)) as conn:
            row = await conn.fetchrow(
                "select current_setting('app.tenant', true), current_setting('statement_timeout')"
            )
            assert row[0] in (None, "")
            assert row[1] != "1ms"


async def insert_twice(db: Database, note_id: int) -> None:
    async with db.transaction_as(user(ALICE)) as conn:
        for body in ("x", "y"):
            await conn.execute(
                "insert into public.notes (id, owner, body) values ($1, $2, $3)",
                note_id,
                uuid.UUID(ALICE),
                body,
            )


async def test_a_failed_transaction_rolls_back_and_the_connection_is_reused_cleanly(
    db: Database,
) -> None:
    with pytest.raises(asyncpg.UniqueViolationError):
        await insert_twice(db, 1000)
    assert "x" not in await bodies(db, user(ALICE))
    assert await bodies(db, user(BOB)) == ["bob 1"]


async def test_savepoint_rolls_back_only_its_block(db: Database) -> None:
    async with db.transaction_as(user(ALICE)) as conn:
        await conn.execute(
            "insert into public.notes (id, owner, body) values (2000, $1, 'kept')", uuid.UUID(ALICE)
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            async with savepoint(conn):
                await conn.execute(
                    "insert into public.notes (id, owner, body) values (2000, $1, 'dup')",
                    uuid.UUID(ALICE),
                )
    assert "kept" in await bodies(db, user(ALICE))


@pytest.mark.parametrize(
    "value", ["plain", "it's", "back\\slash", "e'\\' ; drop table x; --", "nul\x00byte", "ünïcødé"]
)
async def test_setting_values_reach_sql_verbatim(db: Database, value: str) -> None:
    request = RequestContext(method="GET", path=f"/rest/v1/{value}", headers={"x-v": value})
    async with db.transaction_as(user(ALICE), request) as conn:
        row = await conn.fetchrow(
            "select current_setting('request.path'), current_setting('request.headers')"
        )
    assert row[0] == f"/rest/v1/{value}".replace("\x00", "\ufffd")  # no NUL in text
    assert json.loads(row[1]) == {"x-v": value}  # JSON escapes it
