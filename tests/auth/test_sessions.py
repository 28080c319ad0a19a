"""Session lifetimes (E6) and the client address behind trusted proxies (C2)."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.auth.conftest import ANON, V2, refresh, sign_up


@pytest.fixture(scope="module")
def auth_overrides() -> dict[str, Any]:
    return {
        "sessions_timebox": 3600,
        "sessions_inactivity_timeout": 600,
        "trusted_proxies": ["127.0.0.1/32"],
        "rate_limits": {"otp_per_ip": 3},
    }


async def shift(database_url: str, column: str, session_id: str, seconds: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            f"update auth.sessions set {column} = {column} - make_interval(secs => $2)"
            " where id = $1::uuid",
            session_id,
            seconds,
        )
    finally:
        await conn.close()


def session_id(app: Any, session: dict[str, Any]) -> str:
    return str(app.state.core.keys.verify(session["access_token"])["session_id"])


async def test_idle_session_expires(app: Any, client: httpx.AsyncClient, database_url: str) -> None:
    session = await sign_up(client)
    await shift(database_url, "refreshed_at", session_id(app, session), 601)
    response = await refresh(client, session["refresh_token"])
    assert response.status_code == 400
    assert response.json()["code"] == "session_expired"


async def test_refreshing_keeps_a_session_alive_until_the_timebox(
    app: Any, client: httpx.AsyncClient, database_url: str
) -> None:
    session = await sign_up(client)
    fresh = await refresh(client, session["refresh_token"])
    assert fresh.status_code == 200
    await shift(database_url, "created_at", session_id(app, session), 3601)
    response = await refresh(client, fresh.json()["refresh_token"])
    assert response.json()["code"] == "session_expired"


async def test_forwarded_for_counts_behind_a_trusted_proxy(client: httpx.AsyncClient) -> None:
    async def recover(ip: str) -> int:
        response = await client.post(
            "/auth/v1/recover",
            json={"email": "nobody@example.com"},
            headers=ANON | V2 | {"X-Forwarded-For": f"{ip}, 127.0.0.1"},
        )
        return response.status_code

    assert [await recover("203.0.113.7") for _ in range(4)] == [200, 200, 200, 429]
    assert await recover("203.0.113.8") == 200
