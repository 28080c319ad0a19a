"""The `auth` schema as apps use it: foreign keys and the profile trigger on auth.users, a
failing trigger answered as GoTrue does, and seed-style inserts that log in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import bcrypt
import httpx
import pytest_asyncio

from tests.auth.conftest import ANON, SERVICE, V2, password_login, random_email

PROFILES = """
create table public.profiles (
    id uuid primary key references auth.users (id) on delete cascade,
    email text,
    full_name text
);
create function public.handle_new_user() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
    if new.raw_user_meta_data ->> 'full_name' = 'explode' then
        raise exception 'profile rejected';
    end if;
    insert into public.profiles (id, email, full_name)
    values (new.id, new.email, new.raw_user_meta_data ->> 'full_name');
    return new;
end $$;
create trigger on_auth_user_created after insert on auth.users
    for each row execute procedure public.handle_new_user();
"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    await conn.execute(PROFILES)
    yield conn
    await conn.close()


async def test_profile_trigger_and_cascade(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    email = random_email()
    body = {"email": email, "password": "correct horse 1", "data": {"full_name": "Ada L"}}
    response = await client.post("/auth/v1/signup", json=body, headers=ANON | V2)
    assert response.status_code == 200, response.text
    user_id = response.json()["user"]["id"]
    profile = await db.fetchrow("select * from public.profiles where id = $1::uuid", user_id)
    assert profile is not None
    assert profile["email"] == email
    assert profile["full_name"] == "Ada L"
    await client.delete(f"/auth/v1/admin/users/{user_id}", headers=SERVICE)
    assert (
        await db.fetchval("select count(*) from public.profiles where id = $1::uuid", user_id) == 0
    )


async def test_failing_trigger_is_database_error_saving_new_user(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    email = random_email()
    body = {"email": email, "password": "correct horse 1", "data": {"full_name": "explode"}}
    response = await client.post("/auth/v1/signup", json=body, headers=ANON | V2)
    assert response.status_code == 500
    assert response.json() == {
        "code": "unexpected_failure",
        "message": "Database error saving new user",
    }
    legacy = await client.post("/auth/v1/signup", json=body, headers=ANON)
    assert legacy.json()["msg"] == "Database error saving new user"
    assert await db.fetchval("select count(*) from auth.users where email = $1", email) == 0


async def test_seeded_user_with_supabase_columns_logs_in(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    email = random_email()
    hashed = bcrypt.hashpw(b"seeded pw 1", bcrypt.gensalt(rounds=4)).decode()
    await db.execute(
        """
        insert into auth.users (instance_id, id, aud, role, email, encrypted_password,
            email_confirmed_at, recovery_sent_at, last_sign_in_at, raw_app_meta_data,
            raw_user_meta_data, created_at, updated_at, confirmation_token, email_change,
            email_change_token_new, recovery_token)
        values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated',
            'authenticated', $1, $2, now(), now(), now(),
            '{"provider":"email","providers":["email"]}', '{}', now(), now(), '', '', '', '')
        """,
        email,
        hashed,
    )
    assert await db.fetchval(
        "select confirmed_at is not null from auth.users where email = $1", email
    )
    login = await password_login(client, email, "seeded pw 1")
    assert login.status_code == 200, login.text
    assert login.json()["user"]["identities"] == []
