"""The Supabase baseline: roles, schemas, auth functions, grants, publication and shims."""

from __future__ import annotations

import hashlib
import json

import asyncpg
import pytest


@pytest.fixture
async def conn(database_url: str):
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def test_api_roles_exist_with_supabase_attributes(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(
        "select rolname, rolcanlogin, rolinherit, rolbypassrls from pg_roles"
        " where rolname in ('anon', 'authenticated', 'service_role', 'authenticator')"
    )
    roles = {r["rolname"]: (r["rolcanlogin"], r["rolinherit"], r["rolbypassrls"]) for r in rows}
    assert roles == {
        "anon": (False, False, False),
        "authenticated": (False, False, False),
        "service_role": (False, False, True),
        "authenticator": (True, False, False),
    }


async def test_authenticator_can_switch_to_each_api_role_only(conn: asyncpg.Connection) -> None:
    members = await conn.fetch(
        "select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid"
        " join pg_roles u on u.oid = m.member where u.rolname = 'authenticator'"
    )
    assert {r["rolname"] for r in members} == {"anon", "authenticated", "service_role"}


async def test_supabase_schemas_and_publication_exist(conn: asyncpg.Connection) -> None:
    schemas = {r["nspname"] for r in await conn.fetch("select nspname from pg_namespace")}
    assert {"auth", "storage", "realtime", "extensions", "neo_core"} <= schemas
    assert (
        await conn.fetchval(
            "select count(*) from pg_publication where pubname = 'supabase_realtime'"
        )
        == 1
    )


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        (
            {
                "sub": "5f0c2a8e-3b7e-4a86-9d2c-0a4c6f1e2b3d",
                "role": "authenticated",
                "email": "a@b.c",
            },
            ("5f0c2a8e-3b7e-4a86-9d2c-0a4c6f1e2b3d", "authenticated", "a@b.c"),
        ),
        ({"role": "anon"}, (None, "anon", None)),
        ({}, (None, None, None)),
    ],
)
async def test_auth_functions_read_request_jwt_claims(
    conn: asyncpg.Connection, claims: dict, expected: tuple
) -> None:
    async with conn.transaction():
        await conn.execute("select set_config('request.jwt.claims', $1, true)", json.dumps(claims))
        row = await conn.fetchrow("select auth.uid()::text, auth.role(), auth.email(), auth.jwt()")
    assert (row[0], row[1], row[2]) == expected
    assert json.loads(row[3]) == claims


async def test_auth_uid_prefers_the_legacy_single_claim_setting(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        await conn.execute(
            "select set_config('request.jwt.claim.sub', $1, true),"
            " set_config('request.jwt.claims', $2, true)",
            "11111111-1111-1111-1111-111111111111",
            '{"sub": "22222222-2222-2222-2222-222222222222"}',
        )
        assert (
            str(await conn.fetchval("select auth.uid()")) == "11111111-1111-1111-1111-111111111111"
        )


async def test_uuid_generate_v4_is_available(conn: asyncpg.Connection) -> None:
    first, second = await conn.fetchval(
        "select array[extensions.uuid_generate_v4(), extensions.uuid_generate_v4()]"
    )
    assert first != second
    assert first.version == 4


async def test_gen_random_bytes_and_digest_are_available(conn: asyncpg.Connection) -> None:
    data = await conn.fetchval("select extensions.gen_random_bytes(40)")
    assert len(data) == 40
    assert data != await conn.fetchval("select extensions.gen_random_bytes(40)")
    digest = await conn.fetchval("select extensions.digest('abc', 'sha256')")
    assert digest == hashlib.sha256(b"abc").digest()


async def test_api_roles_cannot_read_neo_core(conn: asyncpg.Connection) -> None:
    for role in ("anon", "authenticated", "service_role"):
        async with conn.transaction():
            await conn.execute(f"set local role {role}")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch("select * from neo_core.secrets")


async def test_new_public_tables_are_granted_to_api_roles(conn: asyncpg.Connection) -> None:
    await conn.execute("create table public.baseline_probe (id int)")
    grants = await conn.fetch(
        "select grantee, privilege_type from information_schema.role_table_grants"
        " where table_name = 'baseline_probe'"
    )
    granted = {(g["grantee"], g["privilege_type"]) for g in grants}
    for role in ("anon", "authenticated", "service_role"):
        assert (role, "SELECT") in granted
        assert (role, "INSERT") in granted
