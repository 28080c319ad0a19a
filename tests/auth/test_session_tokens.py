"""The refresh_token grant with session-signed tokens (decision 0012) on a real database: a
rotation moves the session's counter in place (a HOT update, no token row), a refresh that
waited for a parallel rotation catches up at once, the token one behind is answered only
within the window, older ones end the session, a counter the session never reached and a bad
signature are refused, sessions with hashed token rows keep working, and an MFA step-up skips
a counter."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pyotp
import pytest

from neo.auth import refresh_tokens, store
from neo.auth.sessions import hash_token
from tests.auth.conftest import bearer, refresh, sign_up
from tests.auth.test_mfa import challenge_and_verify, enroll


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    opened = await asyncpg.connect(database_url)
    yield opened
    await opened.close()


def secret(app: Any) -> bytes:
    return bytes(app.state.auth.secret)


def session_of(app: Any, session: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(app.state.core.keys.verify(session["access_token"])["session_id"])


async def judge(conn: asyncpg.Connection, session_id: uuid.UUID, counter: int,
                **overrides: Any) -> dict[str, Any]:  # fmt: skip
    params: dict[str, Any] = {"rotation": True, "window": 10.0, "timebox": 0.0, "idle": 0.0,
                              "ip": "127.0.0.1", "async_commit": True}  # fmt: skip
    row = await store.rotate_session(conn, session_id, counter, **(params | overrides))
    assert row is not None
    return row


async def test_a_rotation_updates_the_session_row_only(
    app: Any, client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    session = await sign_up(client)
    sid = session_of(app, session)
    assert refresh_tokens.parse(session["refresh_token"]) == refresh_tokens.parse(
        refresh_tokens.encode(secret(app), sid, 0)
    )
    async with conn.transaction():
        row = await judge(conn, sid, 0)
        assert (row["outcome"], row["counter"]) == ("rotate", 1)
        assert row["email"] == session["user"]["email"]  # the user bundle comes along
        assert "encrypted_password" not in row  # ...with the User object's columns only
        hot = "select pg_stat_get_xact_tuples_hot_updated('auth.sessions'::regclass)"
        assert await conn.fetchval(hot) == 1  # no index entry written
        assert await conn.fetchval("show synchronous_commit") == "off"
    stored = await conn.fetchrow(
        "select refresh_token_hmac_key, refresh_token_counter from auth.sessions where id = $1",
        sid,
    )
    assert tuple(stored) == ("neo1", 1)  # the key's name, never the key
    tokens = "select count(*) from auth.refresh_tokens where session_id = $1"
    assert await conn.fetchval(tokens, sid) == 0


async def test_http_refresh_answers_the_next_counter(app: Any, client: httpx.AsyncClient) -> None:
    session = await sign_up(client)
    first = await refresh(client, session["refresh_token"])
    assert first.status_code == 200, first.text
    parsed = refresh_tokens.parse(first.json()["refresh_token"])
    assert parsed is not None
    assert (parsed.session_id, parsed.counter) == (session_of(app, session), 1)
    me = await client.get("/auth/v1/user", headers=bearer(first.json()))
    assert me.status_code == 200


async def test_a_refresh_that_waited_for_a_rotation_catches_up(
    app: Any, client: httpx.AsyncClient, database_url: str, conn: asyncpg.Connection
) -> None:
    sid = session_of(app, await sign_up(client))
    other = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            assert (await judge(conn, sid, 0))["outcome"] == "rotate"
            waiting = asyncio.ensure_future(judge(other, sid, 0))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # the session row is locked
        caught = await waiting
    finally:
        await other.close()
    assert (caught["outcome"], caught["counter"]) == ("catch_up", 1)
    assert caught["async_commit"] is False  # nothing written


async def test_one_behind_after_the_window_and_two_behind_are_reuse(
    app: Any, client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    late, early = session_of(app, await sign_up(client)), session_of(app, await sign_up(client))
    assert (await judge(conn, late, 0))["counter"] == 1
    for counter in (0, 1):
        assert (await judge(conn, early, counter))["outcome"] == "rotate"
    await conn.execute(
        "update auth.sessions set refreshed_at = refreshed_at - interval '1 minute'"
        " where id = $1", late,
    )  # fmt: skip
    assert (await judge(conn, late, 0))["outcome"] == "reuse"
    reused = await judge(conn, early, 0)
    assert (reused["outcome"], reused["async_commit"]) == ("reuse", False)
    left = "select count(*) from auth.sessions where id = any($1::uuid[])"
    assert await conn.fetchval(left, [late, early]) == 0
    audited = await conn.fetchval(
        "select count(*) from auth.audit_log_entries where payload->>'action' ="
        " 'refresh_token_reuse' and payload->'traits'->>'session_id' = any($1::text[])",
        [str(late), str(early)],
    )
    assert audited == 2


async def test_with_rotation_off_the_newest_token_stays(
    app: Any, client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    sid = session_of(app, await sign_up(client))
    for _ in range(2):
        row = await judge(conn, sid, 0, rotation=False)
        assert (row["outcome"], row["counter"]) == ("keep", 0)


async def test_a_counter_never_issued_is_refused(
    app: Any, client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    session = await sign_up(client)
    sid = session_of(app, session)
    ahead = await refresh(client, refresh_tokens.encode(secret(app), sid, 7))
    assert ahead.status_code == 400
    assert ahead.json() == {
        "code": "validation_failed",
        "message": "Invalid Refresh Token: Not Issued By This Server",
    }
    assert (await refresh(client, session["refresh_token"])).status_code == 200  # still alive


async def test_a_token_signed_with_another_key_is_not_found(
    app: Any, client: httpx.AsyncClient
) -> None:
    session = await sign_up(client)
    forged = refresh_tokens.encode(b"not the server secret", session_of(app, session), 0)
    response = await refresh(client, forged)
    assert response.status_code == 400
    assert response.json()["code"] == "refresh_token_not_found"
    unknown = refresh_tokens.encode(secret(app), uuid.uuid4(), 0)
    assert (await refresh(client, unknown)).json()["code"] == "refresh_token_not_found"


async def test_a_session_with_hashed_token_rows_keeps_rotating_them(
    app: Any, client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    """A session begun before (or imported): no key, a hashed token row (decision 0005)."""
    session = await sign_up(client)
    old, token = uuid.uuid4(), secrets.token_urlsafe(24)
    await conn.execute(
        "insert into auth.sessions (id, user_id, created_at, updated_at, aal, refreshed_at)"
        " values ($1, $2::uuid, now(), now(), 'aal1', now() at time zone 'utc')",
        old, session["user"]["id"],
    )  # fmt: skip
    await conn.execute(
        "insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at,"
        " updated_at, session_id) values ('00000000-0000-0000-0000-000000000000', $1, $2,"
        " false, now(), now(), $3)",
        hash_token(token), session["user"]["id"], old,
    )  # fmt: skip
    first = await refresh(client, token)
    assert first.status_code == 200, first.text
    successor = first.json()["refresh_token"]
    assert refresh_tokens.parse(successor) is None  # still the hashed-row kind
    assert (await refresh(client, token)).json()["refresh_token"] == successor  # catch-up
    assert (await refresh(client, successor)).status_code == 200
    rows = "select count(*) from auth.refresh_tokens where session_id = $1"
    assert await conn.fetchval(rows, old) == 3


async def test_a_step_up_skips_a_counter(app: Any, client: httpx.AsyncClient) -> None:
    """MFA verification answers counter + 2: the aal1 token is two behind (a reuse), and the
    new token refreshes at aal2."""
    session = await sign_up(client)
    factor = await enroll(client, session)
    code = pyotp.TOTP(factor["totp"]["secret"]).now()
    verified = await challenge_and_verify(client, session, factor["id"], code)
    assert verified.status_code == 200, verified.text
    stepped = refresh_tokens.parse(verified.json()["refresh_token"])
    assert stepped is not None
    assert stepped.counter == 2
    again = await refresh(client, verified.json()["refresh_token"])
    assert again.status_code == 200, again.text
    assert app.state.core.keys.verify(again.json()["access_token"])["aal"] == "aal2"
