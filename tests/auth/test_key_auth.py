"""Kong's key check in front of /auth/v1: an unknown apikey is refused on every keyed route,
whatever the bearer; the open routes (/verify, JWKS) and key-less local use still work."""

from __future__ import annotations

import httpx
import pytest

from tests.auth.conftest import random_email
from tests.conftest import DEMO_ANON_KEY

BAD_KEY = {"apikey": "sb_publishable_not-a-key-of-this-instance"}
KONG_401 = {
    "message": "Invalid API key",
    "hint": "Double check your Supabase `anon` or `service_role` API key.",
}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/auth/v1/signup", {"email": "x@example.com", "password": "long enough pw 1"}),
        ("POST", "/auth/v1/token?grant_type=password", {"email": "x@e.com", "password": "p"}),
        ("POST", "/auth/v1/otp", {"email": "x@example.com"}),
        ("POST", "/auth/v1/recover", {"email": "x@example.com"}),
        ("POST", "/auth/v1/resend", {"type": "signup", "email": "x@example.com"}),
        ("GET", "/auth/v1/user", None),
        ("GET", "/auth/v1/admin/users", None),
        ("POST", "/auth/v1/factors", {"factor_type": "totp"}),
    ],
)
async def test_unknown_apikey_is_refused_before_anything_else(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, str] | None
) -> None:
    response = await client.request(method, path, json=body, headers=BAD_KEY)
    assert response.status_code == 401
    assert response.json() == KONG_401


async def test_open_routes_take_no_key(client: httpx.AsyncClient) -> None:
    jwks = await client.get("/auth/v1/.well-known/jwks.json", headers=BAD_KEY)
    assert jwks.status_code == 200
    verify = await client.post(
        "/auth/v1/verify", json={"type": "signup", "token_hash": "nope"}, headers=BAD_KEY
    )
    assert verify.status_code != 401


async def test_known_or_absent_key_reaches_the_route(client: httpx.AsyncClient) -> None:
    body = {"email": random_email(), "password": "a long enough password"}
    with_key = await client.post("/auth/v1/signup", json=body, headers={"apikey": DEMO_ANON_KEY})
    assert with_key.status_code == 200
    without = await client.post(
        "/auth/v1/signup", json={"email": random_email(), "password": "another long password"}
    )
    assert without.status_code == 200
