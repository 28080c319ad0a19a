"""Through a real uvicorn: opening an org sandbox's terminal is audited (the command as its
hash, never its text); a viewer of the org is refused the terminal (403) and an outsider
does not find the sandbox (404)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect

from neo.settings import Settings
from tests.auth.conftest import auth_settings
from tests.identity.conftest import make_org, new_user, ok
from tests.sandbox.conftest import app_sandbox
from tests.sandbox.test_pty_api import read_until, refusal, ws_url

SECRET = "pw-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def sandbox_app_settings(make_settings: Callable[..., Settings], sandbox_root: Path) -> Settings:
    sandbox = app_sandbox(sandbox_root)
    return make_settings(sandbox=sandbox, auth=auth_settings())


async def audit_rows(database_url: str, sandbox_id: str, action: str) -> list[dict[str, Any]]:
    """The sandbox's rows of `action`, waiting for the writer's next batch (~0.15 s)."""
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(100):
            rows = await conn.fetch(
                "select * from neo_identity.audit_log where target_id = $1 and action = $2",
                sandbox_id,
                action,
            )
            if rows:
                return [dict(r) for r in rows]
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    return []


async def test_terminal_opening_is_audited_and_limited_to_members(
    server: str, database_url: str
) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        owner, viewer, outsider = [await new_user(client) for _ in range(3)]
        org = await make_org(client, owner, {viewer.id: "viewer"})
        created = await client.post(
            "/sandbox/v1/sandboxes", json={"org_id": org}, headers=owner.headers
        )
        box = (await ok(created, 201))["id"]
        command = f"?command=echo%20{SECRET}%3Bexit"
        async with connect(ws_url(server, box, command), additional_headers=owner.headers) as ws:
            assert SECRET.encode() in await read_until(ws, SECRET.encode())

        status, body = await refusal(ws_url(server, box), viewer.headers)
        assert (status, body["code"]) == (403, "insufficient_role")
        status, body = await refusal(ws_url(server, box), outsider.headers)
        assert (status, body["code"]) == (404, "sandbox_not_found")

        rows = await audit_rows(database_url, box, "sandbox.terminal_opened")
        assert len(rows) == 1
        row = rows[0]
        assert (str(row["actor_id"]), row["actor_role"], str(row["org_id"])) == (
            owner.id, "authenticated", org
        )  # fmt: skip
        assert row["ip"] == "127.0.0.1"
        assert json.loads(row["details"])["command_length"] == len(f"echo {SECRET};exit")
        assert SECRET not in json.dumps({k: str(v) for k, v in row.items()})
        deleted = await client.delete(f"/sandbox/v1/sandboxes/{box}", headers=owner.headers)
        assert deleted.status_code == 204
