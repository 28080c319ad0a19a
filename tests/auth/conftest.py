"""Fixtures for auth tests: cheap password hashing, generous throttles, helpers over HTTP."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from neo.settings import Settings
from tests.conftest import DEMO_ANON_KEY, DEMO_SERVICE_KEY
from tests.support.servers import asgi_client, live_server, running_app

# Low-cost hashing keeps the suite fast; test_passwords checks the real defaults.
FAST_AUTH: dict[str, Any] = {
    "argon2_memory_kib": 1024,
    "argon2_time_cost": 1,
    "rate_limits": {"email_min_interval": 0, "email_per_recipient": 0, "email_sent": 0,
                    "otp_per_ip": 0, "token_per_ip": 0, "anonymous_per_ip": 0, "mfa_per_ip": 0},
    "site_url": "http://localhost:3000",
    "uri_allow_list": ["http://localhost:3000/**"],
}  # fmt: skip
ANON = {"apikey": DEMO_ANON_KEY, "Authorization": f"Bearer {DEMO_ANON_KEY}"}
SERVICE = {"apikey": DEMO_SERVICE_KEY, "Authorization": f"Bearer {DEMO_SERVICE_KEY}"}
V2 = {"X-Supabase-Api-Version": "2024-01-01"}


def auth_settings(**overrides: Any) -> dict[str, Any]:
    """FAST_AUTH with overrides (nested dicts merged one level)."""
    merged = dict(FAST_AUTH)
    for key, value in overrides.items():
        merged[key] = merged.get(key, {}) | value if isinstance(value, dict) else value
    return merged


def random_email() -> str:
    return f"user-{secrets.token_hex(6)}@example.com"


@pytest.fixture(scope="module")
def auth_overrides() -> dict[str, Any]:
    """Per-module auth settings; modules override this fixture."""
    return {}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(
    make_settings: Callable[..., Settings], auth_overrides: dict[str, Any]
) -> AsyncIterator[FastAPI]:
    """The app with cheap hashing and the module's auth overrides."""
    async with running_app(make_settings(auth=auth_settings(**auth_overrides))) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client


@pytest.fixture(scope="module")
def server_url(
    make_settings: Callable[..., Settings], auth_overrides: dict[str, Any]
) -> Iterator[str]:
    """A real uvicorn with the module's auth settings."""
    with live_server(make_settings(auth=auth_settings(**auth_overrides))) as url:
        yield url


async def sign_up(
    client: httpx.AsyncClient,
    email: str | None = None,
    password: str = "correct horse 1",  # noqa: S107
) -> dict[str, Any]:
    response = await client.post(
        "/auth/v1/signup",
        json={"email": email or random_email(), "password": password},
        headers=ANON | V2,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def password_login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(
        "/auth/v1/token?grant_type=password",
        json={"email": email, "password": password},
        headers=ANON | V2,
    )


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(
        "/auth/v1/token?grant_type=refresh_token",
        json={"refresh_token": token},
        headers=ANON | V2,
    )


def bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"apikey": DEMO_ANON_KEY, "Authorization": f"Bearer {session['access_token']}"} | V2


async def mailbox(client: httpx.AsyncClient, email: str) -> list[dict[str, Any]]:
    response = await client.get("/auth/v1/admin/mailbox", params={"email": email}, headers=SERVICE)
    assert response.status_code == 200, response.text
    return list(response.json()["messages"])
