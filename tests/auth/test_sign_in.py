"""The password grant after its hash check is one statement (`open_session`), before it one
more (`find_login`): what they write and answer must be what the separate statements did."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from tests.auth.conftest import ANON, V2, bearer, password_login, random_email, sign_up


@pytest.fixture(scope="module")
def auth_overrides() -> dict[str, Any]:
    return {"rate_limits": {"login_failures": 3, "token_per_ip": 0}}


async def test_sign_in_answers_the_user_as_stored_after_it(client: httpx.AsyncClient) -> None:
    email = random_email()
    await sign_up(client, email)
    login = await password_login(client, email, "correct horse 1")
    assert login.status_code == 200, login.text
    session = login.json()
    stored = await client.get("/auth/v1/user", headers=bearer(session))
    assert stored.status_code == 200
    assert session["user"] == stored.json()  # last sign-in of the user and identity included
    user = session["user"]
    assert user["last_sign_in_at"] == user["identities"][0]["last_sign_in_at"]
    claims = jwt.decode(session["access_token"], options={"verify_signature": False})
    assert [c["method"] for c in claims["amr"]] == ["password"]
    assert claims["aal"] == "aal1"
    assert claims["session_id"]


async def test_sign_in_writes_its_session_claim_and_audit_entry(
    client: httpx.AsyncClient, database_url: str
) -> None:
    email = random_email()
    await sign_up(client, email)
    session = (await password_login(client, email, "correct horse 1")).json()
    sid = jwt.decode(session["access_token"], options={"verify_signature": False})["session_id"]
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "select s.aal::text, s.refresh_token_counter, s.user_id::text,"
            " (select count(*) from auth.mfa_amr_claims c where c.session_id = s.id) as claims,"
            " (select count(*) from auth.audit_log_entries a where a.payload->>'action' = 'login'"
            "   and a.payload->'traits'->>'user_id' = s.user_id::text) as logins"
            " from auth.sessions s where s.id = $1::uuid",
            sid,
        )
    finally:
        await conn.close()
    assert row is not None
    assert (row["aal"], row["refresh_token_counter"], row["claims"]) == ("aal1", 0, 1)
    assert row["user_id"] == session["user"]["id"]
    assert row["logins"] == 2  # the sign-up's session (autoconfirm) and this one


async def test_a_successful_sign_in_forgets_wrong_passwords(client: httpx.AsyncClient) -> None:
    email = random_email()
    await sign_up(client, email)
    for _ in range(2):
        assert (await password_login(client, email, "wrong password")).status_code == 400
    assert (await password_login(client, email, "correct horse 1")).status_code == 200
    for _ in range(2):  # four in all: over the limit of 3 unless the success cleared them
        assert (await password_login(client, email, "wrong password")).status_code == 400
    assert (await password_login(client, email, "correct horse 1")).status_code == 200
    for _ in range(3):  # the limit still holds after a clear
        assert (await password_login(client, email, "wrong password")).status_code == 400
    blocked = await password_login(client, email, "correct horse 1")
    assert blocked.status_code == 429


async def test_phone_sign_in_finds_no_user(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/v1/token?grant_type=password",
        json={"phone": "+15550100", "password": "correct horse 1"},
        headers=ANON | V2,
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_credentials"
