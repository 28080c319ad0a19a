"""The identity capability's SQL: `neo_identity.*` through the named queries in queries.sql.

Every function takes the caller's connection, so RLS decides what it sees and may change.
Driver errors become domain errors here (unique slugs, the last-owner trigger).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from neo.core.db import Connection
from neo.identity.errors import (
    AlreadyMember,
    LastOwner,
    RoleExists,
    RoleInUse,
    RoleTooLow,
    SlugTaken,
    UserNotFound,
)
from neo.kit.sqlfile import load_named_queries

QUERIES = load_named_queries(Path(__file__).with_name("queries.sql"))
Row = asyncpg.Record


@asynccontextmanager
async def _mapped(conflict: type[Exception] = SlugTaken) -> AsyncIterator[None]:
    """Turn the driver's constraint errors into identity errors."""
    try:
        yield
    except asyncpg.UniqueViolationError:
        raise conflict() from None
    except asyncpg.ForeignKeyViolationError:
        raise UserNotFound() from None
    except asyncpg.InsufficientPrivilegeError:  # RLS refused: the caller's rights changed
        raise RoleTooLow() from None
    except asyncpg.PostgresError as exc:
        if getattr(exc, "sqlstate", None) == "NI001":
            raise LastOwner() from None
        raise


async def caller_rights(
    conn: Connection, org_id: UUID, role: str, permission: str
) -> tuple[bool, bool, bool]:
    """(the caller sees the org, holds at least `role` in it, holds `permission` in it),
    read from the DB."""
    row = await conn.fetchrow(QUERIES["caller_rights"], org_id, role, permission)
    assert row is not None
    return bool(row["visible"]), bool(row["allowed"]), bool(row["permitted"])


async def list_orgs(conn: Connection) -> list[Row]:
    """The organizations the caller sees."""
    return list(await conn.fetch(QUERIES["list_orgs"]))


async def insert_org(
    conn: Connection, org_id: UUID, *, name: str, slug: str, created_by: UUID | None
) -> None:
    """Insert an organization (its creator becomes owner by trigger)."""
    async with _mapped():
        await conn.execute(QUERIES["insert_org"], org_id, name, slug, created_by)


async def select_org(conn: Connection, org_id: UUID) -> Row | None:
    """One organization, if the caller sees it."""
    return await conn.fetchrow(QUERIES["select_org"], org_id)


async def update_org(
    conn: Connection, org_id: UUID, name: str | None, slug: str | None
) -> Row | None:
    """Rename an organization (None when RLS lets no row through)."""
    async with _mapped():
        return await conn.fetchrow(QUERIES["update_org"], org_id, name, slug)


async def delete_org(conn: Connection, org_id: UUID) -> bool:
    """Delete a (non-personal) organization."""
    return await conn.fetchval(QUERIES["delete_org"], org_id) is not None


async def list_members(conn: Connection, org_id: UUID) -> list[Row]:
    """An organization's memberships."""
    return list(await conn.fetch(QUERIES["list_members"], org_id))


async def select_member(conn: Connection, org_id: UUID, user_id: UUID) -> Row | None:
    """One membership."""
    return await conn.fetchrow(QUERIES["select_member"], org_id, user_id)


async def insert_member(
    conn: Connection, org_id: UUID, user_id: UUID, role: str, custom: str | None = None
) -> Row:
    """Add a membership (`custom`: a custom role of the org, `role` its base)."""
    async with _mapped(AlreadyMember):
        row = await conn.fetchrow(QUERIES["insert_member"], org_id, user_id, role, custom)
    assert row is not None
    return row


async def update_member(
    conn: Connection, org_id: UUID, user_id: UUID, role: str, custom: str | None = None
) -> Row | None:
    """Change a member's role (and custom role)."""
    async with _mapped():
        return await conn.fetchrow(QUERIES["update_member"], org_id, user_id, role, custom)


async def delete_member(conn: Connection, org_id: UUID, user_id: UUID) -> bool:
    """Remove a membership."""
    async with _mapped():
        return await conn.fetchval(QUERIES["delete_member"], org_id, user_id) is not None


async def insert_invitation(
    conn: Connection, org_id: UUID, *, email: str, role: str, token_hash: str, expires_at: datetime
) -> Row:
    """Record an invitation (only the token's hash is kept)."""
    row = await conn.fetchrow(
        QUERIES["insert_invitation"], org_id, email, role, token_hash, expires_at
    )
    assert row is not None
    return row


async def list_invitations(conn: Connection, org_id: UUID) -> list[Row]:
    """An organization's invitations."""
    return list(await conn.fetch(QUERIES["list_invitations"], org_id))


async def select_invitation(conn: Connection, org_id: UUID, invitation_id: UUID) -> Row | None:
    """One invitation."""
    return await conn.fetchrow(QUERIES["select_invitation"], org_id, invitation_id)


async def revoke_invitation(conn: Connection, org_id: UUID, invitation_id: UUID) -> Row | None:
    """Revoke a pending invitation."""
    return await conn.fetchrow(QUERIES["revoke_invitation"], org_id, invitation_id)


async def accept_invitation(conn: Connection, token_hash: str) -> Row:
    """Accept as the caller: (status, org, granted) from one database function."""
    row = await conn.fetchrow(QUERIES["accept_invitation"], token_hash)
    assert row is not None
    return row


async def list_projects(conn: Connection, org_id: UUID) -> list[Row]:
    """An organization's projects."""
    return list(await conn.fetch(QUERIES["list_projects"], org_id))


