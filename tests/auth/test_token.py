"""POST /token: the password grant, refresh-token rotation, reuse detection, grace window."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from tests.auth.conftest import ANON, V2, bearer, password_login, random_email, refresh, sign_up


@pytest.fixture(scope="module")
def auth_overrides() -> dict[str, Any]:
    return {"refresh_token_reuse_interval": 10}


async def age_tokens(database_url: str, seconds: int) -> None:
    """Pretend every refresh token was used `seconds` earlier (hashed rows and, for
    session-signed tokens, the sessions' last rotation)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "update auth.refresh_tokens set updated_at = updated_at - make_interval(secs => $1)",
            seconds,
        )
        await conn.execute(
            "update auth.sessions set refreshed_at = refreshed_at - make_interval(secs => $1)",
            seconds,
        )
    finally:
        await conn.close()


async def test_wrong_password_and_unknown_user_answer_alike(client: httpx.AsyncClient) -> None:
    email = random_email()
    await sign_up(client, email)
    wrong = await password_login(client, email, "not the password")
    unknown = await password_login(client, random_email(), "not the password")
    for response in (wrong, unknown):
        assert response.status_code == 400
        assert response.json() == {
            "code": "invalid_credentials",
            "message": "Invalid login credentials",
        }


async def test_password_grant_accepts_form_bodies(client: httpx.AsyncClient) -> None:
    email = random_email()
    await sign_up(client, email)
    response = await client.post(
        "/auth/v1/token?grant_type=password",
        data={"email": email, "password": "correct horse 1"},
        headers=ANON | V2,
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("query", "body", "code"),
    [
        ("grant_type=nope", {}, "invalid_credentials"),
        ("grant_type=password", {"email": "a@b.co", "phone": "123", "password": "x"}, None),
        ("grant_type=refresh_token", {}, "validation_failed"),
        ("grant_type=refresh_token", {"refresh_token": "unknown"}, "refresh_token_not_found"),
        ("grant_type=pkce", {"auth_code": "x"}, "validation_failed"),
    ],
)
async def test_token_errors(
    client: httpx.AsyncClient, query: str, body: dict[str, Any], code: str | None
) -> None:
    response = await client.post(f"/auth/v1/token?{query}", json=body, headers=ANON | V2)
    assert response.status_code == 400
    assert response.json()["code"] == (code or "validation_failed")


async def test_refresh_rotates_the_token(client: httpx.AsyncClient) -> None:
    session = await sign_up(client)
    first = await refresh(client, session["refresh_token"])
    assert first.status_code == 200, first.text
    assert first.json()["refresh_token"] != session["refresh_token"]
    second = await refresh(client, first.json()["refresh_token"])
    assert second.status_code == 200
    me = await client.get("/auth/v1/user", headers=bearer(second.json()))
    assert me.status_code == 200


async def test_refresh_tokens_are_stored_only_hashed(
    client: httpx.AsyncClient, database_url: str
) -> None:
    session = await sign_up(client)
    token = session["refresh_token"]
    assert len(token) >= 32  # >= 128 bits of entropy
    conn = await asyncpg.connect(database_url)
    try:
        found = await conn.fetchval(
            "select count(*) from auth.refresh_tokens where token = $1 or parent = $1", token
        )
    finally:
        await conn.close()
    assert found == 0


async def test_parallel_refreshes_get_the_same_new_token(client: httpx.AsyncClient) -> None:
    session = await sign_up(client)
    responses = await asyncio.gather(
        *(refresh(client, session["refresh_token"]) for _ in range(10))
    )
    assert [r.status_code for r in responses] == [200] * 10
    assert len({r.json()["refresh_token"] for r in responses}) == 1
    after = await refresh(client, responses[0].json()["refresh_token"])
    assert after.status_code == 200


async def test_one_behind_token_is_accepted_within_the_window(client: httpx.AsyncClient) -> None:
    session = await sign_up(client)
    first = (await refresh(client, session["refresh_token"])).json()
    again = await refresh(client, session["refresh_token"])  # the client failed to save `first`
    assert again.status_code == 200
    assert again.json()["refresh_token"] == first["refresh_token"]


async def test_reuse_after_the_window_kills_the_session(
    client: httpx.AsyncClient, database_url: str
) -> None:
    session = await sign_up(client)
    tokens = [session["refresh_token"]]
    for _ in range(3):
        response = await refresh(client, tokens[-1])
        tokens.append(response.json()["refresh_token"])
    last_access = response.json()
    await age_tokens(database_url, 60)
    replay = await refresh(client, tokens[0])
    assert replay.status_code == 400
    assert replay.json() == {
        "code": "refresh_token_already_used",
        "message": "Invalid Refresh Token: Already Used",
    }
    newest = await refresh(client, tokens[-1])
    assert newest.status_code == 400
    me = await client.get("/auth/v1/user", headers=bearer(last_access))
    assert me.status_code == 403
    assert me.json()["code"] == "session_not_found"
    conn = await asyncpg.connect(database_url)
    try:
        actions = await conn.fetch(
            "select payload->>'action' as action from auth.audit_log_entries"
            " where payload->>'action' = 'refresh_token_reuse'"
        )
    finally:
        await conn.close()
    assert actions


async def test_one_behind_token_after_the_window_is_reuse(
    client: httpx.AsyncClient, database_url: str
) -> None:
    session = await sign_up(client)
    first = (await refresh(client, session["refresh_token"])).json()
    await age_tokens(database_url, 60)
    late = await refresh(client, session["refresh_token"])
    assert late.json()["code"] == "refresh_token_already_used"
    assert (await refresh(client, first["refresh_token"])).status_code == 400


async def test_banned_user_cannot_refresh(client: httpx.AsyncClient, database_url: str) -> None:
    session = await sign_up(client)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "update auth.users set banned_until = now() + interval '1 hour' where id = $1::uuid",
            session["user"]["id"],
        )
    finally:
        await conn.close()
    response = await refresh(client, session["refresh_token"])
    assert response.status_code == 400
    assert response.json()["code"] == "user_banned"


async def test_login_as_banned_or_unconfirmed_user(
    client: httpx.AsyncClient, database_url: str
) -> None:
    banned, unconfirmed = random_email(), random_email()
    await sign_up(client, banned)
    await sign_up(client, unconfirmed)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "update auth.users set banned_until = now() + interval '1 hour' where email = $1",
            banned,
        )
        await conn.execute(
            "update auth.users set email_confirmed_at = null where email = $1", unconfirmed
        )
    finally:
        await conn.close()
    assert (await password_login(client, banned, "correct horse 1")).json()["code"] == "user_banned"
    not_confirmed = await password_login(client, unconfirmed, "correct horse 1")
    assert not_confirmed.json()["code"] == "email_not_confirmed"
    wrong = await password_login(client, banned, "wrong password")
    assert wrong.json()["code"] == "invalid_credentials"  # no ban oracle without the password


async def test_audit_log_holds_no_secrets(client: httpx.AsyncClient, database_url: str) -> None:
    email = random_email()
    session = await sign_up(client, email)
    await password_login(client, email, "wrong password here")
    rotated = (await refresh(client, session["refresh_token"])).json()
    conn = await asyncpg.connect(database_url)
    try:
        payloads = [r["payload"] for r in await conn.fetch(
            "select payload::text as payload from auth.audit_log_entries"
        )]  # fmt: skip
    finally:
        await conn.close()
    assert payloads
    secrets = ["correct horse 1", "wrong password here", session["refresh_token"],
               rotated["refresh_token"], session["access_token"]]  # fmt: skip
    for payload in payloads:
        assert not any(secret in payload for secret in secrets)
