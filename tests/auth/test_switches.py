"""Provider switches: anonymous sign-ins off, PKCE `plain` refused unless allowed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.auth.conftest import ANON, V2, random_email, sign_up


@pytest.fixture(scope="module")
def auth_overrides() -> dict[str, Any]:
    return {"anonymous_users": False}


async def test_anonymous_sign_in_can_be_turned_off(client: httpx.AsyncClient) -> None:
    for headers in (ANON | V2, ANON):
        response = await client.post("/auth/v1/signup", json={"data": {}}, headers=headers)
        assert response.status_code == 422
        assert response.headers["x-sb-error-code"] == "anonymous_provider_disabled"
    settings = await client.get("/auth/v1/settings", headers=ANON)
    assert settings.json()["external"]["anonymous_users"] is False


async def test_plain_pkce_is_refused_by_default(client: httpx.AsyncClient) -> None:
    email = random_email()
    await sign_up(client, email)
    for address in (email, random_email()):  # refused alike, account or not
        body = {"email": address, "code_challenge": "p" * 43, "code_challenge_method": "plain"}
        response = await client.post("/auth/v1/recover", json=body, headers=ANON | V2)
        assert response.status_code == 400
        assert response.json()["code"] == "validation_failed"
