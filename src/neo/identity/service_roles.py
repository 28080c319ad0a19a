"""Use cases of custom roles: named permission sets per organization, each based on a built-in
role it can only narrow (decision 0009). Any member lists them; admins create, edit and delete
them; a role members still hold cannot be deleted. Each change writes an audit row."""

from __future__ import annotations

from typing import Any

from neo.core.db import Connection
from neo.identity import store
from neo.identity.access import audit, authorize
from neo.identity.deps import Caller
from neo.identity.errors import InvalidInput, RoleNotFound
from neo.identity.models import ROLES, CreateRole, UpdateRole, public


async def list_roles(conn: Connection, caller: Caller, org_id: str) -> list[dict[str, Any]]:
    """The org's custom roles (any member)."""
    org = await authorize(conn, caller, org_id, "viewer", "members:read")
    return [public(row) for row in await store.list_roles(conn, org)]


async def create_role(
    conn: Connection, caller: Caller, org_id: str, body: CreateRole
) -> dict[str, Any]:
    """Create a custom role (admins)."""
    org = await authorize(conn, caller, org_id, "admin", "members:write")
    if body.name in ROLES:
        raise InvalidInput(f"{body.name!r} is a built-in role")
    permissions = sorted(set(body.permissions))
    row = await store.insert_role(conn, org, body.name, body.base, permissions)
    details = {"base": body.base, "permissions": permissions}
    await audit(conn, caller, "role.created", ("role", body.name), org=org, details=details)
    return public(row)


async def update_role(
    conn: Connection, caller: Caller, org_id: str, name: str, body: UpdateRole
) -> dict[str, Any]:
    """Replace a custom role's permissions; members holding it are affected at once (admins)."""
    org = await authorize(conn, caller, org_id, "admin", "members:write")
    permissions = sorted(set(body.permissions))
    row = await store.update_role(conn, org, name, permissions)
    if row is None:
        raise RoleNotFound()
    details = {"permissions": permissions}
    await audit(conn, caller, "role.updated", ("role", name), org=org, details=details)
    return public(row)


async def delete_role(conn: Connection, caller: Caller, org_id: str, name: str) -> None:
    """Delete a custom role no member holds (admins)."""
    org = await authorize(conn, caller, org_id, "admin", "members:write")
    if not await store.delete_role(conn, org, name):
        raise RoleNotFound()
    await audit(conn, caller, "role.deleted", ("role", name), org=org)
