"""Use cases of organizations, projects and the audit log. Each takes the caller's
connection (never commits) and writes an audit row for every change it makes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from neo.core.db import Connection
from neo.identity import store
from neo.identity.access import audit, authorize, parse_id, refuse_keys, require_scope
from neo.identity.deps import Caller
from neo.identity.errors import (
    InvalidInput,
    PersonalOrg,
    ProjectNotFound,
    RoleTooLow,
    ScopeTooNarrow,
)
from neo.identity.models import CreateOrg, CreateProject, UpdateOrg, UpdateProject, public


async def list_orgs(conn: Connection, caller: Caller) -> list[dict[str, Any]]:
    """The caller's organizations (every one for the service role; its own for a key)."""
    require_scope(caller, "org:read")
    return [public(row) for row in await store.list_orgs(conn)]


async def create_org(conn: Connection, caller: Caller, body: CreateOrg) -> dict[str, Any]:
    """Create an organization; the caller (or `owner_id`, for the service role) owns it."""
    refuse_keys(caller)
    owner = _owner(caller, body)
    org_id = uuid4()
    await store.insert_org(conn, org_id, name=body.name, slug=body.slug, created_by=owner)
    details = {"owner": str(owner)}
    await audit(conn, caller, "org.created", ("org", org_id), org=org_id, details=details)
    row = await store.select_org(conn, org_id)
    assert row is not None
    return public(row)


async def get_org(conn: Connection, caller: Caller, org_id: str) -> dict[str, Any]:
    """One organization the caller belongs to."""
    org = await authorize(conn, caller, org_id, "viewer", "org:read")
    row = await store.select_org(conn, org)
    assert row is not None
    return public(row)


async def update_org(
    conn: Connection, caller: Caller, org_id: str, body: UpdateOrg
) -> dict[str, Any]:
    """Rename an organization (admins and owners)."""
    org = await authorize(conn, caller, org_id, "admin", "org:write")
    row = await store.update_org(conn, org, body.name, body.slug)
    if row is None:  # RLS refused: the caller lost its role since the check above
        raise RoleTooLow()
    changed = body.model_dump(exclude_none=True)
    await audit(conn, caller, "org.updated", ("org", org), org=org, details=changed)
    return public(row)


async def delete_org(conn: Connection, caller: Caller, org_id: str) -> None:
    """Delete an organization (owners); a personal organization stays."""
    org = await authorize(conn, caller, org_id, "owner", "org:write")
    row = await store.select_org(conn, org)
    if row is not None and row["personal"]:
        raise PersonalOrg()
    if not await store.delete_org(conn, org):
        raise RoleTooLow()  # RLS refused: the caller lost its role since the check above
    await audit(conn, caller, "org.deleted", ("org", org), org=org)


async def list_projects(conn: Connection, caller: Caller, org_id: str) -> list[dict[str, Any]]:
    """An organization's projects (any member)."""
    org = await authorize(conn, caller, org_id, "viewer", "projects:read")
    return [public(row) for row in await store.list_projects(conn, org)]


async def create_project(
    conn: Connection, caller: Caller, org_id: str, body: CreateProject
) -> dict[str, Any]:
    """Create a project (members and up)."""
    org = await authorize(conn, caller, org_id, "member", "projects:write")
    if caller.key is not None and caller.key["project_id"] is not None:
        raise ScopeTooNarrow()  # a project's key cannot make other projects
    row = await store.insert_project(conn, org, body.name, body.slug)
    await audit(conn, caller, "project.created", ("project", row["id"]), org=org,
                details={"slug": body.slug})  # fmt: skip
    return public(row)


async def get_project(
    conn: Connection, caller: Caller, org_id: str, project_id: str
) -> dict[str, Any]:
    """One project (any member)."""
    org = await authorize(conn, caller, org_id, "viewer", "projects:read")
    row = await store.select_project(conn, org, parse_id(project_id, ProjectNotFound))
    if row is None:
        raise ProjectNotFound()
    return public(row)


async def update_project(
    conn: Connection, caller: Caller, org_id: str, project_id: str, body: UpdateProject
) -> dict[str, Any]:
    """Rename a project (members and up)."""
    org = await authorize(conn, caller, org_id, "member", "projects:write")
    pid = parse_id(project_id, ProjectNotFound)
    row = await store.update_project(conn, org, pid, body.name, body.slug)
    if row is None:
        raise ProjectNotFound()
    changed = body.model_dump(exclude_none=True)
    await audit(conn, caller, "project.updated", ("project", pid), org=org, details=changed)
    return public(row)


async def delete_project(conn: Connection, caller: Caller, org_id: str, project_id: str) -> None:
    """Delete a project (admins and owners)."""
    org = await authorize(conn, caller, org_id, "admin", "projects:write")
    pid = parse_id(project_id, ProjectNotFound)
    if not await store.delete_project(conn, org, pid):
        raise ProjectNotFound()
    await audit(conn, caller, "project.deleted", ("project", pid), org=org)


async def list_audit(
    conn: Connection,
    caller: Caller,
    org_id: str,
    *,
    action: str | None,
    since: datetime | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """An organization's audit rows, newest first (admins and owners)."""
    org = await authorize(conn, caller, org_id, "admin", "audit:read")
    rows = await store.list_audit(conn, org, action=action, since=since, limit=limit, offset=offset)
    return [public(row) | {"details": json.loads(row["details"])} for row in rows]


def _owner(caller: Caller, body: CreateOrg) -> UUID:
    """The new org's owner: the calling user, or the user the service role names."""
    if not caller.actor.is_service:
        if body.owner_id is not None:
            raise InvalidInput("owner_id is for the service role only")
        return UUID(str(caller.user_id))
    try:
        return UUID(body.owner_id or "")
    except ValueError:
        raise InvalidInput("the service role names the owner: owner_id, a user id") from None
