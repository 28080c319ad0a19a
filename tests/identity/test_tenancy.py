"""Property: in any small graph of organizations, memberships (built-in and custom roles) and
service-account keys, nobody (user or key) reads or writes another tenant's data, neither
through /identity/v1 nor through RLS on an app table."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.identity.conftest import (
    ALL_PERMISSIONS,
    Key,
    User,
    as_claims,
    as_user,
    call,
    make_key,
    make_org,
    new_user,
    ok,
)
from tests.identity.test_rls import DOCS

USERS = 4
# "custom": the org's custom role `narrow` (an admin base keeping only `org:read`).
ROLE = st.sampled_from(["viewer", "member", "admin", "owner", "custom"])
# A key: its service account's role and its permissions.
KEY = st.tuples(
    st.sampled_from(["viewer", "member", "admin"]),
    st.lists(st.sampled_from(ALL_PERMISSIONS), unique=True, max_size=4),
)
# Each org: (creator index, {other user index: role}, keys).
ORG = st.tuples(
    st.integers(0, USERS - 1),
    st.dictionaries(st.integers(0, USERS - 1), ROLE, max_size=3),
    st.lists(KEY, max_size=2),
)
GRAPH = st.lists(ORG, min_size=1, max_size=3)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def people(module_client: httpx.AsyncClient) -> list[User]:
    return [await new_user(module_client) for _ in range(USERS)]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def owner_db(database_url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(database_url)
    await conn.execute(DOCS)
    yield conn
    await conn.close()


Graph = list[tuple[int, dict[int, str], list[tuple[str, list[str]]]]]


async def build(
    client: httpx.AsyncClient, people: list[User], graph: Graph, keys: list[Key]
) -> dict[str, set[str]]:
    """Create the graph through the API; {org id: member user ids}; minted keys into `keys`."""
    orgs: dict[str, set[str]] = {}
    for creator, members, key_specs in graph:
        owner = people[creator]
        org = await make_org(client, owner)
        narrow = {"name": "narrow", "base": "admin", "permissions": ["org:read"]}
        await ok(await call(client, "POST", f"/orgs/{org}/roles", owner, narrow), 201)
        for index, role in members.items():
            if index != creator:
                body = {"user_id": people[index].id, "role": role.replace("custom", "narrow")}
                await ok(await call(client, "POST", f"/orgs/{org}/members", owner, body), 201)
        orgs[org] = {owner.id} | {people[i].id for i in members}
        for role, permissions in key_specs:
            keys.append(await make_key(client, org, permissions, role=role, admin=owner))
    return orgs


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(graph=GRAPH)
async def test_no_cross_tenant_reads_or_writes(
    module_client: httpx.AsyncClient,
    owner_db: asyncpg.Connection,
    people: list[User],
    graph: Graph,
) -> None:
    client, db = module_client, owner_db
    keys: list[Key] = []
    orgs = await build(client, people, graph, keys)
    for org in orgs:
        await db.execute("insert into public.docs values ($1, $2)", org, f"doc-{org}")
    for user in people:
        mine = {org for org, members in orgs.items() if user.id in members}
        listed = {o["id"] for o in await ok(await call(client, "GET", "/orgs", user))}
        assert listed & orgs.keys() == mine
        async with as_user(db, user.id):
            bodies = {r["body"] for r in await db.fetch("select body from public.docs")}
        assert {b for b in bodies if b.removeprefix("doc-") in orgs} == {f"doc-{o}" for o in mine}
        claims = {"sub": user.id, "role": "authenticated"}
        for org in orgs.keys() - mine:
            await check_foreign_org(client, db, user, claims, org)
    for key in keys:
        await check_key(client, db, key, orgs)


async def check_key(
    client: httpx.AsyncClient, db: asyncpg.Connection, key: Key, orgs: dict[str, set[str]]
) -> None:
    """A key sees its own org and nothing else, through the API and through RLS."""
    claims = (await ok(await client.get("/neo/v1/whoami", headers=key.headers)))["claims"]
    listed = await call(client, "GET", "/orgs", key)
    if "org:read" in claims["neo"]["permissions"]:
        assert [o["id"] for o in listed.json()] == [key.org_id]
    else:
        assert listed.status_code == 403
    async with as_claims(db, claims):
        bodies = {r["body"] for r in await db.fetch("select body from public.docs")}
    assert {b for b in bodies if b.removeprefix("doc-") in orgs} == {f"doc-{key.org_id}"}
    for org in orgs.keys() - {key.org_id}:
        await check_foreign_org(client, db, key, claims, org)


async def check_foreign_org(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    who: User | Key,
    claims: dict[str, object],
    org: str,
) -> None:
    """Every read and write of `org` by `who`, an outsider, is refused and changes nothing."""
    subject = str(claims["sub"])
    attempts = [
        ("GET", "", None), ("PATCH", "", {"name": "taken"}), ("GET", "/members", None),
        ("POST", "/projects", {"name": "x", "slug": "x"}), ("DELETE", "", None),
        ("POST", "/members", {"user_id": subject, "role": "owner"}),
        ("GET", "/service-accounts", None), ("POST", "/service-accounts", {"name": "x"}),
    ]  # fmt: skip
    for method, path, body in attempts:
        response = await call(client, method, f"/orgs/{org}{path}", who, body)
        assert response.status_code == 404, (method, path, response.text)
    async with as_claims(db, claims):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.execute("insert into public.docs values ($1, 'intruder')", org)
    row = await db.fetchrow(
        "select o.name, (select count(*) from neo_identity.memberships m"
        " where m.org_id = o.id and m.user_id = $2) as joined,"
        " (select count(*) from neo_identity.projects p where p.org_id = o.id) as projects"
        " from neo_identity.organizations o where o.id = $1",
        org,
        subject,
    )
    assert row is not None
    assert (row["joined"], row["projects"]) == (0, 0)
    assert row["name"] != "taken"
