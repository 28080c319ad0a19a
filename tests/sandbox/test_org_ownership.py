"""Sandboxes owned by an organization, through the real app: rights by role (viewers read,
members act), `neo_sk_` keys acting within their org and their permissions, per-org quota,
and no sandbox of one org reachable from another (404, never a hint)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from neo.settings import Settings
from tests.auth.conftest import auth_settings
from tests.identity.conftest import SERVICE, Key, User, call, make_key, make_org, new_user, ok
from tests.sandbox.conftest import app_sandbox
from tests.sandbox.test_api import user_headers

API = "/sandbox/v1"
Who = User | Key


@pytest.fixture(scope="module")
def sandbox_app_settings(make_settings: Callable[..., Settings], sandbox_root: Path) -> Settings:
    """Sandboxes on the module's root, small limits, 2 per org; cheap password hashing."""
    sandbox = app_sandbox(sandbox_root, max_per_org=2)
    return make_settings(sandbox=sandbox, auth=auth_settings())


async def sbx(
    client: httpx.AsyncClient, method: str, path: str, who: Who, body: Any = None, **params: Any
) -> httpx.Response:
    """Call /sandbox/v1 as a user or a key."""
    return await client.request(
        method, API + path, headers=who.headers, json=body, params=params or None
    )


async def code(response: httpx.Response, status: int) -> str:
    """The error code of a refusal that must have `status` (the native error shape)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "request_id"}
    return str(body["code"])


async def test_members_act_viewers_read_outsiders_see_nothing(client: httpx.AsyncClient) -> None:
    owner, member, viewer, outsider = [await new_user(client) for _ in range(4)]
    org = await make_org(client, owner, {member.id: "member", viewer.id: "viewer"})
    await make_org(client, outsider)

    box = await ok(await sbx(client, "POST", "/sandboxes", member, {"org_id": org}), 201)
    assert (box["org_id"], box["owner"], box["created_by"]) == (org, None, member.id)
    path = f"/sandboxes/{box['id']}"

    # every member of the org sees it; the owner acts on it although the member made it
    assert [b["id"] for b in await ok(await sbx(client, "GET", "/sandboxes", owner))] == [box["id"]]
    ran = await ok(await sbx(client, "POST", path + "/exec", owner, {"command": "echo hi"}))
    assert ran["stdout"] == "hi\n"

    # a viewer reads (the sandbox, its files) and may not act
    assert (await ok(await sbx(client, "GET", path, viewer)))["id"] == box["id"]
    assert (await ok(await sbx(client, "GET", path + "/files", viewer)))["entries"] == []
    for method, suffix, body in [
        ("POST", "/exec", {"command": "true"}),
        ("POST", "/stop", None),
        ("DELETE", "", None),
        ("POST", "/files/mkdir", {"path": "x"}),
        ("POST", "/commands", {"command": "sleep 1"}),
    ]:
        refused = await sbx(client, method, path + suffix, viewer, body)
        assert await code(refused, 403) == "insufficient_role", (method, suffix)
    refused = await sbx(client, "POST", "/sandboxes", viewer, {"org_id": org})
    assert await code(refused, 403) == "insufficient_role"

    # an outsider gets 404 for the sandbox and the org alike, and lists nothing
    for method, suffix in [("GET", ""), ("POST", "/exec"), ("POST", "/stop"), ("DELETE", "")]:
        body = {"command": "true"} if suffix == "/exec" else None
        refused = await sbx(client, method, path + suffix, outsider, body)
        assert await code(refused, 404) == "sandbox_not_found", (method, suffix)
    assert await ok(await sbx(client, "GET", "/sandboxes", outsider)) == []
    refused = await sbx(client, "POST", "/sandboxes", outsider, {"org_id": org})
    assert await code(refused, 404) == "org_not_found"
    refused = await sbx(client, "POST", "/sandboxes", outsider, {"org_id": str(uuid.uuid4())})
    assert await code(refused, 404) == "org_not_found"

    # leaving the org takes the sandbox away from its creator
    await ok(await call(client, "DELETE", f"/orgs/{org}/members/{member.id}", owner), 204)
    assert await code(await sbx(client, "GET", path, member), 404) == "sandbox_not_found"
    assert (await sbx(client, "DELETE", path, owner)).status_code == 204


async def test_keys_act_within_their_org_and_their_permissions(client: httpx.AsyncClient) -> None:
    owner, other = await new_user(client), await new_user(client)
    org = await make_org(client, owner)
    other_org = await make_org(client, other)
    writer = await make_key(client, org, ["sandboxes:write"], role="member")
    reader = await make_key(client, org, ["sandboxes:read"], role="member")
    unscoped = await make_key(client, org, ["org:read"], role="member")
    viewer_key = await make_key(client, org, ["sandboxes:write"], role="viewer")
    foreign = await make_key(client, other_org, ["sandboxes:read", "sandboxes:write"])
    project = await ok(
        await call(client, "POST", f"/orgs/{org}/projects", owner, {"name": "P", "slug": "p"}), 201
    )
    scoped = await make_key(
        client, org, ["sandboxes:read", "sandboxes:write"], role="member", project_id=project["id"]
    )

    box = await ok(await sbx(client, "POST", "/sandboxes", writer, {}), 201)
    assert (box["org_id"], box["created_by"]) == (org, writer.account_id)  # the key's org
    path = f"/sandboxes/{box['id']}"
    assert (await ok(await sbx(client, "POST", path + "/exec", writer, {"command": "id -u"})))[
        "exit_code"
    ] == 0
    assert (await ok(await sbx(client, "GET", path, owner)))["id"] == box["id"]

    assert (await ok(await sbx(client, "GET", path, reader)))["id"] == box["id"]
    refused = await sbx(client, "POST", path + "/exec", reader, {"command": "true"})
    assert await code(refused, 403) == "insufficient_role"
    assert await code(await sbx(client, "GET", path, unscoped), 404) == "sandbox_not_found"
    refused = await sbx(client, "POST", "/sandboxes", unscoped, {})
    assert await code(refused, 403) == "insufficient_role"
    refused = await sbx(client, "POST", "/sandboxes", viewer_key, {})
    assert await code(refused, 403) == "insufficient_role"
    # sandboxes are the org's, not a project's: a project's key reaches none of them
    assert await code(await sbx(client, "GET", path, scoped), 404) == "sandbox_not_found"
    refused = await sbx(client, "POST", "/sandboxes", scoped, {})
    assert await code(refused, 403) == "insufficient_role"

    # another org's key: nothing of this org, not even by naming it
    assert await code(await sbx(client, "GET", path, foreign), 404) == "sandbox_not_found"
    refused = await sbx(client, "POST", path + "/exec", foreign, {"command": "true"})
    assert await code(refused, 404) == "sandbox_not_found"
    assert await code(await sbx(client, "DELETE", path, foreign), 404) == "sandbox_not_found"
    assert await ok(await sbx(client, "GET", "/sandboxes", foreign)) == []
    refused = await sbx(client, "POST", "/sandboxes", writer, {"org_id": other_org})
    assert await code(refused, 404) == "org_not_found"
    assert (await sbx(client, "DELETE", path, writer)).status_code == 204


async def test_quota_is_per_org_and_users_keep_their_own(client: httpx.AsyncClient) -> None:
    owner, member = await new_user(client), await new_user(client)
    org = await make_org(client, owner, {member.id: "member"})
    first = await ok(await sbx(client, "POST", "/sandboxes", owner, {"org_id": org}), 201)
    second = await ok(await sbx(client, "POST", "/sandboxes", member, {"org_id": org}), 201)
    refused = await sbx(client, "POST", "/sandboxes", owner, {"org_id": org})
    assert await code(refused, 403) == "sandbox_quota_exceeded"
    assert "organization" in refused.json()["message"]

    own = await ok(await sbx(client, "POST", "/sandboxes", owner, {}), 201)  # not the org's
    assert (own["org_id"], own["owner"]) == (None, owner.id)
    assert await code(await sbx(client, "GET", f"/sandboxes/{own['id']}", member), 404)

    # names are unique per owner: the org and the user each have their own namespace
    named = await ok(await sbx(client, "POST", "/sandboxes", owner, {"name": "web"}), 201)
    service = await client.post(
        f"{API}/sandboxes", json={"org_id": str(uuid.uuid4()), "name": "web"}, headers=SERVICE
    )
    assert await code(service, 404) == "org_not_found"  # the service role names a real org
    service = await client.post(f"{API}/sandboxes", json={"org_id": org}, headers=SERVICE)
    assert await code(service, 403) == "sandbox_quota_exceeded"  # the org's quota binds it too
    malformed = await sbx(client, "POST", "/sandboxes", owner, {"org_id": "org-a"})
    assert (malformed.status_code, malformed.json()["code"]) == (400, "validation_failed")
    for box in (first, second, own, named):
        assert (await sbx(client, "DELETE", f"/sandboxes/{box['id']}", owner)).status_code == 204


async def test_tokens_of_external_subjects_keep_their_own_sandboxes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner = await new_user(client)
    org = await make_org(client, owner)
    theirs = await ok(await sbx(client, "POST", "/sandboxes", owner, {"org_id": org}), 201)
    external = user_headers(app, "github|12345")  # a `sub` identity cannot know
    own = await client.post(f"{API}/sandboxes", json={}, headers=external)
    assert own.status_code == 201, own.text
    listed = await client.get(f"{API}/sandboxes", headers=external)
    assert [b["id"] for b in listed.json()] == [own.json()["id"]]
    refused = await client.get(f"{API}/sandboxes/{theirs['id']}", headers=external)
    assert await code(refused, 404) == "sandbox_not_found"
    refused = await client.post(f"{API}/sandboxes", json={"org_id": org}, headers=external)
    assert await code(refused, 404) == "org_not_found"
    for box, headers in ((theirs, owner.headers), (own.json(), external)):
        deleted = await client.delete(f"{API}/sandboxes/{box['id']}", headers=headers)
        assert deleted.status_code == 204
