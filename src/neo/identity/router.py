"""HTTP routes of `/identity/v1`: organizations, projects and the audit log
(`router_member.py` adds members and invitations to the same router).

Every route runs in the caller's transaction (`Tx`), so Postgres RLS enforces tenancy under
the service's own checks; the service role bypasses RLS and may act on every org.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from neo.core.deps import Tx
from neo.identity import service
from neo.identity.deps import CallerDep, body_doc, parse_body
from neo.identity.errors import InvalidInput
from neo.identity.models import CreateOrg, CreateProject, UpdateOrg, UpdateProject

PREFIX = "/identity/v1"
router = APIRouter(prefix=PREFIX, tags=["identity"])
ORG = "/orgs/{org_id}"
PROJECT = ORG + "/projects/{project_id}"


@router.get("/orgs")
async def list_orgs(conn: Tx, caller: CallerDep) -> list[dict[str, Any]]:
    """The caller's organizations (every organization for the service role)."""
    return await service.list_orgs(conn, caller)


@router.post("/orgs", status_code=201, openapi_extra=body_doc(CreateOrg))
async def create_org(request: Request, conn: Tx, caller: CallerDep) -> dict[str, Any]:
    """Create an organization; the caller becomes its owner."""
    body = await parse_body(request, CreateOrg)
    return await service.create_org(conn, caller, body)


@router.get(ORG)
async def get_org(org_id: str, conn: Tx, caller: CallerDep) -> dict[str, Any]:
    """One organization the caller belongs to."""
    return await service.get_org(conn, caller, org_id)


@router.patch(ORG, openapi_extra=body_doc(UpdateOrg))
async def update_org(org_id: str, request: Request, conn: Tx, caller: CallerDep) -> dict[str, Any]:
    """Rename an organization (admins, owners)."""
    body = await parse_body(request, UpdateOrg)
    return await service.update_org(conn, caller, org_id, body)


@router.delete(ORG, status_code=204)
async def delete_org(org_id: str, conn: Tx, caller: CallerDep) -> Response:
    """Delete an organization (owners); a personal organization cannot be deleted."""
    await service.delete_org(conn, caller, org_id)
    return Response(status_code=204)


@router.get(ORG + "/projects")
async def list_projects(org_id: str, conn: Tx, caller: CallerDep) -> list[dict[str, Any]]:
    """An organization's projects (any member)."""
    return await service.list_projects(conn, caller, org_id)


@router.post(ORG + "/projects", status_code=201, openapi_extra=body_doc(CreateProject))
async def create_project(
    org_id: str, request: Request, conn: Tx, caller: CallerDep
) -> dict[str, Any]:
    """Create a project (members and up)."""
    body = await parse_body(request, CreateProject)
    return await service.create_project(conn, caller, org_id, body)


@router.get(PROJECT)
async def get_project(org_id: str, project_id: str, conn: Tx, caller: CallerDep) -> dict[str, Any]:
    """One project (any member)."""
    return await service.get_project(conn, caller, org_id, project_id)


@router.patch(PROJECT, openapi_extra=body_doc(UpdateProject))
async def update_project(
    org_id: str, project_id: str, request: Request, conn: Tx, caller: CallerDep
) -> dict[str, Any]:
    """Rename a project (members and up)."""
    body = await parse_body(request, UpdateProject)
    return await service.update_project(conn, caller, org_id, project_id, body)


@router.delete(PROJECT, status_code=204)
async def delete_project(org_id: str, project_id: str, conn: Tx, caller: CallerDep) -> Response:
    """Delete a project (admins, owners)."""
    await service.delete_project(conn, caller, org_id, project_id)
    return Response(status_code=204)


@router.get(ORG + "/audit")
async def list_audit(
    org_id: str,
    conn: Tx,
    caller: CallerDep,
    action: str | None = None,
    since: str | None = None,
    limit: str = "50",
    offset: str = "0",
) -> list[dict[str, Any]]:
    """The organization's audit log, newest first (admins, owners).

    Filters: `action` (e.g. `member.role_changed`), `since` (ISO 8601); pages: `limit`
    (1-500), `offset`.
    """
    return await service.list_audit(
        conn,
        caller,
        org_id,
        action=action,
        since=_timestamp(since),
        limit=_bounded(limit, "limit", 1, 500),
        offset=_bounded(offset, "offset", 0, 10**9),
    )


def _timestamp(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("since must be an ISO 8601 timestamp") from None


def _bounded(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise InvalidInput(f"{name} must be an integer from {low} to {high}")
    return number
