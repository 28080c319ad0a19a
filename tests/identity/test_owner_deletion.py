"""Deleting the sole owner of a shared organization through GoTrue's admin API (decision
0009): the longest-standing admin becomes owner; with no admin the organization stays,
ownerless, for the service role to hand over. Never a 500, always an audit row."""

from __future__ import annotations

import asyncpg
import httpx

from tests.auth.conftest import SERVICE, V2
from tests.identity.conftest import call, make_org, new_user, ok


async def delete_user(client: httpx.AsyncClient, user_id: str) -> None:
    response = await client.delete(f"/auth/v1/admin/users/{user_id}", headers=SERVICE | V2)
    assert response.status_code == 200, response.text


async def test_the_longest_standing_admin_inherits_the_org(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    owner, first, second, member = [await new_user(client) for _ in range(4)]
    org = await make_org(client, owner, {first.id: "admin"})
    await make_org(client, owner)  # a second org, also solely owned
    body = {"user_id": second.id, "role": "admin"}
    await ok(await call(client, "POST", f"/orgs/{org}/members", SERVICE, body), 201)
    body = {"user_id": member.id, "role": "member"}
    await ok(await call(client, "POST", f"/orgs/{org}/members", SERVICE, body), 201)
    await delete_user(client, owner.id)
    members = await ok(await call(client, "GET", f"/orgs/{org}/members", first))
    roles = {m["user_id"]: m["role"] for m in members}
    assert roles == {first.id: "owner", second.id: "admin", member.id: "member"}
    audit = await ok(await call(client, "GET", f"/orgs/{org}/audit", first))
    promoted = next(r for r in audit if r["action"] == "member.promoted_owner")
    assert (promoted["target_id"], promoted["actor_role"]) == (first.id, "system")
    assert promoted["details"] == {"deleted_owner": owner.id}
    # The personal org went with its user.
    gone = "select count(*) from neo_identity.organizations where id = $1"
    assert await db.fetchval(gone, owner.id) == 0


async def test_without_an_admin_the_org_stays_ownerless_for_the_service_role(
    client: httpx.AsyncClient,
) -> None:
    owner, member, heir = [await new_user(client) for _ in range(3)]
    org = await make_org(client, owner, {member.id: "member"})
    await delete_user(client, owner.id)
    assert (await call(client, "GET", f"/orgs/{org}", member)).status_code == 200
    members = await ok(await call(client, "GET", f"/orgs/{org}/members", SERVICE))
    assert [(m["user_id"], m["role"]) for m in members] == [(member.id, "member")]
    audit = await ok(await call(client, "GET", f"/orgs/{org}/audit", SERVICE))
    assert "org.owner_lost" in {r["action"] for r in audit}
    # The member cannot take it; the service role hands it over.
    body = {"role": "owner"}
    assert (
        await call(client, "PATCH", f"/orgs/{org}/members/{member.id}", member, body)
    ).status_code == 403
    body = {"user_id": heir.id, "role": "owner"}
    await ok(await call(client, "POST", f"/orgs/{org}/members", SERVICE, body), 201)
    assert (await ok(await call(client, "GET", f"/orgs/{org}", heir)))["id"] == org
