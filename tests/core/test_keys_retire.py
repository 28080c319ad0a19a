"""Key ring hardening on a real database: retiring old signing keys (auth-security D5) and the
legacy HS256 secret switched off (D2)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import asyncpg
import jwt
import pytest

from neo.core.errors import InvalidToken
from neo.core.keys import (
    KeyNotRetirable,
    new_es256_jwk,
    retire_key,
    rotate_keys,
)
from neo.settings import Settings
from tests.conftest import DEMO_ANON_KEY
from tests.core.test_keys import USER_ID, load
from tests.support.servers import asgi_client, running_app

SECRET = "a-legacy-secret-of-at-least-thirty-two-characters"


def claims() -> dict[str, Any]:
    now = int(time.time())
    return {"sub": USER_ID, "role": "authenticated", "aud": "authenticated", "iat": now,
            "exp": now + 600}  # fmt: skip


async def test_a_retired_key_no_longer_verifies_its_tokens(
    conn: asyncpg.Connection, keyset: str
) -> None:
    first = await load(conn, keyset)
    old_token = first.sign(claims())
    await rotate_keys(conn, keyset)  # stage
    await rotate_keys(conn, keyset)  # promote: the first key is now `previous`
    rotated = await load(conn, keyset)
    assert rotated.verify(old_token)["sub"] == USER_ID  # verifies until retired
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    assert {k.kid: k.status for k in rotated.signing_keys}[old_kid] == "previous"
    await retire_key(conn, keyset, old_kid)
    retired = await load(conn, keyset)
    assert old_kid not in {k.kid for k in retired.signing_keys}
    assert old_kid not in {k["kid"] for k in retired.jwks()["keys"]}
    with pytest.raises(InvalidToken, match="No suitable key"):
        retired.verify(old_token)
    assert retired.verify(retired.sign(claims()))["sub"] == USER_ID


async def test_after_retiring_the_old_token_gets_401(
    make_settings: Callable[..., Settings], conn: asyncpg.Connection, keyset: str
) -> None:
    settings = make_settings(keys={"keyset": keyset})
    async with running_app(settings) as app:
        old_token = app.state.core.keys.sign(claims())
    await rotate_keys(conn, keyset)
    await rotate_keys(conn, keyset)
    headers = {"apikey": DEMO_ANON_KEY, "authorization": f"Bearer {old_token}"}
    async with running_app(settings) as app, asgi_client(app) as client:
        assert (await client.get("/neo/v1/whoami", headers=headers)).status_code == 200
    await retire_key(conn, keyset, jwt.get_unverified_header(old_token)["kid"])
    async with running_app(settings) as app, asgi_client(app) as client:
        refused = await client.get("/neo/v1/whoami", headers=headers)
        fresh = app.state.core.keys.sign(claims())
        accepted = await client.get(
            "/neo/v1/whoami", headers=headers | {"authorization": f"Bearer {fresh}"}
        )
    assert refused.status_code == 401, refused.text
    assert accepted.status_code == 200, accepted.text


async def test_the_signing_key_cannot_be_retired(conn: asyncpg.Connection, keyset: str) -> None:
    ring = await load(conn, keyset)
    current = ring.current
    assert current is not None
    with pytest.raises(KeyNotRetirable, match="cannot be retired"):
        await retire_key(conn, keyset, current.kid)
    with pytest.raises(KeyNotRetirable):
        await retire_key(conn, keyset, "no-such-kid")
    assert (await load(conn, keyset)).verify(ring.sign(claims()))["sub"] == USER_ID


async def test_legacy_hs256_verifies_kidless_tokens_by_default(
    conn: asyncpg.Connection, keyset: str
) -> None:
    ring = await load(conn, keyset, jwt_secret=SECRET)
    token = jwt.encode(claims(), SECRET, algorithm="HS256")
    assert ring.verify(token)["sub"] == USER_ID
    assert ring.verify(ring.anon_key)["role"] == "anon"


async def test_legacy_hs256_off_refuses_kidless_tokens(
    conn: asyncpg.Connection, keyset: str
) -> None:
    ring = await load(conn, keyset, jwt_secret=SECRET, legacy_hs256=False)
    for token in (jwt.encode(claims(), SECRET, algorithm="HS256"), ring.anon_key):
        with pytest.raises(InvalidToken, match="No suitable key"):
            ring.verify(token)
    assert ring.verify(ring.sign(claims()))["sub"] == USER_ID  # kid-bound keys still verify


async def test_legacy_hs256_off_needs_a_signing_key(conn: asyncpg.Connection, keyset: str) -> None:
    public = {k: v for k, v in new_es256_jwk().items() if k != "d"}
    with pytest.raises(ValueError, match="needs a key that signs"):
        await load(conn, keyset, jwt_keys=[public], legacy_hs256=False)
