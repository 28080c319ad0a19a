"""Automatic key retirement and the key refresh of running processes (auth-security D5): a
rotated-out key retires itself once the tokens it could have signed have expired, running
apps take rotations and retirements without a restart, and nothing else is ever retired.
The time since a rotation is moved by shifting `signed_until` in the database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import jwt
from fastapi import FastAPI

from neo.core.key_refresh import retire_expired_keys, retirement_age
from neo.core.keys import new_es256_jwk, rotate_keys
from neo.core.runtime import Core
from neo.settings import Settings
from tests.conftest import DEMO_ANON_KEY
from tests.core.test_keys import USER_ID
from tests.support.servers import asgi_client, running_app


def claims() -> dict[str, Any]:
    now = int(time.time())
    return {"sub": USER_ID, "role": "authenticated", "aud": "authenticated", "iat": now,
            "exp": now + 600}  # fmt: skip


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def statuses(conn: asyncpg.Connection, keyset: str) -> dict[str, str]:
    rows = await conn.fetch(
        "select kid, status from neo_core.signing_keys where keyset = $1", keyset
    )
    return {r["kid"]: r["status"] for r in rows}


async def stopped_signing(conn: asyncpg.Connection, keyset: str, seconds_ago: float) -> None:
    """Move every key's `signed_until` to `seconds_ago` (the rotation happened then)."""
    await conn.execute(
        "update neo_core.signing_keys set signed_until = now() - make_interval(secs => $2)"
        " where keyset = $1",
        keyset,
        seconds_ago,
    )


async def whoami(client: httpx.AsyncClient, token: str) -> int:
    headers = {"apikey": DEMO_ANON_KEY, "authorization": f"Bearer {token}"}
    return (await client.get("/neo/v1/whoami", headers=headers)).status_code


@asynccontextmanager
async def rotated_app(
    settings: Settings, conn: asyncpg.Connection, keyset: str
) -> AsyncIterator[tuple[FastAPI, Core, str]]:
    """A running app, a token of its first key, and that key rotated out (previous)."""
    async with running_app(settings) as app:
        core: Core = app.state.core
        token = core.keys.sign(claims())
        await rotate_keys(conn, keyset)  # stage
        await rotate_keys(conn, keyset)  # promote: the first key stops signing
        yield app, core, token


async def test_an_expired_previous_key_is_retired_by_one_refresh(
    make_settings: Callable[..., Settings], conn: asyncpg.Connection, keyset: str
) -> None:
    settings = make_settings(keys={"keyset": keyset})
    async with rotated_app(settings, conn, keyset) as (app, core, old_token):
        old_kid = kid_of(old_token)
        await core.refresh_keys()  # the running app takes the rotation
        assert core.keys.current is not None
        assert core.keys.current.kid != old_kid
        async with asgi_client(app) as client:
            assert await whoami(client, old_token) == 200  # verified, and cached
            await stopped_signing(conn, keyset, retirement_age(core.settings) + 5)
            await core.refresh_keys()
            assert (await statuses(conn, keyset))[old_kid] == "revoked"
            assert await whoami(client, old_token) == 401  # no restart needed
            assert await whoami(client, core.keys.sign(claims())) == 200
            jwks = (await client.get("/auth/v1/.well-known/jwks.json")).json()
    assert old_kid not in {k["kid"] for k in jwks["keys"]}


async def test_a_key_inside_the_window_is_kept(
    make_settings: Callable[..., Settings], conn: asyncpg.Connection, keyset: str
) -> None:
    settings = make_settings(keys={"keyset": keyset}, auth={"jwt_exp": 900})
    async with rotated_app(settings, conn, keyset) as (app, core, old_token):
        age = retirement_age(core.settings)
        assert age == 900 + 60 + 60  # jwt_exp + one refresh interval + the margin
        await stopped_signing(conn, keyset, age - 30)
        await core.refresh_keys()
        assert (await statuses(conn, keyset))[kid_of(old_token)] == "previous"
        async with asgi_client(app) as client:
            assert await whoami(client, old_token) == 200


