"""The SQL helpers in an app's own RLS policies: `neo.is_org_member`, `neo.has_org_role`
and `neo.current_org_ids` on a `public.docs` table, checked as different users."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
import pytest_asyncio

from tests.identity.conftest import SERVICE, as_user, call, make_org, new_user, ok

DOCS = """
create table if not exists public.docs (org_id uuid not null, body text not null);
alter table public.docs enable row level security;
drop policy if exists docs_read on public.docs;
drop policy if exists docs_write on public.docs;
drop policy if exists docs_delete on public.docs;
create policy docs_read on public.docs for select using (neo.is_org_member(org_id));
create policy docs_write on public.docs for insert
    with check (org_id in (select neo.current_org_ids()) and neo.has_org_role(org_id, 'member'));
create policy docs_delete on public.docs for delete using (neo.has_org_role(org_id, 'admin'));
grant select, insert, delete on public.docs to anon, authenticated;
"""


@pytest_asyncio.fixture(loop_scope="session")
async def docs(db: asyncpg.Connection) -> asyncpg.Connection:
    await db.execute(DOCS)
    return db


async def visible(db: asyncpg.Connection, user_id: str | None) -> set[str]:
    async with as_user(db, user_id):
        return {r["body"] for r in await db.fetch("select body from public.docs")}


async def test_helpers_in_app_policies_isolate_tenants(
    client: httpx.AsyncClient, docs: asyncpg.Connection
) -> None:
    owner, viewer, member, outsider = [await new_user(client) for _ in range(4)]
    org = await make_org(client, owner, {viewer.id: "viewer", member.id: "member"})
    other = await make_org(client, outsider)
    await docs.execute("insert into public.docs values ($1, 'ours'), ($2, 'theirs')", org, other)
    assert await visible(docs, owner.id) >= {"ours"}
    assert "theirs" not in await visible(docs, owner.id)
    assert "ours" in await visible(docs, viewer.id)
    assert await visible(docs, outsider.id) >= {"theirs"}
    assert "ours" not in await visible(docs, outsider.id)
    assert await visible(docs, None) == set()
    # Writes: members may insert, viewers and outsiders may not.
    async with as_user(docs, member.id):
        await docs.execute("insert into public.docs values ($1, 'by member')", org)
    for user in (viewer, outsider):
        async with as_user(docs, user.id):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await docs.execute("insert into public.docs values ($1, 'nope')", org)


async def test_a_role_change_applies_to_the_next_statement(
    client: httpx.AsyncClient, docs: asyncpg.Connection
) -> None:
    owner, admin = await new_user(client), await new_user(client)
    org = await make_org(client, owner, {admin.id: "admin"})
    await docs.execute("insert into public.docs values ($1, 'keep me')", org)
    body = {"role": "viewer"}
    await ok(await call(client, "PATCH", f"/orgs/{org}/members/{admin.id}", SERVICE, body))
    async with as_user(docs, admin.id):
        deleted = await docs.execute("delete from public.docs where org_id = $1", org)
    assert deleted == "DELETE 0"
    async with as_user(docs, owner.id):
        assert await docs.fetchval("select neo.has_org_role($1, 'owner')", org)
        assert not await docs.fetchval("select neo.has_org_role($1, 'superuser')", org)
        assert await docs.execute("delete from public.docs where org_id = $1", org) == "DELETE 1"


async def test_helpers_answer_false_without_a_user(docs: asyncpg.Connection) -> None:
    async with as_user(docs, None):
        row = await docs.fetchrow(
            "select neo.is_org_member(gen_random_uuid()) as m,"
            " neo.has_org_role(gen_random_uuid(), 'viewer') as r,"
            " (select count(*) from neo.current_org_ids()) as n"
        )
    assert (row["m"], row["r"], row["n"]) == (False, False, 0)


async def test_identity_tables_are_isolated_by_rls_too(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    alice, bob = await new_user(client), await new_user(client)
    org = await make_org(client, alice)
    async with as_user(db, bob.id):
        assert (
            await db.fetchval("select count(*) from neo_identity.organizations where id = $1", org)
            == 0
        )
        assert (
            await db.fetchval(
                "select count(*) from neo_identity.memberships where org_id = $1", org
            )
            == 0
        )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.execute(
                "insert into neo_identity.memberships (org_id, user_id, role)"
                " values ($1, $2, 'owner')",
                org, bob.id,
            )  # fmt: skip
