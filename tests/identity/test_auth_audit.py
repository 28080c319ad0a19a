"""auth-security G6: auth's events (sign-up, login ok and failed, refresh-token reuse,
password change, logout, admin actions) reach `neo_identity.audit_log` through the mirror
trigger on `auth.audit_log_entries`, with actor, target, IP and user agent, and never a
password or token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from fastapi import FastAPI

from neo.settings import Settings
from tests.auth.conftest import (
    ANON,
    SERVICE,
    V2,
    auth_settings,
    password_login,
    random_email,
    refresh,
    sign_up,
)
from tests.identity.conftest import call, ok
from tests.support.servers import running_app

PASSWORD = "correct horse 1"
NEW_PASSWORD = "battery staple 2"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(make_settings: Callable[..., Settings]) -> AsyncIterator[FastAPI]:
    """No reuse grace: presenting a rotated refresh token again is a reuse at once."""
    settings = make_settings(auth=auth_settings(refresh_token_reuse_interval=0))
    async with running_app(settings) as app:
        yield app


async def rows_for(db: asyncpg.Connection, subject: str) -> list[dict[str, Any]]:
    sql = "select * from neo_identity.audit_log where target_id = $1 order by id"
    return [dict(r) for r in await db.fetch(sql, subject)]


async def test_auth_flows_land_in_the_identity_audit_log_without_secrets(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    email = random_email()
    session = await sign_up(client, email, PASSWORD)
    user_id, access = session["user"]["id"], session["access_token"]
    assert (await password_login(client, email, "wrong password 9")).status_code == 400
    login = (await password_login(client, email, PASSWORD)).json()
    rotated = await refresh(client, login["refresh_token"])
    assert rotated.status_code == 200
    reused = await refresh(client, login["refresh_token"])
    assert reused.status_code == 400, reused.text
    user_headers = {"apikey": ANON["apikey"], "Authorization": f"Bearer {access}"} | V2
    body = {"password": NEW_PASSWORD}
    changed = await client.put("/auth/v1/user", json=body, headers=user_headers)
    assert changed.status_code == 200, changed.text
    rows = await rows_for(db, user_id)
    actions = [r["action"] for r in rows]
    for action in ("auth.user_signedup", "auth.login", "auth.refresh_token_reuse",
                   "auth.user_updated_password"):  # fmt: skip
        assert action in actions, actions
    # A routine rotation stays in auth.audit_log_entries only; its reuse is mirrored.
    assert "auth.token_refreshed" not in actions, actions
    kept = await db.fetchval(
        "select count(*) from auth.audit_log_entries where payload->>'action' = 'token_refreshed'"
    )
    assert kept >= 1
    update = next(r for r in rows if r["action"] == "auth.user_updated_password")
    assert str(update["actor_id"]) == user_id
    assert update["org_id"] is not None
    assert str(update["org_id"]) == user_id  # the user's personal org
    assert update["ip"]  # auth's entries carry the client IP, user agent and request id
    assert update["user_agent"].startswith("python-httpx/"), update
    assert len(update["request_id"] or "") == 32, update
    failed = await db.fetch(
        "select * from neo_identity.audit_log where action = 'auth.login_failed'"
    )
    assert failed
    # The user reads them in their personal org's audit log.
    own = await ok(await call(client, "GET", f"/orgs/{user_id}/audit", user_headers))
    assert {"auth.user_signedup", "auth.user_updated_password"} <= {r["action"] for r in own}
    everything = str([dict(r) for r in await db.fetch("select * from neo_identity.audit_log")])
    secrets = (PASSWORD, NEW_PASSWORD, access, login["access_token"], login["refresh_token"],
               rotated.json()["refresh_token"])  # fmt: skip
    for secret in secrets:
        assert secret not in everything


async def test_admin_actions_are_mirrored_with_the_admin_as_actor(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    session = await sign_up(client, random_email(), PASSWORD)
    user_id = session["user"]["id"]
    deleted = await client.delete(f"/auth/v1/admin/users/{user_id}", headers=SERVICE | V2)
    assert deleted.status_code == 200, deleted.text
    row = next(r for r in await rows_for(db, user_id) if r["action"] == "auth.user_deleted")
    assert row["actor_role"] == "service_role"
    assert row["details"] is not None
    assert '"log_type": "team"' in row["details"]


async def test_odd_entries_such_as_imported_ones_are_mirrored_not_refused(
    db: asyncpg.Connection,
) -> None:
    insert = (
        "insert into auth.audit_log_entries (instance_id, id, payload, created_at, ip_address)"
        " values (null, gen_random_uuid(), $1::json, now(), '')"
    )
    for payload in ('{"action": "x", "traits": "not an object"}', "[1, 2]", "null"):
        await db.execute(insert, payload)
    rows = await db.fetch(
        "select action from neo_identity.audit_log where action in ('auth.x', 'auth.unknown')"
    )
    assert sorted(r["action"] for r in rows) == ["auth.unknown", "auth.unknown", "auth.x"]
