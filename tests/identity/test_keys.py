"""Service accounts and `neo_sk_` API keys (auth-security G5): shown once, stored hashed,
scoped to an org / project and a permission list, expiring, revocable on the next request,
last use tracked; a key acts through the gateway with claims RLS sees."""

from __future__ import annotations

import hashlib
import re

import asyncpg
import httpx
import pytest

from tests.auth.conftest import ANON
from tests.identity.conftest import (
    SERVICE,
    Key,
    as_claims,
    call,
    make_key,
    make_org,
    new_user,
    ok,
)

KEY_SHAPE = re.compile(r"^neo_sk_[A-Za-z0-9_-]{43}$")


async def test_a_key_is_shown_once_and_stored_only_as_a_hash(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    owner = await new_user(client)
    org = await make_org(client, owner)
    key = await make_key(client, org, ["projects:read"], admin=owner)
    assert KEY_SHAPE.match(key.secret)  # prefix + 256 bits (43 URL-safe base64 characters)
    path = f"/orgs/{org}/service-accounts/{key.account_id}/keys"
    listed = await ok(await call(client, "GET", path, owner))
    assert [k["id"] for k in listed] == [key.id]
    assert "key" not in listed[0]
    assert key.secret not in str(listed)
    assert listed[0]["prefix"] == key.secret[:13]
    row = await db.fetchrow("select * from neo_identity.api_keys where id = $1", key.id)
    assert row is not None
    assert key.secret not in str(dict(row))
    assert row["key_hash"] == hashlib.sha256(key.secret.encode()).hexdigest()


async def test_a_key_acts_as_its_service_account_with_claims_sql_sees(
    client: httpx.AsyncClient,
) -> None:
    owner = await new_user(client)
    org = await make_org(client, owner)
    key = await make_key(client, org, ["projects:read"], role="member")
    for headers in (key.headers, {"apikey": key.secret}, {"authorization": f"Bearer {key.secret}"}):
        me = await ok(await client.get("/neo/v1/whoami", headers=headers))
        assert me["credential"] == "api_key"
        assert (me["role"], me["uid"]) == ("authenticated", key.account_id)
        neo = me["claims"]["neo"]
        assert neo == {
            "kind": "service_account", "key_id": key.id, "org_id": org, "project_id": None,
            "permissions": ["projects:read"],
        }  # fmt: skip
    assert (await call(client, "GET", f"/orgs/{org}/projects", key)).status_code == 200


async def test_revoked_expired_unknown_and_orphaned_keys_are_401_on_the_next_request(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    owner = await new_user(client)
    org = await make_org(client, owner)
    revoked, expired, orphan = [await make_key(client, org) for _ in range(3)]
    for key in (revoked, expired, orphan):
        assert (await call(client, "GET", f"/orgs/{org}", key)).status_code == 200
    path = f"/orgs/{org}/service-accounts/{revoked.account_id}/keys/{revoked.id}"
    assert (await ok(await call(client, "DELETE", path, owner)))["revoked_at"]
    assert (await call(client, "DELETE", path, owner)).status_code == 409
    await db.execute(
        "update neo_identity.api_keys set expires_at = now() - interval '1 second' where id = $1",
        expired.id,
    )
    path = f"/orgs/{org}/service-accounts/{orphan.account_id}"
    assert (await call(client, "DELETE", path, owner)).status_code == 204
    unknown = Key("", "", org, "neo_sk_" + "A" * 43)
    malformed = Key("", "", org, "neo_sk_short")
    for key in (revoked, expired, orphan, unknown, malformed):
        response = await call(client, "GET", f"/orgs/{org}", key)
        assert response.status_code == 401, response.text
        assert (await client.get("/rest/v1/", headers=key.headers)).status_code == 401
    # The apikey header alone is refused too, in each contract's own shape.
    auth = await client.get("/auth/v1/user", headers={"apikey": revoked.secret})
    assert auth.status_code == 401


async def test_expiry_is_set_from_expires_in_days(client: httpx.AsyncClient) -> None:
    owner = await new_user(client)
    org = await make_org(client, owner)
    account = await ok(
        await call(client, "POST", f"/orgs/{org}/service-accounts", owner, {"name": "ci"}), 201
    )
    path = f"/orgs/{org}/service-accounts/{account['id']}/keys"
    body = {"permissions": ["org:read"], "expires_in_days": 30}
    key = await ok(await call(client, "POST", path, owner, body), 201)
    assert key["expires_at"] is not None
    assert key["revoked_at"] is None
    assert account["role"] == "member"


async def test_last_used_is_written_at_most_once_a_minute(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    org = await make_org(client, await new_user(client))
    key = await make_key(client, org)
    sql = "select last_used_at from neo_identity.api_keys where id = $1"
    assert await db.fetchval(sql, key.id) is None
    await ok(await call(client, "GET", f"/orgs/{org}", key))
    first = await db.fetchval(sql, key.id)
    assert first is not None
    await ok(await call(client, "GET", f"/orgs/{org}", key))
    assert await db.fetchval(sql, key.id) == first
    await db.execute(
        "update neo_identity.api_keys set last_used_at = now() - interval '2 minutes'"
        " where id = $1",
        key.id,
    )
    await ok(await call(client, "GET", f"/orgs/{org}", key))
    assert await db.fetchval(sql, key.id) > first


async def test_a_key_of_org_a_never_reads_org_b(client: httpx.AsyncClient) -> None:
    alice, bob = await new_user(client), await new_user(client)
    org_a, org_b = await make_org(client, alice), await make_org(client, bob)
    await ok(
        await call(client, "POST", f"/orgs/{org_b}/projects", bob, {"name": "B", "slug": "b"}), 201
    )
    key = await make_key(client, org_a)
    listed = await ok(await call(client, "GET", "/orgs", key))
    assert [o["id"] for o in listed] == [org_a]
    for path in ("", "/projects", "/members", "/audit", "/invitations"):
        response = await call(client, "GET", f"/orgs/{org_b}{path}", key)
        assert response.status_code == 404, (path, response.text)


async def test_a_project_key_sees_only_its_project(client: httpx.AsyncClient) -> None:
    owner = await new_user(client)
    org = await make_org(client, owner)
    one, two = [
        await ok(
            await call(client, "POST", f"/orgs/{org}/projects", owner, {"name": s, "slug": s}), 201
        )
        for s in ("one", "two")
    ]
    key = await make_key(client, org, project_id=one["id"])
    listed = await ok(await call(client, "GET", f"/orgs/{org}/projects", key))
    assert [p["id"] for p in listed] == [one["id"]]
    assert (await call(client, "GET", f"/orgs/{org}/projects/{two['id']}", key)).status_code == 404
    renamed = await call(client, "PATCH", f"/orgs/{org}/projects/{two['id']}", key, {"name": "x"})
    assert renamed.status_code == 404
    created = await call(client, "POST", f"/orgs/{org}/projects", key, {"name": "t", "slug": "t"})
    assert created.status_code == 403, created.text
    assert (await call(client, "GET", f"/orgs/{org}/projects/{one['id']}", key)).status_code == 200


async def test_keys_cannot_mint_keys_create_orgs_or_join(client: httpx.AsyncClient) -> None:
    org = await make_org(client, await new_user(client))
    key = await make_key(client, org)
    for method, path, body in [
        ("POST", "/orgs", {"name": "x", "slug": "key-made"}),
        ("POST", f"/orgs/{org}/service-accounts", {"name": "child"}),
        ("GET", f"/orgs/{org}/service-accounts", None),
        ("POST", f"/orgs/{org}/service-accounts/{key.account_id}/keys", {"permissions": []}),
        ("POST", "/invitations/accept", {"token": "x" * 43}),
    ]:
        response = await call(client, method, path, key, body)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "user_required"


async def test_bad_key_requests_are_4xx_and_write_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    owner, other = await new_user(client), await new_user(client)
    org, foreign = await make_org(client, owner), await make_org(client, other)
    foreign_project = await ok(
        await call(client, "POST", f"/orgs/{foreign}/projects", other, {"name": "f", "slug": "f"}),
        201,
    )
    accounts = f"/orgs/{org}/service-accounts"
    for body, status in [
        ({"name": "x", "role": "owner"}, 422),
        ({"name": ""}, 422),
        ({"name": "x", "extra": 1}, 422),
        ({"name": "x", "project_id": "nope"}, 404),
        ({"name": "x", "project_id": foreign_project["id"]}, 404),
    ]:
        response = await call(client, "POST", accounts, owner, body)
        assert response.status_code == status, (body, response.text)
    account = await ok(await call(client, "POST", accounts, owner, {"name": "ok"}), 201)
    keys = f"{accounts}/{account['id']}/keys"
    for body in [
        {}, {"permissions": ["Bad Perm"]}, {"permissions": ["org:read"], "expires_in_days": 0},
        {"permissions": "org:read"}, {"permissions": ["x"] * 65},
    ]:  # fmt: skip
        response = await call(client, "POST", keys, owner, body)
        assert response.status_code == 422, (body, response.text)
    raw = await client.post("/identity/v1" + keys, headers=owner.headers, content=b"{not json")
    assert raw.status_code == 422
    for path in (f"{accounts}/nope/keys", f"{accounts}/{foreign_project['id']}/keys"):
        response = await call(client, "POST", path, owner, {"permissions": []})
        assert response.status_code == 404
    assert (await call(client, "DELETE", f"{keys}/nope", owner)).status_code == 404
    count = "select count(*) from neo_identity.service_accounts where org_id = $1"
    assert await db.fetchval(count, org) == 1
    assert (
        await db.fetchval("select count(*) from neo_identity.api_keys where org_id = $1", org) == 0
    )


async def test_key_actions_are_audited_with_the_service_account_as_actor(
    client: httpx.AsyncClient,
) -> None:
    owner = await new_user(client)
    org = await make_org(client, owner)
    key = await make_key(client, org, admin=owner)
    await ok(
        await call(client, "POST", f"/orgs/{org}/projects", key, {"name": "p", "slug": "p"}), 201
    )
    path = f"/orgs/{org}/service-accounts/{key.account_id}/keys/{key.id}"
    await ok(await call(client, "DELETE", path, owner))
    rows = await ok(await call(client, "GET", f"/orgs/{org}/audit", owner))
    by_action = {r["action"]: r for r in rows}
    assert by_action["project.created"]["actor_id"] == key.account_id
    assert by_action["project.created"]["actor_role"] == "service_account"
    assert by_action["api_key.created"]["actor_id"] == owner.id
    assert by_action["api_key.revoked"]["target_id"] == key.id
    assert by_action["service_account.created"]["actor_id"] == owner.id
    assert key.secret not in str(rows)


async def test_rls_helpers_see_a_key_through_the_gateway_claims(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    owner = await new_user(client)
    org, other = await make_org(client, owner), await make_org(client, await new_user(client))
    key = await make_key(client, org, ["docs:read"], role="viewer")
    claims = (await ok(await client.get("/neo/v1/whoami", headers=key.headers)))["claims"]
    async with as_claims(db, claims):
        row = await db.fetchrow(
            "select neo.is_org_member($1) as mine, neo.is_org_member($2) as theirs,"
            " neo.has_org_role($1, 'viewer') as viewer, neo.has_org_role($1, 'member') as member,"
            " array(select neo.current_org_ids()) as orgs,"
            " neo.has_scope('docs:read') as can_read, neo.has_scope('docs:write') as can_write",
            org,
            other,
        )
    assert row is not None
    assert (row["mine"], row["theirs"], row["viewer"], row["member"]) == (True, False, True, False)
    assert [str(o) for o in row["orgs"]] == [org]
    assert (row["can_read"], row["can_write"]) == (True, False)
    # A user's token with the same `neo` claim forged in is not a service account.
    forged = claims | {"sub": owner.id}
    async with as_claims(db, forged):
        assert await db.fetchval("select neo.has_scope('anything')") is True
    # Revoked: the gateway refuses it, and the claims it had no longer carry the scope.
    path = f"/orgs/{org}/service-accounts/{key.account_id}/keys/{key.id}"
    await ok(await call(client, "DELETE", path, SERVICE))
    async with as_claims(db, claims):
        assert await db.fetchval("select neo.has_scope('docs:read')") is False
    assert (await client.get("/neo/v1/whoami", headers=key.headers)).status_code == 401
    assert (await client.get("/neo/v1/whoami", headers=ANON)).status_code == 200


async def test_api_roles_cannot_read_key_hashes(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    owner = await new_user(client)
    org = await make_org(client, owner)
    await make_key(client, org, admin=owner)
    async with as_claims(db, {"sub": owner.id, "role": "authenticated"}):
        assert await db.fetchval("select count(*) from neo_identity.api_keys") == 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.fetch("select key_hash from neo_identity.api_keys")
