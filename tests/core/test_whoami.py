"""`/neo/v1/whoami` with tokens whose claims SQL cannot take: a clear 400, never a 500."""

from __future__ import annotations

import time

import httpx
import jwt

from tests.conftest import DEMO_ANON_KEY, DEMO_JWT_SECRET


def token(sub: str) -> str:
    now = int(time.time())
    claims = {"sub": sub, "role": "authenticated", "aud": "authenticated", "iat": now}
    return jwt.encode(claims | {"exp": now + 600}, DEMO_JWT_SECRET, algorithm="HS256")


async def test_a_sub_that_is_not_a_uuid_is_a_400(client: httpx.AsyncClient) -> None:
    headers = {"apikey": DEMO_ANON_KEY, "authorization": f"Bearer {token('not-a-uuid')}"}
    response = await client.get("/neo/v1/whoami", headers=headers)
    assert response.status_code == 400, response.text
    assert "uuid" in response.text


async def test_a_uuid_sub_is_the_caller(client: httpx.AsyncClient) -> None:
    sub = "8d7f6c1e-3b0a-4b8e-9a51-2f4c1d9e7a60"
    headers = {"apikey": DEMO_ANON_KEY, "authorization": f"Bearer {token(sub)}"}
    response = await client.get("/neo/v1/whoami", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["uid"] == sub
    assert response.json()["db_role"] == "authenticated"
