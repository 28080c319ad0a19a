"""Several NEO instances on one database: blue/green on one key set, or key sets side by side.

Each instance has its own settings and port; they start together on one empty external
database and must not step on each other's migrations or keys.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from neo.core.keys import KeyRing, rotate_keys
from neo.settings import Settings
from tests.support.databases import drop_database, migration_sources, with_database
from tests.support.servers import asgi_client, running_app

USER_ID = "3b9e7c1a-5d2f-4e8b-a6c0-9f1d2e3c4b5a"
JWKS_PATH = "/auth/v1/.well-known/jwks.json"
PUBLIC_URL = "https://api.example.test"  # blue and green sit behind one load balancer

# name -> (port, key set, own JWT secret?)
INSTANCES = {
    "blue": (54401, "blue", False),
    "blue-2": (54402, "blue", False),
    "green": (54403, "green", True),
}


@pytest.fixture(scope="module")
async def shared_url(owner_url: str) -> AsyncIterator[str]:
    """An empty database the instances share (they migrate it themselves)."""
    name = f"neo_shared_{secrets.token_hex(5)}"
    admin = await asyncpg.connect(owner_url)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    yield with_database(owner_url, name)
    await drop_database(owner_url, name)


def instance_settings(
    make_settings: Callable[..., Settings], url: str, *, port: int, keyset: str, own_secret: bool
) -> Settings:
    keys: dict[str, Any] = {"keyset": keyset}
    if own_secret:
        keys["jwt_secret"] = None  # generated for this key set, not the shared demo secret
    return make_settings(db={"url": url}, api={"port": port, "public_url": PUBLIC_URL}, keys=keys)


@pytest.fixture(scope="module")
async def apps(
    make_settings: Callable[..., Settings], shared_url: str
) -> AsyncIterator[dict[str, FastAPI]]:
    """Every instance, started at the same moment on the empty shared database."""
    settings = {
        name: instance_settings(
            make_settings, shared_url, port=port, keyset=keyset, own_secret=own_secret
        )
        for name, (port, keyset, own_secret) in INSTANCES.items()
    }
    async with AsyncExitStack() as stack:
        started = await asyncio.gather(
            *(stack.enter_async_context(running_app(s)) for s in settings.values()),
            return_exceptions=True,  # every start has ended before the stack unwinds
        )
        running = {}
        for name, outcome in zip(settings, started, strict=True):
            if isinstance(outcome, BaseException):
                raise outcome
            running[name] = outcome
        yield running


@pytest.fixture
async def clients(apps: dict[str, FastAPI]) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with AsyncExitStack() as stack:
        yield {
            name: await stack.enter_async_context(asgi_client(app)) for name, app in apps.items()
        }


def ring(app: FastAPI) -> KeyRing:
    keys: KeyRing = app.state.core.keys
    return keys


def user_token(app: FastAPI) -> str:
    now = int(time.time())
    return ring(app).sign(
        {
            "sub": USER_ID,
            "role": "authenticated",
            "aud": "authenticated",
            "iss": ring(app).issuer,
            "iat": now,
            "exp": now + 600,
        }
    )


async def whoami(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    return await client.get("/neo/v1/whoami", headers=headers)


async def test_instances_starting_together_apply_each_migration_once(
    apps: dict[str, FastAPI], clients: dict[str, httpx.AsyncClient], shared_url: str
) -> None:
    conn = await asyncpg.connect(shared_url)
    try:
        rows = await conn.fetch("select capability, version from neo_core.migrations")
        current = await conn.fetch(
            "select keyset, count(*) from neo_core.signing_keys where status = 'current'"
            " group by keyset order by keyset"
        )
    finally:
        await conn.close()

    expected = sum(len(s.migrations()) for s in migration_sources())
    assert len(rows) == expected
    assert len({(r["capability"], r["version"]) for r in rows}) == expected
    assert [tuple(r) for r in current] == [("blue", 1), ("green", 1)]
    for name, client in clients.items():
        response = await client.get("/ready")
        assert response.status_code == 200, (name, response.text)


async def test_one_key_set_serves_the_same_keys_from_every_instance(
    apps: dict[str, FastAPI], clients: dict[str, httpx.AsyncClient]
) -> None:
    blue, blue_2 = ring(apps["blue"]), ring(apps["blue-2"])

    assert (await clients["blue"].get(JWKS_PATH)).json() == (
        await clients["blue-2"].get(JWKS_PATH)
    ).json()
    assert (blue.anon_key, blue.service_key) == (blue_2.anon_key, blue_2.service_key)
    assert (blue.publishable_key, blue.secret_key) == (blue_2.publishable_key, blue_2.secret_key)
    assert blue.issuer == blue_2.issuer == f"{PUBLIC_URL}/auth/v1"


@pytest.mark.parametrize(("issuer", "verifier"), [("blue", "blue-2"), ("blue-2", "blue")])
async def test_a_token_from_blue_verifies_on_green_deployment_of_the_same_key_set(
    apps: dict[str, FastAPI], clients: dict[str, httpx.AsyncClient], issuer: str, verifier: str
) -> None:
    token = user_token(apps[issuer])

    response = await whoami(clients[verifier], authorization=f"Bearer {token}")

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["db_role"], body["uid"]) == ("authenticated", USER_ID)


async def test_api_keys_of_one_key_set_work_on_every_instance_of_it(
    apps: dict[str, FastAPI], clients: dict[str, httpx.AsyncClient]
) -> None:
    blue = ring(apps["blue"])

    by_secret = await whoami(clients["blue-2"], apikey=blue.secret_key)
    by_legacy = await whoami(clients["blue-2"], apikey=blue.service_key)

    assert by_secret.json()["db_role"] == by_legacy.json()["db_role"] == "service_role"


async def test_different_key_sets_have_different_keys(
    apps: dict[str, FastAPI], clients: dict[str, httpx.AsyncClient]
) -> None:
    blue, green = ring(apps["blue"]), ring(apps["green"])
    blue_kids = {k["kid"] for k in (await clients["blue"].get(JWKS_PATH)).json()["keys"]}
    green_kids = {k["kid"] for k in (await clients["green"].get(JWKS_PATH)).json()["keys"]}

    assert blue_kids
    assert green_kids
    assert not blue_kids & green_kids
    assert blue.jwt_secret != green.jwt_secret
    assert {blue.publishable_key, blue.secret_key}.isdisjoint(
        {green.publishable_key, green.secret_key}
    )


@pytest.mark.parametrize(("issuer", "verifier"), [("blue", "green"), ("green", "blue")])
async def test_a_token_from_another_key_set_is_rejected(
    apps: dict[str, FastAPI], clients: dict[str, httpx.AsyncClient], issuer: str, verifier: str
) -> None:
    response = await whoami(clients[verifier], authorization=f"Bearer {user_token(apps[issuer])}")

    assert response.status_code == 401, response.text


@pytest.mark.parametrize("key", ["anon_key", "service_key", "publishable_key", "secret_key"])
async def test_api_keys_of_another_key_set_are_rejected(
    apps: dict[str, FastAPI], clients: dict[str, httpx.AsyncClient], key: str
) -> None:
    blue_key = getattr(ring(apps["blue"]), key)

    response = await whoami(clients["green"], apikey=blue_key)

    assert response.status_code == 401
    assert response.json()["message"] == "Invalid API key"


async def test_rotating_one_key_set_leaves_the_other_alone(
    make_settings: Callable[..., Settings], apps: dict[str, FastAPI], shared_url: str
) -> None:
    green_before = ring(apps["green"])
    conn = await asyncpg.connect(shared_url)
    try:
        await rotate_keys(conn, "blue")
        await rotate_keys(conn, "blue")
    finally:
        await conn.close()

    port, keyset, own_secret = INSTANCES["green"]
    green_settings = instance_settings(
        make_settings, shared_url, port=port, keyset=keyset, own_secret=own_secret
    )
    async with running_app(green_settings) as restarted:
        assert ring(restarted) == green_before
