"""Throttles in Postgres: per-account login back-off (C1), per-IP limits that ignore
X-Forwarded-For from untrusted peers (C2), mail caps (C4)."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.auth.conftest import ANON, V2, mailbox, password_login, random_email, sign_up


@pytest.fixture(scope="module")
def auth_overrides() -> dict[str, Any]:
    return {
        "rate_limits": {
            "login_failures": 5, "otp_per_ip": 6, "email_per_recipient": 3,
            "email_sent": 1000,
        }
    }  # fmt: skip


async def test_login_backs_off_after_five_failures(
    client: httpx.AsyncClient, database_url: str
) -> None:
    email = random_email()
    await sign_up(client, email)
    for _ in range(5):
        assert (await password_login(client, email, "wrong password")).status_code == 400
    blocked = await password_login(client, email, "correct horse 1")
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "over_request_rate_limit"
    assert int(blocked.headers["retry-after"]) > 0
    unknown = random_email()
    for _ in range(5):
        await password_login(client, unknown, "wrong password")
    assert (await password_login(client, unknown, "wrong password")).status_code == 429
    conn = await asyncpg.connect(database_url)
    try:  # the window passes
        await conn.execute(
            "update neo_auth.throttles set window_start = window_start - interval '1 hour'"
        )
    finally:
        await conn.close()
    assert (await password_login(client, email, "correct horse 1")).status_code == 200


async def test_ip_limit_ignores_forwarded_for_from_untrusted_peers(
    client: httpx.AsyncClient,
) -> None:
    statuses = []
    for i in range(8):
        response = await client.post(
            "/auth/v1/recover",
            json={"email": random_email()},
            headers=ANON | V2 | {"X-Forwarded-For": f"10.0.0.{i}"},
        )
        statuses.append(response.status_code)
    assert 429 in statuses
    assert statuses.index(429) <= 6


async def test_mails_to_one_address_are_capped(
    client: httpx.AsyncClient, database_url: str
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("delete from neo_auth.throttles where key like 'ip:%'")
    finally:
        await conn.close()
    email = random_email()
    await sign_up(client, email)
    for _ in range(5):
        response = await client.post("/auth/v1/recover", json={"email": email}, headers=ANON | V2)
        assert response.status_code == 200
    assert len(await mailbox(client, email)) == 3
