"""The audit log: one row per mutation with actor, target, IP, user agent and request id;
never a secret; filters and pages; append-only even for the service role and the owner."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest

from tests.auth.conftest import mailbox
from tests.identity.conftest import SERVICE, as_user, call, make_org, new_user, ok


async def test_every_mutation_writes_an_audit_row(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    owner, invitee = await new_user(client), await new_user(client)
    org = await make_org(client, owner)
    headers = owner.headers | {"user-agent": "audit-test/1", "x-request-id": "req-audit-1"}
    await ok(await client.patch(f"/identity/v1/orgs/{org}", headers=headers, json={"name": "A"}))
    project = await ok(
        await call(client, "POST", f"/orgs/{org}/projects", owner, {"name": "P", "slug": "p"}), 201
    )
    await ok(
        await call(client, "PATCH", f"/orgs/{org}/projects/{project['id']}", owner, {"name": "Q"})
    )
    await ok(await call(client, "DELETE", f"/orgs/{org}/projects/{project['id']}", owner), 204)
    await ok(
        await call(client, "POST", f"/orgs/{org}/invitations", owner, {"email": invitee.email}), 201
    )
    token = parse_qs(urlsplit((await mailbox(client, invitee.email))[0]["link"]).query)["token"][0]
    await ok(await call(client, "POST", "/invitations/accept", invitee, {"token": token}))
    await ok(
        await call(client, "PATCH", f"/orgs/{org}/members/{invitee.id}", SERVICE, {"role": "admin"})
    )
    await ok(await call(client, "DELETE", f"/orgs/{org}/members/{invitee.id}", owner), 204)
    rows = await db.fetch("select * from neo_identity.audit_log where org_id = $1 order by id", org)
    assert [r["action"] for r in rows] == [
        "org.created", "org.updated", "project.created", "project.updated", "project.deleted",
        "invitation.created", "invitation.accepted", "member.role_changed", "member.removed",
    ]  # fmt: skip
    updated = rows[1]
    assert (str(updated["actor_id"]), updated["actor_role"]) == (owner.id, "authenticated")
    assert (updated["target_type"], updated["target_id"]) == ("org", org)
    assert updated["ip"] == "127.0.0.1"
    assert updated["user_agent"] == "audit-test/1"
    assert updated["request_id"]
    by_service = rows[7]
    assert (by_service["actor_id"], by_service["actor_role"]) == (None, "service_role")
    assert str(rows[6]["actor_id"]) == invitee.id
    dump = " ".join(str(dict(r)) for r in rows)
    assert token not in dump
    assert owner.headers["Authorization"].split()[1] not in dump


async def test_audit_filters_and_pages(client: httpx.AsyncClient) -> None:
    owner = await new_user(client)
    org = await make_org(client, owner)
    for i in range(5):
        body = {"name": f"P{i}", "slug": f"p{i}"}
        await ok(await call(client, "POST", f"/orgs/{org}/projects", owner, body), 201)
    path = f"/orgs/{org}/audit"
    created = await ok(await call(client, "GET", path, owner, action="project.created"))
    assert len(created) == 5
    assert created[0]["details"] == {"slug": "p4"}
    assert created[0]["actor_id"] == owner.id
    first = await ok(await call(client, "GET", path, owner, limit=2))
    second = await ok(await call(client, "GET", path, owner, limit=2, offset=2))
    assert len(first) == len(second) == 2
    assert first[0]["id"] > first[1]["id"] > second[0]["id"] > second[1]["id"]
    future = datetime.now(UTC).replace(year=2100).isoformat()
    assert await ok(await call(client, "GET", path, owner, since=future)) == []
    bad = await call(client, "GET", path, owner, since="yesterday")
    assert bad.status_code == 422


@pytest.mark.parametrize("role", ["service_role", "authenticated", None])
async def test_audit_rows_cannot_be_changed_or_deleted(
    client: httpx.AsyncClient, db: asyncpg.Connection, role: str | None
) -> None:
    owner = await new_user(client)
    org = await make_org(client, owner)
    statements = [
        "update neo_identity.audit_log set action = 'x' where org_id = $1",
        "delete from neo_identity.audit_log where org_id = $1",
    ]
    for sql in statements:
        async with db.transaction():
            if role == "service_role":
                await db.execute("set local role service_role")
            elif role == "authenticated":
                await db.execute("set local role authenticated")
            # the owner itself is stopped by the trigger; API roles already by grants
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await db.execute(sql, org)
    assert (
        await db.fetchval("select count(*) from neo_identity.audit_log where org_id = $1", org) == 1
    )


async def test_audit_rows_cannot_be_forged_by_api_roles(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    owner = await new_user(client)
    async with as_user(db, owner.id):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.execute(
                "insert into neo_identity.audit_log (actor_role, action, target_type) "
                "values ('x', 'y', 'z')"
            )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await db.execute("truncate neo_identity.audit_log")