async def insert_project(conn: Connection, org_id: UUID, name: str, slug: str) -> Row:
    """Create a project."""
    async with _mapped():
        row = await conn.fetchrow(QUERIES["insert_project"], org_id, name, slug)
    assert row is not None
    return row


async def select_project(conn: Connection, org_id: UUID, project_id: UUID) -> Row | None:
    """One project of an organization."""
    return await conn.fetchrow(QUERIES["select_project"], org_id, project_id)


async def update_project(
    conn: Connection, org_id: UUID, project_id: UUID, name: str | None, slug: str | None
) -> Row | None:
    """Rename a project."""
    async with _mapped():
        return await conn.fetchrow(QUERIES["update_project"], org_id, project_id, name, slug)


async def delete_project(conn: Connection, org_id: UUID, project_id: UUID) -> bool:
    """Delete a project."""
    return await conn.fetchval(QUERIES["delete_project"], org_id, project_id) is not None


async def write_audit(conn: Connection, entry: dict[str, Any]) -> None:
    """Append one audit row (the actor is taken from the request's claims in SQL)."""
    await conn.fetchval(
        QUERIES["write_audit"],
        entry["action"], entry["target_type"], entry.get("target_id"), entry.get("org_id"),
        entry.get("ip"), entry.get("user_agent"), entry.get("request_id"),
        json.dumps(entry.get("details") or {}),
    )  # fmt: skip


async def list_audit(
    conn: Connection, org_id: UUID, *, action: str | None, since: datetime | None,
    limit: int, offset: int,
) -> list[Row]:  # fmt: skip
    """An organization's audit rows, newest first."""
    return list(await conn.fetch(QUERIES["list_audit"], org_id, action, since, limit, offset))


async def insert_service_account(
    conn: Connection, org_id: UUID, *, project_id: UUID | None, name: str, role: str
) -> Row | None:
    """Create a service account (None when `project_id` is no project of the org)."""
    try:
        return await conn.fetchrow(
            QUERIES["insert_service_account"], org_id, project_id, name, role
        )
    except asyncpg.ForeignKeyViolationError:
        return None


async def list_service_accounts(conn: Connection, org_id: UUID) -> list[Row]:
    """An organization's service accounts."""
    return list(await conn.fetch(QUERIES["list_service_accounts"], org_id))


async def select_service_account(conn: Connection, org_id: UUID, account_id: UUID) -> Row | None:
    """One service account of an organization."""
    return await conn.fetchrow(QUERIES["select_service_account"], org_id, account_id)


async def delete_service_account(conn: Connection, org_id: UUID, account_id: UUID) -> bool:
    """Delete a service account and, by cascade, its keys."""
    return await conn.fetchval(QUERIES["delete_service_account"], org_id, account_id) is not None


async def insert_api_key(conn: Connection, key: dict[str, Any]) -> Row:
    """Record a key: its hash and display prefix, never the key itself."""
    row = await conn.fetchrow(
        QUERIES["insert_api_key"],
        key["org_id"], key["service_account_id"], key["name"], key["prefix"], key["key_hash"],
        key["permissions"], key["expires_at"],
    )  # fmt: skip
    assert row is not None
    return row


async def list_api_keys(conn: Connection, org_id: UUID, account_id: UUID) -> list[Row]:
    """A service account's keys (without hashes)."""
    return list(await conn.fetch(QUERIES["list_api_keys"], org_id, account_id))


async def revoke_api_key(
    conn: Connection, org_id: UUID, account_id: UUID, key_id: UUID
) -> Row | None:
    """Revoke a live key (None when it is missing or already revoked)."""
    return await conn.fetchrow(QUERIES["revoke_api_key"], org_id, account_id, key_id)


async def select_api_key(
    conn: Connection, org_id: UUID, account_id: UUID, key_id: UUID
) -> Row | None:
    """A key's id and revocation time."""
    return await conn.fetchrow(QUERIES["select_api_key"], org_id, account_id, key_id)


async def resolve_api_key(conn: Connection, key_hash: str) -> Row | None:
    """The live key with this hash and its account (owner connection; touches last_used_at)."""
    return await conn.fetchrow(QUERIES["resolve_api_key"], key_hash)


async def list_roles(conn: Connection, org_id: UUID) -> list[Row]:
    """An organization's custom roles."""
    return list(await conn.fetch(QUERIES["list_roles"], org_id))


async def select_role(conn: Connection, org_id: UUID, name: str) -> Row | None:
    """One custom role."""
    return await conn.fetchrow(QUERIES["select_role"], org_id, name)


async def insert_role(
    conn: Connection, org_id: UUID, name: str, base: str, permissions: list[str]
) -> Row:
    """Create a custom role."""
    async with _mapped(RoleExists):
        row = await conn.fetchrow(QUERIES["insert_role"], org_id, name, base, permissions)
    assert row is not None
    return row


async def update_role(
    conn: Connection, org_id: UUID, name: str, permissions: list[str]
) -> Row | None:
    """Replace a custom role's permissions."""
    async with _mapped():
        return await conn.fetchrow(QUERIES["update_role"], org_id, name, permissions)


async def delete_role(conn: Connection, org_id: UUID, name: str) -> bool:
    """Delete a custom role no member holds."""
    try:
        return await conn.fetchval(QUERIES["delete_role"], org_id, name) is not None
    except asyncpg.ForeignKeyViolationError:
        raise RoleInUse() from None
