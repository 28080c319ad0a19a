"""The sandbox audit trail through the real app: every action lands in identity's audit log
with its actor, role, org and request facts, never a command's text or output; the org's
admins read the rows, other orgs do not; the sweeper's actions are the `system`'s."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from neo.sandbox.lifecycle import sweep
from neo.settings import Settings
from tests.auth.conftest import auth_settings
from tests.identity.conftest import call, make_key, make_org, new_user, ok
from tests.sandbox.conftest import app_sandbox
from tests.sandbox.test_lifecycle import age
from tests.sandbox.test_org_ownership import sbx

SECRET = "hunter2-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def sandbox_app_settings(make_settings: Callable[..., Settings], sandbox_root: Path) -> Settings:
    """Sandboxes that may serve ports (preview URLs), small limits, cheap password hashing."""
    sandbox = app_sandbox(sandbox_root, loopback_ports=True)
    return make_settings(sandbox=sandbox, auth=auth_settings())


async def rows_of(app: FastAPI, database_url: str, sandbox_id: str) -> list[dict[str, Any]]:
    """The audit rows of one sandbox, oldest first, once the queue is written."""
    await app.state.sandbox.trail.flush()
    conn = await asyncpg.connect(database_url)
    try:
        found = await conn.fetch(
            "select * from neo_identity.audit_log where target_type = 'sandbox'"
            " and target_id = $1 order by id",
            sandbox_id,
        )
    finally:
        await conn.close()
    return [dict(r) | {"details": json.loads(r["details"])} for r in found]


async def test_every_action_is_audited_without_secrets(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    owner, member = await new_user(client), await new_user(client)
    org = await make_org(client, owner, {member.id: "member"})
    box = await ok(await sbx(client, "POST", "/sandboxes", member, {"org_id": org}), 201)
    path = f"/sandboxes/{box['id']}"
    command = f"echo {SECRET}"
    for mode in ("agent", "oneshot"):
        ran = await ok(
            await sbx(client, "POST", path + "/exec", member, {"command": command, "mode": mode})
        )
        assert ran["stdout"] == SECRET + "\n"
    async with client.stream(
        "POST", f"/sandbox/v1{path}/exec/stream", json={"command": command}, headers=member.headers
    ) as streamed:
        assert SECRET in (await streamed.aread()).decode()
    started = await ok(
        await sbx(client, "POST", path + "/commands", member, {"command": "sleep 30"}), 201
    )
    await ok(await sbx(client, "POST", f"{path}/commands/{started['id']}/kill", member))
    session = await ok(await sbx(client, "POST", path + "/sessions", member, {}), 201)
    await ok(
        await sbx(
            client, "POST", f"{path}/sessions/{session['id']}/exec", member, {"command": command}
        )
    )
    await ok(await sbx(client, "DELETE", f"{path}/sessions/{session['id']}", member), 204)
    await ok(await sbx(client, "POST", path + "/files/mkdir", member, {"path": "src"}), 201)
    put = await client.put(
        f"/sandbox/v1{path}/files", params={"path": "src/a.txt"}, content=SECRET.encode(),
        headers=member.headers | {"user-agent": "audit-test/1"},
    )  # fmt: skip
    assert put.status_code == 201, put.text
    moved = {"source": "src/a.txt", "destination": "b.txt"}
    await ok(await sbx(client, "POST", path + "/files/move", member, moved))
    removed = await client.delete(
        f"/sandbox/v1{path}/files", params={"path": "b.txt"}, headers=member.headers
    )
    assert removed.status_code == 204, removed.text
    url = await ok(await sbx(client, "GET", path + "/ports/8000/preview-url", member))
    await ok(await sbx(client, "GET", path + "/files", member))  # reads are not audited
    await ok(await sbx(client, "POST", path + "/stop", owner))
    await ok(await sbx(client, "POST", path + "/start", owner))
    await ok(await sbx(client, "DELETE", path, owner), 204)

    rows = await rows_of(app, database_url, box["id"])
    assert [(r["action"], r["details"].get("via")) for r in rows] == [
        ("sandbox.created", None),
        ("sandbox.command_run", "exec"),
        ("sandbox.command_run", "exec"),
        ("sandbox.command_run", "stream"),
        ("sandbox.command_started", None),
        ("sandbox.command_killed", None),
        ("sandbox.session_created", None),
        ("sandbox.command_run", "session"),
        ("sandbox.session_deleted", None),
        ("sandbox.directory_created", None),
        ("sandbox.file_uploaded", None),
        ("sandbox.file_moved", None),
        ("sandbox.file_deleted", None),
        ("sandbox.preview_url_issued", None),
        ("sandbox.stopped", None),
        ("sandbox.started", None),
        ("sandbox.deleted", None),
    ]
    assert {str(r["org_id"]) for r in rows} == {org}
    assert [str(r["actor_id"]) for r in rows[-3:]] == [owner.id] * 3
    assert {str(r["actor_id"]) for r in rows[:-3]} == {member.id}
    assert {r["actor_role"] for r in rows} == {"authenticated"}
    assert all(r["request_id"] and r["ip"] for r in rows)
    assert rows[10]["user_agent"] == "audit-test/1"
    assert rows[10]["details"] == {"path": "src/a.txt", "size": len(SECRET)}
    assert [r["details"]["mode"] for r in rows[1:3]] == ["agent", "oneshot"]
    assert rows[1]["details"]["exit_code"] == 0
    assert rows[1]["details"]["program"] == "echo"
    assert rows[1]["details"]["command_length"] == len(command)
    everything = json.dumps([{k: str(v) for k, v in r.items()} for r in rows])
    assert SECRET not in everything  # neither the command nor its output nor the file
    assert url["token"] not in everything


async def test_only_the_orgs_admins_read_its_rows(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    owner, viewer, stranger = [await new_user(client) for _ in range(3)]
    org = await make_org(client, owner, {viewer.id: "viewer"})
    strangers_org = await make_org(client, stranger)
    key = await make_key(client, org, ["sandboxes:write"], role="member")
    box = await ok(await sbx(client, "POST", "/sandboxes", key, {}), 201)
    await ok(await sbx(client, "POST", f"/sandboxes/{box['id']}/exec", key, {"command": "true"}))
    rows = await rows_of(app, database_url, box["id"])
    assert [(r["action"], r["actor_role"], str(r["actor_id"])) for r in rows] == [
        ("sandbox.created", "service_account", key.account_id),
        ("sandbox.command_run", "service_account", key.account_id),
    ]

    listed = await ok(await call(client, "GET", f"/orgs/{org}/audit", owner))
    assert {e["action"] for e in listed if e.get("target_id") == box["id"]} == {
        "sandbox.created", "sandbox.command_run"
    }  # fmt: skip
    assert (await call(client, "GET", f"/orgs/{org}/audit", viewer)).status_code == 403
    assert (await call(client, "GET", f"/orgs/{org}/audit", stranger)).status_code in (403, 404)
    theirs = await ok(await call(client, "GET", f"/orgs/{strangers_org}/audit", stranger))
    assert all(e.get("target_id") != box["id"] for e in theirs)
    await ok(await sbx(client, "DELETE", f"/sandboxes/{box['id']}", key), 204)


async def test_user_sandboxes_file_under_the_personal_org_and_sweeps_are_systems(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    user = await new_user(client)
    box = await ok(await sbx(client, "POST", "/sandboxes", user, {"auto_delete_minutes": 1}), 201)
    path = f"/sandboxes/{box['id']}"
    await age(database_url, box["id"], 60)
    # an exec's activity is queued with the audit rows; the sweep writes it before looking
    await ok(await sbx(client, "POST", path + "/exec", user, {"command": "true"}))
    await sweep(app.state.core, app.state.sandbox.runtime, app.state.sandbox.trail)
    assert (await ok(await sbx(client, "GET", path, user)))["state"] == "started"
    await age(database_url, box["id"], 60)
    await sweep(app.state.core, app.state.sandbox.runtime, app.state.sandbox.trail)  # stops it
    assert (await ok(await sbx(client, "GET", path, user)))["state"] == "stopped"
    await age(database_url, box["id"], 60)
    await sweep(app.state.core, app.state.sandbox.runtime, app.state.sandbox.trail)  # deletes
    rows = await rows_of(app, database_url, box["id"])
    assert [(r["action"], r["actor_role"], r["actor_id"]) for r in rows] == [
        ("sandbox.created", "authenticated", uuid.UUID(user.id)),
        ("sandbox.command_run", "authenticated", uuid.UUID(user.id)),
        ("sandbox.auto_stopped", "system", None),
        ("sandbox.auto_deleted", "system", None),
    ]
    assert {str(r["org_id"]) for r in rows} == {user.id}  # the personal org's id is the user's
    personal = await ok(await call(client, "GET", f"/orgs/{user.id}/audit", user))
    assert {e["action"] for e in personal if e.get("target_id") == box["id"]} == {
        "sandbox.created", "sandbox.command_run", "sandbox.auto_stopped", "sandbox.auto_deleted"
    }  # fmt: skip
