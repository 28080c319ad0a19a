"""Custom roles: per-org permission sets on a built-in base role, which they narrow and never
widen; edits apply to the next request; `neo.has_org_permission` carries them (and keys)
into app policies."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import httpx

from neo import identity
from neo.identity.models import PERMISSIONS
from tests.identity.conftest import as_claims, as_user, call, make_key, make_org, new_user, ok


async def test_a_custom_role_narrows_its_base_and_edits_apply_at_once(
    client: httpx.AsyncClient,
) -> None:
    owner, auditor = await new_user(client), await new_user(client)
    org = await make_org(client, owner)
    body = {"name": "auditor", "base": "admin", "permissions": ["audit:read", "org:read"]}
    role = await ok(await call(client, "POST", f"/orgs/{org}/roles", owner, body), 201)
    assert (role["base"], role["permissions"]) == ("admin", ["audit:read", "org:read"])
    added = await ok(
        await call(client, "POST", f"/orgs/{org}/members", owner,
                   {"user_id": auditor.id, "role": "auditor"}),
        201,
    )  # fmt: skip
    assert (added["role"], added["custom_role"]) == ("admin", "auditor")
    assert (await call(client, "GET", f"/orgs/{org}/audit", auditor)).status_code == 200
    assert (await call(client, "GET", f"/orgs/{org}", auditor)).status_code == 200
    for method, path, payload in [
        ("PATCH", "", {"name": "x"}), ("GET", "/members", None),
        ("POST", "/projects", {"name": "p", "slug": "p"}), ("GET", "/invitations", None),
    ]:  # fmt: skip
        response = await call(client, method, f"/orgs/{org}{path}", auditor, payload)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "insufficient_scope"
    edit = {"permissions": ["members:read", "org:read"]}
    await ok(await call(client, "PATCH", f"/orgs/{org}/roles/auditor", owner, edit))
    assert (await call(client, "GET", f"/orgs/{org}/members", auditor)).status_code == 200
    assert (await call(client, "GET", f"/orgs/{org}/audit", auditor)).status_code == 403
    actions = {
        r["action"] for r in await ok(await call(client, "GET", f"/orgs/{org}/audit", owner))
    }
    assert {"role.created", "role.updated", "member.added"} <= actions


async def test_a_role_in_use_cannot_be_deleted(client: httpx.AsyncClient) -> None:
    owner, member = await new_user(client), await new_user(client)
    org = await make_org(client, owner)
    body = {"name": "reader", "base": "viewer", "permissions": ["projects:read"]}
    await ok(await call(client, "POST", f"/orgs/{org}/roles", owner, body), 201)
    add = {"user_id": member.id, "role": "reader"}
    await ok(await call(client, "POST", f"/orgs/{org}/members", owner, add), 201)
    busy = await call(client, "DELETE", f"/orgs/{org}/roles/reader", owner)
    assert (busy.status_code, busy.json()["code"]) == (409, "role_in_use")
    change = {"role": "viewer"}
    changed = await ok(
        await call(client, "PATCH", f"/orgs/{org}/members/{member.id}", owner, change)
    )
    assert (changed["role"], changed["custom_role"]) == ("viewer", None)
    assert (await call(client, "DELETE", f"/orgs/{org}/roles/reader", owner)).status_code == 204
    assert await ok(await call(client, "GET", f"/orgs/{org}/roles", member)) == []


async def test_bad_role_requests_are_4xx_and_write_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    owner, other = await new_user(client), await new_user(client)
    org = await make_org(client, owner)
    good = {"name": "ops", "base": "member", "permissions": []}
    await ok(await call(client, "POST", f"/orgs/{org}/roles", owner, good), 201)
    for body, status in [
        ({"name": "admin", "base": "member", "permissions": []}, 422),
        ({"name": "x", "base": "owner", "permissions": []}, 422),
        ({"name": "Bad Name", "base": "member", "permissions": []}, 422),
        ({"name": "x", "base": "member", "permissions": ["NOPE"]}, 422),
        ({"name": "x", "base": "member"}, 422),
        (good, 409),
    ]:
        response = await call(client, "POST", f"/orgs/{org}/roles", owner, body)
        assert response.status_code == status, (body, response.text)
    assert (
        await call(client, "PATCH", f"/orgs/{org}/roles/nope", owner, {"permissions": []})
    ).status_code == 404
    assert (await call(client, "DELETE", f"/orgs/{org}/roles/nope", owner)).status_code == 404
    add = {"user_id": other.id, "role": "ghost"}
    assert (await call(client, "POST", f"/orgs/{org}/members", owner, add)).status_code == 422
    rows = await db.fetch("select name from neo_identity.roles where org_id = $1", org)
    assert [r["name"] for r in rows] == ["ops"]
    joined = "select count(*) from neo_identity.memberships where org_id = $1 and user_id = $2"
    assert await db.fetchval(joined, org, other.id) == 0


async def test_has_org_permission_in_app_policies(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    owner, reader, outsider = [await new_user(client) for _ in range(3)]
    org = await make_org(client, owner)
    body = {"name": "reader", "base": "member", "permissions": ["docs:read"]}
    await ok(await call(client, "POST", f"/orgs/{org}/roles", owner, body), 201)
    add = {"user_id": reader.id, "role": "reader"}
    await ok(await call(client, "POST", f"/orgs/{org}/members", owner, add), 201)
    sql = "select neo.has_org_permission($1, 'docs:read'), neo.has_org_permission($1, 'docs:write')"
    expected = {owner.id: (True, True), reader.id: (True, False), outsider.id: (False, False)}
    for user_id, want in expected.items():
        async with as_user(db, user_id):
            assert tuple(await db.fetchrow(sql, org)) == want, user_id
    key = await make_key(client, org, ["docs:read"])
    claims = (await ok(await client.get("/neo/v1/whoami", headers=key.headers)))["claims"]
    async with as_claims(db, claims):
        assert tuple(await db.fetchrow(sql, org)) == (True, False)
        assert (
            await db.fetchval("select neo.has_org_permission($1, 'docs:read')", owner.id) is False
        )


def test_every_permission_a_route_checks_is_in_the_catalog() -> None:
    source = "".join(p.read_text() for p in Path(identity.__file__).parent.glob("service*.py"))
    checked = set(re.findall(r'(?:authorize|require_scope)\([^)]*?"([a-z_]+:[a-z]+)"\)', source))
    assert checked == set(PERMISSIONS)