async def test_the_current_and_the_staged_key_are_never_retired(
    make_settings: Callable[..., Settings], conn: asyncpg.Connection, keyset: str
) -> None:
    async with running_app(make_settings(keys={"keyset": keyset})) as app:
        core: Core = app.state.core
        token = core.keys.sign(claims())
        staged = await rotate_keys(conn, keyset)
        await stopped_signing(conn, keyset, 10 * retirement_age(core.settings))
        await core.refresh_keys()
        assert await statuses(conn, keyset) == {kid_of(token): "current", staged: "standby"}
        assert core.keys.verify(token)["sub"] == USER_ID
        assert staged in {k["kid"] for k in core.keys.jwks()["keys"]}  # the staged key is out


async def test_start_up_retires_unless_turned_off(
    make_settings: Callable[..., Settings], conn: asyncpg.Connection, keyset: str
) -> None:
    settings = make_settings(keys={"keyset": keyset, "auto_retire": False})
    async with rotated_app(settings, conn, keyset) as (_, core, old_token):
        age = retirement_age(core.settings)
    await stopped_signing(conn, keyset, age + 5)
    async with running_app(settings) as app:
        await app.state.core.refresh_keys()
        assert app.state.core.keys.verify(old_token)["sub"] == USER_ID  # off: kept
    async with running_app(make_settings(keys={"keyset": keyset})) as app:
        assert kid_of(old_token) not in {k.kid for k in app.state.core.keys.signing_keys}
    assert (await statuses(conn, keyset))[kid_of(old_token)] == "revoked"


async def test_the_background_refresh_retires_and_reloads(
    make_settings: Callable[..., Settings], conn: asyncpg.Connection, keyset: str
) -> None:
    settings = make_settings(keys={"keyset": keyset, "refresh_interval": 0.1})
    async with rotated_app(settings, conn, keyset) as (_, core, old_token):
        await stopped_signing(conn, keyset, retirement_age(core.settings) + 5)
        for _ in range(100):
            if kid_of(old_token) not in {k.kid for k in core.keys.signing_keys}:
                break
            await asyncio.sleep(0.05)
        assert (await statuses(conn, keyset))[kid_of(old_token)] == "revoked"
        assert kid_of(old_token) not in {k.kid for k in core.keys.signing_keys}


async def test_concurrent_runs_retire_each_key_once(
    make_settings: Callable[..., Settings], database_url: str, keyset: str
) -> None:
    settings = make_settings(keys={"keyset": keyset}).core()
    conns = [await asyncpg.connect(database_url) for _ in range(4)]
    try:
        for _ in range(4):  # a key staged and promoted four times: two previous keys
            await rotate_keys(conns[0], keyset)
        await stopped_signing(conns[0], keyset, retirement_age(settings) + 5)
        runs = await asyncio.gather(*(retire_expired_keys(c, settings) for c in conns))
        retired = [kid for run in runs for kid in run]
        assert len(retired) == len(set(retired)) == 2
        assert await retire_expired_keys(conns[0], settings) == []
    finally:
        for c in conns:
            await c.close()


async def test_configured_keys_are_never_retired(
    make_settings: Callable[..., Settings], conn: asyncpg.Connection, keyset: str
) -> None:
    signer = new_es256_jwk() | {"kid": "signer", "key_ops": ["sign", "verify"]}
    old = {k: v for k, v in new_es256_jwk().items() if k != "d"} | {"kid": "old"}
    async with running_app(make_settings(keys={"keyset": keyset})):
        pass  # the key set's stored keys exist
    await rotate_keys(conn, keyset)
    await rotate_keys(conn, keyset)
    await stopped_signing(conn, keyset, 10**6)
    settings = make_settings(keys={"keyset": keyset, "jwt_keys": [signer, old]})
    async with running_app(settings) as app:
        await app.state.core.refresh_keys()
        keys = {k.kid: k.status for k in app.state.core.keys.signing_keys}
    assert keys == {"signer": "current", "old": "previous"}
    assert "revoked" not in (await statuses(conn, keyset)).values()  # stored keys untouched
