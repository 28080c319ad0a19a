"""Signed URLs are signed with storage's own key, as in Supabase: they outlive the rotation and
automatic retirement of the keys that sign access tokens, cannot be forged with another key,
and are never accepted as access tokens. URLs signed by the key ring before storage had its
own key keep working until that key is retired."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import jwt

from neo.core.key_refresh import retirement_age
from neo.core.keys import rotate_keys
from neo.core.runtime import Core
from neo.settings import Settings
from neo.storage.service_signed import URL_KID
from tests.support.servers import asgi_client, running_app


async def _rotate_out_and_retire(conn: asyncpg.Connection, core: Core) -> None:
    """Rotate the signing key out (stage, promote), let its tokens' lifetime pass, retire it."""
    keyset = core.settings.keys.keyset
    await rotate_keys(conn, keyset)
    await rotate_keys(conn, keyset)
    await conn.execute(
        "update neo_core.signing_keys set signed_until = now() - make_interval(secs => $2)"
        " where keyset = $1 and status = 'previous'",
        keyset,
        retirement_age(core.settings) + 5,
    )
    await core.refresh_keys()


async def test_signed_urls_outlive_the_access_token_keys(
    make_settings: Callable[..., Settings], storage_section: dict[str, Any], database_url: str
) -> None:
    keyset = f"signed{uuid.uuid4().hex[:10]}"
    settings = make_settings(storage=storage_section, keys={"keyset": keyset})
    async with running_app(settings) as app, asgi_client(app) as client:
        core: Core = app.state.core
        service = {
            "apikey": core.keys.service_key,
            "authorization": f"Bearer {core.keys.service_key}",
        }
        await client.post("/storage/v1/bucket", json={"name": "signed"}, headers=service)
        up = await client.post("/storage/v1/object/signed/a.txt", content=b"kept", headers=service)
        assert up.status_code == 200, up.text
        signed = await client.post(
            "/storage/v1/object/sign/signed/a.txt", json={"expiresIn": 3600}, headers=service
        )
        url = "/storage/v1" + signed.json()["signedURL"]
        token = url.split("token=")[1]
        assert jwt.get_unverified_header(token)["kid"] == URL_KID
        now = int(time.time())
        ring_claims = {"url": "signed/a.txt", "scope": "download", "iat": now, "exp": now + 3600}
        older = "/storage/v1/object/sign/signed/a.txt?token=" + core.keys.sign(ring_claims)
        assert (await client.get(older)).content == b"kept"  # signed before storage's own key

        conn = await asyncpg.connect(database_url)
        try:
            await _rotate_out_and_retire(conn, core)
        finally:
            await conn.close()

        res = await client.get(url)
        assert res.status_code == 200
        assert res.content == b"kept"
        gone = await client.get(older)  # its key is retired: as any token of that key
        assert gone.status_code == 400
        assert gone.json()["error"] == "InvalidJWT"


async def test_url_tokens_cannot_be_forged_or_used_as_access_tokens(
    make_settings: Callable[..., Settings], storage_section: dict[str, Any]
) -> None:
    async with running_app(make_settings(storage=storage_section)) as app, asgi_client(app) as c:
        core: Core = app.state.core
        service = {
            "apikey": core.keys.service_key,
            "authorization": f"Bearer {core.keys.service_key}",
        }
        await c.post("/storage/v1/bucket", json={"name": "forge"}, headers=service)
        await c.post("/storage/v1/object/forge/b.txt", content=b"x", headers=service)
        now = int(time.time())
        claims = {"url": "forge/b.txt", "scope": "download", "iat": now, "exp": now + 60}
        for key in ("another secret of at least thirty-two bytes", core.keys.jwt_secret):
            forged = jwt.encode(claims, key, algorithm="HS256", headers={"kid": URL_KID})
            res = await c.get(f"/storage/v1/object/sign/forge/b.txt?token={forged}")
            assert res.status_code == 400
            assert res.json()["error"] == "InvalidJWT"
        expired = jwt.encode(
            claims | {"exp": now - 10},
            core.keys.jwt_secret,
            algorithm="HS256",
            headers={"kid": URL_KID},
        )
        assert (
            await c.get(f"/storage/v1/object/sign/forge/b.txt?token={expired}")
        ).status_code == 400

        signed = await c.post(
            "/storage/v1/object/sign/forge/b.txt", json={"expiresIn": 60}, headers=service
        )
        token = signed.json()["signedURL"].split("token=")[1]
        assert (
            await c.get(f"/storage/v1/object/sign/forge/b.txt?token={token}")
        ).status_code == 200
        other = await c.get(f"/storage/v1/object/sign/forge/c.txt?token={token}")
        assert other.status_code == 400  # bound to its object
        as_access = {"apikey": core.keys.anon_key, "authorization": f"Bearer {token}"}
        assert (await c.get("/neo/v1/whoami", headers=as_access)).status_code == 401
        assert httpx.codes.is_success((await c.get("/neo/v1/whoami", headers=service)).status_code)
